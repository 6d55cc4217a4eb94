"""Rollout's REST routes: stages and the kill switch, their history, the inference log and the review queue.

The gateway's own routes (predict, results, feedback) live in ``gateway.py``: they are served by
``phasegate gateway serve`` and mounted in ``phasegate serve``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from phasegate.api import CurrentPrincipal, SessionDep, SettingsDep
from phasegate.identity.roles import Action
from phasegate.rollout import analysis_runs, reviews, service
from phasegate.rollout.models import InferenceRecord

router = APIRouter(tags=["rollout"])


class StageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    primary: str | None = Field(None, description="the version answering: 1.0.0, name@1.0.0 or its id")
    candidate: str | None = Field(None, description="the version under trial (shadow, canary)")
    weight: int | None = Field(None, description="the candidate's share in canary, 0-100")
    ladder: list[int] | None = Field(None, description="canary steps, e.g. [5, 25, 50, 100]")
    fallback: dict[str, Any] | None = Field(None, description='{"version": ID} or {"static": ANSWER}')
    segment_rules: list[dict[str, Any]] | None = None
    criteria: list[dict[str, Any] | str] | None = Field(None, description="e.g. error_rate <= control + 0.02")
    redaction: dict[str, Any] | None = None
    window_seconds: int | None = Field(None, ge=10)
    min_samples: int | None = Field(None, ge=1, description="per arm, before a window can pass or fail")
    cost_per_request: float | None = Field(None, ge=0)
    rate_limit_per_minute: int | None = Field(None, ge=1, description="per caller, across every replica")
    monthly_budget: float | None = Field(None, ge=0, description="the cost a calendar month may reach")
    cache_seconds: int | None = Field(None, ge=0, description="answer identical requests from memory")
    retention_days: int | None = Field(None, ge=1, description="purge inference records older than this")
    review_sla_minutes: int | None = Field(None, ge=1)
    override_reason: str | None = None


@router.get("/usecases/{usecase_id}/rollout")
def read_rollout(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The stage, versions, weight, kill switch and settings, with the transitions so far."""
    principal.require(Action.read)
    rollout = service.get(session, usecase_id=usecase_id)
    return {
        "rollout": service.rollout_view(rollout) | service.version_labels(session, rollout)
        if rollout
        else None,
        "transitions": [
            service.transition_view(t) for t in service.history(session, usecase_id=usecase_id)[:50]
        ],
        "allowed": {
            s: service.gate_problems(session, usecase_id=usecase_id, stage=s) for s in service.STAGES
        },
    }


@router.put("/usecases/{usecase_id}/rollout")
def set_rollout(
    usecase_id: str, body: StageBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Move traffic to a stage, as far as the gates allow (further only by override, with a reason)."""
    change = service.StageChange(**body.model_dump())
    rollout = service.set_stage(session, actor=principal, usecase_id=usecase_id, change=change)
    session.commit()
    return service.rollout_view(rollout)


class KillBody(BaseModel):
    reason: str = ""
    on: bool = True


@router.post("/usecases/{usecase_id}/rollout/kill")
def kill_switch(
    usecase_id: str, body: KillBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Send all traffic to the fallback (on=false brings it back); lands on every replica within a second."""
    rollout = service.kill(session, actor=principal, usecase_id=usecase_id, reason=body.reason, on=body.on)
    session.commit()
    return service.rollout_view(rollout)


@router.post("/usecases/{usecase_id}/rollout/analyse")
def analyse(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Judge the current canary or shadow window now: pass steps up, fail rolls back, little data holds."""
    service.require(session, principal, Action.rollout_manage, usecase_id)
    outcome = analysis_runs.analyse_window(session, usecase_id=usecase_id, actor=principal.name, force=True)
    session.commit()
    return outcome


def record_view(record: InferenceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "at": record.at.isoformat(),
        "caller": record.caller,
        "version": record.version_id,
        "arm": record.arm,
        "stage": record.stage,
        "reason": record.reason,
        "status": record.status,
        "latency_ms": record.latency_ms,
        "cost": record.cost,
        "confidence": record.confidence,
        "input": record.input,
        "output": record.output,
        "error": record.error,
        "shadow": record.shadow,
        "label": record.label,
        "label_source": record.label_source,
    }


@router.get("/usecases/{usecase_id}/inferences")
def list_inferences(
    usecase_id: str, session: SessionDep, principal: CurrentPrincipal, limit: int = 100
) -> dict[str, Any]:
    """The inference log, newest first, as redacted by the rollout's policy."""
    principal.require(Action.read, usecase_id)
    found = session.scalars(
        select(InferenceRecord)
        .where(InferenceRecord.usecase_id == usecase_id)
        .order_by(InferenceRecord.at.desc())
        .limit(min(limit, 1000))
    ).all()
    return {"data": [record_view(r) for r in found], "count": len(found)}


@router.get("/reviews")
def review_queue(
    session: SessionDep,
    principal: CurrentPrincipal,
    usecase: str | None = None,
    order: Literal["oldest", "least_confident"] = "oldest",
) -> dict[str, Any]:
    """Pending review items, oldest or least confident first, with the queue's workload."""
    principal.require(Action.read, usecase)
    found = reviews.queue(session, usecase_id=usecase, order=order)
    # The clear content of a held item is for those who may decide it, not for every reader.
    allowed = {
        u: reviews.can_decide(session, actor=principal, usecase_id=u) for u in {i.usecase_id for i in found}
    }
    return {
        "data": [reviews.item_view(i, content=allowed[i.usecase_id]) for i in found],
        "count": len(found),
        "workload": reviews.workload(session, usecase_id=usecase),
    }


@router.post("/reviews/next")
def take_next(
    session: SessionDep,
    principal: CurrentPrincipal,
    usecase: str | None = None,
    order: Literal["oldest", "least_confident"] = "oldest",
) -> dict[str, Any]:
    """Reserve the next item nobody holds."""
    item = reviews.take_next(session, actor=principal, usecase_id=usecase, order=order)
    session.commit()
    return {"item": reviews.item_view(item) if item else None}


@router.post("/reviews/{item_id}/take")
def take(item_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Reserve an item for a few minutes; 409 when another reviewer holds it."""
    item = reviews.take(session, actor=principal, item_id=item_id)
    session.commit()
    return reviews.item_view(item)


@router.post("/reviews/{item_id}/release")
def release(item_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Give back an item you hold, so another reviewer can take it at once."""
    item = reviews.release(session, actor=principal, item_id=item_id)
    session.commit()
    return reviews.item_view(item)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: str
    output: dict[str, Any] | None = None
    reason_code: str | None = None
    note: str | None = None


@router.post("/reviews/{item_id}/decision")
def decide(
    item_id: str,
    body: DecisionBody,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Approve, edit or reject an item you hold; the caller gets the released answer."""
    item = reviews.decide(
        session,
        actor=principal,
        item_id=item_id,
        decision=body.decision,
        output=body.output,
        reason_code=body.reason_code,
        note=body.note,
    )
    session.commit()
    from phasegate.rollout import webhooks

    webhooks.notify(item, allowed=settings.outbound_hosts)
    return reviews.item_view(item)
