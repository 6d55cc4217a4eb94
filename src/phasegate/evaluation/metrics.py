"""Point values of the evaluation metrics, equal to scikit-learn's on the same predictions.

Pure numpy, no I/O. The count-based metrics are written over confusion cells (an array whose
last axis is ``tp, fp, fn, tn``) and the score-based ones over counts per distinct score, so the
bootstrap can evaluate the very same formulas on thousands of resampled tables at once.

Zero division follows scikit-learn's default (``zero_division="warn"``), without the warning:
precision is 0 with no predicted positives, recall 0 with no actual positives, F1 0 when both
are empty, average precision 0 with no actual positives. ROC AUC with one class in ``y_true``
is undefined; scikit-learn then warns and returns NaN, here it raises ``InvalidPredictions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]
Counts = NDArray[np.int64]
Flags = NDArray[np.bool_]

TP, FP, FN, TN = range(4)
# Equal-width bins of the score for the expected calibration error, as calibration_curve's default.
CALIBRATION_BINS = 10
# The most positions an error message lists before it says how many more there are.
SHOWN_POSITIONS = 3


class InvalidPredictions(ValueError):
    """Labels, predictions or scores a metric cannot use; names the argument and what is wrong."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument, self.problem = argument, problem
        super().__init__(f"{argument}: {problem}")


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of actual against predicted class, with the labels they stand for."""

    positive: Any
    negative: Any
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def cells(self) -> Counts:
        """The counts in the order ``tp, fp, fn, tn`` the formulas here take."""
        return np.array(
            [self.true_positive, self.false_positive, self.false_negative, self.true_negative], np.int64
        )

    def rows(self) -> list[list[int]]:
        """scikit-learn's layout for labels ``[negative, positive]``: rows actual, columns predicted."""
        return [[self.true_negative, self.false_positive], [self.false_negative, self.true_positive]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe counts and labels."""
        return {
            "positive": json_label(self.positive),
            "negative": json_label(self.negative),
            "true_positive": self.true_positive,
            "false_positive": self.false_positive,
            "false_negative": self.false_negative,
            "true_negative": self.true_negative,
        }


# --- input checks ------------------------------------------------------------------------------


def one_dimensional(values: ArrayLike, argument: str) -> NDArray[Any]:
    """Values as a non-empty 1-D array; InvalidPredictions otherwise."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidPredictions(argument, f"must be one value per record (1-D), got shape {array.shape}")
    if array.size == 0:
        raise InvalidPredictions(argument, "is empty; there is nothing to evaluate")
    return array


def same_length(**arrays: NDArray[Any]) -> int:
    """The common length of the arrays; InvalidPredictions naming the lengths when they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {length:,}" for name, length in lengths.items())
        raise InvalidPredictions(" and ".join(lengths), f"lengths differ: {listed}")
    return next(iter(lengths.values()))


def finite_values(values: ArrayLike, argument: str) -> Floats:
    """Numbers as a float array; InvalidPredictions naming the first NaN or infinite positions."""
    array = one_dimensional(values, argument)
    try:
        floats = array.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidPredictions(argument, "must be numbers") from None
    bad = np.flatnonzero(~np.isfinite(floats))
    if bad.size:
        kind = "NaN" if np.isnan(floats[bad[0]]) else "an infinite value"
        raise InvalidPredictions(argument, f"has {kind} at {_positions(bad)}")
    return floats


def _positions(indices: NDArray[np.intp]) -> str:
    shown = ", ".join(str(i) for i in indices[:SHOWN_POSITIONS])
    more = f" and {indices.size - SHOWN_POSITIONS:,} more" if indices.size > SHOWN_POSITIONS else ""
    return f"position {shown}{more}" if indices.size == 1 else f"positions {shown}{more}"


def _labels_of(array: NDArray[Any], argument: str) -> set[Any]:
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise InvalidPredictions(argument, f"has NaN at {_positions(np.flatnonzero(np.isnan(array)))}")
    if array.dtype.kind == "O":
        labels = set(array.tolist())
        if any(label is None or (isinstance(label, float) and label != label) for label in labels):
            raise InvalidPredictions(argument, "has a missing label (None or NaN)")
        return labels
    return set(np.unique(array).tolist())


def binary_outcomes(
    y_true: ArrayLike, y_pred: ArrayLike | None, *, positive: Any = 1
) -> tuple[Flags, Flags | None, Any]:
    """Which records are actually positive and which predicted positive, and the negative label.

    The labels of ``y_true`` and ``y_pred`` together must be at most two, one of them ``positive``
    when there are two (as scikit-learn's ``pos_label``). The negative label is the other one, or
    None when only the positive label occurs.
    """
    truth = one_dimensional(y_true, "y_true")
    arrays = {"y_true": truth}
    if y_pred is not None:
        arrays["y_pred"] = one_dimensional(y_pred, "y_pred")
        same_length(**arrays)
    labels: set[Any] = set()
    for argument, array in arrays.items():
        labels |= _labels_of(array, argument)
    names = " and ".join(arrays)
    if len(labels) > 2:
        raise InvalidPredictions(
            names, f"have {len(labels)} labels ({_listed(labels)}); a binary metric needs at most two"
        )
    if len(labels) == 2 and positive not in labels:
        raise InvalidPredictions(
            "positive", f"{positive!r} is not one of the labels in {names} ({_listed(labels)})"
        )
    others = [label for label in labels if label != positive]
    negative = others[0] if others else None
    flags = [
        np.asarray(a == positive, dtype=np.bool_) if positive in labels else np.zeros(a.size, np.bool_)
        for a in arrays.values()
    ]
    return flags[0], (flags[1] if y_pred is not None else None), negative


def _listed(labels: set[Any]) -> str:
    return ", ".join(sorted(repr(label) for label in labels))


def json_label(label: Any) -> Any:
    """A label as JSON can hold it: numpy scalars become Python ones, anything else its text."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if label is None or isinstance(label, str | int | float | bool) else str(label)


def predicted_from_scores(y_score: ArrayLike, *, threshold: float = 0.5) -> Flags:
    """Positive predictions from scores: a record is predicted positive when its score ≥ threshold."""
    return finite_values(y_score, "y_score") >= threshold


# --- count-based metrics -----------------------------------------------------------------------


def confusion_cells(truth: Flags, predicted: Flags) -> Counts:
    """The ``tp, fp, fn, tn`` counts of actual against predicted positives."""
    # One bincount over a 2-bit code: index = 2·(not predicted) + (not actual) is tp, fp, fn, tn.
    code = 2 * (~predicted).astype(np.int64) + (~truth).astype(np.int64)
    return np.bincount(code, minlength=4).astype(np.int64)


def _ratio(numerator: NDArray[Any], denominator: NDArray[Any]) -> Floats:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division default)."""
    num = np.asarray(numerator, np.float64)
    den = np.asarray(denominator, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def accuracy_of(cells: Counts) -> Floats:
    """(tp + tn) / n."""
    return _ratio(cells[..., TP] + cells[..., TN], cells.sum(axis=-1))


def precision_of(cells: Counts) -> Floats:
    """tp / (tp + fp); 0 with no predicted positives."""
    return _ratio(cells[..., TP], cells[..., TP] + cells[..., FP])


def recall_of(cells: Counts) -> Floats:
    """tp / (tp + fn), the true positive rate; 0 with no actual positives."""
    return _ratio(cells[..., TP], cells[..., TP] + cells[..., FN])


def f1_of(cells: Counts) -> Floats:
    """2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall; 0 when all three are 0."""
    return _ratio(2 * cells[..., TP], 2 * cells[..., TP] + cells[..., FP] + cells[..., FN])


def selection_rate_of(cells: Counts) -> Floats:
    """(tp + fp) / n, the share predicted positive."""
    return _ratio(cells[..., TP] + cells[..., FP], cells.sum(axis=-1))


def false_positive_rate_of(cells: Counts) -> Floats:
    """fp / (fp + tn); 0 with no actual negatives."""
    return _ratio(cells[..., FP], cells[..., FP] + cells[..., TN])


def error_rate_of(cells: Counts) -> Floats:
    """(fp + fn) / n, that is 1 − accuracy."""
    return _ratio(cells[..., FP] + cells[..., FN], cells.sum(axis=-1))


CountMetric = Callable[[Counts], Floats]
COUNT_METRICS: dict[str, CountMetric] = {
    "accuracy": accuracy_of,
    "precision": precision_of,
    "recall": recall_of,
    "f1": f1_of,
    "selection_rate": selection_rate_of,
    "true_positive_rate": recall_of,
    "false_positive_rate": false_positive_rate_of,
    "error_rate": error_rate_of,
}


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *, positive: Any = 1) -> ConfusionMatrix:
    """The confusion matrix of binary labels against predicted labels."""
    truth, predicted, negative = binary_outcomes(y_true, y_pred, positive=positive)
    assert predicted is not None
    tp, fp, fn, tn = (int(c) for c in confusion_cells(truth, predicted))
    return ConfusionMatrix(positive, negative, tp, fp, fn, tn)


def _count_metric(name: str, y_true: ArrayLike, y_pred: ArrayLike, positive: Any) -> float:
    return float(COUNT_METRICS[name](confusion_matrix(y_true, y_pred, positive=positive).cells))


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, *, positive: Any = 1) -> float:
    """Share of records predicted right, as sklearn's accuracy_score."""
    return _count_metric("accuracy", y_true, y_pred, positive)


def precision(y_true: ArrayLike, y_pred: ArrayLike, *, positive: Any = 1) -> float:
    """Share of predicted positives that are positive, as sklearn's precision_score."""
    return _count_metric("precision", y_true, y_pred, positive)


def recall(y_true: ArrayLike, y_pred: ArrayLike, *, positive: Any = 1) -> float:
    """Share of actual positives predicted positive, as sklearn's recall_score."""
    return _count_metric("recall", y_true, y_pred, positive)


def f1(y_true: ArrayLike, y_pred: ArrayLike, *, positive: Any = 1) -> float:
    """Harmonic mean of precision and recall, as sklearn's f1_score."""
    return _count_metric("f1", y_true, y_pred, positive)


# --- score-based metrics -----------------------------------------------------------------------


def score_levels(scores: Floats, truth: Flags) -> tuple[Counts, Counts]:
    """Actual positives and negatives at each distinct score, scores ascending."""
    _, level = np.unique(scores, return_inverse=True)
    size = int(level.max()) + 1
    positives = np.bincount(level[truth], minlength=size).astype(np.int64)
    negatives = np.bincount(level[~truth], minlength=size).astype(np.int64)
    return positives, negatives


def auc_of(positives: NDArray[Any], negatives: NDArray[Any]) -> Floats:
    """ROC AUC from counts per score level (ascending, last axis); NaN where a class is absent.

    The Mann–Whitney form: the share of (positive, negative) pairs ranked right, a tie counting
    half, which is the area under the ROC curve by the trapezoid rule (Hanley & McNeil, 1982).
    """
    pos = np.asarray(positives, np.float64)
    neg = np.asarray(negatives, np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    pairs = pos.sum(axis=-1) * neg.sum(axis=-1)
    # Counts are integers, so these sums are exact in float64 up to 2**53 pairs.
    right = (pos * (below + 0.5 * neg)).sum(axis=-1)
    auc: Floats = np.divide(right, pairs, out=np.full(np.shape(pairs), np.nan), where=pairs > 0)
    return auc


def average_precision_of(positives: NDArray[Any], negatives: NDArray[Any]) -> Floats:
    """Average precision from counts per score level (ascending, last axis); 0 with no positives.

    sklearn's definition: Σ over thresholds, highest first, of (Rₖ − Rₖ₋₁) · Pₖ, the step-wise
    area under the precision-recall curve without interpolation.
    """
    pos = np.asarray(positives, np.float64)[..., ::-1]
    neg = np.asarray(negatives, np.float64)[..., ::-1]
    hits = np.cumsum(pos, axis=-1)
    flagged = hits + np.cumsum(neg, axis=-1)
    precision_at = np.divide(hits, flagged, out=np.zeros_like(hits), where=flagged > 0)
    total = pos.sum(axis=-1)
    weighted = (pos * precision_at).sum(axis=-1)
    average: Floats = np.divide(weighted, total, out=np.zeros(np.shape(total)), where=total > 0)
    return average


def _scored(y_true: ArrayLike, y_score: ArrayLike, positive: Any) -> tuple[Flags, Floats]:
    truth, _, _ = binary_outcomes(y_true, None, positive=positive)
    scores = finite_values(y_score, "y_score")
    same_length(y_true=truth, y_score=scores)
    return truth, scores


def roc_auc(y_true: ArrayLike, y_score: ArrayLike, *, positive: Any = 1) -> float:
    """Area under the ROC curve, as sklearn's roc_auc_score; needs both classes in y_true."""
    truth, scores = _scored(y_true, y_score, positive)
    if truth.all() or not truth.any():
        raise InvalidPredictions("y_true", "has one class only; ROC AUC needs positives and negatives")
    return float(auc_of(*score_levels(scores, truth)))


def pr_auc(y_true: ArrayLike, y_score: ArrayLike, *, positive: Any = 1) -> float:
    """Area under the precision-recall curve, as sklearn's average_precision_score."""
    truth, scores = _scored(y_true, y_score, positive)
    return float(average_precision_of(*score_levels(scores, truth)))


def calibration_bin(scores: Floats, bins: int = CALIBRATION_BINS) -> NDArray[np.intp]:
    """Each score's bin: [0, 1/b], (1/b, 2/b], …, ((b−1)/b, 1], as sklearn's calibration_curve."""
    return np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], scores)


