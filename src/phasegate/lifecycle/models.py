"""The lifecycle's tables: playbooks, plans with phases and activities, evidence, approvals, decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phasegate.store import Base, now


class Playbook(Base):
    """An organisation's own playbook; it shadows a built-in one of the same id."""

    __tablename__ = "playbooks"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class Plan(Base):
    """A use case planned through a playbook; the playbook is copied in so later edits don't move it."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), unique=True)
    playbook_id: Mapped[str] = mapped_column(String(80))
    playbook: Mapped[dict[str, Any]]
    start: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=now)

    phases: Mapped[list[PlanPhase]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanPhase.position", lazy="selectin"
    )
    activities: Mapped[list[Activity]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Activity.position", lazy="selectin"
    )


class PlanPhase(Base):
    """One phase of a plan, with the gate criteria frozen (and hashed) when it started."""

    __tablename__ = "plan_phases"
    __table_args__ = (UniqueConstraint("plan_id", "phase_id", name="uq_plan_phase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    objective: Mapped[str | None] = mapped_column(Text)
    planned_start: Mapped[date]
    planned_end: Mapped[date]
    effort_share: Mapped[float | None]
    continuous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | active | passed
    owner: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    criteria: Mapped[list[Any]]
    criteria_hash: Mapped[str | None] = mapped_column(String(64))
    criteria_version: Mapped[int] = mapped_column(default=0)  # 0 until frozen at the phase's start

    plan: Mapped[Plan] = relationship(back_populates="phases")


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(80))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    planned_start: Mapped[date | None]
    planned_end: Mapped[date | None]
    actual_start: Mapped[date | None]
    actual_end: Mapped[date | None]
    effort_hours: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(20), default="not started")
    depends_on: Mapped[list[Any]]  # ids of activities in the same plan
    notes: Mapped[str | None] = mapped_column(Text)

    plan: Mapped[Plan] = relationship(back_populates="activities")


class Evidence(Base):
    """An immutable record a producer published; the store refuses to change or delete it."""

    __tablename__ = "evidence"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    producer: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]]
    payload: Mapped[dict[str, Any]]
    url: Mapped[str | None] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(Text)
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Approval(Base):
    """A sign-off (or refusal) of one gate criterion by the role it names, for one version of the gate."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(80))
    criterion_index: Mapped[int]
    criteria_version: Mapped[int]
    role: Mapped[str] = mapped_column(String(40))
    by: Mapped[str] = mapped_column(Text)
    approved: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=now)


class GateDecision(Base):
    """Go, no-go or conditional at a gate, or an advance past it; with who, when, why and what it saw."""

    __tablename__ = "gate_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[str] = mapped_column(String(80))
    decision: Mapped[str] = mapped_column(String(20))  # go | no-go | conditional | advance | override
    by: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    gate: Mapped[dict[str, Any]]  # the gate's evaluation when the decision was made
    at: Mapped[datetime] = mapped_column(default=now)
