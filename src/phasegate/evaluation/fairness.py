"""Fairness across segments: each group's metrics with intervals, and the gaps between groups.

The gaps are fairlearn's (Bird et al., 2020), between the groups of one sensitive attribute:
  demographic parity   difference = max − min selection rate; ratio = min / max
  true / false positive rate, error rate: the same difference and ratio of that rate
  equalized odds       difference = the larger of the TPR and FPR differences;
                       ratio = the smaller of the TPR and FPR ratios
A ratio whose groups all have a rate of 0 is 1 (no gap), where fairlearn gives NaN.

A group too small to judge is shown with the reason but left out of the gaps: fewer than
``min_size`` records, or fewer than ``min_positives`` actual positives (its true positive rate
rests on a handful) or ``min_negatives`` actual negatives (its false positive rate does). A gap
measured on such a group says more about chance than about the model.

Each group is resampled within itself (a stratified bootstrap over its four confusion cells),
and the gaps' intervals come from the same resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from phasegate.evaluation import metrics
from phasegate.evaluation.bootstrap import (
    CONFIDENCE,
    RESAMPLES,
    Estimate,
    check_settings,
    estimate,
    resample_cells,
)
from phasegate.evaluation.metrics import COUNT_METRICS, Floats, InvalidPredictions

# 30 records is the usual floor for reading a rate at all; 5 of each class is the floor below
# which a 95 % interval for a rate spans most of [0, 1] (the rule of 5 of the normal approximation).
MIN_SIZE = 30
MIN_POSITIVES = 5
MIN_NEGATIVES = 5
GROUP_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "error_rate",
)
# Each gap and the group rate it is measured on.
GAPS = {
    "demographic_parity": "selection_rate",
    "true_positive_rate": "true_positive_rate",
    "false_positive_rate": "false_positive_rate",
    "error_rate": "error_rate",
}
EQUALIZED_ODDS = "equalized_odds"


@dataclass(frozen=True)
class GroupResult:
    """One group of an attribute: its size, its metrics with intervals, and whether it is judged."""

    group: str
    n: int
    positives: int
    negatives: int
    metrics: dict[str, Estimate]
    too_small: bool
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: sizes, the flag and its reason, metrics by name as Estimate dicts."""
        return {
            "n": self.n,
            "positives": self.positives,
            "negatives": self.negatives,
            "too_small": self.too_small,
            "reason": self.reason,
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
        }


@dataclass(frozen=True)
class Disparity:
    """The gap in one measure between the judged groups of an attribute."""

    difference: Estimate
    ratio: Estimate

    def to_dict(self) -> dict[str, Any]:
        """``{"difference": Estimate, "ratio": Estimate}`` as dicts."""
        return {"difference": self.difference.to_dict(), "ratio": self.ratio.to_dict()}


