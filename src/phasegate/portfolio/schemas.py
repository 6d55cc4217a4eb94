"""The use case as a document: the one-page definition of done, as YAML, JSON and API body.

The same model validates a YAML file, an API request and an imported row, so the three
can never disagree on what a use case is.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


class Strict(BaseModel):
    """Unknown fields are an error, so a typo never silently drops a value."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OutcomeClass(StrEnum):
    retrieval = "retrieval"
    synthesis = "synthesis"
    action = "action"


class Status(StrEnum):
    proposed = "proposed"
    active = "active"
    paused = "paused"
    retired = "retired"


class Direction(StrEnum):
    # Upper-case members: ``lower`` would shadow ``str.lower``.
    HIGHER = "higher"
    LOWER = "lower"


class DataSensitivity(StrEnum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"


class CustomerImpact(StrEnum):
    none = "none"
    low = "low"
    medium = "medium"
    high = "high"


class Autonomy(StrEnum):
    suggests = "suggests"
    drafts = "drafts"
    drafts_then_acts = "drafts_then_acts"
    acts = "acts"


class EuAiActClass(StrEnum):
    minimal = "minimal"
    limited = "limited"
    high = "high"
    prohibited = "prohibited"


class RiskTier(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    prohibited = "prohibited"


Score = Annotated[int, Field(ge=1, le=5, description="1 (worst) to 5 (best)")]


class Owners(Strict):
    use_case: str | None = Field(None, description="owns KPI movement, scope, release readiness")
    technical: str | None = Field(None, description="owns reliability, latency, cost in production")
    risk: str | None = Field(None, description="owns compliance constraints, data handling, audit")
    domain_reviewer: str | None = Field(None, description="reviews a sample of the model's output")


class PrimaryKpi(Strict):
    name: str
    unit: str | None = None
    baseline: float | None = None
    target: float | None = None
    direction: Direction = Direction.HIGHER


class CounterMetric(Strict):
    name: str
    unit: str | None = None
    baseline: float | None = None
    limit: float | None = None
    direction: Direction = Direction.LOWER


class Kpis(Strict):
    primary: PrimaryKpi | None = None
    counter_metrics: list[CounterMetric] = Field(default_factory=list)


class RoiInputs(Strict):
    volume_per_month: float | None = Field(None, ge=0, description="transactions a month")
    cost_per_transaction_now: float | None = Field(None, ge=0, description="fully loaded cost today")
    improvement_rate: float | None = Field(None, ge=0, le=1, description="share of that cost removed")
    run_cost_per_month: float | None = Field(None, ge=0)
    one_off_cost: float | None = Field(None, ge=0)


class Scores(Strict):
    """Each 1–5; the scoring models read the ones they need."""

    data_readiness: Score | None = None
    process_clarity: Score | None = None
    roi_measurability: Score | None = None
    scope_boundedness: Score | None = None
    business_value: Score | None = None
    technical_feasibility: Score | None = None
    implementation_difficulty: Score | None = Field(None, ge=1, le=5, description="5 is hardest")
    team_acceptance: Score | None = None


class RiskInputs(Strict):
    data_sensitivity: DataSensitivity | None = None
    customer_impact: CustomerImpact | None = None
    autonomy: Autonomy | None = None
    eu_ai_act: EuAiActClass | None = None


class UseCaseSpec(Strict):
    """A use case's definition of done. Intake needs only ``id`` and ``name``."""

    kind: Literal["UseCase"] = "UseCase"
    id: str = Field(description="a slug: lower-case letters, digits and hyphens")
    name: str = Field(min_length=1, max_length=200)
    status: Status = Status.proposed
    business_unit: str | None = None
    workflow: str | None = None
    outcome_class: OutcomeClass | None = None
    user_group: str | None = None
    task_boundary: str | None = None
    owners: Owners = Field(default_factory=Owners)
    kpis: Kpis = Field(default_factory=Kpis)
    error_budget: str | None = None
    label_reality: str | None = None
    stop_rule: str | None = None
    roi: RoiInputs = Field(default_factory=RoiInputs)
    scores: Scores = Field(default_factory=Scores)
    risk: RiskInputs = Field(default_factory=RiskInputs)
    playbook: str | None = Field(None, description="the playbook to plan this use case with")
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="fields from an imported inventory that have no home above"
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(
                "must be a slug: 1-80 lower-case letters, digits and hyphens, starting with a letter or digit"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    def document(self) -> dict[str, Any]:
        """The canonical form: what is stored, exported and compared; empty values left out."""
        pruned: dict[str, Any] = _prune(self.model_dump(mode="json"))
        return pruned


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class UseCasePatch(BaseModel):
    """A partial change: any top-level field of the document; nested objects merge."""

    model_config = ConfigDict(extra="allow")
