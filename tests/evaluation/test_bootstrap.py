"""Bootstrap intervals: shaped for the gates, reproducible, honest against a plain index bootstrap."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn import metrics as sk

from phasegate.evaluation import metrics
from phasegate.evaluation.bootstrap import (
    SCORE_LEVELS,
    Estimate,
    classification_report,
    compare,
    ranking_report,
    regression_report,
)

pytestmark = pytest.mark.filterwarnings("ignore")


def sample(n: int, seed: int = 7, signal: float = 1.2) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Labels with a 30 % base rate and probability-like scores that separate them."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    return y, 1 / (1 + np.exp(-(rng.normal(size=n) + signal * y)))


def index_interval(
    n: int, statistic: Callable[[NDArray[np.intp]], float], resamples: int = 1000, seed: int = 99
) -> NDArray[np.float64]:
    """The 95 % percentile interval of a plain bootstrap that draws record indices."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(resamples)]
    return np.percentile(values, [2.5, 97.5])


def assert_agrees(found: Estimate, plain: NDArray[np.float64]) -> None:
    """Both ends within 15 % of the interval's width: two bootstraps of 1,000 resamples each put an
    end about 3 % of the width apart by chance alone, so this allows five times that."""
    tolerance = 0.15 * (plain[1] - plain[0])
    assert [found.ci_low, found.ci_high] == pytest.approx(plain.tolist(), abs=tolerance)


