"""Profiles, contract checks and audits of catalog sources: run where the data lives, stored, published.

An audit runs the profile, the contract, the four quality dimensions, label consistency and the PII
scan, turns what failed into ranked gaps, stores a report, and publishes `data.audit` evidence for
every use case that relies on the source. Nothing is written unless the whole audit succeeded.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from phasegate.data import catalog, checking, contracts, engines, gaps, labels, pii, profiling, quality
from phasegate.data import report as report_html
from phasegate.data.models import DataAudit, DataSource, Gap, ProfileSnapshot
from phasegate.data.schemas import parse_lag
from phasegate.errors import InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.store import now

Progress = Callable[[str, int, int], None]
STAGES = ("read", "profile", "contract", "quality", "labels", "pii", "store")


def _quiet(stage: str, done: int, total: int) -> None:
    """Progress goes nowhere unless someone listens."""


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


@contextmanager
def source_table(
    source: DataSource, engine: str | None = None, *, name: str = "source"
) -> Iterator[tuple[engines.Engine, ir.Table, engines.Location]]:
    """A catalog source's table on its engine (or the one named), with the engine for related tables."""
    spec = catalog.spec_of(source)
    location = engines.parse_location(spec.location)
    chosen = engines.connect(
        engines.check_engine(engine) if engine else location.default_engine, location=location
    )
    try:
        yield chosen, chosen.table(location, name=name, encoding=spec.encoding), location
    finally:
        if chosen.name != "spark":
            chosen.close()


def fingerprint(location: engines.Location, *, rows: int | None, columns: Mapping[str, str]) -> str:
    """What the data was: a SHA-256 of a file's bytes (or a folder's files), else of the table's shape."""
    digest = hashlib.sha256()
    if location.kind == "file":
        path = Path(location.path)
        for file in sorted(path.iterdir()) if path.is_dir() else [path]:
            if file.is_file():
                with file.open("rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
        return "sha256:" + digest.hexdigest()
    digest.update(repr((str(location), rows, sorted(columns.items()))).encode())
    return "shape-sha256:" + digest.hexdigest()


def profile_source(
    session: Session, *, actor: Principal, source_id: str, engine: str | None = None, label: str | None = None
) -> ProfileSnapshot:
    """Profile a source in one pass through its engine and keep the result as a baseline snapshot."""
    source = catalog.get_source(session, source_id=source_id)
    actor.require(Action.data_audit)
    with source_table(source, engine) as (chosen, table, location):
        result = profiling.profile(table, engine=chosen.name)
        print_ = fingerprint(location, rows=result.rows, columns={c.name: c.type for c in result.columns})
    snapshot = _snapshot(source_id, chosen.name, result, print_, actor, label)
    session.add(snapshot)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "data.profile",
            "data_source",
            source_id,
            after={
                "snapshot": snapshot.id,
                "label": snapshot.label,
                "rows": snapshot.rows,
                "fingerprint": print_,
            },
        ),
    )
    return snapshot


def _snapshot(
    source_id: str, engine: str, result: profiling.Profile, print_: str, actor: Principal, label: str | None
) -> ProfileSnapshot:
    created = now()
    return ProfileSnapshot(
        id=_new_id("snap"),
        source_id=source_id,
        label=label or created.date().isoformat(),
        engine=engine,
        rows=result.rows,
        fingerprint=print_,
        profile=result.as_dict(),
        created_by=actor.name,
        created_at=created,
    )


def find_snapshot(session: Session, *, source_id: str, reference: str) -> ProfileSnapshot:
    """A snapshot by id or label (``snapshot:2026-09-30``, ``snap-…``, ``latest``); the newest if several."""
    wanted = reference.removeprefix("snapshot:")
    query = select(ProfileSnapshot).where(ProfileSnapshot.source_id == source_id)
    if wanted != "latest":
        query = query.where((ProfileSnapshot.id == wanted) | (ProfileSnapshot.label == wanted))
    found = session.scalars(query.order_by(ProfileSnapshot.created_at.desc())).first()
    if found is None:
        raise NotFound(
            f"no snapshot '{reference}' of source '{source_id}'; take one with 'phasegate data profile'"
        )
    return found


def snapshots(session: Session, *, source_id: str) -> list[ProfileSnapshot]:
    """A source's snapshots, newest first."""
    return list(
        session.scalars(
            select(ProfileSnapshot)
            .where(ProfileSnapshot.source_id == source_id)
            .order_by(ProfileSnapshot.created_at.desc())
        )
    )


