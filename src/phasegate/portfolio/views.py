"""How a use case is shown at the doors: its document plus what phasegate derives from it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from phasegate.portfolio import scoring
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.models import UseCase


def summary(usecase: UseCase) -> dict[str, Any]:
    """The row a list shows."""
    document = usecase.document
    return {
        "id": usecase.id,
        "name": usecase.name,
        "status": usecase.status,
        "business_unit": usecase.business_unit,
        "risk_tier": usecase.risk_tier,
        "owner": usecase.owner,
        "current_phase": usecase.current_phase,
        "outcome_class": document.get("outcome_class"),
        "revision": usecase.revision,
        "updated_at": usecase.updated_at.isoformat(),
    }


def detail(usecase: UseCase) -> dict[str, Any]:
    """The one-pager: the document, its derived risk tier, completeness and ROI."""
    spec = portfolio_service.spec_of(usecase)
    assessment = portfolio_service.assess(spec)
    return {
        **summary(usecase),
        "document": usecase.document,
        "risk": asdict(assessment.risk),
        "completeness": {**asdict(assessment.completeness), "ratio": assessment.completeness.ratio},
        "roi": roi_view(assessment),
    }


def roi_view(assessment: portfolio_service.Assessment) -> dict[str, Any]:
    """ROI, its missing inputs and the payback sensitivity."""
    return {
        "value": asdict(assessment.roi) if assessment.roi is not None else None,
        "missing": assessment.roi_missing,
        "sensitivity": [asdict(s) for s in assessment.sensitivity],
    }


def ranked(item: scoring.Ranked) -> dict[str, Any]:
    """One position in a ranking, with the arithmetic behind it."""
    return {
        "id": item.id,
        "name": item.name,
        "rank": item.rank,
        "score": item.score,
        "formula": item.result.formula,
        "missing": list(item.result.missing),
        "components": [asdict(c) for c in item.result.components],
        "explanation": item.explanation,
    }