@dataclass(frozen=True)
class AttributeResult:
    """The groups of one sensitive attribute and the gaps between those large enough to judge."""

    attribute: str
    groups: dict[str, GroupResult]
    compared: tuple[str, ...]
    disparities: dict[str, Disparity]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: groups by name, the names compared, the gaps by measure, and a note."""
        return {
            "groups": {name: g.to_dict() for name, g in self.groups.items()},
            "compared": list(self.compared),
            "disparities": {name: d.to_dict() for name, d in self.disparities.items()},
            "note": self.note,
        }


@dataclass(frozen=True)
class FairnessReport:
    """Every attribute's groups and gaps, and the largest gap, which the gates read."""

    attributes: dict[str, AttributeResult]
    max_disparity: float | None
    max_disparity_at: tuple[str, str] | None
    n: int
    min_size: int
    min_positives: int
    min_negatives: int
    resamples: int
    confidence: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; ``max_disparity`` is None when no attribute has two groups to compare."""
        at = self.max_disparity_at
        return {
            "attributes": {name: a.to_dict() for name, a in self.attributes.items()},
            "max_disparity": self.max_disparity,
            "max_disparity_at": None if at is None else {"attribute": at[0], "measure": at[1]},
            "n": self.n,
            "min_size": self.min_size,
            "min_positives": self.min_positives,
            "min_negatives": self.min_negatives,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "seed": self.seed,
        }


def segment_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    segments: Mapping[str, Sequence[Any]],
    *,
    positive: Any = 1,
    min_size: int = MIN_SIZE,
    min_positives: int = MIN_POSITIVES,
    min_negatives: int = MIN_NEGATIVES,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> FairnessReport:
    """Each attribute's groups with their metrics, and the gaps between the groups large enough to judge.

    ``segments`` maps an attribute ("sex") to each record's group ("female", …); a group is named
    by the text of its value, so a missing value is a group of its own ("None", "nan").
    """
    check_settings(resamples, confidence)
    truth, predicted, _ = metrics.binary_outcomes(y_true, y_pred, positive=positive)
    assert predicted is not None
    if not segments:
        raise InvalidPredictions("segments", "names no attribute; give at least one, e.g. {'sex': [...]}")
    code = 2 * (~predicted).astype(np.intp) + (~truth).astype(np.intp)
    rng = np.random.default_rng(seed)
    limits = (min_size, min_positives, min_negatives)
    attributes: dict[str, AttributeResult] = {}
    for attribute, values in segments.items():
        groups = np.asarray(values, dtype=object)
        metrics.same_length(y_true=truth, **{f"segments['{attribute}']": groups})
        names = groups.astype(str)
        attributes[attribute] = _attribute(attribute, names, code, limits, resamples, confidence, rng)
    gaps = [(d.difference.value, a, m) for a, r in attributes.items() for m, d in r.disparities.items()]
    largest = max(gaps, default=None)
    return FairnessReport(
        attributes,
        None if largest is None else largest[0],
        None if largest is None else (largest[1], largest[2]),
        truth.size,
        min_size,
        min_positives,
        min_negatives,
        resamples,
        confidence,
        seed,
    )


def _attribute(
    attribute: str,
    values: np.ndarray[Any, Any],
    code: np.ndarray[Any, Any],
    limits: tuple[int, int, int],
    resamples: int,
    confidence: float,
    rng: np.random.Generator,
) -> AttributeResult:
    names, group_of = np.unique(values, return_inverse=True)
    table = np.bincount(4 * group_of + code, minlength=4 * names.size).reshape(names.size, 4)
    groups: dict[str, GroupResult] = {}
    rates: dict[str, dict[str, Floats]] = {}
    points: dict[str, dict[str, float]] = {}
    for name, cells in zip(names.tolist(), table, strict=True):
        n, drawn = int(cells.sum()), resample_cells(cells, resamples, rng)
        found = {
            m: estimate(float(COUNT_METRICS[m](cells)), COUNT_METRICS[m](drawn), n, confidence)
            for m in GROUP_METRICS
        }
        positives = int(cells[metrics.TP] + cells[metrics.FN])
        reason = _too_small(n, positives, n - positives, limits)
        groups[name] = GroupResult(name, n, positives, n - positives, found, reason is not None, reason)
        if reason is None:
            rates[name] = {m: COUNT_METRICS[m](drawn) for m in GAPS.values()}
            points[name] = {m: found[m].value for m in GAPS.values()}
    if len(rates) < 2:
        note = f"fewer than two groups of {attribute} are large enough to compare; no gaps measured"
        return AttributeResult(attribute, groups, tuple(rates), {}, note)
    size = sum(groups[name].n for name in rates)
    gaps = {gap: _gap(rate, rates, points) for gap, rate in GAPS.items()}
    # Equalized odds: the worse of the two rates' gaps, resample by resample.
    tpr, fpr = gaps["true_positive_rate"], gaps["false_positive_rate"]
    gaps[EQUALIZED_ODDS] = (
        (max(tpr[0][0], fpr[0][0]), np.maximum(tpr[0][1], fpr[0][1])),
        (min(tpr[1][0], fpr[1][0]), np.minimum(tpr[1][1], fpr[1][1])),
    )
    disparities = {
        gap: Disparity(estimate(*difference, size, confidence), estimate(*ratio, size, confidence))
        for gap, (difference, ratio) in gaps.items()
    }
    return AttributeResult(attribute, groups, tuple(rates), disparities)


def _too_small(n: int, positives: int, negatives: int, limits: tuple[int, int, int]) -> str | None:
    min_size, min_positives, min_negatives = limits
    if n < min_size:
        return f"{n:,} records, fewer than the {min_size:,} needed to judge a group"
    if positives < min_positives:
        return (
            f"{positives:,} positives, fewer than {min_positives:,}: its true positive rate is mostly chance"
        )
    if negatives < min_negatives:
        return (
            f"{negatives:,} negatives, fewer than {min_negatives:,}: its false positive rate is mostly chance"
        )
    return None


Gap = tuple[tuple[float, Floats], tuple[float, Floats]]


def _gap(rate: str, rates: dict[str, dict[str, Floats]], points: dict[str, dict[str, float]]) -> Gap:
    """(difference, ratio) of a rate over the groups, each as its point value and resampled values."""
    difference, ratio = _spread(np.stack([r[rate] for r in rates.values()]))
    value_difference, value_ratio = _spread(np.array([p[rate] for p in points.values()]))
    return (float(value_difference), difference), (float(value_ratio), ratio)


def _spread(rows: Floats) -> tuple[Floats, Floats]:
    """max − min and min / max over the groups (axis 0); a ratio of all-zero rates is 1."""
    high, low = rows.max(axis=0), rows.min(axis=0)
    ratio = np.divide(low, high, out=np.ones_like(high), where=high > 0)
    return high - low, ratio