def probabilities(y_score: ArrayLike, argument: str = "y_score") -> Floats:
    """Scores that must be probabilities: finite and within [0, 1]."""
    scores = finite_values(y_score, argument)
    outside = np.flatnonzero((scores < 0) | (scores > 1))
    if outside.size:
        raise InvalidPredictions(argument, f"is outside [0, 1] at {_positions(outside)}; not probabilities")
    return scores


def expected_calibration_error(
    y_true: ArrayLike, y_score: ArrayLike, *, positive: Any = 1, bins: int = CALIBRATION_BINS
) -> float:
    """ECE = Σ_b (n_b / n) · |share positive in b − mean score in b| over equal-width score bins.

    The bins are those of sklearn's ``calibration_curve(strategy="uniform", n_bins=bins)``, each
    weighted by its share of the records (Naeini et al., 2015); empty bins add nothing. The sum
    equals Σ_b |Σ_{i∈b} (yᵢ − sᵢ)| / n, which is how it is computed.
    """
    truth, _, _ = binary_outcomes(y_true, None, positive=positive)
    scores = probabilities(y_score)
    same_length(y_true=truth, y_score=scores)
    gap = np.bincount(calibration_bin(scores, bins), weights=truth - scores, minlength=bins)
    return float(np.abs(gap).sum() / scores.size)


