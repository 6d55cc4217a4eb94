"""The source catalog: data sources, their contracts and declared lineage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phasegate.data.models import DataContract, DataSource, LineageEdge
from phasegate.data.schemas import DataSourceSpec
from phasegate.errors import InvalidInput, NotFound
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now

Applied = Literal["created", "updated", "unchanged"]


def parse_source(document: dict[str, Any], *, file: str | None = None) -> DataSourceSpec:
    """A validated catalog entry, or InvalidInput naming every bad field."""
    try:
        return DataSourceSpec.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            "the data source is not valid; nothing was written",
            portfolio_service.problems_from(exc, file=file),
        ) from exc


def get_source(session: Session, *, source_id: str) -> DataSource:
    """A catalog entry, or NotFound listing what there is."""
    source = session.get(DataSource, source_id)
    if source is None:
        known = ", ".join(
            s.id for s in session.scalars(select(DataSource).order_by(DataSource.id)).all()[:20]
        )
        raise NotFound(
            f"no data source '{source_id}' in the catalog" + (f"; sources: {known}" if known else "")
        )
    return source


def spec_of(source: DataSource) -> DataSourceSpec:
    return DataSourceSpec.model_validate(source.document)


def list_sources(session: Session, *, usecase_id: str | None = None) -> list[DataSource]:
    """Every source, or those a use case relies on, by id."""
    sources = list(session.scalars(select(DataSource).order_by(DataSource.id)))
    if usecase_id:
        sources = [s for s in sources if usecase_id in s.document.get("usecases", [])]
    return sources


def apply_source(session: Session, *, actor: Principal, spec: DataSourceSpec) -> Applied:
    """Create or replace a catalog entry; its declared lineage is replaced with it."""
    actor.require(Action.data_manage)
    for usecase_id in spec.usecases:
        portfolio_service.get(session, usecase_id=usecase_id)
    document = spec.document()
    source = session.get(DataSource, spec.id)
    if source is not None and source.document == document:
        return "unchanged"
    before = None if source is None else source.document
    if source is None:
        source = DataSource(id=spec.id)
        session.add(source)
    else:
        source.revision += 1
        source.updated_at = now()
    source.name = spec.name or spec.id
    source.owner = spec.owner
    source.classification = spec.classification
    source.location = spec.location
    source.document = document
    _declare_lineage(session, spec)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "data.source.create" if before is None else "data.source.update",
            "data_source",
            spec.id,
            before,
            document,
        ),
    )
    return "created" if before is None else "updated"


def _declare_lineage(session: Session, spec: DataSourceSpec) -> None:
    target = f"source:{spec.id}"
    session.execute(
        delete(LineageEdge).where(LineageEdge.downstream == target, LineageEdge.recorded_by == "declared")
    )
    session.execute(
        delete(LineageEdge).where(LineageEdge.upstream == target, LineageEdge.recorded_by == "declared")
    )
    for step in spec.lineage:
        session.add(
            LineageEdge(
                upstream=step.upstream,
                downstream=target,
                transformation=step.transformation,
                recorded_by="declared",
            )
        )
    for usecase_id in spec.usecases:
        session.add(
            LineageEdge(
                upstream=target, downstream=f"usecase:{usecase_id}", transformation="", recorded_by="declared"
            )
        )


def delete_source(session: Session, *, actor: Principal, source_id: str) -> None:
    """Remove a catalog entry, its snapshots, audits and gaps (the audit log keeps its last state)."""
    actor.require(Action.data_manage)
    source = get_source(session, source_id=source_id)
    audit.record(
        session,
        actor=actor.name,
        change=Change("data.source.delete", "data_source", source_id, before=source.document),
    )
    session.execute(
        delete(LineageEdge).where(
            (LineageEdge.upstream == f"source:{source_id}")
            | (LineageEdge.downstream == f"source:{source_id}")
        )
    )
    session.delete(source)
    session.flush()


def apply_contract(session: Session, *, actor: Principal, spec: Any) -> Applied:
    """Store a data contract for its source, so audits use it without naming the file."""
    actor.require(Action.data_manage)
    get_source(session, source_id=spec.source)
    document = (
        spec.document() if hasattr(spec, "document") else spec.model_dump(mode="json", exclude_none=True)
    )
    stored = session.get(DataContract, spec.id)
    if stored is not None and stored.document == document:
        return "unchanged"
    before = None if stored is None else stored.document
    if stored is None:
        session.add(DataContract(id=spec.id, source_id=spec.source, document=document))
    else:
        stored.source_id, stored.document = spec.source, document
        stored.revision += 1
        stored.updated_at = now()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change("data.contract.apply", "data_contract", spec.id, before, document),
    )
    return "created" if before is None else "updated"


def contract_for(session: Session, *, source_id: str) -> DataContract | None:
    """The stored contract of a source, if it has one."""
    return session.scalars(
        select(DataContract).where(DataContract.source_id == source_id).order_by(DataContract.id)
    ).first()


def lineage(session: Session) -> Sequence[LineageEdge]:
    """Every lineage edge, declared or recorded."""
    return session.scalars(select(LineageEdge).order_by(LineageEdge.upstream, LineageEdge.downstream)).all()


def record_lineage(session: Session, *, upstream: str, downstream: str, transformation: str) -> None:
    """Note an edge an audit saw, once."""
    exists = session.scalars(
        select(LineageEdge).where(
            LineageEdge.upstream == upstream,
            LineageEdge.downstream == downstream,
            LineageEdge.transformation == transformation,
        )
    ).first()
    if exists is None:
        session.add(
            LineageEdge(
                upstream=upstream, downstream=downstream, transformation=transformation, recorded_by="audit"
            )
        )
