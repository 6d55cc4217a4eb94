"""Data readiness's REST routes: the catalog, profiles, audits (as jobs), gaps and lineage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from phasegate.api import CurrentPrincipal, SessionDep
from phasegate.data import audits, catalog, jobs
from phasegate.data.models import DataAudit, DataSource, Gap, ProfileSnapshot
from phasegate.data.report import render
from phasegate.data.schemas import DataSourceSpec
from phasegate.identity.roles import Action

router = APIRouter(prefix="/data", tags=["data"])


def source_view(source: DataSource) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source.name,
        "owner": source.owner,
        "classification": source.classification,
        "location": source.location,
        "document": source.document,
        "revision": source.revision,
        "updated_at": source.updated_at.isoformat(),
    }


@router.get("/sources")
def list_sources(
    session: SessionDep, principal: CurrentPrincipal, usecase: str | None = None
) -> dict[str, Any]:
    """The catalog, or the sources a use case relies on."""
    principal.require(Action.read)
    found = catalog.list_sources(session, usecase_id=usecase)
    return {"data": [source_view(s) for s in found], "count": len(found)}


@router.post("/sources", status_code=status.HTTP_201_CREATED)
def create_source(spec: DataSourceSpec, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Add (or replace) a catalog entry."""
    outcome = catalog.apply_source(session, actor=principal, spec=spec)
    session.commit()
    return {"outcome": outcome, "source": source_view(catalog.get_source(session, source_id=spec.id))}


