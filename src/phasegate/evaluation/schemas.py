"""What callers send to evaluation: a model version to register, an evaluation to run, a card to edit."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Semantic Versioning 2.0.0, section 9 and 10: MAJOR.MINOR.PATCH with optional pre-release and build.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")

ModelKind = Literal["python", "http", "openai", "predictions"]
ModelStatus = Literal["candidate", "approved", "rejected", "retired"]
Task = Literal["classification", "regression", "ranking"]

# The card's sections, in the order a reader meets them; each is generated unless someone wrote it.
CARD_SECTIONS = (
    "model_details",
    "intended_use",
    "training_data",
    "evaluation",
    "limitations",
    "owners",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelVersionSpec(Strict):
    """A model version as registered: how to reach it and what it was trained on."""

    name: str = Field(description="the model's name, e.g. invoice-classifier")
    version: str = Field(description="a semantic version, e.g. 1.2.0")
    kind: ModelKind
    uri: str | None = Field(
        None,
        description="a joblib/pickle file (python), an endpoint URL (http, openai), or where the "
        "predictions came from (predictions)",
    )
    trusted: bool = Field(
        False, description="load this pickle: it runs code when loaded, so only for files you trust"
    )
    training_data: str | None = Field(None, description="the data source it was trained on")
    parameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must be letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError(f"'{value}' is not a semantic version like 1.2.0 or 2.0.0-rc.1")
        return value


class StatusChange(Strict):
    status: ModelStatus
    reason: str | None = None


class CardEdit(Strict):
    """Sections a person writes over the generated ones; an empty text returns a section to generated."""

    sections: dict[str, str]

    @field_validator("sections")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CARD_SECTIONS))
        if unknown:
            raise ValueError(
                f"unknown section {', '.join(unknown)}; sections are: {', '.join(CARD_SECTIONS)}"
            )
        return value


class MlflowImport(Strict):
    """Where to find a model in MLflow: a registered model version, or a run's logged model."""

    tracking_uri: str = Field(description="e.g. file:///srv/mlruns or http://mlflow:5000")
    model_uri: str = Field(description="models:/NAME/VERSION or runs:/RUN_ID/PATH")
    name: str | None = Field(None, description="the name in phasegate; MLflow's when left out")
    version: str | None = Field(None, description="a semantic version; MAJOR.0.0 from MLflow's number")
    kind: ModelKind | None = Field(None, description="python for a scikit-learn flavour, else predictions")


class EvaluationRequest(Strict):
    """Score a model version on labelled data from the catalog."""

    model: str = Field(description="the version: 1.2.0, name@1.2.0 or its id")
    data: str = Field(description="a data source in the catalog")
    label: str = Field(description="the column holding the true outcome")
    prediction: str | None = Field(None, description="a column of predicted labels (predictions kind)")
    score: str | None = Field(None, description="a column of predicted scores or probabilities")
    segments: list[str] = Field(default_factory=list, description="columns to analyse fairness by")
    task: Task | None = Field(None, description="classification, regression or ranking; guessed if left out")
    positive: str | None = Field(None, description="the positive class; the label's larger value if left out")
    threshold: float = Field(0.5, ge=0, le=1, description="score at or above which a record is positive")
    query: str | None = Field(None, description="ranking: the column grouping records into queries")
    k: int = Field(10, ge=1, description="ranking: the cut-off of precision@k, recall@k and nDCG@k")
    baseline: str | None = Field(None, description="a previous version to compare with, on the same records")
    baseline_prediction: str | None = Field(None, description="a column holding a heuristic's predictions")
    features: list[str] | None = Field(None, description="columns sent to the model; all others by default")
    engine: str | None = None
    resamples: int = Field(1000, ge=100, le=10000)
    seed: int = 0
    min_segment_size: int = Field(30, ge=1)


class ReviewScores(Strict):
    """A reviewer's rubric for one replayed case."""

    scores: dict[str, int]
    note: str | None = None
