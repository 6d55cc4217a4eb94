"""Rollout's tables: each use case's rollout, its transitions, the inference log and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phasegate.store import Base, now


class Rollout(Base):
    """Where a use case's traffic goes: the stage, the versions, the kill switch and the fallback."""

    __tablename__ = "rollouts"

    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), default="off")
    primary_version_id: Mapped[str | None] = mapped_column(String(40))
    candidate_version_id: Mapped[str | None] = mapped_column(String(40))
    weight: Mapped[int] = mapped_column(default=0)  # the candidate's share in canary, 0-100
    ladder: Mapped[list[int]] = mapped_column(JSON)
    # Assignment is by a hash of the caller's key with this salt: a new salt reshuffles everyone.
    salt: Mapped[str] = mapped_column(String(40))
    killed: Mapped[bool] = mapped_column(default=False)
    kill_reason: Mapped[str | None] = mapped_column(Text)
    fallback: Mapped[dict[str, Any]]  # {"version": id} or {"static": answer}
    segment_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    criteria: Mapped[list[Any]] = mapped_column(JSON)  # dicts or "METRIC OP LIMIT" texts
    redaction: Mapped[dict[str, Any]]
    window_seconds: Mapped[int] = mapped_column(default=600)
    min_samples: Mapped[int] = mapped_column(default=100)  # per arm, before a window can pass or fail
    window_started_at: Mapped[datetime | None]
    # The newest judged window: when, at what stage and weight, the outcome and what was done, each arm's
    # requests. A held window changes nothing else, so without this it would leave no trace.
    last_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cost_per_request: Mapped[float] = mapped_column(default=0.0)
    rate_limit_per_minute: Mapped[int | None]  # per caller, across every replica
    monthly_budget: Mapped[float | None]  # the cost of requests a calendar month may reach
    cache_seconds: Mapped[int] = mapped_column(default=0)  # identical requests answered from memory
    retention_days: Mapped[int | None]  # inference records older than this are purged
    review_sla_minutes: Mapped[int] = mapped_column(default=60)
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class GatewayState(Base):
    """One row: a counter bumped by every rollout change, which gateway replicas poll to reload."""

    __tablename__ = "gateway_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    counter: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(default=now)


class UsageCount(Base):
    """Requests and their cost per use case, caller and minute: what rate limits and budgets read."""

    __tablename__ = "usage_counts"

    usecase_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    caller: Mapped[str] = mapped_column(String(200), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(default=0)
    cost: Mapped[float] = mapped_column(default=0.0)


class RolloutTransition(Base):
    """A change of stage, weight or kill switch: who or what decided it, and on which verdict."""

    __tablename__ = "rollout_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    from_weight: Mapped[int]
    to_weight: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    verdict: Mapped[dict[str, Any] | None]
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=now)


class InferenceRecord(Base):
    """One request through the gateway, its input and output redacted by the rollout's policy."""

    __tablename__ = "inference_records"
    __table_args__ = (Index("ix_inference_usecase_at", "usecase_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]
    caller: Mapped[str] = mapped_column(Text)
    version_id: Mapped[str | None] = mapped_column(String(40))
    arm: Mapped[str] = mapped_column(String(20))  # primary, candidate, fallback, none
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # answered, pending_review, error
    latency_ms: Mapped[float]
    cost: Mapped[float] = mapped_column(default=0.0)
    output_type: Mapped[str | None] = mapped_column(String(20))
    confidence: Mapped[float | None]
    input: Mapped[dict[str, Any] | None]
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    shadow: Mapped[dict[str, Any] | None]  # the candidate's output, latency and agreement
    label: Mapped[dict[str, Any] | None]  # a delayed outcome or a reviewer's decision
    label_source: Mapped[str | None] = mapped_column(String(20))
    labelled_at: Mapped[datetime | None]


class ReviewItem(Base):
    """A model output held for a person: reserved by one reviewer at a time, decided with a reason."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_queue", "usecase_id", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the request id
    usecase_id: Mapped[str] = mapped_column(String(80))
    version_id: Mapped[str | None] = mapped_column(String(40))
    # The work itself, in clear for the reviewer; replaced by the redacted copy once decided.
    input: Mapped[dict[str, Any] | None]
    proposed: Mapped[dict[str, Any] | None]
    confidence: Mapped[float | None]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, approved, edited, rejected
    reserved_by: Mapped[str | None] = mapped_column(Text)
    reserved_until: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    released: Mapped[dict[str, Any] | None]  # what the caller receives
    webhook_url: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=now)
