"""Step analysis on the inference log: judge a window, step the canary up or roll it back, publish evidence.

Per stage, what a window yields:

- ``canary``: the candidate against the primary on the rollout's criteria (by default: error rate no
  worse than the primary's by more than 2 points, p95 latency no more than 100 ms above it), each
  with a minimum sample per arm (the rollout's ``min_samples``, 100 by default). Pass steps the
  weight up the ladder (5 → 25 → 50 → 100; at the top it holds — promotion to full is a person's
  decision through the gate); fail sends the candidate back to shadow at once; too little data
  holds. Publishes ``rollout.canary`` with the weight judged.
- ``shadow``: agreement of the candidate with the primary on the same requests (``rollout.shadow``).
- ``supervised`` and ``segment``: reviewed outputs and the reviewers' override rate
  (``rollout.supervised``).

Replicas run this on their own; a window is claimed by a conditional update of its start, so two
replicas never judge the same window twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from phasegate.identity.roles import Role
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.rollout import service
from phasegate.rollout.models import InferenceRecord, Rollout
from phasegate.store import now

# The system's own hand: steps taken by the analysis are audited under this name.
ANALYST = Principal(name="gateway:analysis", global_roles=frozenset({Role.admin}))
DEFAULT_CRITERIA: list[Any] = ["error_rate <= control + 0.02", "p95_latency_ms <= control + 100"]
# The stages whose traffic is judged window by window.
JUDGED_STAGES = ("canary", "shadow", "supervised", "segment")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def due(session: Session) -> list[str]:
    """Use cases whose analysis window has ended."""
    moment = now()
    found = []
    for rollout in session.scalars(select(Rollout).where(Rollout.stage.in_(JUDGED_STAGES))):
        start = rollout.window_started_at
        if (
            not rollout.killed
            and start is not None
            and _aware(start) + timedelta(seconds=rollout.window_seconds) <= moment
        ):
            found.append(rollout.usecase_id)
    return found


def _claim(session: Session, rollout: Rollout) -> bool:
    """Start the next window, unless another replica just did."""
    moment = now()
    claimed = session.execute(
        update(Rollout)
        .where(
            Rollout.usecase_id == rollout.usecase_id, Rollout.window_started_at == rollout.window_started_at
        )
        .values(window_started_at=moment)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    session.refresh(rollout)
    return True


def window_records(session: Session, rollout: Rollout, since: datetime | None) -> list[InferenceRecord]:
    query = select(InferenceRecord).where(InferenceRecord.usecase_id == rollout.usecase_id)
    if since is not None:
        query = query.where(InferenceRecord.at >= since)
    return list(session.scalars(query))


def requests_so_far(session: Session, rollout: Rollout) -> dict[str, int]:
    """Each arm's requests in the window under way, counted in the store (the page's live view)."""
    if rollout.window_started_at is None:
        return {}
    in_window = (InferenceRecord.usecase_id == rollout.usecase_id) & (
        InferenceRecord.at >= rollout.window_started_at
    )
    counted = session.execute(
        select(InferenceRecord.arm, func.count()).where(in_window).group_by(InferenceRecord.arm)
    )
    return {arm: count for arm, count in counted.tuples()}


def arm_window(records: list[InferenceRecord], arm: str) -> Any:
    """An arm's counts as the analysis reads them."""
    from phasegate.rollout import analysis

    mine = [r for r in records if r.arm == arm]
    reviewed = [r for r in mine if r.label_source == "review"]
    compared = [r for r in mine if r.shadow is not None]
    return analysis.ArmWindow(
        requests=len(mine),
        errors=sum(1 for r in mine if r.status == "error"),
        latencies_ms=tuple(r.latency_ms for r in mine),
        reviewed=len(reviewed),
        overridden=sum(1 for r in reviewed if (r.label or {}).get("overridden")),
        compared=len(compared),
        agreed=sum(1 for r in compared if (r.shadow or {}).get("agreed")),
    )


