"""Fairness by segment: equal to fairlearn, small groups shown but not judged, gaps the gates read."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, precision_score, recall_score

from phasegate.evaluation.fairness import GROUP_METRICS, segment_report

pytestmark = pytest.mark.filterwarnings("ignore")


def population(
    n: int = 4000, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64], dict[str, NDArray[np.str_]]]:
    """Labels, predictions that favour one sex a little, and two sensitive attributes."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    race = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.4).astype(np.int64)
    p = (rng.random(n) < 0.3 + 0.3 * y + 0.05 * (sex == "male")).astype(np.int64)
    return y, p, {"sex": sex, "race": race}


def test_group_metrics_and_gaps_equal_fairlearn() -> None:
    y, p, segments = population()
    report = segment_report(y, p, segments)
    for attribute, groups in segments.items():
        frame = MetricFrame(
            metrics={
                "accuracy": accuracy_score,
                "precision": precision_score,
                "recall": recall_score,
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "error_rate": lambda t, q: 1 - accuracy_score(t, q),
            },
            y_true=y,
            y_pred=p,
            sensitive_features=groups,
        )
        result = report.attributes[attribute]
        for group, row in frame.by_group.iterrows():
            for name in GROUP_METRICS:
                assert result.groups[str(group)].metrics[name].value == pytest.approx(row[name], abs=1e-9)
        gaps = result.disparities
        features = {"sensitive_features": groups}
        assert gaps["demographic_parity"].difference.value == pytest.approx(
            demographic_parity_difference(y, p, **features), abs=1e-9
        )
        assert gaps["demographic_parity"].ratio.value == pytest.approx(
            demographic_parity_ratio(y, p, **features), abs=1e-9
        )
        assert gaps["equalized_odds"].difference.value == pytest.approx(
            equalized_odds_difference(y, p, **features), abs=1e-9
        )
        assert gaps["equalized_odds"].ratio.value == pytest.approx(
            equalized_odds_ratio(y, p, **features), abs=1e-9
        )
        assert gaps["true_positive_rate"].difference.value == pytest.approx(
            frame.difference()["true_positive_rate"], abs=1e-9
        )
        assert gaps["error_rate"].ratio.value == pytest.approx(frame.ratio()["error_rate"], abs=1e-9)


def test_max_disparity_is_the_largest_gap_over_attributes_and_measures() -> None:
    y, p, segments = population()
    report = segment_report(y, p, segments)
    gaps = {
        (a, m): d.difference.value for a, r in report.attributes.items() for m, d in r.disparities.items()
    }
    assert report.max_disparity == max(gaps.values())
    assert report.max_disparity_at is not None and gaps[report.max_disparity_at] == report.max_disparity
    data = json.loads(json.dumps(report.to_dict()))
    assert data["max_disparity"] == report.max_disparity
    assert data["attributes"]["sex"]["disparities"]["demographic_parity"]["difference"]["ci_low"] >= 0


def test_every_estimate_has_an_interval_around_its_value() -> None:
    y, p, segments = population()
    for result in segment_report(y, p, segments).attributes.values():
        estimates = [e for g in result.groups.values() for e in g.metrics.values()]
        estimates += [e for d in result.disparities.values() for e in (d.difference, d.ratio)]
        for estimate in estimates:
            assert estimate.ci_low <= estimate.value <= estimate.ci_high


def test_a_small_group_is_shown_with_the_reason_but_left_out_of_the_gaps() -> None:
    y, p, segments = population()
    region = np.where(np.arange(y.size) < 12, "island", "mainland")
    report = segment_report(y, p, {"region": region, **segments})
    island = report.attributes["region"].groups["island"]
    assert island.too_small and island.n == 12
    assert island.reason == "12 records, fewer than the 30 needed to judge a group"
    assert island.metrics["accuracy"].n == 12
    assert report.attributes["region"].compared == ("mainland",)
    assert report.attributes["region"].disparities == {}
    assert "fewer than two groups" in (report.attributes["region"].note or "")


def test_a_group_with_too_few_positives_is_not_judged_on_its_rates() -> None:
    y = np.array([0] * 100 + [1] * 3 + [0] * 50 + [1] * 50)
    p = y.copy()
    group = np.array(["x"] * 103 + ["y"] * 100)
    report = segment_report(y, p, {"g": group})
    assert report.attributes["g"].groups["x"].reason is not None
    assert "3 positives, fewer than 5" in report.attributes["g"].groups["x"].reason
    assert report.max_disparity is None and report.to_dict()["max_disparity_at"] is None


def test_same_seed_same_report() -> None:
    y, p, segments = population(1000)
    assert segment_report(y, p, segments, seed=1) == segment_report(y, p, segments, seed=1)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ({"sex": ["f", "m"]}, "segments\\['sex'\\]: lengths differ"),
        ({}, "segments: names no attribute"),
    ],
)
def test_bad_segments_raise_a_value_error_naming_them(segments: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment_report([0, 1, 1], [0, 1, 0], segments)
