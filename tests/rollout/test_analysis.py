"""Step analysis: bounds worked by hand, pass, fail and inconclusive windows, and the ladder."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.rollout.analysis import (
    ArmWindow,
    Criterion,
    InvalidCriteria,
    InvalidLadder,
    InvalidWindow,
    analyse,
    judge,
    ladder_next,
    nearest_rank,
    next_step,
    parse_criteria,
    quantile_bounds,
    samples_for_a_bound,
    wilson_bounds,
)

# A machine shared with other test workers can stall any example past hypothesis's deadline.
NO_DEADLINE = settings(deadline=None)

ERRORS = Criterion("error_rate", "<=", 0.02)
LATENCY = Criterion("p95_latency_ms", "<=", 300)
AGREEMENT = Criterion("agreement", ">=", 0.9)
OVERRIDES = Criterion("override_rate", "<=", 0.1)


def latencies(n: int, slow_every: int = 0, fast: float = 100.0, slow: float = 900.0) -> list[float]:
    """n latencies, every slow_every-th of them slow."""
    return [slow if slow_every and i % slow_every == 0 else fast + i % 50 for i in range(n)]


# --- bounds -------------------------------------------------------------------------------------


def test_wilson_bounds_for_no_errors_in_100_requests() -> None:
    # With no events the upper bound is z² / (n + z²): 1.6449² / (100 + 1.6449²) = 2.634 %.
    low, high = wilson_bounds(0, 100)
    assert low == pytest.approx(0, abs=1e-12)
    assert high == pytest.approx(1.6448536**2 / (100 + 1.6448536**2), rel=1e-6)


def test_wilson_bounds_narrow_as_the_sample_grows() -> None:
    widths = [wilson_bounds(n // 20, n)[1] - wilson_bounds(n // 20, n)[0] for n in (100, 1000, 10_000)]
    assert widths[0] > widths[1] > widths[2]
    assert wilson_bounds(0, 0) == (0.0, 1.0)


@NO_DEADLINE
@given(st.integers(1, 80), st.sampled_from([0.5, 0.9, 0.95]), st.sampled_from([0.8, 0.95, 0.99]))
def test_quantile_bounds_are_the_order_statistics_the_exact_binomial_gives(
    n: int, q: float, c: float
) -> None:
    values = [float(v) for v in range(1, n + 1)]  # the j-th smallest is j
    p, level = Fraction(str(q)), Fraction(str(c))
    cdf = [sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)) for k in range(n + 1)]
    upper = next((j for j in range(1, n + 1) if cdf[j - 1] >= level), math.inf)
    lower = max((j for j in range(1, n + 1) if 1 - cdf[j - 1] >= level), default=-math.inf)
    assert quantile_bounds(values, q, c) == (lower, upper)


def test_the_p95_upper_bound_of_100_latencies_is_the_99th() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile_bounds(values) == (91.0, 99.0)
    assert nearest_rank(values) == 95.0
    assert quantile_bounds([1.0] * 58)[1] == math.inf  # fewer than 59 cannot bound a p95 from above


# --- one criterion ------------------------------------------------------------------------------


def test_a_candidate_clearly_within_every_limit_passes() -> None:
    candidate = ArmWindow(
        requests=2000, errors=10, latencies_ms=latencies(2000), reviewed=500, overridden=20, compared=2000,
        agreed=1960,
    )  # fmt: skip
    verdict = analyse([ERRORS, LATENCY, AGREEMENT, OVERRIDES], ArmWindow(), candidate)
    assert verdict.outcome == "pass", verdict.reason
    assert verdict.reason == "pass: all 4 criteria pass"
    errors = verdict.results[0]
    assert (errors.observed, errors.limit, errors.samples) == (0.005, 0.02, 2000)
    assert errors.high is not None and 0.005 < errors.high <= 0.02
    assert errors.reason.startswith("error_rate 0.50 % (upper bound")
    assert errors.reason.endswith("meets <= 2.00 %, n = 2,000")


def test_a_candidate_clearly_worse_fails_and_says_by_what() -> None:
    candidate = ArmWindow(requests=1000, errors=80, latencies_ms=latencies(1000))
    verdict = analyse([ERRORS, LATENCY], ArmWindow(), candidate)
    assert verdict.outcome == "fail"
    assert [r.outcome for r in verdict.results] == ["fail", "pass"]
    assert verdict.reason.startswith("fail: error_rate 8.00 % (lower bound 6.")
    assert "is clearly outside <= 2.00 %" in verdict.reason


def test_a_window_straddling_the_limit_is_inconclusive_and_holds() -> None:
    result = judge(ERRORS, ArmWindow(), ArmWindow(requests=1000, errors=20))
    assert result.outcome == "inconclusive"
    assert result.low is not None and result.high is not None and result.low < 0.02 < result.high
    assert "could be either side of <= 2.00 %" in result.reason


def test_too_few_samples_is_inconclusive_even_when_every_one_succeeded() -> None:
    result = judge(ERRORS, ArmWindow(), ArmWindow(requests=99, errors=0), min_samples=100)
    assert result.outcome == "inconclusive"
    assert result.reason == (
        "error_rate <= 0.02: too little data (the candidate has 99 requests; 100 needed in each arm it reads)"
    )
    assert result.observed == 0.0 and result.high is None


def test_too_few_samples_is_inconclusive_even_when_every_one_failed() -> None:
    assert judge(ERRORS, ArmWindow(), ArmWindow(requests=50, errors=50)).outcome == "inconclusive"


def test_a_candidate_with_no_samples_of_a_metric_is_inconclusive() -> None:
    result = judge(OVERRIDES, ArmWindow(), ArmWindow(requests=5000))
    assert (result.outcome, result.observed, result.samples) == ("inconclusive", None, 0)
    assert "the candidate has 0 reviewed outputs" in result.reason


def test_a_relative_criterion_needs_samples_in_the_control_too() -> None:
    relative = Criterion("error_rate", "<=", 0.005, relative_to_control=True)
    candidate = ArmWindow(requests=5000, errors=5)
    result = judge(relative, ArmWindow(requests=40, errors=0), candidate)
    assert result.outcome == "inconclusive"
    assert "the control has 40 requests" in result.reason
    assert result.control_samples == 40


def test_an_absolute_criterion_is_judged_with_no_control_traffic_at_the_last_step() -> None:
    assert judge(ERRORS, ArmWindow(), ArmWindow(requests=5000, errors=5)).outcome == "pass"


def test_a_candidate_slower_than_the_control_by_more_than_the_margin_fails() -> None:
    slower = Criterion("p95_latency_ms", "<=", 50, relative_to_control=True)
    control = ArmWindow(latencies_ms=latencies(2000))
    result = judge(slower, control, ArmWindow(latencies_ms=[v + 200 for v in latencies(2000)]))
    assert result.outcome == "fail"
    assert result.control_observed == pytest.approx(nearest_rank(latencies(2000)))
    assert result.limit == pytest.approx(nearest_rank(latencies(2000)) + 50)
    assert "(control 147.0 ms + margin)" in result.reason


def test_a_candidate_as_fast_as_the_control_passes_a_relative_latency_criterion() -> None:
    slower = Criterion("p95_latency_ms", "<=", 50, relative_to_control=True)
    window = ArmWindow(latencies_ms=latencies(2000))
    assert judge(slower, window, window).outcome == "pass"


def test_relative_error_rates_compare_the_difference_not_the_point_values() -> None:
    relative = Criterion("error_rate", "<=", 0.0, relative_to_control=True)
    control = ArmWindow(requests=3000, errors=30)
    # The same rate is no evidence of being worse, nor of being no worse, than the control.
    assert judge(relative, control, ArmWindow(requests=3000, errors=30)).outcome == "inconclusive"
    assert judge(relative, control, ArmWindow(requests=3000, errors=120)).outcome == "fail"


def test_agreement_with_the_primary_below_the_limit_fails() -> None:
    result = judge(AGREEMENT, ArmWindow(), ArmWindow(compared=1000, agreed=700))
    assert result.outcome == "fail"
    assert result.reason.startswith("agreement 70.00 % (upper bound")


@pytest.mark.parametrize(("op", "outcome"), [("<=", "pass"), ("<", "fail"), (">=", "pass"), (">", "fail")])
def test_a_bound_on_the_limit_meets_an_inclusive_criterion_and_fails_a_strict_one(
    op: str, outcome: str
) -> None:
    criterion = Criterion("p95_latency_ms", op, 300)  # type: ignore[arg-type]
    assert judge(criterion, ArmWindow(), ArmWindow(latencies_ms=[300.0] * 500)).outcome == outcome


def test_a_rate_cannot_be_shown_beyond_its_own_range() -> None:
    everything = ArmWindow(reviewed=1000, overridden=1000)
    assert wilson_bounds(1000, 1000)[1] == 1.0
    assert judge(Criterion("override_rate", "<", 1.0), ArmWindow(), everything).outcome == "inconclusive"
    assert judge(Criterion("override_rate", "<=", 1.0), ArmWindow(), everything).outcome == "pass"


# --- the step -----------------------------------------------------------------------------------


def test_any_failure_fails_the_step_even_beside_inconclusive_criteria() -> None:
    candidate = ArmWindow(requests=1000, errors=100)  # no latencies, reviews or comparisons
    verdict = analyse([LATENCY, ERRORS, AGREEMENT], ArmWindow(), candidate)
    assert verdict.outcome == "fail"
    assert [r.outcome for r in verdict.results] == ["inconclusive", "fail", "inconclusive"]


def test_one_inconclusive_criterion_holds_a_step_the_others_pass() -> None:
    candidate = ArmWindow(requests=1000, errors=0, latencies_ms=latencies(50))
    verdict = analyse([ERRORS, LATENCY], ArmWindow(), candidate)
    assert verdict.outcome == "inconclusive"
    assert verdict.reason.startswith("inconclusive: p95_latency_ms <= 300: too little data")


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_the_p95_bound_becomes_a_number_exactly_at_the_samples_it_is_said_to_need(confidence: float) -> None:
    needs = samples_for_a_bound("p95_latency_ms", confidence)
    values = [float(i) for i in range(needs)]
    assert quantile_bounds(values[:-1], confidence=confidence)[1] == math.inf
    assert quantile_bounds(values, confidence=confidence)[1] < math.inf
    assert samples_for_a_bound("error_rate", confidence) == 1


def test_a_latency_criterion_on_fewer_than_59_says_why_it_cannot_pass_yet_but_can_still_fail() -> None:
    def window(count: int, ms: float) -> ArmWindow:
        return ArmWindow(requests=count, latencies_ms=tuple([ms] * count))

    fast = judge(LATENCY, ArmWindow(), window(40, 100.0), min_samples=30)
    assert fast.outcome == "inconclusive"
    assert fast.reason.endswith("; its upper bound needs at least 59 latencies to be a number")
    slow = judge(LATENCY, ArmWindow(), window(40, 900.0), min_samples=30)
    assert slow.outcome == "fail"  # a clearly slow candidate is rolled back without waiting for 59
    enough = judge(LATENCY, ArmWindow(), window(59, 100.0), min_samples=30)
    assert enough.outcome == "pass" and "needs at least" not in enough.reason


def test_no_criteria_is_no_evidence() -> None:
    verdict = analyse([], ArmWindow(), ArmWindow(requests=10_000))
    assert verdict.outcome == "inconclusive"


def test_a_verdict_is_json_ready_with_unbounded_sides_as_null() -> None:
    verdict = analyse([LATENCY], ArmWindow(), ArmWindow(latencies_ms=latencies(30)), min_samples=10)
    data = verdict.as_dict()
    assert data["results"][0]["high"] is None
    json.dumps(data, allow_nan=False)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"errors": 11}, "errors"), ({"requests": -1}, "requests"), ({"agreed": 1}, "agreed")],
)
def test_a_window_whose_counts_contradict_each_other_is_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidWindow) as raised:
        ArmWindow(**({"requests": 10} | changes))
    assert raised.value.field == field


@NO_DEADLINE
@given(
    metric=st.sampled_from(["error_rate", "override_rate", "agreement", "p95_latency_ms"]),
    size=st.integers(0, 400),
    bad=st.integers(0, 400),
    more=st.integers(1, 2000),
    threshold=st.sampled_from([0.01, 0.05, 0.2, 0.5, 0.9]),
)
def test_adding_samples_that_meet_the_criterion_never_turns_pass_into_fail(
    metric: str, size: int, bad: int, more: int, threshold: float
) -> None:
    bad = min(bad, size)
    if metric == "p95_latency_ms":
        criterion = Criterion("p95_latency_ms", "<=", 1000 * threshold)
        slow = [2000.0] * bad + [1000 * threshold * 0.5] * (size - bad)
        before = ArmWindow(latencies_ms=slow)
        after = ArmWindow(latencies_ms=slow + [1000 * threshold * 0.9] * more)
    elif metric == "agreement":
        criterion = Criterion("agreement", ">=", threshold)
        before = ArmWindow(compared=size, agreed=size - bad)
        after = ArmWindow(compared=size + more, agreed=size - bad + more)
    elif metric == "error_rate":
        criterion = Criterion("error_rate", "<=", threshold)
        before = ArmWindow(requests=size, errors=bad)
        after = ArmWindow(requests=size + more, errors=bad)
    else:
        criterion = Criterion("override_rate", "<=", threshold)
        before = ArmWindow(reviewed=size, overridden=bad)
        after = ArmWindow(reviewed=size + more, overridden=bad)
    was = judge(criterion, ArmWindow(), before, min_samples=30).outcome
    now = judge(criterion, ArmWindow(), after, min_samples=30).outcome
    if was == "pass":
        assert now == "pass"


# --- the ladder ---------------------------------------------------------------------------------


def test_the_ladder_climbs_one_step_at_a_time() -> None:
    assert [ladder_next(w) for w in (0, 5, 10, 25, 50, 100)] == [5, 25, 25, 50, 100, None]
    assert ladder_next(1, (1, 2, 10)) == 2


@pytest.mark.parametrize("ladder", [(), (5, 5, 25), (25, 5), (0, 50), (50, 150)])
def test_a_ladder_that_does_not_rise_to_at_most_100_is_refused(ladder: tuple[int, ...]) -> None:
    with pytest.raises(InvalidLadder):
        ladder_next(5, ladder)


def test_pass_advances_fail_rolls_back_at_once_and_inconclusive_holds() -> None:
    good = ArmWindow(requests=5000, errors=5)
    passed = analyse([ERRORS], ArmWindow(), good)
    assert (next_step(passed, 5).action, next_step(passed, 5).weight) == ("advance", 25)
    assert (next_step(passed, 100).action, next_step(passed, 100).weight) == ("promote", 100)
    failed = analyse([ERRORS], ArmWindow(), ArmWindow(requests=5000, errors=500))
    assert (next_step(failed, 50).action, next_step(failed, 50).weight) == ("rollback", 0)
    held = analyse([ERRORS], ArmWindow(), ArmWindow(requests=10))
    assert (next_step(held, 25).action, next_step(held, 25).weight) == ("hold", 25)
    assert next_step(passed, 0).weight == 5  # a shadow that passes starts the canary


# --- parsing ------------------------------------------------------------------------------------


def test_criteria_read_from_mappings_and_from_text() -> None:
    parsed = parse_criteria(
        [
            {"metric": "error_rate", "op": "<=", "threshold": 0.02},
            "p95_latency_ms <= control + 50",
            "override_rate < 0.1",
            "error_rate <= control - 0.001",
            "agreement >= 0.95",
        ]
    )
    assert parsed == [
        ERRORS,
        Criterion("p95_latency_ms", "<=", 50, relative_to_control=True),
        Criterion("override_rate", "<", 0.1),
        Criterion("error_rate", "<=", -0.001, relative_to_control=True),
        Criterion("agreement", ">=", 0.95),
    ]
    assert [c.describe() for c in parsed][:2] == ["error_rate <= 0.02", "p95_latency_ms <= control + 50"]


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"metric": "accuracy", "op": "<=", "threshold": 1}, "criteria[1].metric", "metric is 'accuracy'"),
        ({"metric": "error_rate", "op": "=", "threshold": 0.1}, "criteria[1].op", "op is '='"),
        ({"metric": "error_rate", "op": "<=", "threshold": 2}, "criteria[1].threshold", "0.02 for 2 %"),
        ({"metric": "error_rate", "op": "<=", "threshold": "low"}, "criteria[1].threshold", "finite number"),
        ({"metric": "agreement", "op": ">=", "threshold": 0, "relative_to_control": True},
         "criteria[1].metric", "cannot be relative to control"),
        ({"metric": "p95_latency_ms", "op": "<=", "threshold": -5},
         "criteria[1].threshold", "cannot be negative"),
        ({"metric": "error_rate", "op": "<=", "threshold": 0.1, "window": 60},
         "criteria[1].window", "unknown key"),
        ("error rate is low", "criteria[1]", "does not read as METRIC OP NUMBER"),
        ("error_rate <= lots", "criteria[1].threshold", "threshold is 'lots'"),
    ],
)  # fmt: skip
def test_bad_criteria_are_refused_naming_the_criterion_and_field(item: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidCriteria) as raised:
        parse_criteria(["error_rate <= 0.02", item])
    assert isinstance(raised.value, ValueError)
    assert [p.field for p in raised.value.problems] == [field]
    assert words in str(raised.value)


def test_criteria_must_be_a_list() -> None:
    with pytest.raises(InvalidCriteria, match="must be a list of criteria"):
        parse_criteria("error_rate <= 0.02")
    assert parse_criteria(None) == []
