"""Point metrics: equal to scikit-learn's on the same predictions, ties and zero division included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from phasegate.evaluation import metrics

# sklearn's first calls and a machine shared with other test workers can take seconds.
NO_DEADLINE = settings(deadline=None)
TOLERANCE = 1e-9
pytestmark = pytest.mark.filterwarnings("ignore")  # sklearn warns on zero division; it is the point here


def labelled(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[tuple[list[int], list[int]]]:
    """Pairs of equally long 0/1 lists: actual and predicted labels."""
    return st.integers(min_size, max_size).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
        )
    )


def scored(min_size: int = 2, max_size: int = 60) -> st.SearchStrategy[tuple[list[int], list[float]]]:
    """Labels with both classes and scores drawn from few values, so that ties are common."""
    score = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.floats(0, 1))
    return (
        st.integers(min_size, max_size)
        .flatmap(
            lambda n: st.tuples(
                st.lists(st.integers(0, 1), min_size=n, max_size=n),
                st.lists(score, min_size=n, max_size=n),
            )
        )
        .filter(lambda pair: 0 < sum(pair[0]) < len(pair[0]))
    )


@NO_DEADLINE
@given(labelled())
def test_count_metrics_equal_sklearn_including_zero_division(pair: tuple[list[int], list[int]]) -> None:
    y_true, y_pred = pair
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=TOLERANCE)
    assert metrics.precision(y_true, y_pred) == pytest.approx(
        sk.precision_score(y_true, y_pred), abs=TOLERANCE
    )
    assert metrics.recall(y_true, y_pred) == pytest.approx(sk.recall_score(y_true, y_pred), abs=TOLERANCE)
    assert metrics.f1(y_true, y_pred) == pytest.approx(sk.f1_score(y_true, y_pred), abs=TOLERANCE)


@NO_DEADLINE
@given(labelled())
def test_the_positive_label_can_be_the_other_one(pair: tuple[list[int], list[int]]) -> None:
    y_true, y_pred = pair
    expected = sk.precision_score(y_true, y_pred, pos_label=0)
    assert metrics.precision(y_true, y_pred, positive=0) == pytest.approx(expected, abs=TOLERANCE)


def test_text_labels_with_a_named_positive_equal_sklearn() -> None:
    y_true = ["fraud", "ok", "ok", "fraud", "ok", "fraud"]
    y_pred = ["fraud", "fraud", "ok", "ok", "ok", "fraud"]
    assert metrics.recall(y_true, y_pred, positive="fraud") == sk.recall_score(
        y_true, y_pred, pos_label="fraud"
    )
    matrix = metrics.confusion_matrix(y_true, y_pred, positive="fraud")
    assert matrix.rows() == sk.confusion_matrix(y_true, y_pred, labels=["ok", "fraud"]).tolist()
    assert matrix.to_dict() == {
        "positive": "fraud",
        "negative": "ok",
        "true_positive": 2,
        "false_positive": 1,
        "false_negative": 1,
        "true_negative": 2,
    }


@NO_DEADLINE
@given(scored())
def test_roc_auc_and_pr_auc_equal_sklearn_with_ties(pair: tuple[list[int], list[float]]) -> None:
    y_true, y_score = pair
    assert metrics.roc_auc(y_true, y_score) == pytest.approx(sk.roc_auc_score(y_true, y_score), abs=TOLERANCE)
    expected = sk.average_precision_score(y_true, y_score)
    assert metrics.pr_auc(y_true, y_score) == pytest.approx(expected, abs=TOLERANCE)


def test_pr_auc_without_positives_is_zero_as_in_sklearn() -> None:
    assert metrics.pr_auc([0, 0, 0], [0.2, 0.9, 0.4]) == sk.average_precision_score(
        [0, 0, 0], [0.2, 0.9, 0.4]
    )


@NO_DEADLINE
@given(scored(min_size=1))
def test_calibration_error_weights_sklearns_uniform_bins_by_size(pair: tuple[list[int], list[float]]) -> None:
    y_true, y_score = pair
    prob_true, prob_pred = calibration_curve(y_true, y_score, n_bins=10, strategy="uniform")
    # calibration_curve drops empty bins; its bins are [0, .1], (.1, .2], …, (.9, 1].
    edges = np.linspace(0, 1, 11)
    sizes = np.bincount(np.searchsorted(edges[1:-1], y_score), minlength=10)
    expected = float(np.sum(sizes[sizes > 0] * np.abs(prob_true - prob_pred)) / len(y_score))
    assert metrics.expected_calibration_error(y_true, y_score) == pytest.approx(expected, abs=TOLERANCE)


def test_a_perfectly_calibrated_bin_has_no_calibration_error() -> None:
    assert metrics.expected_calibration_error([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.0


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@NO_DEADLINE
@given(
    st.integers(1, 50).flatmap(
        lambda n: st.tuples(
            st.lists(finite, min_size=n, max_size=n), st.lists(finite, min_size=n, max_size=n)
        )
    )
)
def test_regression_metrics_equal_sklearn(pair: tuple[list[float], list[float]]) -> None:
    y_true, y_pred = pair
    for ours, theirs in (
        (metrics.mean_absolute_error, sk.mean_absolute_error),
        (metrics.root_mean_squared_error, sk.root_mean_squared_error),
        (metrics.mean_absolute_percentage_error, sk.mean_absolute_percentage_error),
    ):
        assert ours(y_true, y_pred) == pytest.approx(theirs(y_true, y_pred), rel=TOLERANCE, abs=TOLERANCE)


queries = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.4]), min_size=n, max_size=n),
    )
)


@NO_DEADLINE
@given(st.lists(queries, min_size=1, max_size=5), st.integers(1, 8))
def test_ndcg_equals_sklearn_per_query_averaged(batch: list[tuple[list[int], list[float]]], k: int) -> None:
    relevance, scores = [q[0] for q in batch], [q[1] for q in batch]
    expected = np.mean([sk.ndcg_score([r], [s], k=k) for r, s in batch])
    assert metrics.ndcg_at_k(relevance, scores, k=k) == pytest.approx(expected, abs=TOLERANCE)


def _over_tie_orders(gains: list[int], scores: list[float], k: int) -> dict[str, float]:
    """Each metric averaged over every order of the tied candidates, by brute force."""
    totals = dict.fromkeys(metrics.RANKING_METRICS, 0.0)
    orders = [
        p
        for p in itertools.permutations(range(len(gains)))
        if all(scores[p[i]] >= scores[p[i + 1]] for i in range(len(p) - 1))
    ]
    relevant = sum(g > 0 for g in gains)
    ideal = sum(g / np.log2(i + 2) for i, g in enumerate(sorted(gains, reverse=True)[:k]))
    for order in orders:
        hits = [gains[i] > 0 for i in order]
        totals["precision_at_k"] += sum(hits[:k]) / k
        totals["recall_at_k"] += sum(hits[:k]) / relevant if relevant else 0.0
        totals["mrr"] += 1 / (hits.index(True) + 1) if relevant else 0.0
        dcg = sum(gains[i] / np.log2(rank + 2) for rank, i in enumerate(order[:k]))
        totals["ndcg_at_k"] += dcg / ideal if ideal else 0.0
    return {name: total / len(orders) for name, total in totals.items()}


@NO_DEADLINE
@given(queries, st.integers(1, 8))
def test_tied_candidates_count_as_the_mean_over_their_orders(
    query: tuple[list[int], list[float]], k: int
) -> None:
    gains, scores = query
    found = metrics.ranking_per_query([gains], [scores], k=k)
    for name, expected in _over_tie_orders(gains, scores, k).items():
        assert found[name][0] == pytest.approx(expected, abs=TOLERANCE), name


def test_ranking_metrics_worked_by_hand() -> None:
    relevance = [[0, 1, 0, 1], [1, 0, 0, 0]]
    scores = [[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]]
    assert metrics.precision_at_k(relevance, scores, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert metrics.recall_at_k(relevance, scores, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert metrics.mean_reciprocal_rank(relevance, scores) == pytest.approx((1 / 2 + 1 / 4) / 2)


def test_rows_of_query_relevance_and_score_are_grouped_by_query_in_first_seen_order() -> None:
    relevance, scores = metrics.by_query(["q2", "q1", "q2", "q1"], [1, 0, 0, 2], [0.9, 0.8, 0.7, 0.6])
    assert [r.tolist() for r in relevance] == [[1, 0], [0, 2]]
    assert [s.tolist() for s in scores] == [[0.9, 0.7], [0.8, 0.6]]


def test_a_query_without_relevant_candidates_scores_zero_and_counts_in_the_mean() -> None:
    relevance = [[1, 0], [0, 0]]
    scores = [[0.9, 0.1], [0.9, 0.1]]
    for name in metrics.RANKING_METRICS:
        assert metrics.ranking_per_query(relevance, scores, k=1)[name].tolist() == [1.0, 0.0]
    assert metrics.ndcg_at_k(relevance, scores, k=1) == sk.ndcg_score(relevance, scores, k=1) == 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.precision([1, 0, 1], [1, 0]), "y_true and y_pred: lengths differ: y_true has 3"),
        (lambda: metrics.accuracy([0, 1, 2], [0, 1, 1]), "have 3 labels .* at most two"),
        (lambda: metrics.accuracy([], []), "y_true: is empty"),
        (lambda: metrics.roc_auc([0, 1, 1], [0.1, float("nan"), 0.3]), "y_score: has NaN at position 1"),
        (
            lambda: metrics.recall(["a", "b"], ["a", "a"], positive="c"),
            "positive: 'c' is not one of the labels",
        ),
        (lambda: metrics.accuracy([0.0, float("nan")], [0, 1]), "y_true: has NaN"),
        (lambda: metrics.roc_auc([1, 1, 1], [0.1, 0.2, 0.3]), "y_true: has one class only"),
        (lambda: metrics.expected_calibration_error([0, 1], [0.5, 1.5]), r"y_score: is outside \[0, 1\]"),
        (lambda: metrics.accuracy([[0, 1]], [[0, 1]]), "y_true: must be one value per record"),
        (lambda: metrics.ndcg_at_k([[1, 0]], [[0.5]]), r"relevance\[0\] and scores\[0\]: lengths differ"),
        (lambda: metrics.ndcg_at_k([[1, -1]], [[0.5, 0.2]]), r"relevance\[0\]: has a negative relevance"),
        (lambda: metrics.ndcg_at_k([[1]], [[0.5]], k=0), "k: must be a whole number of 1 or more"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_one_label_only_is_all_negative_when_it_is_not_the_positive_one() -> None:
    assert metrics.recall([0, 0], [0, 0]) == sk.recall_score([0, 0], [0, 0]) == 0.0
    assert metrics.confusion_matrix([0, 0], [0, 0]).to_dict()["negative"] == 0
