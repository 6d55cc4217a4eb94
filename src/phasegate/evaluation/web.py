"""Evaluation's pages: model versions and their cards, evaluation reports, load tests and replay reviews.

Rows come from the API's own views (``routes.run_view``, ``load_view``, ``replay_view``) and every change
goes through the same service functions as the API (``registry.edit_card``, ``set_status``,
``replays.review``), which check the caller's role; a page only hides the forms a caller could not send.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from phasegate.api import SessionDep
from phasegate.errors import InvalidInput, NotFound, PhasegateError
from phasegate.evaluation import loadtests, registry, replay, replays, routes, runs
from phasegate.evaluation.models import EvaluationRun, ModelVersion
from phasegate.evaluation.schemas import CARD_SECTIONS, StatusChange
from phasegate.identity.roles import PERMISSIONS, Action, allowed
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.lifecycle import plans
from phasegate.portfolio import service as portfolio_service
from phasegate.web import auth, charts
from phasegate.web.auth import PAGE_HEADERS, PagePrincipal
from phasegate.web.errors import is_htmx
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

STATUSES = ("candidate", "approved", "rejected", "retired")
# The buttons of the status form, in the order a decision is usually made.
DECISIONS = (("approved", "Approve"), ("rejected", "Reject"), ("retired", "Retire"))
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "ece": "Calibration error (ECE)",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "mape": "Mean absolute % error",
    "precision_at_k": "Precision@k",
    "recall_at_k": "Recall@k",
    "mrr": "Mean reciprocal rank",
    "ndcg_at_k": "nDCG@k",
    "selection_rate": "Selection rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "error_rate": "Error rate",
}
# The per-group columns of the segment table: what each group was given, and how often it was right.
GROUP_COLUMNS = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "precision")
DISPARITY_LABELS = {
    "demographic_parity": "Demographic parity (selection rate)",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "error_rate": "Error rate",
    "equalized_odds": "Equalized odds (worse of TPR and FPR)",
}
# The bar the shipped playbooks' pilot gates set (max_disparity <= 0.10), used when the use case has
# no plan saying otherwise.
DEFAULT_DISPARITY_LIMIT = 0.10
LOAD_TESTS_SHOWN = 10
# The roles each change needs, as the pages name them to those who lack them.
NEEDS = {
    key: ", ".join(sorted(r.value for r in PERMISSIONS[action]))
    for key, action in (
        ("manage", Action.model_manage),
        ("approve", Action.model_approve),
        ("review", Action.replay_review),
    )
}
POINT_COLOUR, BAR_COLOUR, OVER_COLOUR = "#0072B2", "#56B4E9", "#D55E00"


def _stamp(moment: datetime | str | None) -> str:
    """A moment as people read it in a log: 2025-03-04 09:30 UTC."""
    if moment is None:
        return "—"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def in_order(found: Mapping[str, Any], known: Sequence[str]) -> list[tuple[str, Any]]:
    """A mapping's items, the known names first in their reading order, then the rest by name."""
    rank = {name: i for i, name in enumerate(known)}
    return sorted(found.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def may(session: Session, principal: Principal, usecase_id: str) -> dict[str, bool]:
    """Which of evaluation's changes the caller may make on the use case, as the services will judge it."""
    roles = portfolio_service.roles_of(session, principal, usecase_id)
    return {
        "manage": allowed(Action.model_manage, roles),
        "approve": allowed(Action.model_approve, roles),
        "review": allowed(Action.replay_review, roles),
        "run": allowed(Action.evaluation_run, roles),
    }


def gate_limit(session: Session, *, usecase_id: str, evidence: str, metric: str) -> dict[str, Any] | None:
    """The first bar the use case's plan sets on a metric of some evidence: op, value and phase."""
    try:
        plan = plans.get(session, usecase_id=usecase_id)
    except NotFound:
        return None
    for phase in plan.phases:
        for criterion in phase.criteria:
            require = criterion.get("require") if isinstance(criterion, Mapping) else None
            if (
                isinstance(require, Mapping)
                and criterion.get("evidence") == evidence
                and require.get("metric") == metric
                and _finite(require.get("value"))
            ):
                return {"op": require.get("op", "<="), "value": float(require["value"]), "phase": phase.name}
    return None


def _usecase(session: Session, usecase_id: str) -> dict[str, Any]:
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    return {"id": usecase.id, "name": usecase.name, "url": f"/usecases/{usecase.id}"}


def _layout(**extra: Any) -> go.Layout:
    return go.Layout(
        template="plotly_white",
        font={"family": charts.FONT, "size": 13, "color": "#1f2933"},
        margin={"l": 10, "r": 20, "t": 20, "b": 50},
        hoverlabel={"font": {"family": charts.FONT}},
        **extra,
    )


# --- model versions ---


def version_url(version: ModelVersion) -> str:
    return f"/usecases/{version.usecase_id}/models/{version.id}"


def estimate_row(name: str, estimate: Mapping[str, Any]) -> dict[str, Any]:
    """One metric's value, interval and sample size, labelled for people; interval None when absent."""
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    has_interval = _finite(low) and _finite(high)
    return {
        "name": name,
        "label": METRIC_LABELS.get(name, name.replace("_", " ")),
        "value": estimate.get("value"),
        "low": low if has_interval else None,
        "high": high if has_interval else None,
        "n": estimate.get("n"),
    }


def run_row(view: Mapping[str, Any], versions: Mapping[str, ModelVersion]) -> dict[str, Any]:
    """A run (as ``routes.run_view`` has it) for a table: its model, headline metrics and largest gap."""
    version = versions.get(view["model_version"])
    metrics = view.get("metrics") or {}
    return {
        **view,
        "url": f"/evaluations/{view['id']}",
        "at": _stamp(view["created_at"]),
        "model": f"{version.name}@{version.version}" if version else view["model_version"],
        "model_url": version_url(version) if version else None,
        "headline": [
            estimate_row(n, e)
            for n, e in in_order(metrics, list(METRIC_LABELS))[:2]
            if isinstance(e, Mapping)
        ],
    }


def _versions_by_id(session: Session, usecase_id: str) -> dict[str, ModelVersion]:
    return {v.id: v for v in registry.list_versions(session, usecase_id=usecase_id)}


@router.get("/usecases/{usecase_id}/models")
def models_page(usecase_id: str, request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """A use case's model versions with their status, its evaluation runs, and the ROI's performance bar."""
    principal.require(Action.read)
    usecase = _usecase(session, usecase_id)
    versions = _versions_by_id(session, usecase_id)
    rows = [run_row(routes.run_view(r), versions) for r in runs.list_runs(session, usecase_id=usecase_id)]
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        newest.setdefault(row["model_version"], row)
    context = {
        "nav": "portfolio",
        "tab": "models",
        "usecase": usecase,
        "versions": [
            {
                **registry.version_view(v),
                "url": version_url(v),
                "at": _stamp(v.created_at),
                "run": newest.get(v.id),
            }
            for v in versions.values()
        ],
        "runs": rows,
        "threshold": runs.suggested_threshold(session, usecase_id=usecase_id),
        "precision_gate": gate_limit(
            session,
            usecase_id=usecase_id,
            evidence="evaluation.performance",
            metric="metrics.precision.ci_low",
        ),
    }
    return templates.TemplateResponse(request, "evaluation/models.html", context, headers=PAGE_HEADERS)


def card_rows(session: Session, version: ModelVersion) -> list[dict[str, Any]]:
    """The card's sections in order, each with its title, text and whether a person wrote it."""
    sections = registry.card_sections(session, version=version)
    return [
        {"name": name, "title": registry.TITLES.get(name, name), **sections[name]}
        for name in CARD_SECTIONS
        if name in sections
    ]


def _version_context(session: Session, principal: Principal, version: ModelVersion) -> dict[str, Any]:
    usecase_id = version.usecase_id
    history = [
        run_row(routes.run_view(r), {version.id: version})
        for r in runs.list_runs(session, usecase_id=usecase_id)
        if r.model_version_id == version.id
    ]
    return {
        "nav": "portfolio",
        "tab": "models",
        "usecase": _usecase(session, usecase_id),
        "v": {
            **registry.version_view(version),
            "url": version_url(version),
            "at": _stamp(version.created_at),
        },
        "sections": card_rows(session, version),
        "runs": history,
        "may": may(session, principal, usecase_id),
        "needs": NEEDS,
        "decisions": DECISIONS,
        "message": None,
        "saved": None,
    }


@router.get("/usecases/{usecase_id}/models/{reference}")
def version_page(
    usecase_id: str, reference: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """A version: its details, its model card (editable by those who manage models), status and runs."""
    principal.require(Action.read)
    version = registry.get_version(session, usecase_id=usecase_id, reference=reference)
    context = _version_context(session, principal, version)
    return templates.TemplateResponse(request, "evaluation/version.html", context, headers=PAGE_HEADERS)


@router.get("/usecases/{usecase_id}/models/{reference}/card.md")
def card_download(usecase_id: str, reference: str, session: SessionDep, principal: PagePrincipal) -> Response:
    """The model card as a Markdown file, for a browser session (the API's card.md wants a token)."""
    principal.require(Action.read)
    version = registry.get_version(session, usecase_id=usecase_id, reference=reference)
    name = f"model-card-{version.name}-{version.version}.md"
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return PlainTextResponse(
        registry.card_markdown(session, version=version), media_type="text/markdown", headers=headers
    )


def _section_response(
    request: Request,
    session: Session,
    principal: Principal,
    version: ModelVersion,
    section: str,
    *,
    status_code: int = status.HTTP_200_OK,
    **shown: Any,
) -> Response:
    context = _version_context(session, principal, version)
    context.update(s=next(s for s in context["sections"] if s["name"] == section), **shown)
    return templates.TemplateResponse(
        request, "evaluation/_card_section.html", context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.post("/usecases/{usecase_id}/models/{reference}/card/{section}", dependencies=[auth.CsrfChecked])
def edit_card_section(
    usecase_id: str,
    reference: str,
    section: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    text: Annotated[str, Form()] = "",
) -> Response:
    """Write one card section (an empty text gives the generated one back); HTMX gets the section back."""
    version = registry.get_version(session, usecase_id=usecase_id, reference=reference)
    if section not in CARD_SECTIONS:
        raise NotFound(f"a model card has no section '{section}'; sections are: {', '.join(CARD_SECTIONS)}")
    try:
        registry.edit_card(session, actor=principal, version=version, sections={section: text})
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        return _section_response(
            request,
            session,
            principal,
            version,
            section,
            status_code=error.status_code,
            message=error.message,
        )
    if not is_htmx(request):
        return RedirectResponse(
            f"{version_url(version)}#card-{section}", status_code=status.HTTP_303_SEE_OTHER
        )
    return _section_response(request, session, principal, version, section, saved=section)


@router.post("/usecases/{usecase_id}/models/{reference}/status", dependencies=[auth.CsrfChecked])
def change_status(
    usecase_id: str,
    reference: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    new_status: Annotated[str, Form(alias="status")] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve, reject or retire a version (a reason for the last two); HTMX gets the status panel back."""
    version = registry.get_version(session, usecase_id=usecase_id, reference=reference)
    try:
        try:
            change = StatusChange(status=new_status, reason=reason.strip() or None)
        except ValidationError as exc:
            raise InvalidInput(
                f"'{new_status}' is not a status; use one of: {', '.join(STATUSES)}",
                portfolio_service.problems_from(exc),
            ) from exc
        registry.set_status(
            session, actor=principal, version=version, status=change.status, reason=change.reason
        )
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        context = {
            **_version_context(session, principal, version),
            "message": error.message,
            "reason": reason,
        }
        return templates.TemplateResponse(
            request, "evaluation/_status.html", context, status_code=error.status_code, headers=PAGE_HEADERS
        )
    if not is_htmx(request):
        return RedirectResponse(f"{version_url(version)}#status", status_code=status.HTTP_303_SEE_OTHER)
    context = {**_version_context(session, principal, version), "saved": version.status, "oob": True}
    return templates.TemplateResponse(request, "evaluation/_status.html", context, headers=PAGE_HEADERS)


# --- an evaluation report ---


def interval_chart(rows: Sequence[Mapping[str, Any]], *, confidence: float) -> str | None:
    """Each metric's value as a point with its interval as a bar, one row a metric, top to bottom."""
    shown = [r for r in rows if _finite(r["value"]) and r["low"] is not None]
    if not shown:
        return None
    level = f"{confidence * 100:g} %"
    trace = go.Scatter(
        x=[r["value"] for r in shown],
        y=[r["label"] for r in shown],
        mode="markers",
        marker={"size": 10, "color": POINT_COLOUR},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [r["high"] - r["value"] for r in shown],
            "arrayminus": [r["value"] - r["low"] for r in shown],
            "color": POINT_COLOUR,
            "thickness": 2,
            "width": 6,
        },
        customdata=[["", r["low"], r["high"], r["n"]] for r in shown],
        hovertemplate=(
            f"<b>%{{y}}</b> %{{x:.3f}}<br>{level} interval %{{customdata[1]:.3f}} to %{{customdata[2]:.3f}}"
            "<br>n = %{customdata[3]:,}<extra></extra>"
        ),
    )
    unit = all(0 <= v <= 1 for r in shown for v in (r["low"], r["high"]))
    layout = _layout(
        height=90 + 42 * len(shown),
        showlegend=False,
        xaxis={
            "range": [0, 1.02] if unit else None,
            "zeroline": False,
            "title": {"text": f"value, {level} interval"},
        },
        yaxis={"type": "category", "autorange": "reversed", "automargin": True},
    )
    return str(go.Figure(data=[trace], layout=layout).to_json())


def confusion(performance: Mapping[str, Any]) -> dict[str, Any] | None:
    """The confusion matrix as a table: rows actual, columns predicted, positive class first."""
    cells = performance.get("confusion_matrix")
    if not isinstance(cells, Mapping):
        return None
    # The stored matrix counts the binarised labels (1 and 0); the class it stands for is kept beside it.
    positive = performance.get("positive", cells.get("positive"))
    tp, fp = cells.get("true_positive", 0), cells.get("false_positive", 0)
    fn, tn = cells.get("false_negative", 0), cells.get("true_negative", 0)
    total = tp + fp + fn + tn
    return {
        "positive": f"{positive}",
        "negative": f"not {positive}",
        "rows": [
            {
                "actual": "positive",
                "cells": [("true positive", tp), ("false negative", fn)],
                "total": tp + fn,
            },
            {
                "actual": "negative",
                "cells": [("false positive", fp), ("true negative", tn)],
                "total": fp + tn,
            },
        ],
        "predicted": [tp + fp, fn + tn],
        "total": total,
    }


def comparison_rows(comparison: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each compared metric: the model's and baseline's values, the paired difference and its sentence."""
    if not comparison:
        return []
    rows = []
    for name, found in in_order(comparison.get("metrics") or {}, list(METRIC_LABELS)):
        if not isinstance(found, Mapping):
            continue
        rows.append(
            {
                "label": METRIC_LABELS.get(name, name),
                "model": estimate_row(name, found.get("model") or {}),
                "baseline": estimate_row(name, found.get("baseline") or {}),
                "difference": estimate_row(name, found.get("difference") or {}),
                "model_better": found.get("model_better"),
                "summary": found.get("summary"),
            }
        )
    return rows


def segment_tables(fairness: Mapping[str, Any] | None, limit: float) -> list[dict[str, Any]]:
    """Per attribute: each group's metrics with intervals (small ones not judged) and each gap, flagged."""
    if not fairness:
        return []
    tables = []
    for attribute, detail in (fairness.get("attributes") or {}).items():
        groups = []
        for name, group in (detail.get("groups") or {}).items():
            found = group.get("metrics") or {}
            groups.append(
                {
                    "name": name,
                    "n": group.get("n"),
                    "positives": group.get("positives"),
                    "too_small": bool(group.get("too_small")),
                    "reason": group.get("reason"),
                    "metrics": [estimate_row(m, found[m]) if m in found else None for m in GROUP_COLUMNS],
                }
            )
        gaps = []
        for measure, gap in in_order(detail.get("disparities") or {}, list(DISPARITY_LABELS)):
            difference = estimate_row(measure, gap.get("difference") or {})
            value = difference["value"]
            gaps.append(
                {
                    "measure": measure,
                    "label": DISPARITY_LABELS.get(measure, measure.replace("_", " ")),
                    "difference": difference,
                    "ratio": estimate_row(measure, gap.get("ratio") or {}),
                    "beyond": _finite(value) and value > limit,
                }
            )
        tables.append(
            {
                "attribute": attribute,
                "groups": groups,
                "compared": detail.get("compared") or [],
                "gaps": gaps,
                "beyond": sum(1 for g in gaps if g["beyond"]),
                "note": detail.get("note"),
            }
        )
    return tables


def _evidence(session: Session, ids: Sequence[str]) -> list[dict[str, Any]]:
    found = []
    for evidence_id in ids:
        try:
            record = evidence_service.get(session, evidence_id=evidence_id)
        except NotFound:
            found.append({"id": evidence_id, "kind": None, "sha256": None, "at": None})
            continue
        found.append(
            {"id": record.id, "kind": record.kind, "sha256": record.sha256, "at": _stamp(record.created_at)}
        )
    return found


@router.get("/evaluations/{run_id}")
def evaluation_report(
    run_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """An evaluation run: metrics with intervals, confusion matrix, the baseline, segments and their gaps."""
    principal.require(Action.read)
    run: EvaluationRun = runs.get_run(session, run_id=run_id)
    view = routes.run_view(run, full=True)
    performance = view["performance"] or {}
    version = session.get(ModelVersion, run.model_version_id)
    gate = gate_limit(
        session, usecase_id=run.usecase_id, evidence="evaluation.fairness", metric="max_disparity"
    )
    limit = gate["value"] if gate else DEFAULT_DISPARITY_LIMIT
    confidence = performance.get("confidence") or 0.95
    metric_rows = [
        estimate_row(n, e)
        for n, e in in_order(view["metrics"], list(METRIC_LABELS))
        if isinstance(e, Mapping)
    ]
    fairness = view["fairness"] or {}
    context = {
        "nav": "portfolio",
        "tab": "models",
        "usecase": _usecase(session, run.usecase_id),
        "run": {**view, "at": _stamp(view["created_at"])},
        "model": None
        if version is None
        else {
            "label": f"{version.name}@{version.version}",
            "url": version_url(version),
            "status": version.status,
        },
        "metrics": metric_rows,
        "undefined": performance.get("undefined") or {},
        "confidence": confidence,
        "level": f"{confidence * 100:g} %",
        "chart": interval_chart(metric_rows, confidence=confidence),
        "confusion": confusion(performance),
        "comparison": view["comparison"],
        "compared": comparison_rows(view["comparison"]),
        "segments": segment_tables(fairness, limit),
        "max_disparity": fairness.get("max_disparity"),
        "max_disparity_at": fairness.get("max_disparity_at"),
        "limit": limit,
        "gate": gate,
        "evidence": _evidence(session, view["evidence"]),
    }
    return templates.TemplateResponse(request, "evaluation/report.html", context, headers=PAGE_HEADERS)


# --- load tests ---


def _ms(value: float) -> str:
    return f"{value:g}"


def histogram_chart(result: Mapping[str, Any], limit: float | None) -> str | None:
    """The latency histogram as bars, one a bin of the fixed log grid; bins past the gate's bar in orange."""
    histogram = result.get("histogram") or {}
    edges, counts = list(histogram.get("edges_ms") or []), list(histogram.get("counts") or [])
    if not counts or len(edges) != len(counts) + 1:
        return None
    labels = [f"{_ms(low)}–{_ms(high)}" for low, high in itertools.pairwise(edges)]
    over = [limit is not None and low >= limit for low in edges[:-1]]
    bar = go.Bar(
        x=labels,
        y=counts,
        marker={"color": [OVER_COLOUR if o else BAR_COLOUR for o in over]},
        customdata=[["", "past the gate's bar" if o else ""] for o in over],
        hovertemplate="%{x} ms: <b>%{y:,}</b> requests %{customdata[1]}<extra></extra>",
    )
    layout = _layout(
        height=300,
        showlegend=False,
        bargap=0.08,
        xaxis={"type": "category", "title": {"text": "latency, ms"}},
        yaxis={"title": {"text": "requests"}, "rangemode": "tozero"},
    )
    layout.update(margin={"l": 60, "r": 20, "t": 20, "b": 70})
    return str(go.Figure(data=[bar], layout=layout).to_json())


@router.get("/usecases/{usecase_id}/loadtests")
def loadtests_page(
    usecase_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """A use case's load tests: latency percentiles, error rate and each test's latency histogram."""
    principal.require(Action.read)
    usecase = _usecase(session, usecase_id)
    gate = gate_limit(session, usecase_id=usecase_id, evidence="evaluation.load", metric="latency.p95_ms")
    found = loadtests.list_tests(session, usecase_id=usecase_id)
    tests = []
    for test in found[:LOAD_TESTS_SHOWN]:
        view = routes.load_view(test)
        result = view["result"] or {}
        p95 = (result.get("latency") or {}).get("p95_ms")
        tests.append(
            {
                **view,
                "at": _stamp(view["created_at"]),
                "latency": result.get("latency") or {},
                "chart": histogram_chart(result, gate["value"] if gate else None),
                "over": gate is not None and _finite(p95) and p95 > gate["value"],
            }
        )
    context = {
        "nav": "portfolio",
        "tab": "loadtests",
        "usecase": usecase,
        "tests": tests,
        "total": len(found),
        "gate": gate,
    }
    return templates.TemplateResponse(request, "evaluation/loadtests.html", context, headers=PAGE_HEADERS)


# --- replays and their rubric review ---


def replay_row(view: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """A replay run (as ``routes.replay_view`` has it) with how far its review has come."""
    result = view.get("result") or {}
    return {
        **view,
        "url": f"/replays/{view['id']}",
        "at": _stamp(view["created_at"]),
        "cases": result.get("cases"),
        "passed": result.get("passed"),
        "pass_rate": result.get("pass_rate"),
        "probes": result.get("probes") or {},
        "reviewed": len(view.get("sample") or []) - len(summary.get("waiting") or []),
    }


@router.get("/usecases/{usecase_id}/replays")
def replays_page(
    usecase_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """A use case's replay runs: pass rate, probes resisted and how much of each sample is reviewed."""
    principal.require(Action.read)
    usecase = _usecase(session, usecase_id)
    rows = [
        replay_row(routes.replay_view(r), replays.review_summary(session, run=r))
        for r in replays.list_runs(session, usecase_id=usecase_id)
    ]
    context = {"nav": "portfolio", "tab": "replays", "usecase": usecase, "rows": rows}
    return templates.TemplateResponse(request, "evaluation/replays.html", context, headers=PAGE_HEADERS)


def next_waiting(sample: Sequence[str], waiting: Sequence[str], after: str | None) -> str | None:
    """The next sampled case no one has reviewed, after the given one in sample order, wrapping round."""
    if not waiting:
        return None
    start = sample.index(after) + 1 if after in sample else 0
    ordered = [*sample[start:], *sample[:start]]
    return next((c for c in ordered if c in waiting), waiting[0])


def rubric_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rubric's dimensions with their question, anchors and the scores so far."""
    dimensions = (summary.get("summary") or {}).get("dimensions") or {}
    rows = []
    for dimension in summary.get("rubric") or []:
        scored = dimensions.get(dimension["name"]) or {}
        anchors = {int(k): v for k, v in (dimension.get("anchors") or {}).items()}
        rows.append(
            {
                "name": dimension["name"],
                "label": dimension["name"].replace("_", " "),
                "question": dimension["question"],
                "anchors": anchors,
                "mean": scored.get("mean"),
                "good_rate": scored.get("good_rate"),
                "distribution": scored.get("distribution") or {},
            }
        )
    return rows


@router.get("/replays/{run_id}")
def replay_page(
    run_id: str, request: Request, session: SessionDep, principal: PagePrincipal, case: str | None = None
) -> Response:
    """A replay run's summary, its sampled cases, one case with the rubric form, and the rubric so far."""
    principal.require(Action.read)
    run = replays.get_run(session, run_id=run_id)
    view = routes.replay_view(run, full=True)
    summary = replays.review_summary(session, run=run)
    outcomes = {o["case"]: o for o in view.get("outcomes") or []}
    reviews = summary["reviews"]
    mine = {r["case"]: r for r in reviews if r["reviewer"] == principal.name}
    sample = list(view["sample"])
    current = case if case in sample else next_waiting(sample, summary["waiting"], None)
    result = view["result"] or {}
    context = {
        "nav": "portfolio",
        "tab": "replays",
        "usecase": _usecase(session, run.usecase_id),
        "run": {**view, "at": _stamp(view["created_at"])},
        "result": result,
        "checks": result.get("checks") or {},
        "probes": result.get("probes") or {},
        "failures": result.get("failures") or [],
        "sample": [
            {
                "case": c,
                "url": f"/replays/{run.id}?case={c}#review",
                "outcome": outcomes.get(c),
                "reviewers": [r["reviewer"] for r in reviews if r["case"] == c],
                "current": c == current,
            }
            for c in sample
        ],
        "waiting": summary["waiting"],
        "current": outcomes.get(current) if current else None,
        "current_id": current,
        "mine": mine.get(current) if current else None,
        "rubric": rubric_rows(summary),
        "overall": summary.get("summary") or {},
        "good_score": replay.GOOD_SCORE,
        "scores": replay.RUBRIC_SCORES,
        "may": may(session, principal, run.usecase_id),
        "needs": NEEDS,
    }
    return templates.TemplateResponse(request, "evaluation/replay.html", context, headers=PAGE_HEADERS)


async def sent_form(request: Request) -> dict[str, str]:
    """The text fields of a posted form, for a handler whose fields are named by data (the rubric)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


SentForm = Annotated[dict[str, str], Depends(sent_form)]


@router.post("/replays/{run_id}/reviews/{case_id}", dependencies=[auth.CsrfChecked])
def review_case(
    run_id: str, case_id: str, session: SessionDep, principal: PagePrincipal, form: SentForm
) -> Response:
    """Score a sampled case on the rubric, then go on to the next case no one has reviewed."""
    run = replays.get_run(session, run_id=run_id)
    # Whole numbers are sent as numbers; anything else goes through as typed, for the service to refuse.
    scores: dict[str, Any] = {}
    for name in replay.RUBRIC_NAMES:
        sent = form.get(name, "").strip()
        if sent:
            scores[name] = int(sent) if sent.isdigit() else sent
    note = form.get("note", "").strip() or None
    replays.review(session, actor=principal, run=run, case_id=case_id, scores=scores, note=note)
    session.commit()
    following = next_waiting(run.sample, replays.review_summary(session, run=run)["waiting"], case_id)
    target = f"/replays/{run.id}" + (f"?case={following}" if following else "") + "#review"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
