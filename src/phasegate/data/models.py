"""Data readiness's tables: sources, contracts, profile snapshots, audits, gaps and lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from phasegate.store import Base, now


class DataSource(Base):
    """A catalog entry: where a data set lives, who owns it, how sensitive it is and who relies on it."""

    __tablename__ = "data_sources"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str | None] = mapped_column(String(20))
    location: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class DataContract(Base):
    __tablename__ = "data_contracts"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(80), index=True)
    document: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class ProfileSnapshot(Base):
    """A stored profile: the baseline later audits and drift checks compare with."""

    __tablename__ = "profile_snapshots"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("data_sources.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))  # e.g. the date, so contracts can say snapshot:2026-09-30
    engine: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(80))
    profile: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class DataAudit(Base):
    """One audit of a source: profile, contract, dimensions, labels, PII and the gaps found."""

    __tablename__ = "data_audits"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("data_sources.id", ondelete="CASCADE"), index=True)
    engine: Mapped[str] = mapped_column(String(20))
    summary: Mapped[dict[str, Any]]  # what the data.audit evidence carries
    details: Mapped[dict[str, Any]]  # every check, dimension, label and PII finding
    report_html: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class Gap(Base):
    """A foundation gap: a failed check or weak dimension, ranked, owned and tracked until resolved."""

    __tablename__ = "data_gaps"
    __table_args__ = (UniqueConstraint("source_id", "key", name="uq_gap_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("data_sources.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20))  # blocker | degrader
    reason: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | resolved
    evidence: Mapped[dict[str, Any]]
    first_audit: Mapped[str] = mapped_column(String(40))
    last_audit: Mapped[str] = mapped_column(String(40))
    first_seen: Mapped[datetime] = mapped_column(default=now)
    resolved_at: Mapped[datetime | None]


class LineageEdge(Base):
    """One step of lineage: a node feeds another through a transformation (declared, or seen by an audit)."""

    __tablename__ = "lineage_edges"
    __table_args__ = (UniqueConstraint("upstream", "downstream", "transformation", name="uq_lineage_edge"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upstream: Mapped[str] = mapped_column(String(200), index=True)  # source:ID, dataset:NAME, usecase:ID
    downstream: Mapped[str] = mapped_column(String(200), index=True)
    transformation: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(20))  # declared | audit
    created_at: Mapped[datetime] = mapped_column(default=now)


class DataJob(Base):
    """Long data work (an audit) run in the background; its progress is read by polling, on any replica."""

    __tablename__ = "data_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | failed
    stage: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=1)
    result_id: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[dict[str, Any] | None]
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
