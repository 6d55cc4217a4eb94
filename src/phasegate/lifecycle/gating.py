"""Gates in the store: check a phase's gate on evidence, sign off, decide, and advance (or override)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.lifecycle import gates, plans, playbooks
from phasegate.lifecycle.models import Approval, GateDecision, Plan, PlanPhase
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now

Decision = Literal["go", "no-go", "conditional"]
DECISIONS: tuple[Decision, ...] = ("go", "no-go", "conditional")


def phase_of(plan: Plan, phase_id: str | None = None) -> PlanPhase:
    """The named phase of a plan, or the active one."""
    if phase_id is None:
        active = next((p for p in plan.phases if p.status == "active"), None)
        return active or plan.phases[-1]
    found = next((p for p in plan.phases if p.phase_id == phase_id), None)
    if found is None:
        known = ", ".join(p.phase_id for p in plan.phases)
        raise NotFound(f"no phase '{phase_id}' in the plan of '{plan.usecase_id}'; phases: {known}")
    return found


@dataclass(frozen=True)
class GateReport:
    """A gate's state: its frozen criteria and version, each criterion's verdict, sign-offs and decisions."""

    usecase_id: str
    phase: PlanPhase
    result: gates.GateResult
    approvals: Sequence[Approval]
    decisions: Sequence[GateDecision]

    def view(self) -> dict[str, Any]:
        """The report as the doors show it."""
        return {
            "usecase": self.usecase_id,
            "phase": self.phase.phase_id,
            "phase_name": self.phase.name,
            "phase_status": self.phase.status,
            "criteria_version": self.phase.criteria_version,
            "criteria_sha256": self.phase.criteria_hash,
            "frozen_at": self.phase.started_at.isoformat() if self.phase.started_at else None,
            "passed": self.result.passed,
            "counts": dict(self.result.counts),
            "criteria": [_result_view(r) for r in self.result.results],
            "approvals": [
                {
                    "criterion": a.criterion_index,
                    "version": a.criteria_version,
                    "role": a.role,
                    "by": a.by,
                    "approved": a.approved,
                    "reason": a.reason,
                    "at": a.at.isoformat(),
                }
                for a in self.approvals
            ],
            "decisions": [decision_view(d) for d in self.decisions],
        }


def _result_view(result: gates.CriterionResult) -> dict[str, Any]:
    view = asdict(result)
    for key in ("observed", "threshold"):
        if view[key] is gates.MISSING:
            view[key] = None
    return view


def decision_view(decision: GateDecision) -> dict[str, Any]:
    return {
        "phase": decision.phase_id,
        "decision": decision.decision,
        "by": decision.by,
        "reason": decision.reason,
        "at": decision.at.isoformat(),
        "passed": decision.gate.get("passed"),
    }


def check(
    session: Session, *, usecase_id: str, phase_id: str | None = None, at: datetime | None = None
) -> GateReport:
    """Evaluate a phase's gate on the newest evidence and the sign-offs of its current criteria version."""
    plan = plans.get(session, usecase_id=usecase_id)
    phase = phase_of(plan, phase_id)
    criteria = playbooks.parse_criteria(phase.criteria)
    evidence = [
        gates.EvidenceView(e.id, e.kind, e.created_at, e.payload, e.sha256)
        for e in evidence_service.get_all(session, usecase_id=usecase_id)
    ]
    approvals = _approvals(session, usecase_id, phase.phase_id)
    views = [
        gates.ApprovalView(a.criterion_index, a.role, a.by, a.approved, a.reason, a.at, a.criteria_version)
        for a in approvals
    ]
    result = gates.evaluate(
        criteria, evidence=evidence, approvals=views, now=at or now(), criteria_version=phase.criteria_version
    )
    decisions = session.scalars(
        select(GateDecision)
        .where(GateDecision.usecase_id == usecase_id, GateDecision.phase_id == phase.phase_id)
        .order_by(GateDecision.at.desc(), GateDecision.id.desc())
    ).all()
    return GateReport(usecase_id, phase, result, approvals, decisions)


def _approvals(session: Session, usecase_id: str, phase_id: str) -> Sequence[Approval]:
    return session.scalars(
        select(Approval)
        .where(Approval.usecase_id == usecase_id, Approval.phase_id == phase_id)
        .order_by(Approval.at.desc(), Approval.id.desc())
    ).all()


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reason is required", [Problem("must not be blank", field="reason")])
    return reason


