"""The portfolio's service layer: every door (API, CLI, web) goes through these functions.

Functions never commit: the caller owns the transaction, so a change and its audit entry
are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import OWNER_FIELD_ROLES, Action, Role
from phasegate.identity.service import Principal
from phasegate.portfolio import completeness as completeness_
from phasegate.portfolio import risk as risk_
from phasegate.portfolio import roi as roi_
from phasegate.portfolio import scoring
from phasegate.portfolio.importing import RowResult
from phasegate.portfolio.models import UseCase
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import now

Applied = Literal["created", "updated", "unchanged"]


def problems_from(error: ValidationError, *, file: str | None = None) -> list[Problem]:
    """Pydantic's errors as problems naming the dotted field."""
    problems = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(Problem(message, field=path or None, file=file))
    return problems


def parse_spec(document: dict[str, Any], *, file: str | None = None) -> UseCaseSpec:
    """A validated use case, or InvalidInput naming every bad field."""
    try:
        return UseCaseSpec.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            "the use case is not valid; nothing was written", problems_from(exc, file=file)
        ) from exc


def spec_of(usecase: UseCase) -> UseCaseSpec:
    """The stored document as a typed spec."""
    return UseCaseSpec.model_validate(usecase.document)


def ownership_roles(usecase: UseCase | None, principal: Principal) -> set[Role]:
    """The roles a caller holds on a use case because its owner fields name them."""
    if usecase is None:
        return set()
    owners = usecase.document.get("owners", {})
    return {role for key, role in OWNER_FIELD_ROLES.items() if owners.get(key) == principal.name}


def roles_of(session: Session, principal: Principal, usecase_id: str) -> set[Role]:
    """The caller's roles on a use case: global, granted on it, and those its owner fields give."""
    usecase = get(session, usecase_id=usecase_id)
    return principal.roles_on(usecase_id, ownership_roles(usecase, principal))


def get(session: Session, *, usecase_id: str) -> UseCase:
    """The use case with this id, or NotFound."""
    usecase = session.get(UseCase, usecase_id)
    if usecase is None:
        raise NotFound(f"no use case '{usecase_id}'")
    return usecase


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    business_unit: str | None = None
    risk_tier: str | None = None
    owner: str | None = None
    text: str | None = None


def get_all(
    session: Session, *, filters: Filters = Filters(), limit: int | None = None, offset: int = 0
) -> Sequence[UseCase]:
    """Use cases matching the filters, by id."""
    query = select(UseCase).order_by(UseCase.id)
    if filters.status:
        query = query.where(UseCase.status == filters.status)
    if filters.business_unit:
        query = query.where(UseCase.business_unit == filters.business_unit)
    if filters.risk_tier:
        query = query.where(UseCase.risk_tier == filters.risk_tier)
    if filters.owner:
        o = filters.owner
        query = query.where(
            or_(
                UseCase.owner == o,
                UseCase.technical_owner == o,
                UseCase.risk_owner == o,
                UseCase.domain_reviewer == o,
            )
        )
    if filters.text:
        pattern = f"%{filters.text.lower()}%"
        query = query.where(or_(UseCase.id.like(pattern), UseCase.name.ilike(pattern)))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return session.scalars(query).all()


def _copy_columns(usecase: UseCase, spec: UseCaseSpec) -> None:
    usecase.name = spec.name
    usecase.status = spec.status.value
    usecase.business_unit = spec.business_unit
    tier = risk_.risk_tier(spec.risk).tier
    usecase.risk_tier = tier.value if tier else None
    usecase.owner = spec.owners.use_case
    usecase.technical_owner = spec.owners.technical
    usecase.risk_owner = spec.owners.risk
    usecase.domain_reviewer = spec.owners.domain_reviewer
    usecase.document = spec.document()


def create(session: Session, *, actor: Principal, spec: UseCaseSpec) -> UseCase:
    """Take in a new use case; only an id and a name are needed."""
    actor.require(Action.usecase_create)
    if session.get(UseCase, spec.id) is not None:
        raise Conflict(f"use case '{spec.id}' already exists; update it instead")
    usecase = UseCase(id=spec.id)
    _copy_columns(usecase, spec)
    session.add(usecase)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change("usecase.create", "usecase", spec.id, after=usecase.document, usecase_id=spec.id),
    )
    return usecase


def apply(
    session: Session,
    *,
    actor: Principal,
    spec: UseCaseSpec,
    existing: UseCase | None = None,
    check: bool = True,
) -> tuple[Applied, UseCase]:
    """Create or replace a use case from its full document; an identical document writes nothing."""
    usecase = existing if existing is not None else session.get(UseCase, spec.id)
    if usecase is None:
        return "created", create(session, actor=actor, spec=spec)
    if check:
        actor.require(Action.usecase_update, spec.id, ownership_roles(usecase, actor))
    document = spec.document()
    if document == usecase.document:
        return "unchanged", usecase
    before = usecase.document
    _copy_columns(usecase, spec)
    usecase.revision += 1
    usecase.updated_at = now()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "usecase.update", "usecase", spec.id, before=before, after=document, usecase_id=spec.id
        ),
    )
    return "updated", usecase