@router.get("/sources/{source_id}")
def read_source(source_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A catalog entry with its newest audit, snapshots and open gaps."""
    principal.require(Action.read)
    source = catalog.get_source(session, source_id=source_id)
    history = audits.audits_of(session, source_id=source_id)
    contract = catalog.contract_for(session, source_id=source_id)
    return {
        **source_view(source),
        "contract": contract.document if contract else None,
        "audits": [audit_view(a) for a in history[:20]],
        "snapshots": [snapshot_view(s) for s in audits.snapshots(session, source_id=source_id)[:20]],
        "gaps": [gap_view(g) for g in audits.list_gaps(session, source_id=source_id)],
    }


@router.delete("/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_source(source_id: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Remove a catalog entry with its snapshots, audits and gaps."""
    catalog.delete_source(session, actor=principal, source_id=source_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def snapshot_view(snapshot: ProfileSnapshot, *, profile: bool = False) -> dict[str, Any]:
    view = {
        "id": snapshot.id,
        "source": snapshot.source_id,
        "label": snapshot.label,
        "engine": snapshot.engine,
        "rows": snapshot.rows,
        "fingerprint": snapshot.fingerprint,
        "created_by": snapshot.created_by,
        "created_at": snapshot.created_at.isoformat(),
    }
    if profile:
        view["profile"] = snapshot.profile
    return view


class ProfileRequest(BaseModel):
    engine: str | None = None
    label: str | None = Field(None, description="a name for the snapshot; the date when left out")


@router.post("/sources/{source_id}/profile", status_code=status.HTTP_201_CREATED)
def profile_source(
    source_id: str, body: ProfileRequest, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Profile a source in one pass through its engine; stored as a snapshot for later baselines."""
    snapshot = audits.profile_source(
        session, actor=principal, source_id=source_id, engine=body.engine, label=body.label
    )
    session.commit()
    return snapshot_view(snapshot, profile=True)


@router.get("/sources/{source_id}/snapshots/{reference}")
def read_snapshot(
    source_id: str, reference: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A snapshot by id or label (`latest` for the newest), with its profile."""
    principal.require(Action.read)
    return snapshot_view(
        audits.find_snapshot(session, source_id=source_id, reference=reference), profile=True
    )


class AuditBody(BaseModel):
    contract: dict[str, Any] | None = Field(None, description="a DataContract document; else the stored one")
    golden: str | None = Field(None, description="a location of verified records, for accuracy")
    key: str | None = None
    label: str | None = Field(None, description="the label column, for label consistency")
    label_key: str | None = None
    rater: str | None = None
    engine: str | None = None
    expected_rows: int | None = Field(None, gt=0)


@router.post("/sources/{source_id}/audits", status_code=status.HTTP_202_ACCEPTED)
def start_audit(
    source_id: str, body: AuditBody, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Start an audit in the background; poll the job it returns."""
    job = jobs.start_audit(
        request.app.state.store,
        actor=principal,
        source_id=source_id,
        request=audits.AuditRequest(**body.model_dump()),
    )
    return jobs.job_view(job)


@router.get("/jobs/{job_id}")
def read_job(job_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A background job's stage and progress, and its result or error when it ends."""
    principal.require(Action.read)
    return jobs.job_view(jobs.get_job(session, job_id=job_id))


def audit_view(record: DataAudit, *, details: bool = False) -> dict[str, Any]:
    view = {
        "id": record.id,
        "source": record.source_id,
        "engine": record.engine,
        "summary": record.summary,
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
    }
    if details:
        view["details"] = record.details
    return view


@router.get("/audits/{audit_id}")
def read_audit(audit_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """An audit's summary (what its evidence carries) and every check, dimension and finding."""
    principal.require(Action.read)
    return audit_view(audits.get_audit(session, audit_id=audit_id), details=True)


@router.get("/audits/{audit_id}/report", response_class=HTMLResponse)
def read_audit_report(
    audit_id: str, session: SessionDep, principal: CurrentPrincipal, offline: bool = False
) -> HTMLResponse:
    """The audit's HTML report; `offline=true` embeds plotly.js so the file opens anywhere."""
    principal.require(Action.read)
    record = audits.get_audit(session, audit_id=audit_id)
    if not offline:
        return HTMLResponse(record.report_html)
    source = catalog.get_source(session, source_id=record.source_id)
    return HTMLResponse(render(source, record, plotly_js="inline"))


def gap_view(gap: Gap) -> dict[str, Any]:
    return {
        "id": gap.id,
        "source": gap.source_id,
        "key": gap.key,
        "title": gap.title,
        "severity": gap.severity,
        "reason": gap.reason,
        "owner": gap.owner,
        "status": gap.status,
        "evidence": gap.evidence,
        "first_audit": gap.first_audit,
        "last_audit": gap.last_audit,
        "first_seen": gap.first_seen.isoformat(),
        "resolved_at": gap.resolved_at.isoformat() if gap.resolved_at else None,
    }


@router.get("/gaps")
def list_gaps(
    session: SessionDep,
    principal: CurrentPrincipal,
    source: str | None = None,
    status_: Annotated[str | None, Query(alias="status", description="open, resolved or all")] = "open",
    severity: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The foundation gap list: blockers first."""
    principal.require(Action.read)
    found = audits.list_gaps(
        session,
        source_id=source,
        status=None if status_ == "all" else status_,
        severity=severity,
        owner=owner,
    )
    return {"data": [gap_view(g) for g in found], "count": len(found)}


class GapChange(BaseModel):
    owner: str | None = None
    status: str | None = Field(None, description="open or resolved")
    note: str | None = None


@router.patch("/gaps/{gap_id}")
def update_gap(
    gap_id: int, body: GapChange, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Give a gap an owner, or mark it resolved by hand (the next audit checks it again)."""
    gap = audits.update_gap(
        session, actor=principal, gap_id=gap_id, owner=body.owner, status=body.status, note=body.note
    )
    session.commit()
    return gap_view(gap)


@router.get("/lineage")
def read_lineage(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Every lineage edge: source → transformation → dataset, declared or seen by audits."""
    principal.require(Action.read)
    edges = catalog.lineage(session)
    return {
        "data": [
            {
                "upstream": e.upstream,
                "downstream": e.downstream,
                "transformation": e.transformation,
                "recorded_by": e.recorded_by,
            }
            for e in edges
        ]
    }
