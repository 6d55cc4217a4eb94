"""The portfolio's pages: the ranked portfolio with its value-versus-feasibility chart, and the one-pager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phasegate.api import SessionDep
from phasegate.identity.roles import Action
from phasegate.portfolio import risk as risk_
from phasegate.portfolio import scoring, views
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.models import UseCase
from phasegate.portfolio.schemas import RiskTier, Scores, Status
from phasegate.settings import Settings
from phasegate.web import charts
from phasegate.web.auth import PAGE_HEADERS, PagePrincipal
from phasegate.web.errors import is_htmx
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

DEFAULT_MODEL = "product"
ROI_LABELS = {
    "volume_per_month": "monthly volume",
    "cost_per_transaction_now": "cost per transaction now",
    "improvement_rate": "improvement rate",
    "run_cost_per_month": "run cost per month",
    "one_off_cost": "one-off cost",
}
SCORE_LABELS = {
    "business_value": "business value",
    "technical_feasibility": "technical feasibility",
    "implementation_difficulty": "implementation difficulty (5 is hardest)",
    "team_acceptance": "team acceptance",
    "data_readiness": "data readiness",
    "process_clarity": "process clarity",
    "roi_measurability": "ROI measurability",
    "scope_boundedness": "scope boundedness",
}


@dataclass(frozen=True)
class Column:
    """A column of the portfolio table: its label and how rows sort by it (None sorts last)."""

    key: str
    label: str
    first: str  # the direction of the first click: numbers people want high first start descending
    value: Callable[[dict[str, Any]], Any]
    numeric: bool = False
    title: str | None = None


def _text(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row[key].casefold() if row[key] else None


def _tier_order(row: dict[str, Any]) -> int | None:
    tier = row["risk_tier"]
    return risk_.TIER_ORDER.index(RiskTier(tier)) if tier else None


COLUMNS = (
    Column("rank", "Rank", "asc", lambda row: row["rank"], numeric=True),
    Column("id", "ID", "asc", _text("id")),
    Column("name", "Name", "asc", _text("name")),
    Column("business_unit", "Business unit", "asc", _text("business_unit")),
    Column("status", "Status", "asc", _text("status")),
    Column("risk_tier", "Risk tier", "desc", _tier_order),
    Column("score", "Score", "desc", lambda row: row["score"], numeric=True),
    Column("owner", "Owner", "asc", _text("owner")),
    Column("completeness", "Done %", "desc", lambda row: row["completeness"], numeric=True,
           title="how much of the definition of done is written down"),
    Column("payback", "Payback months", "asc", lambda row: row["payback_months"], numeric=True,
           title="months until the one-off cost is paid back by the net monthly value"),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}


@dataclass(frozen=True)
class PortfolioQuery:
    """What the portfolio page was asked for: a scoring model, filters and a sort."""

    model: str
    status: str | None
    business_unit: str | None
    risk_tier: str | None
    sort: str
    direction: str

    @property
    def filters(self) -> portfolio_service.Filters:
        return portfolio_service.Filters(status=self.status, business_unit=self.business_unit,
                                         risk_tier=self.risk_tier)

    @property
    def filtered(self) -> bool:
        return any((self.status, self.business_unit, self.risk_tier))

    def url(self, **changes: str) -> str:
        """This query's URL with some parameters changed; defaults are left out."""
        params = {"model": self.model, "status": self.status, "business_unit": self.business_unit,
                  "risk_tier": self.risk_tier, "sort": self.sort, "dir": self.direction, **changes}
        defaults = {"model": DEFAULT_MODEL, "sort": "rank", "dir": "asc"}
        kept = {k: v for k, v in params.items() if v and defaults.get(k) != v}
        return "/" + (f"?{urlencode(kept)}" if kept else "")


