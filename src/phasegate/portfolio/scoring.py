"""Scoring models that rank use cases, the registry that finds them, and the ranking itself.

A model is a ``ScoringModel`` subclass registered under the entry-point group
``phasegate.scoring_models``; the built-ins are registered there too, so a third-party
model is found through the same door. A model never guesses: with an input missing it
returns no score and names what is missing.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from statistics import fmean
from typing import Any, ClassVar

from phasegate.errors import NotFound
from phasegate.portfolio import risk
from phasegate.portfolio.schemas import RiskTier, Scores, UseCaseSpec
from phasegate.settings import DEFAULT_WEIGHTS

ENTRY_POINT_GROUP = "phasegate.scoring_models"
# Weighted scores are sums of float products; rounding keeps equal scores equal, so ties are real ties.
DECIMALS = 9
# The signs people write formulas with; ruff would otherwise take them for look-alike letters.
TIMES = "×"
MINUS = "−"


@dataclass(frozen=True)
class Component:
    """One input as a model used it: its value, its weight if any, and what it added."""

    name: str
    value: float
    weight: float | None
    contribution: float


@dataclass(frozen=True)
class ScoreResult:
    """A score (None when inputs are missing), how it was computed, and what is missing."""

    score: float | None
    components: tuple[Component, ...]
    formula: str
    missing: tuple[str, ...]


class ScoringModel(abc.ABC):
    """A way to turn a use case into one number for ranking."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: Mapping[str, Any] = config or {}

    @abc.abstractmethod
    def score(self, spec: UseCaseSpec) -> ScoreResult:
        """The score of one use case under this model."""


class ProductModel(ScoringModel):
    name = "product"
    description = (
        f"Data readiness {TIMES} process clarity {TIMES} ROI measurability {TIMES} scope boundedness, "
        "each 1 to 5 (1 to 625)."
    )
    FACTORS = ("data_readiness", "process_clarity", "roi_measurability", "scope_boundedness")

    def score(self, spec: UseCaseSpec) -> ScoreResult:
        """The product of the four readiness scores."""
        values = {f: getattr(spec.scores, f) for f in self.FACTORS}
        missing = tuple(f"scores.{f}" for f, v in values.items() if v is None)
        if missing:
            return ScoreResult(None, (), "", missing)
        product = math.prod(values.values())
        components = tuple(Component(f, float(v), None, float(v)) for f, v in values.items())
        formula = f" {TIMES} ".join(str(v) for v in values.values()) + f" = {product}"
        return ScoreResult(float(product), components, formula, ())


class WeightedModel(ScoringModel):
    name = "weighted"
    description = (
        f"Weighted mean of business value, technical feasibility, ease (6 {MINUS} difficulty) and "
        "team acceptance (1 to 5)."
    )

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.weights = normalised_weights(self.config.get("weights", DEFAULT_WEIGHTS))

    def score(self, spec: UseCaseSpec) -> ScoreResult:
        """The weighted mean; an input weighted 0 is not needed."""
        used = {k: w for k, w in self.weights.items() if w > 0}
        values = {k: getattr(spec.scores, k) for k in used}
        missing = tuple(f"scores.{k}" for k, v in values.items() if v is None)
        if missing:
            return ScoreResult(None, (), "", missing)
        components: list[Component] = []
        terms: list[str] = []
        for key, weight in used.items():
            raw = values[key]
            # Difficulty is the one input where 5 is worst, so it enters as ease.
            value = 6 - raw if key == "implementation_difficulty" else raw
            components.append(Component(key, float(value), weight, weight * value))
            shown = f"(6 {MINUS} {raw})" if key == "implementation_difficulty" else str(raw)
            terms.append(f"{plain(weight)} {TIMES} {shown}")
        total = round(sum(c.contribution for c in components), DECIMALS)
        return ScoreResult(total, tuple(components), " + ".join(terms) + f" = {plain(total)}", ())


