"""ROI: the worked example, the edge cases, and the shape of payback as inputs move."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.portfolio.roi import INPUTS, missing_inputs, payback_sensitivity, roi
from phasegate.portfolio.schemas import RoiInputs

INVOICE = RoiInputs(
    volume_per_month=42000,
    cost_per_transaction_now=4.10,
    improvement_rate=0.70,
    run_cost_per_month=7600,
    one_off_cost=180000,
)


def months(payback: float | None) -> float:
    """Payback as a number to compare, never paying back being the longest wait of all."""
    return math.inf if payback is None else payback


def test_invoice_example_pays_back_in_about_one_and_a_half_months() -> None:
    result = roi(INVOICE)
    assert result is not None
    # 42,000 invoices * 4.10 USD * 0.70 removed = 120,540 USD a month
    assert result.monthly_value == pytest.approx(120_540)
    # 120,540 - 7,600 run cost = 112,940 USD a month, 1,355,280 a year
    assert result.net_monthly_value == pytest.approx(112_940)
    assert result.annual_net_value == pytest.approx(1_355_280)
    # 180,000 / 112,940 ≈ 1.594 months
    assert result.payback_months == pytest.approx(1.5938, abs=1e-4)
    # (36 * 112,940 - 180,000) / 180,000 = 21.588
    assert result.three_year_roi == pytest.approx(21.588)
    assert result.assumptions == ()


def test_use_case_whose_run_cost_exceeds_its_value_never_pays_back() -> None:
    result = roi(INVOICE.model_copy(update={"run_cost_per_month": 130_000}))
    assert result is not None
    assert result.net_monthly_value == pytest.approx(-9_460)
    assert result.payback_months is None
    assert result.three_year_roi is not None and result.three_year_roi < -1


def test_use_case_that_exactly_breaks_even_never_pays_back() -> None:
    result = roi(
        RoiInputs(
            volume_per_month=100,
            cost_per_transaction_now=2,
            improvement_rate=0.5,
            run_cost_per_month=100,
            one_off_cost=1000,
        )
    )
    assert result is not None and result.payback_months is None


@pytest.mark.parametrize("absent", ["volume_per_month", "cost_per_transaction_now", "improvement_rate"])
def test_roi_is_unknown_without_volume_cost_or_improvement(absent: str) -> None:
    inputs = INVOICE.model_copy(update={absent: None})
    assert roi(inputs) is None
    assert missing_inputs(inputs) == [absent]
    assert payback_sensitivity(inputs) == []


def test_missing_inputs_lists_only_what_roi_cannot_do_without() -> None:
    assert missing_inputs(RoiInputs()) == ["volume_per_month", "cost_per_transaction_now", "improvement_rate"]
    assert missing_inputs(RoiInputs(volume_per_month=1, cost_per_transaction_now=1, improvement_rate=1)) == []


def test_missing_run_and_one_off_costs_count_as_zero_and_say_so() -> None:
    result = roi(INVOICE.model_copy(update={"run_cost_per_month": None, "one_off_cost": None}))
    assert result is not None
    assert result.monthly_run_cost == 0
    assert result.one_off_cost == 0
    assert result.payback_months == 0
    assert result.three_year_roi is None  # a ratio to a zero outlay means nothing
    assert result.assumptions == (
        "run cost per month not given; counted as 0",
        "one-off cost not given; counted as 0",
    )


def test_sensitivity_swings_each_input_by_a_fifth_with_the_others_fixed() -> None:
    rows = {row.input: row for row in payback_sensitivity(INVOICE)}
    assert set(rows) == set(INPUTS)
    assert rows["one_off_cost"].low_payback == pytest.approx(144_000 / 112_940)
    assert rows["one_off_cost"].high_payback == pytest.approx(216_000 / 112_940)
    assert rows["run_cost_per_month"].low_payback == pytest.approx(180_000 / (120_540 - 6_080))
    assert rows["volume_per_month"].low_payback == pytest.approx(180_000 / (120_540 * 0.8 - 7_600))


def test_sensitivity_is_in_tornado_order_with_equal_swings_in_input_order() -> None:
    order = [row.input for row in payback_sensitivity(INVOICE)]
    # volume, cost and improvement enter as one product, so they swing payback equally
    assert order == [
        "volume_per_month",
        "cost_per_transaction_now",
        "improvement_rate",
        "one_off_cost",
        "run_cost_per_month",
    ]


def test_sensitivity_caps_the_improvement_rate_at_all_of_the_cost() -> None:
    inputs = INVOICE.model_copy(update={"improvement_rate": 0.9})
    row = next(r for r in payback_sensitivity(inputs) if r.input == "improvement_rate")
    assert row.high_payback == pytest.approx(180_000 / (42_000 * 4.10 * 1.0 - 7_600))


def test_an_input_that_can_stop_payback_leads_the_tornado() -> None:
    # at 0.8 * volume the value (8,000) no longer covers the run cost (9,000)
    inputs = RoiInputs(
        volume_per_month=10_000,
        cost_per_transaction_now=1,
        improvement_rate=1,
        run_cost_per_month=9_000,
        one_off_cost=10_000,
    )
    first = payback_sensitivity(inputs)[0]
    assert first.input == "volume_per_month"
    assert first.low_payback is None
    assert first.width == math.inf


volumes = st.floats(min_value=0, max_value=1e6, allow_nan=False)
costs = st.floats(min_value=0, max_value=1e3, allow_nan=False)
rates = st.floats(min_value=0, max_value=1, allow_nan=False)
money = st.floats(min_value=0, max_value=1e7, allow_nan=False)
complete_inputs = st.builds(
    RoiInputs,
    volume_per_month=volumes,
    cost_per_transaction_now=costs,
    improvement_rate=rates,
    run_cost_per_month=money,
    one_off_cost=money,
)


@given(inputs=complete_inputs, more=volumes)
def test_more_volume_never_lengthens_payback(inputs: RoiInputs, more: float) -> None:
    base = roi(inputs)
    bigger = roi(inputs.model_copy(update={"volume_per_month": (inputs.volume_per_month or 0) + more}))
    assert base is not None and bigger is not None
    assert months(bigger.payback_months) <= months(base.payback_months)


@given(inputs=complete_inputs, more=money)
def test_raising_run_cost_never_shortens_payback(inputs: RoiInputs, more: float) -> None:
    base = roi(inputs)
    dearer = roi(inputs.model_copy(update={"run_cost_per_month": (inputs.run_cost_per_month or 0) + more}))
    assert base is not None and dearer is not None
    assert months(dearer.payback_months) >= months(base.payback_months)


@given(inputs=complete_inputs)
def test_each_swing_brackets_the_base_payback(inputs: RoiInputs) -> None:
    base = roi(inputs)
    assert base is not None
    for row in payback_sensitivity(inputs):
        ends = sorted([months(row.low_payback), months(row.high_payback)])
        assert ends[0] <= months(base.payback_months) <= ends[1], row.input


@given(inputs=complete_inputs)
def test_cheaper_costs_never_lengthen_payback_and_dearer_never_shorten_it(inputs: RoiInputs) -> None:
    result = roi(inputs)
    assert result is not None
    base = months(result.payback_months)
    for row in payback_sensitivity(inputs):
        if row.input in ("run_cost_per_month", "one_off_cost"):
            assert months(row.low_payback) <= base <= months(row.high_payback)