def _scoring_config(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {"weights": settings.scoring_weights}


def _business_units(session: Session) -> tuple[list[str], int]:
    """The business units in use, and how many use cases there are in all (for "n of N")."""
    query = select(UseCase.business_unit, func.count()).group_by(UseCase.business_unit)
    counts = session.execute(query).all()
    units = sorted((unit for unit, _ in counts if unit), key=str.casefold)
    return units, sum(count for _, count in counts)


def _row(usecase: UseCase, ranked: scoring.Ranked) -> dict[str, Any]:
    detail = views.detail(usecase)
    roi_value = detail["roi"]["value"]
    return {
        **views.ranked(ranked),
        **views.summary(usecase),
        "url": f"/usecases/{usecase.id}",
        "completeness": detail["completeness"]["ratio"],
        "completeness_missing": detail["completeness"]["missing"],
        "payback_months": roi_value["payback_months"] if roi_value else None,
        "net_annual_value": roi_value["annual_net_value"] if roi_value else None,
        "roi_missing": detail["roi"]["missing"],
        "scores": detail["document"].get("scores", {}),
    }


def sorted_rows(rows: list[dict[str, Any]], column: Column, direction: str) -> list[dict[str, Any]]:
    """Rows ordered by a column; rows without a value come last whichever the direction."""
    present = [r for r in rows if column.value(r) is not None]
    absent = [r for r in rows if column.value(r) is None]
    present.sort(key=column.value, reverse=direction == "desc")
    return present + absent


def _bubble(row: dict[str, Any]) -> charts.Bubble | str:
    """The row as a bubble, or the reason it cannot be one."""
    scores = Scores.model_validate(row["scores"])
    feasible, value = scoring.feasibility_of(scores), scores.business_value
    if value is None and feasible is None:
        return "no business value, technical feasibility or data readiness score"
    if value is None:
        return "no business value score"
    if feasible is None:
        return "no technical feasibility or data readiness score"
    return charts.Bubble(id=row["id"], name=row["name"], url=row["url"], feasibility=feasible,
                         value=float(value), net_annual_value=row["net_annual_value"],
                         risk_tier=row["risk_tier"])


def _chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    bubbles: list[charts.Bubble] = []
    not_plotted: list[dict[str, Any]] = []
    for row in rows:
        bubble = _bubble(row)
        if isinstance(bubble, str):
            not_plotted.append({"id": row["id"], "name": row["name"], "url": row["url"], "reason": bubble})
        else:
            bubbles.append(bubble)
    figure = charts.value_feasibility_chart(bubbles) if bubbles else None
    return {"figure": figure, "plotted": len(bubbles), "not_plotted": not_plotted,
            "unsized": sum(1 for b in bubbles if (b.net_annual_value or 0) <= 0)}


def _headers(query: PortfolioQuery) -> list[dict[str, Any]]:
    headers = []
    for column in COLUMNS:
        active = column.key == query.sort
        direction = ("desc" if query.direction == "asc" else "asc") if active else column.first
        headers.append({
            "key": column.key,
            "label": column.label,
            "numeric": column.numeric,
            "title": column.title,
            "url": query.url(sort=column.key, dir=direction),
            "aria_sort": ("ascending" if query.direction == "asc" else "descending") if active else None,
        })
    return headers


@router.get("/")
@router.get("/portfolio")
def portfolio_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    model: str = DEFAULT_MODEL,
    status: Annotated[str | None, Query()] = None,
    business_unit: Annotated[str | None, Query()] = None,
    risk_tier: Annotated[str | None, Query()] = None,
    sort: Annotated[str, Query()] = "rank",
    direction: Annotated[str, Query(alias="dir")] = "asc",
) -> Response:
    """The use cases ranked by a scoring model, filtered, sorted, and plotted by value and feasibility."""
    principal.require(Action.read)
    # An empty select sends "": that means no filter, as an absent parameter does.
    query = PortfolioQuery(model=model or DEFAULT_MODEL, status=status or None,
                           business_unit=business_unit or None, risk_tier=risk_tier or None,
                           sort=sort if sort in COLUMN_BY_KEY else "rank",
                           direction="desc" if direction == "desc" else "asc")
    config = _scoring_config(request)
    models = scoring.available_models(config)
    chosen = scoring.get_model(query.model, config)
    ranking = portfolio_service.rank(session, model_name=query.model, config=config, filters=query.filters)
    usecases = {u.id: u for u in portfolio_service.get_all(session, filters=query.filters)}
    rows = [_row(usecases[r.id], r) for r in ranking if r.id in usecases]
    rows = sorted_rows(rows, COLUMN_BY_KEY[query.sort], query.direction)
    units, total = _business_units(session)
    context = {
        "nav": "portfolio",
        "query": query,
        "rows": rows,
        "total": total,
        "headers": _headers(query),
        "chart": _chart(rows),
        "model": chosen,
        "models": list(models.values()),
        "statuses": [s.value for s in Status],
        "risk_tiers": [t.value for t in RiskTier],
        "business_units": units,
    }
    partial = is_htmx(request)
    headers = {**PAGE_HEADERS, "Vary": "HX-Request"}
    if partial:
        # The address bar shows the tidy URL (no empty filters, no defaults), not the raw form.
        headers["HX-Push-Url"] = query.url()
    name = "portfolio/_results.html" if partial else "portfolio/index.html"
    return templates.TemplateResponse(request, name, {**context, "partial": partial}, headers=headers)


def _swings(roi: dict[str, Any]) -> list[charts.Swing]:
    return [charts.Swing(ROI_LABELS.get(s["input"], s["input"]), s["low_payback"], s["high_payback"])
            for s in roi["sensitivity"]]


def _model_scores(request: Request, usecase: UseCase) -> list[dict[str, Any]]:
    spec = portfolio_service.spec_of(usecase)
    results = []
    for model in scoring.available_models(_scoring_config(request)).values():
        result = model.score(spec)
        results.append({"name": model.name, "description": model.description, "score": result.score,
                        "formula": result.formula, "missing": list(result.missing)})
    return results


@router.get("/usecases/{usecase_id}")
def usecase_page(usecase_id: str, request: Request, session: SessionDep,
                 principal: PagePrincipal) -> Response:
    """The one-page definition of done of a use case, with its ROI, risk tier and completeness."""
    principal.require(Action.read, usecase_id)
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    detail = views.detail(usecase)
    roi_value = detail["roi"]["value"]
    tornado = None
    if roi_value and roi_value["payback_months"] is not None and detail["roi"]["sensitivity"]:
        tornado = charts.tornado_chart(_swings(detail["roi"]), roi_value["payback_months"])
    context = {
        "nav": "portfolio",
        "u": detail,
        "doc": detail["document"],
        "tornado": tornado,
        "swings": _swings(detail["roi"]),
        "roi_labels": ROI_LABELS,
        "score_labels": SCORE_LABELS,
        "model_scores": _model_scores(request, usecase),
    }
    return templates.TemplateResponse(request, "portfolio/usecase.html", context, headers=PAGE_HEADERS)
