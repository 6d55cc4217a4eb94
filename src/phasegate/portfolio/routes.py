"""The portfolio's REST routes: thin calls into the service layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile, status

from phasegate.api import CurrentPrincipal, SessionDep
from phasegate.errors import InvalidInput, Problem
from phasegate.identity.roles import Action
from phasegate.portfolio import importing, scoring, views
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.presets import get_preset
from phasegate.portfolio.schemas import UseCaseSpec

router = APIRouter(tags=["portfolio"])


def _filters(
    status_: str | None, business_unit: str | None, risk_tier: str | None, owner: str | None, q: str | None
) -> portfolio_service.Filters:
    return portfolio_service.Filters(
        status=status_, business_unit=business_unit, risk_tier=risk_tier, owner=owner, text=q
    )


@router.get("/usecases")
def list_usecases(
    session: SessionDep,
    principal: CurrentPrincipal,
    status_: Annotated[str | None, Query(alias="status")] = None,
    business_unit: str | None = None,
    risk_tier: str | None = None,
    owner: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Use cases, filtered by status, business unit, risk tier, owner or text."""
    principal.require(Action.read)
    filters = _filters(status_, business_unit, risk_tier, owner, q)
    rows = portfolio_service.get_all(session, filters=filters, limit=limit, offset=offset)
    return {"data": [views.summary(u) for u in rows], "count": len(rows)}


@router.post("/usecases", status_code=status.HTTP_201_CREATED)
def create_usecase(spec: UseCaseSpec, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Take in a new use case (an id and a name are enough)."""
    usecase = portfolio_service.create(session, actor=principal, spec=spec)
    session.commit()
    return views.detail(usecase)


@router.get("/usecases/{usecase_id}")
def read_usecase(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The one-pager of a use case."""
    principal.require(Action.read, usecase_id)
    return views.detail(portfolio_service.get(session, usecase_id=usecase_id))


@router.put("/usecases/{usecase_id}")
def apply_usecase(
    usecase_id: str, spec: UseCaseSpec, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Create or replace a use case from its whole document; an identical one changes nothing."""
    if spec.id != usecase_id:
        raise InvalidInput(
            "the body's id differs from the path", [Problem("must equal the path's id", field="id")]
        )
    outcome, usecase = portfolio_service.apply(session, actor=principal, spec=spec)
    session.commit()
    return {"outcome": outcome, "usecase": views.detail(usecase)}


@router.patch("/usecases/{usecase_id}")
def update_usecase(
    usecase_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    patch: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Change some fields; nested objects (owners, kpis, roi, scores, risk) merge."""
    usecase = portfolio_service.update(session, actor=principal, usecase_id=usecase_id, patch=patch)
    session.commit()
    return views.detail(usecase)


@router.delete("/usecases/{usecase_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_usecase(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Remove a use case; its last document stays in the audit log."""
    portfolio_service.delete(session, actor=principal, usecase_id=usecase_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/usecases/{usecase_id}/roi")
def read_roi(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Monthly value, net value, payback and its sensitivity to ±20 % on each input."""
    principal.require(Action.read, usecase_id)
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    assessment = portfolio_service.assess(portfolio_service.spec_of(usecase))
    return {"id": usecase_id, **views.roi_view(assessment)}


@router.get("/scoring-models")
def list_scoring_models(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The scoring models a ranking can use."""
    principal.require(Action.read)
    models = scoring.available_models(_scoring_config(request))
    return {"data": [{"name": m.name, "description": m.description} for m in models.values()]}


def _scoring_config(request: Request) -> dict[str, Any]:
    # The application's own settings, as the pages read them, so both doors rank alike.
    return {"weights": request.app.state.settings.scoring_weights}


@router.get("/portfolio/rank")
def rank_portfolio(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    model: str = "product",
    status_: Annotated[str | None, Query(alias="status")] = None,
    business_unit: str | None = None,
    risk_tier: str | None = None,
) -> dict[str, Any]:
    """The use cases in order by a scoring model, each position explained."""
    principal.require(Action.read)
    ranking = portfolio_service.rank(
        session,
        model_name=model,
        config=_scoring_config(request),
        filters=_filters(status_, business_unit, risk_tier, None, None),
    )
    chosen = scoring.get_model(model, _scoring_config(request))
    return {
        "model": chosen.name,
        "description": chosen.description,
        "data": [views.ranked(r) for r in ranking],
    }


@router.post("/usecases/import")
async def import_usecases(
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="a CSV or XLSX inventory")],
    map_: Annotated[list[str] | None, Form(alias="map")] = None,
    map_file: Annotated[UploadFile | None, File()] = None,
    preset: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    sheet: Annotated[str | None, Form()] = None,
    dry_run: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Import an inventory: each row created, updated, unchanged or rejected with its reasons."""
    principal.require(Action.usecase_import)
    filename = file.filename or "upload"
    table = importing.read_table(await file.read(), filename=filename, encoding=encoding, sheet=sheet)
    chosen = get_preset(preset) if preset else None
    mapping = dict(chosen.mapping) if chosen else {}
    if map_file is not None:
        mapping.update(importing.read_map_file(await map_file.read(), map_file.filename or "map file"))
    mapping.update(importing.parse_map_options(map_ or []))
    resolved = importing.resolve_mapping(table, mapping, preset=chosen, filename=filename)
    results = importing.rows_to_specs(table, resolved, preset=chosen, filename=filename)
    report = portfolio_service.import_rows(session, actor=principal, results=results, dry_run=dry_run)
    if not dry_run:
        session.commit()
    counts = {
        k: sum(1 for r in report if r.outcome == k) for k in ("create", "update", "unchanged", "reject")
    }
    return {
        "file": filename,
        "encoding": table.encoding,
        "encoding_detected": table.encoding_detected,
        "notes": list(resolved.notes),
        "dry_run": dry_run,
        "counts": counts,
        "rows": [
            {"row": r.row, "id": r.id, "outcome": r.outcome, "problems": [p.as_dict() for p in r.problems]}
            for r in report
        ],
    }