def test_report_is_json_with_the_paths_the_gates_read() -> None:
    y, s = sample(500)
    data = json.loads(json.dumps(classification_report(y, s >= 0.5, s).to_dict()))
    assert set(data["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ece"}
    assert set(data["metrics"]["precision"]) == {"value", "ci_low", "ci_high", "n"}
    assert data["metrics"]["precision"]["n"] == data["n"] == 500
    assert data["positives"] == int(y.sum())
    assert data["confusion_matrix"]["positive"] == 1
    assert (data["resamples"], data["confidence"], data["seed"], data["undefined"]) == (1000, 0.95, 0, {})


def test_point_values_equal_sklearn_and_lie_inside_their_intervals() -> None:
    y, s = sample(2000)
    report = classification_report(y, s >= 0.5, s)
    expected = {
        "accuracy": sk.accuracy_score(y, s >= 0.5),
        "precision": sk.precision_score(y, s >= 0.5),
        "recall": sk.recall_score(y, s >= 0.5),
        "f1": sk.f1_score(y, s >= 0.5),
        "roc_auc": sk.roc_auc_score(y, s),
        "pr_auc": sk.average_precision_score(y, s),
        "ece": metrics.expected_calibration_error(y, s),
    }
    for name, value in expected.items():
        found = report.metrics[name]
        assert found.value == pytest.approx(value, abs=1e-9), name
        assert found.ci_low <= found.value <= found.ci_high, name


def test_scores_and_a_threshold_stand_in_for_predicted_labels() -> None:
    y, s = sample(300)
    assert classification_report(y, None, s, threshold=0.6) == classification_report(
        y, s >= 0.6, s, threshold=0.6
    )


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    y, s = sample(1000)
    assert classification_report(y, None, s, seed=3) == classification_report(y, None, s, seed=3)
    assert classification_report(y, None, s, seed=3) != classification_report(y, None, s, seed=4)


def test_intervals_narrow_as_the_sample_grows() -> None:
    widths = []
    for n in (200, 2000, 20000):
        y, s = sample(n)
        report = classification_report(y, None, s)
        widths.append({name: e.ci_high - e.ci_low for name, e in report.metrics.items()})
    for name in widths[0]:
        assert widths[0][name] > widths[1][name] > widths[2][name], name


def test_count_metric_intervals_agree_with_an_index_bootstrap() -> None:
    y, s = sample(3000)
    predicted = s >= 0.5
    report = classification_report(y, predicted)
    # Our point functions stand in for sklearn's here: they are tested equal, and ten times faster.
    for name, score in (("precision", metrics.precision), ("f1", metrics.f1)):
        assert_agrees(report.metrics[name], index_interval(y.size, lambda i, f=score: f(y[i], predicted[i])))


def test_binned_score_intervals_agree_with_an_index_bootstrap() -> None:
    # More distinct scores than SCORE_LEVELS, so the resamples use quantile bins.
    y, s = sample(3 * SCORE_LEVELS)
    report = classification_report(y, None, s)
    for name, score in (
        ("roc_auc", metrics.roc_auc),
        ("pr_auc", metrics.pr_auc),
        ("ece", metrics.expected_calibration_error),
    ):
        assert_agrees(report.metrics[name], index_interval(y.size, lambda i, f=score: f(y[i], s[i])))


def test_a_metric_the_data_cannot_support_is_listed_as_undefined() -> None:
    report = classification_report([1, 1, 1, 1], [1, 0, 1, 1], [0.9, 0.2, 3.0, 0.7])
    assert set(report.undefined) == {"roc_auc", "ece"}
    assert "one class" in report.undefined["roc_auc"]
    assert "outside [0, 1]" in report.undefined["ece"]
    assert "roc_auc" not in report.to_dict()["metrics"]


def test_regression_report_equals_sklearn_and_agrees_with_an_index_bootstrap() -> None:
    rng = np.random.default_rng(5)
    actual = rng.lognormal(3, 0.5, 4000)
    predicted = actual + rng.normal(0, 5, actual.size)
    report = regression_report(actual, predicted)
    for name, score in (
        ("mae", sk.mean_absolute_error),
        ("rmse", sk.root_mean_squared_error),
        ("mape", sk.mean_absolute_percentage_error),
    ):
        found = report.metrics[name]
        assert found.value == pytest.approx(score(actual, predicted), rel=1e-9)
        assert_agrees(found, index_interval(actual.size, lambda i, f=score: f(actual[i], predicted[i])))
    assert report.to_dict()["n"] == 4000


def test_ranking_report_resamples_queries() -> None:
    rng = np.random.default_rng(2)
    relevance = [rng.integers(0, 3, 8) for _ in range(200)]
    scores = [g + rng.normal(0, 1, 8) for g in relevance]
    report = ranking_report(relevance, scores, k=5)
    assert report.n == 200 and report.k == 5
    for name in metrics.RANKING_METRICS:
        found = report.metrics[name]
        assert found.n == 200
        assert found.ci_low <= found.value <= found.ci_high
    assert report.metrics["ndcg_at_k"].value == pytest.approx(
        np.mean([sk.ndcg_score([g], [s], k=5) for g, s in zip(relevance, scores, strict=True)]), abs=1e-9
    )
    assert (
        json.loads(json.dumps(report.to_dict()))["queries_without_relevant"]
        == report.queries_without_relevant
    )


def test_a_real_improvement_is_detected_by_the_paired_comparison() -> None:
    y, s = sample(5000)
    rng = np.random.default_rng(1)
    baseline = np.where(rng.random(y.size) < 0.1, 1 - y, s >= 0.5)  # the model's errors plus 10 % more
    result = compare(y, s >= 0.5, baseline, metric="accuracy")
    assert result.model_better and result.difference.ci_low > 0
    assert result.share_model_better == 1.0
    assert result.difference.value == pytest.approx(
        sk.accuracy_score(y, s >= 0.5) - sk.accuracy_score(y, baseline), abs=1e-12
    )
    assert result.summary.startswith("The model beats the baseline by ")
    assert "on 5,000 records" in result.summary


def test_identical_predictions_never_claim_an_improvement() -> None:
    y, s = sample(1000)
    for metric in ("accuracy", "precision", "recall", "f1"):
        result = compare(y, s >= 0.5, s >= 0.5, metric=metric)  # type: ignore[arg-type]
        assert not result.model_better
        assert result.difference == Estimate(0.0, 0.0, 0.0, 1000)
        assert result.share_model_better == 0.0
        assert "does not clearly beat" in result.summary
    same = compare(y, metric="roc_auc", model_score=s, baseline_score=s)
    assert not same.model_better and same.difference.value == 0.0


def test_paired_auc_interval_agrees_with_an_index_bootstrap_of_the_difference() -> None:
    y, s = sample(4000)
    rng = np.random.default_rng(8)
    weaker = 1 / (1 + np.exp(-(np.log(s / (1 - s)) + rng.normal(0, 1, y.size))))
    result = compare(y, metric="roc_auc", model_score=s, baseline_score=weaker)
    plain = index_interval(y.size, lambda i: metrics.roc_auc(y[i], s[i]) - metrics.roc_auc(y[i], weaker[i]))
    assert_agrees(result.difference, plain)
    assert result.model.value == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert result.model_better


def test_regression_models_are_compared_on_errors_where_lower_is_better() -> None:
    rng = np.random.default_rng(4)
    actual = rng.lognormal(3, 0.5, 3000)
    model, baseline = actual + rng.normal(0, 4, actual.size), actual + rng.normal(0, 5, actual.size)
    for name, score in (
        ("mae", metrics.mean_absolute_error),
        ("rmse", metrics.root_mean_squared_error),
        ("mape", metrics.mean_absolute_percentage_error),
    ):
        result = compare(actual, model, baseline, metric=name)  # type: ignore[arg-type]
        assert not result.higher_is_better and result.model_better and result.difference.ci_high < 0
        assert result.difference.value == pytest.approx(
            score(actual, model) - score(actual, baseline), abs=1e-12
        )
        plain = index_interval(
            actual.size, lambda i, f=score: f(actual[i], model[i]) - f(actual[i], baseline[i])
        )
        assert_agrees(result.difference, plain)
        assert result.summary.startswith(f"The model beats the baseline, cutting {name.upper()} by ")
        reverse = compare(actual, baseline, model, metric=name)  # type: ignore[arg-type]
        assert not reverse.model_better and reverse.share_model_better == 0.0
        assert reverse.summary.startswith(f"The model trails the baseline, raising {name.upper()} by ")


def test_the_summary_says_points_with_the_interval_and_the_records() -> None:
    y = np.array([1, 0] * 500)
    model = y.copy()
    model[:100] = 1 - model[:100]
    baseline = y.copy()
    baseline[:160] = 1 - baseline[:160]
    result = compare(y, model, baseline, metric="accuracy")
    low, high = (f"{100 * v:.1f}" for v in (result.difference.ci_low, result.difference.ci_high))
    interval = f"(95 % interval {low} to {high})"
    assert (
        result.summary
        == f"The model beats the baseline by 6.0 points of accuracy {interval} on 1,000 records."
    )


def test_a_worse_model_is_said_to_trail() -> None:
    y, s = sample(3000)
    result = compare(y, metric="pr_auc", model_score=1 - s, baseline_score=s)
    assert not result.model_better
    assert result.summary.startswith("The model trails the baseline by ")
    assert json.loads(json.dumps(result.to_dict()))["model_better"] is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: classification_report([0, 1]), "y_pred: is missing"),
        (lambda: classification_report([0, 1], [0, 1], resamples=0), "resamples: must be a whole number"),
        (lambda: classification_report([0, 1], [0, 1], confidence=95), "confidence: must be between 0 and 1"),
        (lambda: classification_report([0, 1], None, [0.2]), "lengths differ"),
        (lambda: compare([0, 1], [0, 1], [1, 1], metric="auc"), "metric: 'auc' is not one to compare on"),  # type: ignore[arg-type]
        (lambda: compare([0, 1], metric="roc_auc", model_score=[0.1, 0.2]), "baseline_score: is needed"),
        (lambda: regression_report([1.0, float("inf")], [1.0, 2.0]), "y_true: has an infinite value"),
        (lambda: ranking_report([], []), "relevance: has no queries"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