def normalised_weights(weights: Any) -> dict[str, float]:
    """Weights scaled to sum to 1; a key left out weighs 0. Raises ValueError naming a bad weight."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"scoring weights must be a mapping of input to weight, not {weights!r}")
    for key, weight in weights.items():
        if key not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown scoring weight '{key}'; known: {', '.join(DEFAULT_WEIGHTS)}")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"scoring weight '{key}' must be a number, not {weight!r}")
        if weight < 0:
            raise ValueError(f"scoring weight '{key}' must not be negative, got {weight}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("scoring weights must not all be 0")
    return {key: weights.get(key, 0) / total for key in DEFAULT_WEIGHTS}


class ValueFeasibilityRiskModel(ScoringModel):
    name = "value-feasibility-risk"
    description = (
        f"Business value {TIMES} feasibility, discounted by risk tier: medium {TIMES}0.85, high {TIMES}0.7."
    )
    DISCOUNT: ClassVar[dict[RiskTier, float]] = {RiskTier.low: 1.0, RiskTier.medium: 0.85, RiskTier.high: 0.7}

    def score(self, spec: UseCaseSpec) -> ScoreResult:
        """Value times feasibility times risk discount; a prohibited use case scores 0."""
        assessment = risk.risk_tier(spec.risk)
        if assessment.tier is RiskTier.prohibited:
            stop = Component("risk discount (prohibited)", 0.0, None, 0.0)
            return ScoreResult(0.0, (stop,), "risk tier prohibited (EU AI Act class prohibited) = 0", ())
        value, feasibility = spec.scores.business_value, feasibility_of(spec.scores)
        missing = [
            *(["scores.business_value"] if value is None else []),
            *([] if feasibility is not None else ["scores.technical_feasibility or scores.data_readiness"]),
            *(f"risk.{m}" for m in assessment.missing if assessment.tier is None),
        ]
        if value is None or feasibility is None or assessment.tier is None:
            return ScoreResult(None, (), "", tuple(missing))
        discount = self.DISCOUNT[assessment.tier]
        total = round(value * feasibility * discount, DECIMALS)
        components = (
            Component("business_value", float(value), None, float(value)),
            Component("feasibility", feasibility, None, feasibility),
            Component(f"risk discount ({assessment.tier.value})", discount, None, discount),
        )
        formula = f"{value} {TIMES} {plain(feasibility)} {TIMES} {plain(discount)} = {plain(total)}"
        return ScoreResult(total, components, formula, ())


def feasibility_of(scores: Scores) -> float | None:
    """Feasibility as value-feasibility-risk and the portfolio chart read it: the mean of technical
    feasibility and data readiness, whichever are scored; None when neither is."""
    given = [v for v in (scores.technical_feasibility, scores.data_readiness) if v is not None]
    return fmean(given) if given else None


BUILT_INS: tuple[type[ScoringModel], ...] = (ProductModel, WeightedModel, ValueFeasibilityRiskModel)


def available_models(config: Mapping[str, Any] | None = None) -> dict[str, ScoringModel]:
    """Every registered model by name, each built with the same config."""
    classes: dict[str, type[ScoringModel]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, ScoringModel)):
            raise TypeError(f"entry point '{entry.name}' ({entry.value}) is not a ScoringModel subclass")
        classes[entry.name] = cls
    for builtin in BUILT_INS:
        # From a source tree the entry points in pyproject.toml are not visible until it is installed.
        classes.setdefault(builtin.name, builtin)
    return {name: cls(config) for name, cls in sorted(classes.items())}


def get_model(name: str, config: Mapping[str, Any] | None = None) -> ScoringModel:
    """The model registered under a name; NotFound lists the names there are."""
    models = available_models(config)
    if name not in models:
        raise NotFound(f"no scoring model named '{name}'; available: {', '.join(models)}")
    return models[name]


@dataclass(frozen=True)
class Ranked:
    """A use case's place in a ranking and a sentence that says why it is there."""

    id: str
    name: str
    rank: int | None
    score: float | None
    result: ScoreResult
    explanation: str


def rank(specs: Sequence[UseCaseSpec], model: ScoringModel) -> list[Ranked]:
    """Scored use cases by score descending, ties by id ascending; unscored ones last, by id."""
    results = [(spec, model.score(spec)) for spec in specs]
    scored = sorted(
        ((s, r) for s, r in results if r.score is not None),
        key=lambda sr: (-(sr[1].score or 0.0), sr[0].id, sr[0].name),
    )
    unscored = sorted(((s, r) for s, r in results if r.score is None), key=lambda sr: (sr[0].id, sr[0].name))
    ids_by_score: dict[float | None, list[str]] = {}
    for spec, result in scored:
        ids_by_score.setdefault(result.score, []).append(spec.id)
    ranked: list[Ranked] = []
    for position, (spec, result) in enumerate(scored, start=1):
        parts = [f"#{position} on {model.name}: {result.formula}"]
        above = scored[position - 2] if position > 1 else None
        if above and above[1].score != result.score:
            parts.append(f"below {above[0].id} ({plain(above[1].score or 0.0)})")
        tied = list(ids_by_score[result.score])
        tied.remove(spec.id)
        if tied:
            parts.append(f"tied with {', '.join(tied)} on {plain(result.score or 0.0)}; placed by id")
        ranked.append(Ranked(spec.id, spec.name, position, result.score, result, "; ".join(parts)))
    for spec, result in unscored:
        explanation = f"unranked on {model.name}: missing {', '.join(result.missing)}"
        ranked.append(Ranked(spec.id, spec.name, None, result.score, result, explanation))
    return ranked


def plain(number: float) -> str:
    """A number as a person writes it: 400, 3.85, 0.7."""
    return f"{number:.2f}".rstrip("0").rstrip(".")