def check_contract(
    session: Session,
    *,
    contract: contracts.ContractSpec,
    engine: str | None = None,
    location: str | None = None,
    now_: datetime | None = None,
) -> checking.ContractReport:
    """Run a contract against its source (or another location with the same layout, e.g. in CI)."""
    source = catalog.get_source(session, source_id=contract.source)
    baseline = _baseline(session, contract)
    if location is not None:
        source = DataSource(
            id=source.id,
            name=source.name,
            location=location,
            document={**source.document, "location": location},
        )
    with source_table(source, engine) as (chosen, table, _):
        return checking.run_contract(
            contract,
            table,
            engine=chosen.name,
            resolve_reference=_references(session, chosen),
            baseline=baseline,
            now=now_,
        )


def _baseline(session: Session, contract: contracts.ContractSpec) -> dict[str, Any] | None:
    if contract.distribution is None:
        return None
    try:
        return find_snapshot(
            session, source_id=contract.source, reference=contract.distribution.baseline
        ).profile
    except NotFound:
        return None  # the check reports the missing baseline as an error, never as a pass


def _references(session: Session, engine: engines.Engine) -> Callable[[str], ir.Table]:
    def resolve(reference: str) -> ir.Table:
        source_id = reference.split(".", 1)[0]
        other = catalog.get_source(session, source_id=source_id)
        spec = catalog.spec_of(other)
        return engine.table(
            engines.parse_location(spec.location), name=f"ref_{source_id}", encoding=spec.encoding
        )

    return resolve


@dataclass(frozen=True)
class AuditRequest:
    """What an audit is asked to look at beyond the source itself."""

    contract: dict[str, Any] | None = None
    golden: str | None = None
    key: str | None = None
    label: str | None = None
    label_key: str | None = None
    rater: str | None = None
    engine: str | None = None
    expected_rows: int | None = None


def audit_source(
    session: Session,
    *,
    actor: Principal,
    source_id: str,
    request: AuditRequest = AuditRequest(),
    progress: Progress = _quiet,
    now_: datetime | None = None,
) -> DataAudit:
    """Audit a source end to end; store the audit, track its gaps and publish `data.audit` evidence."""
    actor.require(Action.data_audit)
    source = catalog.get_source(session, source_id=source_id)
    spec = catalog.spec_of(source)
    contract = _contract_of(session, source_id, request.contract)
    at = now_ or datetime.now(UTC)
    total = len(STAGES)
    progress("read", 0, total)
    with source_table(source, request.engine) as (chosen, table, location):
        progress("profile", 1, total)
        profile = profiling.profile(table, engine=chosen.name)
        progress("contract", 2, total)
        report = None
        if contract is not None:
            report = checking.run_contract(
                contract,
                table,
                engine=chosen.name,
                resolve_reference=_references(session, chosen),
                baseline=_baseline(session, contract),
                now=at,
                profile=profile,  # its exact counts answer the contract's simple checks without a scan
            )
        progress("quality", 3, total)
        dimensions = _dimensions(table, chosen, spec, contract, request, at)
        progress("labels", 4, total)
        label_result = None
        if request.label:
            if not request.label_key:
                raise InvalidInput(
                    "label consistency needs the record key", [Problem("give --label-key", field="label_key")]
                )
            label_result = labels.label_consistency(
                table, key=request.label_key, label=request.label, rater=request.rater
            )
        progress("pii", 5, total)
        findings = pii.scan(table)
        print_ = fingerprint(location, rows=profile.rows, columns={c.name: c.type for c in profile.columns})
    progress("store", 6, total)
    results = report.results if report is not None else []
    keys = [n for n, rule in contract.columns.items() if rule.unique] if contract is not None else []
    drafts = gaps.gaps_from(
        results,
        dimensions,
        findings,
        declared_classification=spec.classification,
        declared_pii=spec.pii,
        keys=keys + ([request.label_key] if request.label_key else []),
        labels=[request.label] if request.label else [],
        contract=contract.id if contract else None,
        owner=source.owner,
    )
    audit_id = _new_id("audit")
    summary = _summary(source, profile, report, dimensions, drafts, findings, label_result, print_)
    details = {
        "profile": profile.as_dict(),
        "contract": report.as_dict() if report is not None else None,
        "dimensions": [d.as_dict() for d in dimensions],
        "labels": None if label_result is None else _label_view(label_result),
        "pii": [_pii_view(f) for f in findings],
        "gaps": [
            {"key": g.key, "title": g.title, "severity": g.severity, "reason": g.reason} for g in drafts
        ],
        "suggested_classification": pii.suggest_classification(findings, declared=spec.classification)
        if findings
        else spec.classification,
    }
    record = DataAudit(
        id=audit_id,
        source_id=source_id,
        engine=chosen.name,
        summary=summary,
        details=details,
        report_html="",
        created_by=actor.name,
        created_at=now(),
    )
    record.report_html = report_html.render(source, record)
    session.add(record)
    snapshot = _snapshot(source_id, chosen.name, profile, print_, actor, None)
    session.add(snapshot)
    session.flush()
    _track_gaps(session, source, drafts, audit_id)
    for usecase_id in spec.usecases:
        evidence_service.publish(
            session,
            actor=actor,
            usecase_id=usecase_id,
            kind="data.audit",
            producer=f"phasegate data audit {source_id}",
            payload=summary,
            inputs={str(location): print_},
        )
        catalog.record_lineage(
            session,
            upstream=f"source:{source_id}",
            downstream=f"usecase:{usecase_id}",
            transformation="audited",
        )
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "data.audit",
            "data_source",
            source_id,
            after={"audit": audit_id, "gaps": summary["gaps"], "checks": summary["checks"]},
        ),
    )
    progress("done", total, total)
    return record