# --- regression --------------------------------------------------------------------------------


def regression_errors(
    y_true: ArrayLike, y_pred: ArrayLike, *, predicted: str = "y_pred"
) -> tuple[Floats, Floats]:
    """Checked actual values and errors (predicted − actual); ``predicted`` names y_pred in errors."""
    actual = finite_values(y_true, "y_true")
    values = finite_values(y_pred, predicted)
    same_length(**{"y_true": actual, predicted: values})
    return actual, values - actual


def absolute_percentage_errors(actual: Floats, errors: Floats) -> Floats:
    """|error| / max(|actual|, ε), ε the float64 machine epsilon, as sklearn's MAPE."""
    return np.abs(errors) / np.maximum(np.abs(actual), np.finfo(np.float64).eps)


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of |predicted − actual|, as sklearn's mean_absolute_error."""
    return float(np.mean(np.abs(regression_errors(y_true, y_pred)[1])))


def root_mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Square root of the mean squared error, as sklearn's root_mean_squared_error."""
    return float(np.sqrt(np.mean(regression_errors(y_true, y_pred)[1] ** 2)))


def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean of |error| / |actual| as a fraction (0.05 is 5 %), as sklearn's MAPE.

    An actual value of 0 is divided by the machine epsilon instead, so its error dominates, as
    in sklearn: MAPE is the wrong metric for targets that can be 0.
    """
    return float(np.mean(absolute_percentage_errors(*regression_errors(y_true, y_pred))))


# --- ranking -----------------------------------------------------------------------------------

RANKING_METRICS = ("precision_at_k", "recall_at_k", "mrr", "ndcg_at_k")


def ranking_per_query(
    relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike], *, k: int = 10
) -> dict[str, Floats]:
    """Each ranking metric for each query: candidates ranked by score, highest first.

    A candidate is relevant when its relevance is above 0; nDCG uses the relevance itself as the
    gain, as sklearn's ndcg_score. Tied scores are not broken by input order: each metric is its
    expected value over the orders of the tied candidates, which for nDCG is sklearn's default
    (``ignore_ties=False``). precision@k divides by k even when a query has fewer candidates.
    MRR looks at the whole ranking, not only the top k. A query with no relevant candidate
    scores 0 on every metric and counts in the mean, as sklearn's ndcg_score counts it.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidPredictions("k", f"must be a whole number of 1 or more, got {k!r}")
    if len(relevance) != len(scores):
        raise InvalidPredictions(
            "relevance and scores", f"lengths differ: {len(relevance):,} and {len(scores):,} queries"
        )
    if len(relevance) == 0:
        raise InvalidPredictions("relevance", "has no queries; there is nothing to evaluate")
    values = {name: np.empty(len(relevance)) for name in RANKING_METRICS}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for q, (gains_in, scores_in) in enumerate(zip(relevance, scores, strict=True)):
        gains = finite_values(gains_in, f"relevance[{q}]")
        ranked = finite_values(scores_in, f"scores[{q}]")
        same_length(**{f"relevance[{q}]": gains, f"scores[{q}]": ranked})
        if (gains < 0).any():
            raise InvalidPredictions(f"relevance[{q}]", "has a negative relevance; gains must be 0 or more")
        for name, value in _query_metrics(gains, ranked, k, discounts).items():
            values[name][q] = value
    return values


