"""Return on investment of a use case: monthly value, payback and its sensitivity to each input.

monthly value     = volume per month * cost per transaction now * improvement rate
net monthly value = monthly value - run cost per month
payback (months)  = one-off cost / net monthly value; never when net monthly value <= 0
three-year ROI    = (36 * net monthly value - one-off cost) / one-off cost
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from phasegate.portfolio.schemas import RoiInputs

# Without these three there is no value to speak of; run cost and one-off cost default to 0.
REQUIRED = ("volume_per_month", "cost_per_transaction_now", "improvement_rate")
INPUTS = (*REQUIRED, "run_cost_per_month", "one_off_cost")


@dataclass(frozen=True)
class Roi:
    """What a use case returns, and what was assumed to say so."""

    monthly_value: float
    monthly_run_cost: float
    net_monthly_value: float
    annual_net_value: float
    one_off_cost: float
    payback_months: float | None
    three_year_roi: float | None
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sensitivity:
    """Payback when one input is scaled down (low) and up (high) by the swing, the others fixed."""

    input: str
    low_payback: float | None
    high_payback: float | None

    @property
    def width(self) -> float:
        """How far payback moves; never paying back counts as infinitely far."""
        if self.low_payback is None and self.high_payback is None:
            return 0.0  # it never pays back either way: this input does not move the answer
        if self.low_payback is None or self.high_payback is None:
            return math.inf
        return abs(self.high_payback - self.low_payback)


def missing_inputs(inputs: RoiInputs) -> list[str]:
    """The inputs ROI cannot be computed without, in the order a form asks for them."""
    return [name for name in REQUIRED if getattr(inputs, name) is None]


def roi(inputs: RoiInputs) -> Roi | None:
    """The ROI of the inputs, or None when volume, cost now or improvement rate is missing."""
    if (
        inputs.volume_per_month is None
        or inputs.cost_per_transaction_now is None
        or inputs.improvement_rate is None
    ):
        return None
    assumptions: list[str] = []
    run_cost = inputs.run_cost_per_month
    if run_cost is None:
        run_cost = 0.0
        assumptions.append("run cost per month not given; counted as 0")
    one_off = inputs.one_off_cost
    if one_off is None:
        one_off = 0.0
        assumptions.append("one-off cost not given; counted as 0")
    # Money is kept to the cent, so a decision-maker never reads 112939.99999999997.
    gross = inputs.volume_per_month * inputs.cost_per_transaction_now * inputs.improvement_rate
    monthly_value = round(gross, 2)
    net = round(monthly_value - run_cost, 2)
    return Roi(
        monthly_value=monthly_value,
        monthly_run_cost=run_cost,
        net_monthly_value=net,
        annual_net_value=round(12 * net, 2),
        one_off_cost=one_off,
        payback_months=one_off / net if net > 0 else None,
        three_year_roi=(36 * net - one_off) / one_off if one_off > 0 else None,
        assumptions=tuple(assumptions),
    )


def payback_sensitivity(inputs: RoiInputs, swing: float = 0.2) -> list[Sensitivity]:
    """Payback with each input scaled by 1 - swing and 1 + swing, widest swing first (a tornado).

    Empty when the ROI cannot be computed. The improvement rate is capped at 1: a use case
    cannot remove more than all of the cost. Equal widths keep the order of ``INPUTS``.
    """
    if roi(inputs) is None:
        return []
    rows = [
        Sensitivity(name, _payback_scaled(inputs, name, 1 - swing), _payback_scaled(inputs, name, 1 + swing))
        for name in INPUTS
    ]
    # Volume, cost and improvement enter as one product, so their widths are equal but for rounding;
    # rounding the key to 12 significant digits keeps such ties in INPUTS order, not last-bit order.
    return sorted(rows, key=lambda row: -float(f"{row.width:.12g}"))


def _payback_scaled(inputs: RoiInputs, name: str, factor: float) -> float | None:
    value = getattr(inputs, name)
    if value is None:
        return _payback(inputs)
    scaled = value * factor
    if name == "improvement_rate":
        scaled = min(scaled, 1.0)
    # model_copy skips validation, so the capped rate is the only bound that needs enforcing here.
    return _payback(inputs.model_copy(update={name: scaled}))


def _payback(inputs: RoiInputs) -> float | None:
    result = roi(inputs)
    return result.payback_months if result else None
