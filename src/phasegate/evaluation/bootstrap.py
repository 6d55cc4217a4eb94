"""Every metric with a bootstrap percentile interval, and paired comparisons against a baseline.

A bootstrap resample draws n records with replacement. Which records are drawn matters to a
metric only through how often each kind of record is drawn, so a resample is drawn as a
multinomial over the kinds ("cells") instead of record by record (Efron & Tibshirani, 1993,
§6): for precision, recall, F1 and accuracy the cells are the four confusion cells, which is
exact and costs O(resamples) whatever n. The interval is the percentile interval of the
resampled values; resamples where a metric is undefined (ROC AUC without both classes) are
left out of it.

Scores: with more distinct scores than ``SCORE_LEVELS`` the resamples (never the point value)
group the scores into that many quantile bins, ties within a bin; each resampled value is then
shifted by the exact point value minus the binned one. The pairs inside one bin are about
1 / SCORE_LEVELS of all pairs, so the interval moves by far less than its Monte Carlo error;
the tests hold it against a plain index bootstrap. With fewer distinct values it is exact.
Means (regression errors, per-query ranking metrics, calibration) use the same cells, each
drawn value standing for its cell's mean; the point value stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phasegate.evaluation import metrics
from phasegate.evaluation.metrics import (
    CALIBRATION_BINS,
    COUNT_METRICS,
    ConfusionMatrix,
    Counts,
    Flags,
    Floats,
    InvalidPredictions,
)

RESAMPLES = 1000
CONFIDENCE = 0.95
# Quantile bins of a score for the resamples: a few thousand keep the within-bin pairs negligible
# (about 0.05 % of all pairs) while a 1000 × 4000 multinomial takes well under a second.
SCORE_LEVELS = 2000
# For a paired comparison of two scores the cells are (label, model bin, baseline bin), up to
# 2 × 64² of them. Within-bin pairs are then 1.6 % of all pairs, yet on 4,000 records the
# interval of the difference stays within its Monte Carlo error of a plain index bootstrap.
PAIRED_SCORE_LEVELS = 64
# Resamples are drawn in chunks of at most this many cells (64 MB of counts).
CHUNK_CELLS = 8_000_000
# Guards a division by an RMSE of 0 (a perfect model) when ordering records for the cells.
TINY = 1e-300
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1")
SCORE_METRICS = ("roc_auc", "pr_auc")
REGRESSION_METRICS = ("mae", "rmse", "mape")
MINUS = "−"
# How a summary names each metric, and the metrics given in points (hundredths) rather than as is.
SHOWN = {"f1": "F1", "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "mae": "MAE", "rmse": "RMSE", "mape": "MAPE"}
IN_UNITS = ("mae", "rmse")

ComparedMetric = Literal["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "mae", "rmse", "mape"]


@dataclass(frozen=True)
class Estimate:
    """A metric's point value, its bootstrap percentile interval and the sample size behind it."""

    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """``{"value", "ci_low", "ci_high", "n"}``."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class ClassificationReport:
    """Binary classification metrics with intervals, and the confusion matrix they come from."""

    metrics: dict[str, Estimate]
    confusion_matrix: ConfusionMatrix
    n: int
    positives: int
    resamples: int
    confidence: float
    seed: int
    # Metrics that could not be computed on this data, each with the reason.
    undefined: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: metrics by name as Estimate dicts, the confusion matrix, counts and settings."""
        return {
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "confusion_matrix": self.confusion_matrix.to_dict(),
            "n": self.n,
            "positives": self.positives,
            "undefined": dict(self.undefined),
            **_settings(self.resamples, self.confidence, self.seed),
        }


@dataclass(frozen=True)
class RegressionReport:
    """MAE, RMSE and MAPE with intervals."""

    metrics: dict[str, Estimate]
    n: int
    resamples: int
    confidence: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: metrics by name as Estimate dicts, n and settings."""
        return {
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "n": self.n,
            **_settings(self.resamples, self.confidence, self.seed),
        }


@dataclass(frozen=True)
class RankingReport:
    """precision@k, recall@k, MRR and nDCG@k over queries, with intervals; n counts queries."""

    metrics: dict[str, Estimate]
    n: int
    k: int
    queries_without_relevant: int
    resamples: int
    confidence: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: metrics by name as Estimate dicts, n (queries), k and settings."""
        return {
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "n": self.n,
            "k": self.k,
            "queries_without_relevant": self.queries_without_relevant,
            **_settings(self.resamples, self.confidence, self.seed),
        }