def by_query(
    queries: ArrayLike, relevance: ArrayLike, scores: ArrayLike
) -> tuple[list[Floats], list[Floats]]:
    """Rows of (query, relevance, score) as one relevance and one score array per query.

    Queries come in the order they first appear; rows keep their order within a query.
    """
    ids = one_dimensional(queries, "queries")
    gains = finite_values(relevance, "relevance")
    ranked = finite_values(scores, "scores")
    same_length(queries=ids, relevance=gains, scores=ranked)
    first_seen = {query: i for i, query in enumerate(dict.fromkeys(ids.tolist()))}
    query_of = np.fromiter((first_seen[q] for q in ids.tolist()), np.intp, ids.size)
    order = np.argsort(query_of, kind="stable")
    bounds = np.cumsum(np.bincount(query_of))[:-1]
    return np.split(gains[order], bounds), np.split(ranked[order], bounds)


def _query_metrics(gains: Floats, scores: Floats, k: int, discounts: Floats) -> dict[str, float]:
    order = np.argsort(-scores, kind="stable")
    # Ties: the candidates sharing a score share the mean of their gains, position by position.
    _, group, sizes = np.unique(-scores[order], return_inverse=True, return_counts=True)
    relevant = (gains[order] > 0).astype(np.float64)
    shared_gain = (np.bincount(group, weights=gains[order]) / sizes)[group][:k]
    shared_hit = (np.bincount(group, weights=relevant) / sizes)[group][:k]
    found = relevant.sum()
    ideal = float(np.sort(gains)[::-1][:k] @ discounts[: min(k, gains.size)])
    dcg = float(shared_gain @ discounts[: shared_gain.size])
    return {
        "precision_at_k": float(shared_hit.sum() / k),
        "recall_at_k": float(shared_hit.sum() / found) if found else 0.0,
        "mrr": _expected_reciprocal_rank(relevant, sizes) if found else 0.0,
        "ndcg_at_k": dcg / ideal if ideal > 0 else 0.0,
    }