def _contract_of(
    session: Session, source_id: str, document: dict[str, Any] | None
) -> contracts.ContractSpec | None:
    if document is not None:
        contract = contracts.parse_contract(document)
        if contract.source != source_id:
            raise InvalidInput(
                "the contract is for another source",
                [Problem(f"'{contract.source}', not '{source_id}'", field="source")],
            )
        return contract
    stored = catalog.contract_for(session, source_id=source_id)
    return contracts.parse_contract(stored.document) if stored is not None else None


def _dimensions(
    table: ir.Table,
    engine: engines.Engine,
    spec: Any,
    contract: contracts.ContractSpec | None,
    request: AuditRequest,
    at: datetime,
) -> list[quality.Dimension]:
    required = (
        [name for name, rule in contract.columns.items() if rule.not_null and name in table.columns]
        if contract is not None
        else None
    )
    found = [quality.completeness(table, expected_rows=request.expected_rows, required=required or None)]
    if request.golden:
        if not request.key:
            raise InvalidInput(
                "accuracy needs the key that joins the golden slice", [Problem("give --key", field="key")]
            )
        golden = engine.table(engines.parse_location(request.golden), name="golden")
        found.append(quality.accuracy(table, golden, key=request.key))
    else:
        found.append(
            quality.Dimension("accuracy", None, reason="no golden slice given (--golden F --key COL)")
        )
    found.append(quality.consistency(table))
    freshness = contract.freshness if contract is not None else None
    lag_text = freshness.max_lag if freshness is not None else spec.freshness_target
    column = freshness.column if freshness is not None else None
    if column and lag_text:
        found.append(quality.timeliness(table, column=column, max_lag=parse_lag(str(lag_text)), now=at))
    else:
        found.append(
            quality.Dimension("timeliness", None, reason="no freshness column and target in the contract")
        )
    return found


def _summary(
    source: DataSource,
    profile: profiling.Profile,
    report: checking.ContractReport | None,
    dimensions: list[quality.Dimension],
    drafts: list[gaps.GapDraft],
    findings: list[pii.PiiFinding],
    label_result: labels.LabelConsistency | None,
    print_: str,
) -> dict[str, Any]:
    counts = report.counts if report is not None else {"pass": 0, "fail": 0, "error": 0}
    return {
        "source": source.id,
        "rows": profile.rows,
        "columns": len(profile.columns),
        "fingerprint": print_,
        "contract": report.contract_id if report is not None else None,
        "quality": {d.name: d.score for d in dimensions},
        "checks": {"passed": counts["pass"], "failed": counts["fail"], "errors": counts["error"]},
        "gaps": {
            "blockers": sum(1 for g in drafts if g.severity == "blocker"),
            "degraders": sum(1 for g in drafts if g.severity == "degrader"),
        },
        "labels": None
        if label_result is None
        else {
            "kappa": label_result.kappa,
            "agreement": label_result.agreement,
            "records": label_result.records_multi,
        },
        "pii": sorted({f.detector for f in findings}),
    }


