"""Rollouts: set a use case's stage only as far as its gates allow, pull the kill switch, keep the history.

Which gate a stage needs (the playbook's phases are searched for the evidence their gates read):

- ``off`` and ``shadow`` need none: a shadow candidate never answers anyone.
- ``supervised``, ``segment`` and ``canary`` need the gate that reads ``evaluation.performance``
  (the pilot's) passed: the phase is marked passed, or its gate passes on the evidence now. A
  version that answers without review (segment, canary) must also be approved.
- ``full`` needs, besides, the criteria that read ``rollout.canary`` in the deployment phase's gate
  to pass: the canary ladder has held the weight the gate asks for.

An admin or program lead may go further with a reason; the override is audited. Every change bumps
the counter gateway replicas poll, so they reload within their poll interval.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from phasegate.evaluation import registry
from phasegate.evaluation.models import ModelVersion
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import gating, plans
from phasegate.lifecycle.models import PlanPhase
from phasegate.portfolio import service as portfolio_service
from phasegate.rollout.models import GatewayState, Rollout, RolloutTransition
from phasegate.store import now

STAGES = ("off", "shadow", "supervised", "segment", "canary", "full")
LADDER = [5, 25, 50, 100]
MIN_WINDOW_SECONDS = 10  # a shorter window judges a handful of requests and steps on noise
EVALUATION_EVIDENCE = "evaluation.performance"
CANARY_EVIDENCE = "rollout.canary"


def require(session: Session, actor: Principal, action: Action, usecase_id: str) -> None:
    """Refuse unless the caller's global or use-case roles (owner fields included) permit the action."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(action, usecase_id, portfolio_service.ownership_roles(usecase, actor))


def bump(session: Session) -> int:
    """Tell every gateway replica to reload: one row's counter, incremented in the caller's transaction."""
    updated = session.execute(
        update(GatewayState)
        .where(GatewayState.id == 1)
        .values(counter=GatewayState.counter + 1, changed_at=now())
    )
    if getattr(updated, "rowcount", 0) == 0:
        session.add(GatewayState(id=1, counter=1))
        session.flush()
    return counter(session)


def counter(session: Session) -> int:
    """The reload counter, 0 before any rollout exists."""
    return session.scalar(select(GatewayState.counter).where(GatewayState.id == 1)) or 0


def get(session: Session, *, usecase_id: str) -> Rollout | None:
    """A use case's rollout, or None when it was never set (traffic is then off)."""
    portfolio_service.get(session, usecase_id=usecase_id)
    return session.get(Rollout, usecase_id)


def all_rollouts(session: Session) -> Sequence[Rollout]:
    return session.scalars(select(Rollout).order_by(Rollout.usecase_id)).all()


def rollout_view(rollout: Rollout) -> dict[str, Any]:
    return {
        "usecase": rollout.usecase_id,
        "stage": rollout.stage,
        "primary": rollout.primary_version_id,
        "candidate": rollout.candidate_version_id,
        "weight": rollout.weight,
        "ladder": rollout.ladder,
        "killed": rollout.killed,
        "kill_reason": rollout.kill_reason,
        "fallback": rollout.fallback,
        "segment_rules": rollout.segment_rules,
        "criteria": rollout.criteria,
        "redaction": rollout.redaction,
        "window_seconds": rollout.window_seconds,
        "min_samples": rollout.min_samples,
        "last_window": rollout.last_window,
        "cost_per_request": rollout.cost_per_request,
        "rate_limit_per_minute": rollout.rate_limit_per_minute,
        "monthly_budget": rollout.monthly_budget,
        "cache_seconds": rollout.cache_seconds,
        "retention_days": rollout.retention_days,
        "review_sla_minutes": rollout.review_sla_minutes,
        "updated_by": rollout.updated_by,
        "updated_at": rollout.updated_at.isoformat(),
    }


def version_labels(session: Session, rollout: Rollout) -> dict[str, str | None]:
    """`name version` of the rollout's primary and candidate, as people call them."""
    labels: dict[str, str | None] = {}
    for role, version_id in (
        ("primary", rollout.primary_version_id),
        ("candidate", rollout.candidate_version_id),
    ):
        version = session.get(ModelVersion, version_id) if version_id else None
        labels[f"{role}_label"] = version.label if version else version_id
    return labels