def _expected_reciprocal_rank(relevant: Floats, sizes: NDArray[np.intp]) -> float:
    # The first tie group holding a relevant candidate decides: with m candidates of which r are
    # relevant, starting at rank a + 1, P(j irrelevant ones come first) = r/(m−j) · Π_{i<j} (m−r−i)/(m−i).
    start = 0
    for size in sizes.tolist():
        hits = int(relevant[start : start + size].sum())
        if hits:
            expected, chance = 0.0, 1.0
            for j in range(size - hits + 1):
                expected += chance * hits / (size - j) / (start + j + 1)
                chance *= (size - hits - j) / (size - j)
            return expected
        start += size
    return 0.0


def _ranking_metric(name: str, relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike], k: int) -> float:
    return float(np.mean(ranking_per_query(relevance, scores, k=k)[name]))


def precision_at_k(relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike], *, k: int = 10) -> float:
    """Mean over queries of the share of the top k that is relevant."""
    return _ranking_metric("precision_at_k", relevance, scores, k)


def recall_at_k(relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike], *, k: int = 10) -> float:
    """Mean over queries of the share of relevant candidates in the top k."""
    return _ranking_metric("recall_at_k", relevance, scores, k)


def mean_reciprocal_rank(relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike]) -> float:
    """Mean over queries of 1 / rank of the first relevant candidate."""
    return _ranking_metric("mrr", relevance, scores, 1)


def ndcg_at_k(relevance: Sequence[ArrayLike], scores: Sequence[ArrayLike], *, k: int = 10) -> float:
    """Mean over queries of DCG@k / ideal DCG@k, as sklearn's ndcg_score."""
    return _ranking_metric("ndcg_at_k", relevance, scores, k)
