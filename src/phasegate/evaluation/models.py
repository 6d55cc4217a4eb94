"""Evaluation's tables: model versions, evaluation runs, load tests, replay runs and their reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from phasegate.store import Base, now


class ModelVersion(Base):
    """One version of a use case's model: how to call it, what it was trained on, whether it is approved."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("usecase_id", "name", "version", name="uq_model_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))  # python, http, openai, predictions
    uri: Mapped[str | None] = mapped_column(Text)
    # A pickle runs code when loaded: only a version someone explicitly trusted is ever loaded.
    trusted: Mapped[bool] = mapped_column(default=False)
    artifact_sha256: Mapped[str | None] = mapped_column(String(80))
    training_data: Mapped[str | None] = mapped_column(Text)  # a data source id
    training_fingerprint: Mapped[str | None] = mapped_column(String(100))
    training_audit_id: Mapped[str | None] = mapped_column(String(40))
    parameters: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]  # as reported by where it came from (MLflow), not measured here
    tags: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    status_reason: Mapped[str | None] = mapped_column(Text)
    card: Mapped[dict[str, Any]]  # the sections a person wrote over the generated ones
    origin: Mapped[str] = mapped_column(String(200), default="registered")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)

    @property
    def label(self) -> str:
        """The version as people call it: `name version`."""
        return f"{self.name} {self.version}"


class EvaluationRun(Base):
    """One scoring of a model version on labelled data, with its intervals, segments and comparison."""

    __tablename__ = "evaluation_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[str] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[str] = mapped_column(String(80))
    task: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int]
    settings: Mapped[dict[str, Any]]  # columns, positive label, resamples, seed: enough to repeat it
    performance: Mapped[dict[str, Any]]
    fairness: Mapped[dict[str, Any] | None]
    comparison: Mapped[dict[str, Any] | None]
    inputs: Mapped[dict[str, Any]]  # fingerprints of the data and the model
    evidence_ids: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class LoadTest(Base):
    """One open-loop load test of an endpoint."""

    __tablename__ = "load_tests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str | None] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]]
    evidence_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ReplayRun(Base):
    """One replay of a suite against an LLM or retrieval app, with the sample sent to human review."""

    __tablename__ = "replay_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    usecase_id: Mapped[str] = mapped_column(ForeignKey("usecases.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    suite: Mapped[str] = mapped_column(String(200))
    suite_version: Mapped[str | None] = mapped_column(String(60))
    result: Mapped[dict[str, Any]]  # the summary the evidence carries
    outcomes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # every case: prompt, answer, checks
    sample: Mapped[list[str]] = mapped_column(JSON)  # case ids for rubric review
    evidence_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ReplayReview(Base):
    """A reviewer's rubric scores for one sampled case of a replay run."""

    __tablename__ = "replay_reviews"
    __table_args__ = (UniqueConstraint("run_id", "case_id", "reviewer", name="uq_replay_review"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("replay_runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