def merged_with(document: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The document with a partial change laid over it: objects merge, everything else replaces."""
    merged = dict(document)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "attributes":
            merged[key] = merged_with(merged[key], value)
        else:
            merged[key] = value
    return merged


def update(session: Session, *, actor: Principal, usecase_id: str, patch: dict[str, Any]) -> UseCase:
    """Change some fields of a use case; the id cannot change."""
    usecase = get(session, usecase_id=usecase_id)
    actor.require(Action.usecase_update, usecase_id, ownership_roles(usecase, actor))
    if "id" in patch and patch["id"] != usecase_id:
        raise InvalidInput(
            "the id of a use case cannot change", [Problem("differs from the use case's id", field="id")]
        )
    spec = parse_spec(merged_with(usecase.document, patch))
    return apply(session, actor=actor, spec=spec, existing=usecase, check=False)[1]


def delete(session: Session, *, actor: Principal, usecase_id: str) -> None:
    """Remove a use case; its last document stays in the audit log."""
    usecase = get(session, usecase_id=usecase_id)
    actor.require(Action.usecase_delete, usecase_id)
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "usecase.delete", "usecase", usecase_id, before=usecase.document, usecase_id=usecase_id
        ),
    )
    session.delete(usecase)
    session.flush()


@dataclass(frozen=True)
class Assessment:
    """What phasegate derives from a definition of done."""

    risk: risk_.RiskAssessment
    completeness: completeness_.Completeness
    roi: roi_.Roi | None
    roi_missing: list[str]
    sensitivity: list[roi_.Sensitivity]


def assess(spec: UseCaseSpec) -> Assessment:
    """Risk tier, completeness, ROI and its sensitivity for one use case."""
    value = roi_.roi(spec.roi)
    return Assessment(
        risk=risk_.risk_tier(spec.risk),
        completeness=completeness_.completeness(spec),
        roi=value,
        roi_missing=roi_.missing_inputs(spec.roi),
        sensitivity=roi_.payback_sensitivity(spec.roi) if value is not None else [],
    )


def rank(
    session: Session,
    *,
    model_name: str = "product",
    config: dict[str, Any] | None = None,
    filters: Filters = Filters(),
) -> list[scoring.Ranked]:
    """The use cases in order by a scoring model, each position explained."""
    model = scoring.get_model(model_name, config)
    specs = [spec_of(u) for u in get_all(session, filters=filters)]
    return scoring.rank(specs, model)


@dataclass
class ImportRow:
    """What one row of an imported inventory did, or would do in a dry run."""

    row: int
    id: str | None
    outcome: Literal["create", "update", "unchanged", "reject"]
    problems: list[Problem] = field(default_factory=list)


def import_rows(
    session: Session, *, actor: Principal, results: Sequence[RowResult], dry_run: bool = False
) -> list[ImportRow]:
    """Apply converted inventory rows: valid rows are created or updated, bad rows are reported."""
    actor.require(Action.usecase_import)
    ids = [r.spec.id for r in results if r.spec is not None]
    existing = {u.id: u for u in _fetch(session, ids)}
    report: list[ImportRow] = []
    changes: list[Change] = []
    for result in results:
        if result.spec is None:
            report.append(ImportRow(result.row, result.id, "reject", list(result.problems)))
            continue
        spec, current = result.spec, existing.get(result.spec.id)
        document = spec.document()
        if current is not None and current.document == document:
            report.append(ImportRow(result.row, spec.id, "unchanged"))
            continue
        report.append(ImportRow(result.row, spec.id, "create" if current is None else "update"))
        if dry_run:
            continue
        # Written as one batch (one flush, one lock of the audit head): thousands of rows in seconds.
        if current is None:
            usecase = UseCase(id=spec.id)
            _copy_columns(usecase, spec)
            session.add(usecase)
            changes.append(Change("usecase.create", "usecase", spec.id, after=document, usecase_id=spec.id))
        else:
            before = current.document
            _copy_columns(current, spec)
            current.revision += 1
            current.updated_at = now()
            changes.append(Change("usecase.update", "usecase", spec.id, before, document, spec.id))
    session.flush()
    audit.record_many(session, actor=actor.name, changes=changes)
    return report


def _fetch(session: Session, ids: list[str]) -> list[UseCase]:
    found: list[UseCase] = []
    # Chunked so PostgreSQL and SQLite parameter limits are never reached.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.extend(session.scalars(select(UseCase).where(UseCase.id.in_(chunk))).all())
    return found