@dataclass(frozen=True)
class Comparison:
    """A model against a baseline on the same records: both metrics and their paired difference."""

    metric: str
    higher_is_better: bool
    model: Estimate
    baseline: Estimate
    difference: Estimate
    share_model_better: float
    model_better: bool
    summary: str
    resamples: int
    confidence: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the three Estimates, the share of resamples the model wins, the verdict."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "model": self.model.to_dict(),
            "baseline": self.baseline.to_dict(),
            "difference": self.difference.to_dict(),
            "share_model_better": self.share_model_better,
            "model_better": self.model_better,
            "summary": self.summary,
            **_settings(self.resamples, self.confidence, self.seed),
        }


def _settings(resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    return {"resamples": resamples, "confidence": confidence, "seed": seed}


# --- the resampling itself ---------------------------------------------------------------------


def check_settings(resamples: int, confidence: float) -> None:
    """InvalidPredictions unless resamples is a whole number ≥ 1 and 0 < confidence < 1."""
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 1:
        raise InvalidPredictions("resamples", f"must be a whole number of 1 or more, got {resamples!r}")
    if not 0 < confidence < 1:
        raise InvalidPredictions("confidence", f"must be between 0 and 1, got {confidence!r}")


def percentile_interval(samples: Floats, confidence: float) -> tuple[float, float] | None:
    """The central percentile interval of the defined resampled values; None when none is defined."""
    defined = samples[~np.isnan(samples)]
    if defined.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def estimate(value: float, samples: Floats, n: int, confidence: float) -> Estimate:
    """An Estimate from the point value and the resampled values."""
    interval = percentile_interval(samples, confidence)
    if interval is None:
        raise InvalidPredictions("y_true", "no resample allows this metric; there are too few records")
    return Estimate(float(value), interval[0], interval[1], n)


def resample_cells(counts: NDArray[Any], resamples: int, rng: np.random.Generator) -> Counts:
    """Resampled counts per cell, one row per resample: a multinomial of the total over the cells."""
    total = int(counts.sum())
    return rng.multinomial(total, counts / total, size=resamples).astype(np.int64)


def grouped_columns(counts: NDArray[Any], groups: NDArray[np.intp], size: int) -> NDArray[Any]:
    """Columns of counts summed by group (one group index per column), giving ``size`` columns."""
    order = np.argsort(groups, kind="stable")
    present, starts = np.unique(groups[order], return_index=True)
    summed = np.zeros((counts.shape[0], size), counts.dtype)
    summed[:, present] = np.add.reduceat(counts[:, order], starts, axis=1)
    return summed


def ranked_levels(values: Floats, most: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """The order sorting the values, and along it each value's distinct rank and its level.

    The level is the distinct rank while there are at most ``most`` distinct values; past that
    it is the value's quantile bin, ``most`` bins by position with equal values kept together.
    """
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    first = np.ones(values.size, np.bool_)
    np.not_equal(ranked[1:], ranked[:-1], out=first[1:])
    distinct = (np.cumsum(first) - 1).astype(np.intp)
    if distinct[-1] < most:
        return order, distinct, distinct
    by_position = np.arange(values.size, dtype=np.int64) * most // values.size
    return order, distinct, by_position[first][distinct].astype(np.intp)


def quantile_levels(values: Floats, most: int) -> NDArray[np.intp]:
    """Each value's level as ranked_levels gives it, in the values' own order."""
    order, _, ranked = ranked_levels(values, most)
    level = np.empty(values.size, np.intp)
    level[order] = ranked
    return level


def resampled_means(values: Floats, resamples: int, rng: np.random.Generator) -> Floats:
    """The mean of values over each resample, each drawn value standing for its level's mean."""
    level = quantile_levels(values, SCORE_LEVELS)
    counts = np.bincount(level)
    sums = np.bincount(level, weights=values)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return (resample_cells(counts, resamples, rng) @ means) / values.size


# --- classification ----------------------------------------------------------------------------


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike | None = None,
    y_score: ArrayLike | None = None,
    *,
    positive: Any = 1,
    threshold: float = 0.5,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> ClassificationReport:
    """Accuracy, precision, recall and F1, and with scores ROC AUC, PR AUC and ECE, with intervals.

    Without ``y_pred`` the predictions are the scores at the threshold (positive when score ≥
    threshold). ECE needs scores within [0, 1]; ROC AUC needs both classes; a metric that cannot
    be computed is listed in ``undefined`` with the reason instead.
    """
    check_settings(resamples, confidence)
    truth, predicted, scores, negative = _classification_inputs(y_true, y_pred, y_score, positive, threshold)
    rng = np.random.default_rng(seed)
    cells = metrics.confusion_cells(truth, predicted)
    drawn = resample_cells(cells, resamples, rng)
    n = truth.size
    found = {
        name: estimate(float(COUNT_METRICS[name](cells)), COUNT_METRICS[name](drawn), n, confidence)
        for name in CLASSIFICATION_METRICS
    }
    undefined: dict[str, str] = {}
    if scores is not None:
        found |= _score_estimates(truth, scores, resamples, confidence, rng, undefined)
    tp, fp, fn, tn = (int(c) for c in cells)
    matrix = ConfusionMatrix(positive, negative, tp, fp, fn, tn)
    return ClassificationReport(found, matrix, n, tp + fn, resamples, confidence, seed, undefined)


def _classification_inputs(
    y_true: ArrayLike, y_pred: ArrayLike | None, y_score: ArrayLike | None, positive: Any, threshold: float
) -> tuple[Flags, Flags, Floats | None, Any]:
    if y_pred is None and y_score is None:
        raise InvalidPredictions("y_pred", "is missing; give predicted labels, or scores and a threshold")
    truth, predicted, negative = metrics.binary_outcomes(y_true, y_pred, positive=positive)
    scores = None if y_score is None else metrics.finite_values(y_score, "y_score")
    if scores is not None:
        metrics.same_length(y_true=truth, y_score=scores)
    if predicted is None:
        assert scores is not None
        predicted = scores >= threshold
    return truth, predicted, scores, negative


def _score_estimates(
    truth: Flags,
    scores: Floats,
    resamples: int,
    confidence: float,
    rng: np.random.Generator,
    undefined: dict[str, str],
) -> dict[str, Estimate]:
    # One draw serves ROC AUC, PR AUC and ECE. Along the sorted scores the cells are (level,
    # calibration bin), both ascending with the score, so cell order is score order; a cell's
    # records are ties to the AUC formulas. Columns are 2·cell + label.
    order, distinct, level = ranked_levels(scores, SCORE_LEVELS)
    ranked, hits = scores[order], truth[order]
    calibration = metrics.calibration_bin(ranked)
    key = level.astype(np.int64) * CALIBRATION_BINS + calibration
    cell = np.cumsum(np.concatenate([[True], key[1:] != key[:-1]])) - 1
    column = 2 * cell + hits
    counts = np.bincount(column, minlength=2 * (int(cell[-1]) + 1))
    exact = (
        np.bincount(distinct[hits], minlength=distinct[-1] + 1),
        np.bincount(distinct[~hits], minlength=distinct[-1] + 1),
    )
    drawn = resample_cells(counts, resamples, rng)
    found: dict[str, Estimate] = {}
    if truth.all() or not truth.any():
        undefined["roc_auc"] = "y_true has one class only; ROC AUC needs positives and negatives"
    else:
        found["roc_auc"] = _shifted(metrics.auc_of, exact, counts, drawn, confidence)
    found["pr_auc"] = _shifted(metrics.average_precision_of, exact, counts, drawn, confidence)
    if ranked[0] < 0 or ranked[-1] > 1:
        undefined["ece"] = "y_score is outside [0, 1], so the scores are not probabilities"
    else:
        # A drawn record adds its cell's mean of label − score to its bin, so the undrawn cells
        # give the exact ECE and no shift is needed.
        gap = np.bincount(column, weights=hits - ranked, minlength=counts.size) / np.maximum(counts, 1)
        bins = np.repeat(calibration[np.flatnonzero(np.diff(cell, prepend=-1))], 2).astype(np.intp)
        per_bin = grouped_columns(drawn * gap, bins, CALIBRATION_BINS)
        samples = np.abs(per_bin).sum(axis=1) / scores.size
        value = metrics.expected_calibration_error(truth, scores, positive=True)
        found["ece"] = estimate(value, samples, scores.size, confidence)
    return found


def _shifted(
    formula: Callable[[NDArray[Any], NDArray[Any]], Floats],
    exact: tuple[NDArray[Any], NDArray[Any]],
    counts: NDArray[Any],
    drawn: Counts,
    confidence: float,
) -> Estimate:
    """The exact value, with resamples of the binned cells shifted by exact minus binned."""
    value = float(formula(*exact))
    shift = value - float(formula(counts[1::2], counts[0::2]))
    samples = np.clip(formula(drawn[:, 1::2], drawn[:, 0::2]) + shift, 0.0, 1.0)
    return estimate(value, samples, int(counts.sum()), confidence)


# --- regression and ranking --------------------------------------------------------------------


def regression_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> RegressionReport:
    """MAE, RMSE and MAPE (a fraction), with intervals."""
    check_settings(resamples, confidence)
    actual, errors = metrics.regression_errors(y_true, y_pred)
    rng = np.random.default_rng(seed)
    n = errors.size
    absolute = np.abs(errors)
    # RMSE's resamples use the cells of |error| (squares sort the same way), each standing for its
    # cell's mean square, so the point value is exact.
    level = quantile_levels(absolute, SCORE_LEVELS)
    counts = np.bincount(level)
    drawn = resample_cells(counts, resamples, rng)
    mean_absolute = np.bincount(level, weights=absolute) / np.maximum(counts, 1)
    mean_square = np.bincount(level, weights=errors**2) / np.maximum(counts, 1)
    percentage = metrics.absolute_percentage_errors(actual, errors)
    found = {
        "mae": estimate(float(absolute.mean()), drawn @ mean_absolute / n, n, confidence),
        "rmse": estimate(float(np.sqrt(np.mean(errors**2))), np.sqrt(drawn @ mean_square / n), n, confidence),
        "mape": estimate(
            float(percentage.mean()), resampled_means(percentage, resamples, rng), n, confidence
        ),
    }
    return RegressionReport(found, n, resamples, confidence, seed)


def ranking_report(
    relevance: Sequence[ArrayLike],
    scores: Sequence[ArrayLike],
    *,
    k: int = 10,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> RankingReport:
    """precision@k, recall@k, MRR and nDCG@k with intervals; queries are the resampled unit.

    See ``metrics.ranking_per_query`` for ties and for queries with no relevant candidate.
    """
    check_settings(resamples, confidence)
    per_query = metrics.ranking_per_query(relevance, scores, k=k)
    rng = np.random.default_rng(seed)
    n = len(relevance)
    found = {
        name: estimate(float(values.mean()), resampled_means(values, resamples, rng), n, confidence)
        for name, values in per_query.items()
    }
    without = sum(1 for gains in relevance if not (np.asarray(gains) > 0).any())
    return RankingReport(found, n, k, without, resamples, confidence, seed)


# --- paired comparison -------------------------------------------------------------------------


def compare(
    y_true: ArrayLike,
    model_pred: ArrayLike | None = None,
    baseline_pred: ArrayLike | None = None,
    *,
    metric: ComparedMetric = "accuracy",
    model_score: ArrayLike | None = None,
    baseline_score: ArrayLike | None = None,
    positive: Any = 1,
    threshold: float = 0.5,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """The model against the baseline on the same records, by a paired bootstrap.

    Each resample draws the same records for both, as a multinomial over joint cells (label ×
    model's prediction × baseline's prediction; label × both scores' bins; bins of each record's
    share in the difference of two error means), so what the two share cancels out of the
    difference. ``roc_auc`` and ``pr_auc`` take the scores; accuracy, precision, recall and F1
    take labels, or scores at the threshold; ``mae``, ``rmse`` and ``mape`` take numeric
    predictions. The difference is model − baseline; the model is better when its interval lies
    wholly above 0, or for the error metrics (lower is better) wholly below.
    """
    check_settings(resamples, confidence)
    rng = np.random.default_rng(seed)
    if metric in SCORE_METRICS:
        n, model, baseline = _paired_scores(
            y_true, model_score, baseline_score, metric, positive, resamples, rng
        )
    elif metric in CLASSIFICATION_METRICS:
        predictions = (model_pred, baseline_pred, model_score, baseline_score)
        n, model, baseline = _paired_counts(y_true, predictions, metric, positive, threshold, resamples, rng)
    elif metric in REGRESSION_METRICS:
        n, model, baseline = _paired_means(y_true, model_pred, baseline_pred, metric, resamples, rng)
    else:
        known = ", ".join(CLASSIFICATION_METRICS + SCORE_METRICS + REGRESSION_METRICS)
        raise InvalidPredictions("metric", f"'{metric}' is not one to compare on; known: {known}")
    differences = model[1] - baseline[1]
    difference = estimate(model[0] - baseline[0], differences, n, confidence)
    higher = metric not in REGRESSION_METRICS
    gains = differences[~np.isnan(differences)] * (1 if higher else -1)
    better = difference.ci_low > 0 if higher else difference.ci_high < 0
    return Comparison(
        metric=metric,
        higher_is_better=higher,
        model=estimate(model[0], model[1], n, confidence),
        baseline=estimate(baseline[0], baseline[1], n, confidence),
        difference=difference,
        share_model_better=float((gains > 0).mean()),
        model_better=better,
        summary=_summary(metric, difference, higher, confidence),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


Resampled = tuple[float, Floats]


def _paired_counts(
    y_true: ArrayLike,
    predictions: tuple[ArrayLike | None, ArrayLike | None, ArrayLike | None, ArrayLike | None],
    metric: str,
    positive: Any,
    threshold: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[int, Resampled, Resampled]:
    model_pred, baseline_pred, model_score, baseline_score = predictions
    truth, model, _, _ = _classification_inputs(y_true, model_pred, model_score, positive, threshold)
    _, baseline, _, _ = _classification_inputs(y_true, baseline_pred, baseline_score, positive, threshold)
    # Eight joint cells, code = 4·label + 2·model + baseline; each side's confusion cell is
    # 2·(not predicted) + (not actual), the tp, fp, fn, tn order of the formulas.
    code = 4 * truth.astype(np.intp) + 2 * model.astype(np.intp) + baseline.astype(np.intp)
    joint = np.bincount(code, minlength=8)
    drawn = resample_cells(joint, resamples, rng)
    label, by_model, by_baseline = np.arange(8) // 4, np.arange(8) // 2 % 2, np.arange(8) % 2
    formula = COUNT_METRICS[metric]
    sides = []
    for predicted in (by_model, by_baseline):
        side = (2 * (1 - predicted) + (1 - label)).astype(np.intp)
        point = float(formula(grouped_columns(joint[None, :], side, 4)[0]))
        sides.append((point, formula(grouped_columns(drawn, side, 4))))
    return truth.size, sides[0], sides[1]


def _paired_scores(
    y_true: ArrayLike,
    model_score: ArrayLike | None,
    baseline_score: ArrayLike | None,
    metric: str,
    positive: Any,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[int, Resampled, Resampled]:
    if model_score is None or baseline_score is None:
        raise InvalidPredictions(
            "model_score" if model_score is None else "baseline_score", f"is needed to compare on {metric}"
        )
    truth, _, _ = metrics.binary_outcomes(y_true, None, positive=positive)
    model = metrics.finite_values(model_score, "model_score")
    baseline = metrics.finite_values(baseline_score, "baseline_score")
    metrics.same_length(y_true=truth, model_score=model, baseline_score=baseline)
    if metric == "roc_auc" and (truth.all() or not truth.any()):
        raise InvalidPredictions("y_true", "has one class only; ROC AUC needs positives and negatives")
    formula = metrics.auc_of if metric == "roc_auc" else metrics.average_precision_of
    model_level = quantile_levels(model, PAIRED_SCORE_LEVELS)
    baseline_level = quantile_levels(baseline, PAIRED_SCORE_LEVELS)
    baseline_size = int(baseline_level.max()) + 1
    key = (model_level * baseline_size + baseline_level) * 2 + truth
    cells, counts = np.unique(key, return_counts=True)
    sides = [
        _paired_side(formula, scores, truth, cell_level, size, cells, counts)
        for scores, cell_level, size in (
            (model, cells // 2 // baseline_size, int(model_level.max()) + 1),
            (baseline, cells // 2 % baseline_size, baseline_size),
        )
    ]
    chunk = max(1, CHUNK_CELLS // cells.size)
    samples: list[list[Floats]] = [[], []]
    for start in range(0, resamples, chunk):
        drawn = resample_cells(counts, min(chunk, resamples - start), rng)
        for side, found in zip(sides, samples, strict=True):
            found.append(side(drawn))
    model_samples, baseline_samples = (np.concatenate(found) for found in samples)
    return truth.size, (sides[0].value, model_samples), (sides[1].value, baseline_samples)


@dataclass(frozen=True)
class _PairedSide:
    """One side of a paired score comparison: its exact value and how a draw of joint cells reads."""

    formula: Callable[[NDArray[Any], NDArray[Any]], Floats]
    column: NDArray[np.intp]
    size: int
    value: float
    shift: float

    def __call__(self, drawn: Counts) -> Floats:
        """The metric on each resample, shifted by exact minus binned."""
        resampled = grouped_columns(drawn, self.column, 2 * self.size).reshape(drawn.shape[0], self.size, 2)
        return np.clip(self.formula(resampled[..., 1], resampled[..., 0]) + self.shift, 0.0, 1.0)


def _paired_side(
    formula: Callable[[NDArray[Any], NDArray[Any]], Floats],
    scores: Floats,
    truth: Flags,
    cell_level: NDArray[Any],
    size: int,
    cells: NDArray[Any],
    counts: NDArray[Any],
) -> _PairedSide:
    # Column 2·level + label, so reshaping to (…, level, label) puts the negatives at [..., 0].
    column = (2 * cell_level + cells % 2).astype(np.intp)
    binned = grouped_columns(counts[None, :], column, 2 * size).reshape(size, 2)
    value = float(formula(*metrics.score_levels(scores, truth)))
    return _PairedSide(formula, column, size, value, value - float(formula(binned[:, 1], binned[:, 0])))


def _paired_means(
    y_true: ArrayLike,
    model_pred: ArrayLike | None,
    baseline_pred: ArrayLike | None,
    metric: str,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[int, Resampled, Resampled]:
    if model_pred is None or baseline_pred is None:
        missing = "model_pred" if model_pred is None else "baseline_pred"
        raise InvalidPredictions(missing, f"is needed to compare on {metric}")
    actual, model_errors = metrics.regression_errors(y_true, model_pred, predicted="model_pred")
    _, baseline_errors = metrics.regression_errors(y_true, baseline_pred, predicted="baseline_pred")
    per_record: dict[str, Callable[[Floats], Floats]] = {
        "mae": np.abs,
        "rmse": np.square,
        "mape": lambda errors: metrics.absolute_percentage_errors(actual, errors),
    }
    model, baseline = per_record[metric](model_errors), per_record[metric](baseline_errors)
    root = metric == "rmse"
    # Cells are quantile bins of each record's first-order share in the difference, so records
    # that move it alike are drawn alike; each cell keeps both sides' exact sums.
    weight_model, weight_baseline = (
        (1 / max(np.sqrt(model.mean()), TINY), 1 / max(np.sqrt(baseline.mean()), TINY))
        if root
        else (1.0, 1.0)
    )
    level = quantile_levels(weight_model * model - weight_baseline * baseline, SCORE_LEVELS)
    counts = np.bincount(level)
    drawn = resample_cells(counts, resamples, rng)
    sides = []
    for values in (model, baseline):
        means = np.bincount(level, weights=values) / np.maximum(counts, 1)
        mean, resampled = float(values.mean()), drawn @ means / values.size
        sides.append((float(np.sqrt(mean)), np.sqrt(resampled)) if root else (mean, resampled))
    return actual.size, sides[0], sides[1]


def _summary(metric: str, difference: Estimate, higher_is_better: bool, confidence: float) -> str:
    """A sentence: does the model beat the baseline, by how much, how sure, on how many records."""
    name = SHOWN.get(metric, metric)
    scale, unit = (1.0, "") if metric in IN_UNITS else (100.0, " points")
    value, low, high = (scale * v for v in (difference.value, difference.ci_low, difference.ci_high))
    records = f"on {difference.n:,} records"
    better = low > 0 if higher_is_better else high < 0
    worse = high < 0 if higher_is_better else low > 0
    level = f"{confidence * 100:g} % interval"
    if not (better or worse):
        interval = f"{level} {_shown(low, metric)} to {_shown(high, metric)}"
        return (
            f"The model does not clearly beat the baseline on {name}: the difference is "
            f"{_shown(value, metric)}{unit} ({interval}) {records}."
        )
    # Said as a gain or a loss, so the interval reads in the sentence's own direction.
    near, far = sorted((abs(low), abs(high)))
    interval = f"{level} {_shown(near, metric)} to {_shown(far, metric)}"
    amount = f"{_shown(abs(value), metric)}{unit}"
    verb = "beats" if better else "trails"
    if higher_is_better:
        return f"The model {verb} the baseline by {amount} of {name} ({interval}) {records}."
    moved = "cutting" if better else "raising"
    return f"The model {verb} the baseline, {moved} {name} by {amount} ({interval}) {records}."


def _shown(value: float, metric: str) -> str:
    """A number for a sentence: 3 significant digits in the metric's units, or points to 1 decimal."""
    if metric in IN_UNITS:
        text = np.format_float_positional(value, precision=3, unique=False, fractional=False, trim="-")
    else:
        text = f"{value:.1f}"
    return text.lstrip("-") if float(text) == 0 else text.replace("-", MINUS)