def approve(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    criterion: int,
    approved: bool,
    reason: str,
    phase_id: str | None = None,
) -> Approval:
    """Sign off (or refuse) an approval criterion; only the role it names may, not even an admin."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    plan = plans.get(session, usecase_id=usecase_id)
    phase = phase_of(plan, phase_id)
    criteria = playbooks.parse_criteria(phase.criteria)
    if not 1 <= criterion <= len(criteria):
        raise InvalidInput(
            f"the gate of phase '{phase.phase_id}' has criteria 1 to {len(criteria)}",
            [Problem(f"no criterion {criterion}", field="criterion")],
        )
    spec = criteria[criterion - 1]
    role = spec.role
    if role is None:
        raise InvalidInput(
            f"criterion {criterion} ({spec.label}) is decided by evidence, not by a sign-off",
            [Problem("not an approval criterion", field="criterion")],
        )
    if role not in actor.roles_on(usecase_id, portfolio_service.ownership_roles(usecase, actor)):
        raise Forbidden(
            f"criterion {criterion} needs a sign-off by {role.value}; {actor.name} does not hold that role"
        )
    record = Approval(
        usecase_id=usecase_id,
        phase_id=phase.phase_id,
        criterion_index=criterion,
        criteria_version=phase.criteria_version,
        role=spec.approval or role.value,
        by=actor.name,
        approved=approved,
        reason=_reason(reason),
        at=now(),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "gate.approve" if approved else "gate.reject",
            "gate",
            f"{usecase_id}:{phase.phase_id}",
            after={
                "criterion": criterion,
                "version": phase.criteria_version,
                "role": record.role,
                "reason": record.reason,
            },
            usecase_id=usecase_id,
        ),
    )
    return record


def set_criteria(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    criteria: Sequence[Mapping[str, Any]],
    phase_id: str | None = None,
) -> PlanPhase:
    """Change a gate's criteria: a new, audited version; sign-offs of the old version stop counting."""
    actor.require(Action.gate_criteria, usecase_id)
    plan = plans.get(session, usecase_id=usecase_id)
    phase = phase_of(plan, phase_id)
    if phase.status == "passed":
        raise Conflict(
            f"the gate of phase '{phase.phase_id}' was already passed; its criteria stay as they were"
        )
    specs = playbooks.parse_criteria(criteria)
    documents = [c.document() for c in specs]
    if documents == phase.criteria:
        return phase
    before = {"criteria": phase.criteria, "version": phase.criteria_version, "sha256": phase.criteria_hash}
    phase.criteria = documents
    if phase.status == "active":
        phase.criteria_version += 1
        phase.criteria_hash = gates.freeze(specs).sha256
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "gate.criteria",
            "gate",
            f"{usecase_id}:{phase.phase_id}",
            before,
            {"criteria": documents, "version": phase.criteria_version, "sha256": phase.criteria_hash},
            usecase_id,
        ),
    )
    return phase


def _record_decision(
    session: Session, actor: Principal, report: GateReport, decision: str, reason: str
) -> GateDecision:
    record = GateDecision(
        usecase_id=report.usecase_id,
        phase_id=report.phase.phase_id,
        decision=decision,
        by=actor.name,
        reason=reason,
        gate={k: v for k, v in report.view().items() if k not in ("decisions", "approvals")},
        at=now(),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            f"gate.{decision}",
            "gate",
            f"{report.usecase_id}:{report.phase.phase_id}",
            after={"decision": decision, "reason": reason, "passed": report.result.passed},
            usecase_id=report.usecase_id,
        ),
    )
    return record


def decide(
    session: Session, *, actor: Principal, usecase_id: str, decision: str, reason: str
) -> GateDecision:
    """Record go, no-go or conditional at the current gate, with what the gate showed at that moment."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.gate_decide, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    if decision not in DECISIONS:
        raise InvalidInput(
            "unknown decision", [Problem(f"must be one of: {', '.join(DECISIONS)}", field="decision")]
        )
    report = check(session, usecase_id=usecase_id)
    return _record_decision(session, actor, report, decision, _reason(reason))


def advance(
    session: Session, *, actor: Principal, usecase_id: str, override_reason: str | None = None
) -> PlanPhase:
    """Move to the next phase once the gate passed; an admin or program lead may override, with a reason."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.phase_advance, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    plan = plans.get(session, usecase_id=usecase_id)
    report = check(session, usecase_id=usecase_id)
    phase = report.phase
    if phase.status != "active":
        raise Conflict(f"phase '{phase.phase_id}' is not under way; nothing to advance")
    following = next((p for p in plan.phases if p.position == phase.position + 1), None)
    if following is None:
        raise Conflict(f"'{phase.phase_id}' is the last phase of the plan; there is no phase to advance to")
    if report.result.passed:
        _record_decision(session, actor, report, "advance", "gate passed")
    elif override_reason is not None:
        actor.require(Action.phase_override, usecase_id)
        _record_decision(session, actor, report, "override", _reason(override_reason))
    else:
        failing = [
            f"{r.index}. {r.label}: {r.status} ({r.reason})"
            for r in report.result.results
            if r.status != "pass"
        ]
        raise Conflict(
            f"the gate of phase '{phase.phase_id}' has not passed; nothing changed",
            [Problem(line, field="gate") for line in failing],
        )
    phase.status = "passed"
    phase.completed_at = now()
    plans.begin_phase(session, actor, plan, following)
    usecase.current_phase = following.phase_id
    session.flush()
    return following
