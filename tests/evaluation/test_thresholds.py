"""ROI-derived precision and recall: worked by hand, the laws they obey, and error budgets in words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.evaluation.thresholds import error_budget_fraction, quality_targets

# A machine shared with other test workers can stall any example past hypothesis's deadline.
NO_DEADLINE = settings(deadline=None)

shares = st.floats(0, 1)
costs = st.floats(0.01, 1e4)
error_costs = st.floats(0, 1e5)


def test_a_wrong_answer_costing_a_transaction_needs_65_percent_precision_to_remove_30_percent() -> None:
    targets = quality_targets(10_000, 5.0, 0.3)
    assert targets.minimum_precision == pytest.approx(0.65)  # (0.3·5 + 5) / (5 + 5)
    assert targets.minimum_recall == pytest.approx(0.3)
    assert targets.target_precision == pytest.approx(0.825)
    assert targets.target_recall == pytest.approx(0.6 / 1.3)
    assert targets.monthly_saving_target == pytest.approx(15_000)
    assert targets.recall_needed(0.9) == pytest.approx(0.3 / 0.8)  # 0.3·5 / (0.9·5 − 0.1·5)
    assert targets.explanation.startswith("To remove 30 % of the cost (15,000.00 a month)")
    assert "at least 65 %" in targets.explanation


def test_below_the_minimum_precision_no_recall_is_enough() -> None:
    targets = quality_targets(1_000, 10.0, 0.5, error_cost=30.0)
    assert targets.recall_needed(targets.minimum_precision - 0.01) is None
    assert not targets.met_by(targets.minimum_precision - 0.01, 1.0)
    assert targets.recall_needed(targets.minimum_precision) == pytest.approx(1.0)


def test_an_error_budget_sets_its_own_floor_on_precision() -> None:
    targets = quality_targets(1_000, 10.0, 0.1, error_budget=0.02)
    assert targets.minimum_precision == pytest.approx(0.98)
    assert targets.recall_needed(0.97) is None
    assert "the error budget allows 2 % wrong" in targets.explanation


@NO_DEADLINE
@given(shares, shares, costs, error_costs)
def test_thresholds_rise_with_the_improvement(r1: float, r2: float, c: float, e: float) -> None:
    low, high = sorted((r1, r2))
    a, b = quality_targets(100, c, low, error_cost=e), quality_targets(100, c, high, error_cost=e)
    for name in ("minimum_precision", "minimum_recall", "target_precision", "target_recall"):
        assert getattr(a, name) <= getattr(b, name) + 1e-12, name


@NO_DEADLINE
@given(shares, costs, error_costs, error_costs)
def test_thresholds_do_not_fall_as_errors_cost_more(r: float, c: float, e1: float, e2: float) -> None:
    cheap, dear = sorted((e1, e2))
    a, b = quality_targets(100, c, r, error_cost=cheap), quality_targets(100, c, r, error_cost=dear)
    for name in ("minimum_precision", "minimum_recall", "target_precision", "target_recall"):
        assert getattr(a, name) <= getattr(b, name) + 1e-12, name


@NO_DEADLINE
@given(shares, costs, error_costs, st.one_of(st.none(), shares))
def test_thresholds_are_shares_and_the_target_pair_reaches_the_improvement(
    r: float, c: float, e: float, budget: float | None
) -> None:
    targets = quality_targets(100, c, r, error_cost=e, error_budget=budget)
    for name in ("minimum_precision", "minimum_recall", "target_precision", "target_recall"):
        assert 0 <= getattr(targets, name) <= 1, name
    assert targets.minimum_precision <= targets.target_precision
    assert targets.minimum_recall <= targets.target_recall
    assert targets.met_by(targets.target_precision, targets.target_recall)


@NO_DEADLINE
@given(shares, costs, error_costs, shares)
def test_an_error_budget_only_tightens(r: float, c: float, e: float, budget: float) -> None:
    free = quality_targets(100, c, r, error_cost=e)
    bound = quality_targets(100, c, r, error_cost=e, error_budget=budget)
    assert bound.minimum_precision >= free.minimum_precision
    assert bound.target_precision >= free.target_precision
    assert bound.minimum_recall == free.minimum_recall and bound.target_recall == free.target_recall
    assert bound.minimum_precision >= 1 - budget


@NO_DEADLINE
@given(shares, costs, error_costs, shares, shares)
def test_more_precision_never_needs_more_recall(r: float, c: float, e: float, p1: float, p2: float) -> None:
    targets = quality_targets(100, c, r, error_cost=e)
    low, high = sorted((p1, p2))
    needed_low, needed_high = targets.recall_needed(low), targets.recall_needed(high)
    if needed_low is not None:
        assert needed_high is not None and needed_high <= needed_low + 1e-12


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("at most 2% wrong", 0.02),
        ("0.5 %", 0.005),
        ("1 in 100", 0.01),
        ("no more than 1 out of 1,000 answers may be wrong", 0.001),
        ("3 per mille", 0.003),
        ("0,5 % errors", 0.005),
        ("98% accurate", 0.02),
        ("precision of at least 99.5 percent", 0.005),
        ("no errors allowed", 0.0),
        ("2", None),
        ("between 1% and 2% wrong", None),
        ("as few mistakes as possible", None),
        ("150 %", None),
        ("", None),
        (None, None),
    ],
)
def test_error_budgets_are_read_from_plain_words(text: str | None, fraction: float | None) -> None:
    assert error_budget_fraction(text) == (None if fraction is None else pytest.approx(fraction))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"improvement_rate": 1.5}, "improvement_rate must be at least 0 and at most 1"),
        ({"cost_per_transaction": 0.0}, "cost_per_transaction must be above 0"),
        ({"error_cost": -1.0}, "error_cost must be at least 0"),
        ({"error_budget": float("nan")}, "error_budget must be a number"),
    ],
)
def test_bad_inputs_raise_a_value_error_naming_them(arguments: dict[str, float], message: str) -> None:
    values = {"volume_per_month": 100.0, "cost_per_transaction": 5.0, "improvement_rate": 0.3} | arguments
    with pytest.raises(ValueError, match=message):
        quality_targets(**values)  # type: ignore[arg-type]