def _label_view(result: labels.LabelConsistency) -> dict[str, Any]:
    return {
        "records_multi": result.records_multi,
        "agreement": result.agreement,
        "kappa": result.kappa,
        "method": result.method,
        "records_inconsistent": result.records_inconsistent,
        "inconsistent": result.inconsistent,
    }


def _pii_view(finding: pii.PiiFinding) -> dict[str, Any]:
    return {
        "column": finding.column,
        "detector": finding.detector,
        "matches": finding.matches,
        "rows_scanned": finding.rows_scanned,
        "examples": finding.examples_masked,
        "suggested_classification": finding.suggested_classification,
        "note": finding.note,
    }


def _track_gaps(session: Session, source: DataSource, drafts: list[gaps.GapDraft], audit_id: str) -> None:
    """Open new gaps, refresh those seen again, and resolve those this audit no longer finds."""
    existing = {g.key: g for g in session.scalars(select(Gap).where(Gap.source_id == source.id))}
    seen = set()
    for draft in drafts:
        seen.add(draft.key)
        gap = existing.get(draft.key)
        if gap is None:
            session.add(
                Gap(
                    source_id=source.id,
                    key=draft.key,
                    title=draft.title,
                    severity=draft.severity,
                    reason=draft.reason,
                    owner=source.owner,
                    status="open",
                    evidence=dict(draft.evidence),
                    first_audit=audit_id,
                    last_audit=audit_id,
                )
            )
            continue
        gap.title, gap.severity, gap.reason = draft.title, draft.severity, draft.reason
        gap.evidence, gap.last_audit = dict(draft.evidence), audit_id
        if gap.status == "resolved":
            gap.status, gap.resolved_at = "open", None
    for key, gap in existing.items():
        if key not in seen and gap.status == "open":
            gap.status, gap.resolved_at, gap.last_audit = "resolved", now(), audit_id
    session.flush()


def list_gaps(
    session: Session,
    *,
    source_id: str | None = None,
    status: str | None = "open",
    severity: str | None = None,
    owner: str | None = None,
) -> list[Gap]:
    """The foundation gap list: blockers first, then degraders, by source."""
    query = select(Gap)
    if source_id:
        query = query.where(Gap.source_id == source_id)
    if status:
        query = query.where(Gap.status == status)
    if severity:
        query = query.where(Gap.severity == severity)
    if owner:
        query = query.where(Gap.owner == owner)
    found = list(session.scalars(query))
    return sorted(found, key=lambda g: (g.severity != "blocker", g.source_id, g.key))


def get_audit(session: Session, *, audit_id: str) -> DataAudit:
    """One stored audit, or NotFound."""
    found = session.get(DataAudit, audit_id)
    if found is None:
        raise NotFound(f"no data audit '{audit_id}'")
    return found


def audits_of(session: Session, *, source_id: str) -> list[DataAudit]:
    """A source's audits, newest first."""
    # A list never needs each audit's whole report page: only the page that shows one does.
    query = select(DataAudit).options(defer(DataAudit.report_html)).where(DataAudit.source_id == source_id)
    return list(session.scalars(query.order_by(DataAudit.created_at.desc())))


def update_gap(
    session: Session,
    *,
    actor: Principal,
    gap_id: int,
    owner: str | None = None,
    status: str | None = None,
    note: str | None = None,
) -> Gap:
    """Give a gap an owner, or mark it resolved by hand (the next audit checks it again); audited."""
    actor.require(Action.data_manage)
    gap = session.get(Gap, gap_id)
    if gap is None:
        raise NotFound(f"no gap {gap_id}")
    if status not in (None, "open", "resolved"):
        raise InvalidInput("unknown status", [Problem("must be open or resolved", field="status")])
    before = {"owner": gap.owner, "status": gap.status}
    if owner is not None:
        gap.owner = owner
    if status is not None and status != gap.status:
        gap.status, gap.resolved_at = status, now() if status == "resolved" else None
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "data.gap.update",
            "gap",
            str(gap_id),
            before,
            {"owner": gap.owner, "status": gap.status, "note": note},
        ),
    )
    return gap