@dataclass
class StageChange:
    """What a caller asks for; None leaves a setting as it is."""

    stage: str
    primary: str | None = None
    candidate: str | None = None
    weight: int | None = None
    ladder: list[int] | None = None
    fallback: dict[str, Any] | None = None
    segment_rules: list[dict[str, Any]] | None = None
    criteria: list[dict[str, Any] | str] | None = None
    redaction: dict[str, Any] | None = None
    window_seconds: int | None = None
    min_samples: int | None = None
    cost_per_request: float | None = None
    rate_limit_per_minute: int | None = None
    monthly_budget: float | None = None
    cache_seconds: int | None = None
    retention_days: int | None = None
    review_sla_minutes: int | None = None
    override_reason: str | None = None
    problems: list[Problem] = field(default_factory=list)


def _version(
    session: Session, usecase_id: str, reference: str | None, field_name: str
) -> ModelVersion | None:
    if reference is None:
        return None
    try:
        return registry.get_version(session, usecase_id=usecase_id, reference=reference)
    except NotFound as exc:
        raise InvalidInput(
            "the rollout is not valid; nothing changed", [Problem(str(exc), field=field_name)]
        ) from exc


def gate_problems(session: Session, *, usecase_id: str, stage: str) -> list[str]:
    """Why the gates do not allow this stage yet; empty when they do."""
    if stage in ("off", "shadow"):
        return []
    try:
        plan = plans.get(session, usecase_id=usecase_id)
    except NotFound:
        return [f"'{usecase_id}' has no plan, so no gate has passed"]
    found = []
    phase = _phase_reading(plan.phases, EVALUATION_EVIDENCE)
    if phase is None:
        found.append(f"the {plan.playbook_id} playbook has no gate reading {EVALUATION_EVIDENCE} evidence")
    elif (
        phase.status != "passed"
        and not gating.check(session, usecase_id=usecase_id, phase_id=phase.phase_id).result.passed
    ):
        found.append(f"the gate of '{phase.name}' (reading {EVALUATION_EVIDENCE}) has not passed")
    if stage == "full":
        # Only the canary criteria of the deployment gate: its other criteria (SLOs over weeks of full
        # traffic, sign-offs) are what full traffic is for.
        phase = _phase_reading(plan.phases, CANARY_EVIDENCE)
        if phase is None:
            found.append(f"the {plan.playbook_id} playbook has no gate reading {CANARY_EVIDENCE} evidence")
        else:
            report = gating.check(session, usecase_id=usecase_id, phase_id=phase.phase_id)
            for criterion, result in zip(phase.criteria, report.result.results, strict=False):
                if criterion.get("evidence") == CANARY_EVIDENCE and result.status != "pass":
                    found.append(f"'{phase.name}' gate: {result.label}: {result.reason}")
    return found


def _phase_reading(phases: Sequence[PlanPhase], kind: str) -> PlanPhase | None:
    return next((p for p in phases if any(c.get("evidence") == kind for c in p.criteria or [])), None)