def analyse_window(session: Session, *, usecase_id: str, actor: str, force: bool = False) -> dict[str, Any]:
    """Judge the current window of a use case's rollout, act on the verdict and keep its outcome."""
    rollout = service.get(session, usecase_id=usecase_id)
    if rollout is None or rollout.stage not in JUDGED_STAGES:
        stage = rollout.stage if rollout else "off"
        return {"outcome": "none", "action": f"nothing to analyse in stage {stage}", "criteria": []}
    since = rollout.window_started_at
    if not force and not _claim(session, rollout):
        return {"outcome": "none", "action": "another replica judged this window", "criteria": []}
    if force:
        rollout.window_started_at = now()
    records = window_records(session, rollout, since)
    control, candidate = arm_window(records, "primary"), arm_window(records, "candidate")
    judged = {"at": now().isoformat(), "stage": rollout.stage, "weight": rollout.weight}
    outcome = _judge(session, rollout, control, candidate, actor)
    rollout.last_window = judged | {
        "outcome": outcome["outcome"],
        "action": outcome["action"],
        "primary_requests": control.requests,
        "candidate_requests": candidate.requests,
        "min_samples": rollout.min_samples,
    }
    return outcome


def _judge(session: Session, rollout: Rollout, control: Any, candidate: Any, actor: str) -> dict[str, Any]:
    """What the window's stage makes of it: a canary step, agreement, or review outcomes."""
    from phasegate.rollout import analysis

    if rollout.stage == "canary":
        verdict = analysis.analyse(
            analysis.parse_criteria(rollout.criteria or DEFAULT_CRITERIA),
            control,
            candidate,
            min_samples=rollout.min_samples,
        )
        return _step(session, rollout, verdict, control, candidate, actor)
    if rollout.stage == "shadow":
        payload = {
            "compared": control.compared,
            "agreed": control.agreed,
            "agreement": round(control.agreed / control.compared, 4) if control.compared else None,
            "requests": control.requests,
        }
        _publish(session, rollout, "rollout.shadow", payload)
        return {"outcome": "observed", "action": "agreement recorded", "criteria": [], **payload}
    answering = control if rollout.primary_version_id else candidate
    all_reviewed = _reviewed_so_far(session, rollout)
    payload = {
        "reviewed": all_reviewed["reviewed"],
        "overridden": all_reviewed["overridden"],
        "override_rate": all_reviewed["override_rate"],
        "window_reviewed": answering.reviewed,
        "window_overridden": answering.overridden,
    }
    _publish(session, rollout, "rollout.supervised", payload)
    return {"outcome": "observed", "action": "review outcomes recorded", "criteria": [], **payload}


def _reviewed_so_far(session: Session, rollout: Rollout) -> dict[str, Any]:
    """Every review of this use case's outputs, as the gate's supervised-period count reads it."""
    labels = session.scalars(
        select(InferenceRecord.label).where(
            InferenceRecord.usecase_id == rollout.usecase_id, InferenceRecord.label_source == "review"
        )
    ).all()
    overridden = sum(1 for label in labels if (label or {}).get("overridden"))
    return {
        "reviewed": len(labels),
        "overridden": overridden,
        "override_rate": round(overridden / len(labels), 4) if labels else None,
    }


def _step(
    session: Session, rollout: Rollout, verdict: Any, control: Any, candidate: Any, actor: str
) -> dict[str, Any]:
    from phasegate.rollout import analysis

    before = service.rollout_view(rollout)
    judged = rollout.weight
    view = verdict.as_dict()
    if verdict.outcome == "pass":
        following = analysis.ladder_next(rollout.weight, rollout.ladder)
        if following is not None:
            rollout.weight = following
            action = f"stepped up from {judged} % to {following} %"
        else:
            action = f"passed at {judged} %; promotion to full is a decision through the gate"
    elif verdict.outcome == "fail":
        rollout.stage, rollout.weight = "shadow", 0
        action = f"rolled back from {judged} % to shadow"
    else:
        action = f"held at {judged} %: {verdict.reason}"
    if rollout.weight != before["weight"] or rollout.stage != before["stage"]:
        service.transition(session, rollout, before, actor=actor, reason=f"analysis: {action}", verdict=view)
    if verdict.outcome in ("pass", "fail"):
        _publish(
            session,
            rollout,
            "rollout.canary",
            {
                "weight": judged if verdict.outcome == "pass" else 0,
                "outcome": verdict.outcome,
                "action": action,
                "verdict": view,
                "control_requests": control.requests,
                "candidate_requests": candidate.requests,
            },
        )
    return {"outcome": verdict.outcome, "action": action, **view}


def _publish(session: Session, rollout: Rollout, kind: str, payload: dict[str, Any]) -> None:
    evidence_service.publish(
        session,
        actor=ANALYST,
        usecase_id=rollout.usecase_id,
        kind=kind,
        producer=f"phasegate gateway step analysis ({rollout.stage})",
        payload=payload,
    )