def set_stage(session: Session, *, actor: Principal, usecase_id: str, change: StageChange) -> Rollout:
    """Move a use case's traffic to a stage, as far as its gates allow (or further, with an override)."""
    require(session, actor, Action.rollout_manage, usecase_id)
    problems: list[Problem] = []
    if change.stage not in STAGES:
        problems.append(
            Problem(f"'{change.stage}' is not a stage; stages are: {', '.join(STAGES)}", field="stage")
        )
        raise InvalidInput("the rollout is not valid; nothing changed", problems)
    rollout = session.get(Rollout, usecase_id)
    before = rollout_view(rollout) if rollout is not None else None
    if rollout is None:
        rollout = Rollout(
            usecase_id=usecase_id,
            stage="off",
            weight=0,
            ladder=list(LADDER),
            salt=secrets.token_hex(8),
            fallback={},
            segment_rules=[],
            criteria=[],
            redaction={},
            updated_by=actor.name,
        )
        session.add(rollout)
    primary = _version(session, usecase_id, change.primary, "primary")
    candidate = _version(session, usecase_id, change.candidate, "candidate")
    primary_id = primary.id if primary else rollout.primary_version_id
    candidate_id = candidate.id if candidate else rollout.candidate_version_id
    if change.stage in ("shadow", "canary") and candidate_id is None:
        problems.append(Problem(f"{change.stage} needs a candidate version (--candidate)", field="candidate"))
    if change.stage in ("supervised", "segment", "full") and primary_id is None and candidate_id is None:
        problems.append(Problem(f"{change.stage} needs a version to answer (--primary)", field="primary"))
    weight = change.weight if change.weight is not None else rollout.weight
    if change.stage == "canary" and change.weight is None and rollout.stage != "canary":
        weight = (change.ladder or rollout.ladder or LADDER)[0]
    if not 0 <= weight <= 100:
        problems.append(Problem("must be from 0 to 100", field="weight"))
    problems += _settings_problems(change)
    if problems:
        raise InvalidInput("the rollout is not valid; nothing changed", problems)
    answering = candidate_id if change.stage in ("canary", "full") and candidate_id else primary_id
    # Settings changed in place (limits, policy, criteria, a lower weight) need no gate again.
    moving = (
        before is None
        or change.stage != before["stage"]
        or primary_id != before["primary"]
        or candidate_id != before["candidate"]
        or weight > before["weight"]
    )
    blocked = gate_problems(session, usecase_id=usecase_id, stage=change.stage) if moving else []
    if moving and change.stage in ("segment", "canary", "full") and answering is not None:
        version = session.get(ModelVersion, answering)
        if version is not None and version.status != "approved":
            blocked.append(f"{version.label} is {version.status}, not approved")
    if blocked:
        if not change.override_reason:
            raise Forbidden(
                f"the gates do not allow '{change.stage}' yet: "
                + "; ".join(blocked)
                + " (an admin or program lead may override with a reason)"
            )
        actor.require(Action.phase_override, usecase_id)
    if change.stage == "full" and candidate_id:
        # Promotion: the candidate becomes the primary, the old primary the fallback.
        if primary_id and primary_id != candidate_id and not (change.fallback or rollout.fallback):
            rollout.fallback = {"version": primary_id}
        primary_id, candidate_id, weight = candidate_id, None, 100
    _apply(rollout, change, primary_id, candidate_id, weight)
    reason = change.override_reason and f"override: {change.override_reason}"
    transition(session, rollout, before, actor=actor.name, reason=reason or "set by hand", verdict=None)
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "rollout.override" if blocked else "rollout.set",
            "rollout",
            usecase_id,
            before=before,
            after=rollout_view(rollout) | ({"blocked": blocked} if blocked else {}),
            usecase_id=usecase_id,
        ),
    )
    return rollout


def _settings_problems(change: StageChange) -> list[Problem]:
    from phasegate.rollout import analysis, redaction, routing

    problems: list[Problem] = []
    try:
        if change.segment_rules is not None:
            routing.parse_rules(change.segment_rules)
        if change.criteria is not None:
            analysis.parse_criteria(change.criteria)
        if change.redaction is not None:
            redaction.parse_policy(change.redaction)
    except (InvalidInput, ValueError) as exc:  # the parsers raise both: InvalidInput naming each field
        problems += getattr(exc, "problems", None) or [Problem(str(exc))]
    if change.ladder is not None and (
        not change.ladder
        or sorted(change.ladder) != change.ladder
        or not all(0 < w <= 100 for w in change.ladder)
    ):
        problems.append(Problem("must be rising weights from 1 to 100, e.g. 5,25,50,100", field="ladder"))
    if change.window_seconds is not None and change.window_seconds < MIN_WINDOW_SECONDS:
        problems.append(Problem(f"must be at least {MIN_WINDOW_SECONDS} seconds", field="window_seconds"))
    if change.min_samples is not None and change.min_samples < 1:
        problems.append(Problem("must be at least 1", field="min_samples"))
    if change.fallback is not None and set(change.fallback) - {"version", "static"}:
        problems.append(Problem("must be {'version': ID} or {'static': ANSWER}", field="fallback"))
    return problems


def _apply(
    rollout: Rollout, change: StageChange, primary: str | None, candidate: str | None, weight: int
) -> None:
    started_canary = change.stage == "canary" and (rollout.stage != "canary" or rollout.weight != weight)
    if started_canary or rollout.stage != change.stage:
        rollout.last_window = None  # it judged traffic routed as it will not be any more
    rollout.stage = change.stage
    rollout.primary_version_id = primary
    rollout.candidate_version_id = candidate
    rollout.weight = weight if change.stage == "canary" else (100 if change.stage == "full" else 0)
    for name in (
        "ladder",
        "fallback",
        "segment_rules",
        "criteria",
        "redaction",
        "window_seconds",
        "min_samples",
        "cost_per_request",
        "rate_limit_per_minute",
        "monthly_budget",
        "cache_seconds",
        "retention_days",
        "review_sla_minutes",
    ):
        value = getattr(change, name)
        if value is not None:
            setattr(rollout, name, value)
    if started_canary or change.stage == "shadow":
        rollout.window_started_at = now()
    rollout.updated_at = now()


def transition(
    session: Session,
    rollout: Rollout,
    before: dict[str, Any] | None,
    *,
    actor: str,
    reason: str,
    verdict: dict[str, Any] | None,
) -> RolloutTransition:
    """Record a change of stage, weight or switch, and tell the replicas."""
    rollout.updated_by = actor
    record = RolloutTransition(
        usecase_id=rollout.usecase_id,
        from_stage=(before or {}).get("stage", "off"),
        to_stage=rollout.stage,
        from_weight=(before or {}).get("weight", 0),
        to_weight=rollout.weight,
        reason=reason,
        verdict=verdict,
        actor=actor,
        at=now(),
    )
    session.add(record)
    session.flush()
    bump(session)
    return record


def kill(session: Session, *, actor: Principal, usecase_id: str, reason: str, on: bool = True) -> Rollout:
    """Send the use case's traffic to its fallback (or back, with on=False) on every replica."""
    require(session, actor, Action.rollout_kill, usecase_id)
    if on and not reason.strip():
        raise InvalidInput("say why", [Problem("pulling the kill switch needs a reason", field="reason")])
    rollout = session.get(Rollout, usecase_id)
    if rollout is None:
        raise NotFound(f"'{usecase_id}' has no rollout to stop")
    if rollout.killed == on:
        raise Conflict(
            f"'{usecase_id}' is already {'killed: ' + (rollout.kill_reason or '') if on else 'running'}"
        )
    before = rollout_view(rollout)
    rollout.killed = on
    rollout.kill_reason = reason if on else None
    rollout.updated_at = now()
    transition(
        session,
        rollout,
        before,
        actor=actor.name,
        reason=("kill: " if on else "revive: ") + reason,
        verdict=None,
    )
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "rollout.kill" if on else "rollout.revive",
            "rollout",
            usecase_id,
            before=before,
            after=rollout_view(rollout),
            usecase_id=usecase_id,
        ),
    )
    return rollout


def history(session: Session, *, usecase_id: str) -> Sequence[RolloutTransition]:
    """A use case's transitions, newest first."""
    portfolio_service.get(session, usecase_id=usecase_id)
    return session.scalars(
        select(RolloutTransition)
        .where(RolloutTransition.usecase_id == usecase_id)
        .order_by(RolloutTransition.at.desc(), RolloutTransition.id.desc())
    ).all()


def transition_view(record: RolloutTransition) -> dict[str, Any]:
    return {
        "from_stage": record.from_stage,
        "to_stage": record.to_stage,
        "from_weight": record.from_weight,
        "to_weight": record.to_weight,
        "reason": record.reason,
        "verdict": record.verdict,
        "actor": record.actor,
        "at": record.at.isoformat(),
    }


def purge_expired(session: Session, *, at: datetime | None = None) -> int:
    """Delete inference records past each rollout's retention, and usage counts older than two months."""
    from datetime import timedelta

    from sqlalchemy import delete

    from phasegate.rollout.models import InferenceRecord, UsageCount

    moment = at or now()
    purged = 0
    for rollout in session.scalars(select(Rollout).where(Rollout.retention_days.is_not(None))):
        assert rollout.retention_days is not None
        result = session.execute(
            delete(InferenceRecord).where(
                InferenceRecord.usecase_id == rollout.usecase_id,
                InferenceRecord.at < moment - timedelta(days=rollout.retention_days),
            )
        )
        purged += getattr(result, "rowcount", 0) or 0
    session.execute(delete(UsageCount).where(UsageCount.minute < moment - timedelta(days=62)))
    return purged


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
