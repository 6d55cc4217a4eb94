"""The precision and recall a model needs for its business case to hold.

The model handles a share h of the transactions (its recall, taking every transaction as one it
could handle) and is right on a share p of those it handles (its precision). A right answer
saves the transaction's cost c; a wrong one saves nothing and costs the error cost e on top (by
default e = c: the wrong answer has to be found and the work redone). The business case counts
on removing a share r of today's cost, r·V·c a month for V transactions. So

  saving per handled transaction   s(p) = p·c − (1 − p)·e
  the case holds when              h · s(p) ≥ r·c,  that is  h ≥ r·c / s(p)

Two necessary conditions follow, and one pair that is sufficient:
  minimum precision  p_min = (r·c + e) / (c + e): even handling everything (h = 1) needs
                     s(p) ≥ r·c; with an error budget b (the share of wrong answers allowed)
                     also p ≥ 1 − b
  minimum recall     h_min = r: even a model that is never wrong saves at most c per
                     transaction it handles
  target pair        p* = max((1 + p₀) / 2, 1 − b), halfway from the break-even precision
                     p₀ = (r·c + e) / (c + e) to 1, and h* = 2r / (1 + r), the recall that pays
                     at that halfway point, where s = (1 + r)·c / 2. A model at or above both
                     reaches the improvement.
Each is within [0, 1], rises with r and does not fall with e; an error budget only raises the
precisions. ``recall_needed(p)`` gives the exact trade-off for a measured precision.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Within this counts as reaching a bound: p·(c + e) − e loses digits when e is far above c.
ROUNDING = 1e-9


@dataclass(frozen=True)
class QualityTargets:
    """The precision and recall the business case needs, with the numbers they come from."""

    minimum_precision: float
    minimum_recall: float
    target_precision: float
    target_recall: float
    monthly_saving_target: float
    cost_per_transaction: float
    error_cost: float
    improvement_rate: float
    error_budget: float | None
    explanation: str

    def recall_needed(self, precision: float) -> float | None:
        """The least recall that reaches the improvement at this precision; None when none can."""
        c, e = self.cost_per_transaction, self.error_cost
        if self.error_budget is not None and precision < 1 - self.error_budget - ROUNDING:
            return None
        saving = precision * c - (1 - precision) * e
        needed = self.improvement_rate * c
        if saving < needed - ROUNDING * (c + e) or (needed > 0 and saving <= 0):
            return None
        return min(1.0, needed / saving) if needed > 0 else 0.0

    def met_by(self, precision: float, recall: float) -> bool:
        """Whether a model with this precision and recall reaches the improvement."""
        needed = self.recall_needed(precision)
        return needed is not None and recall >= needed - ROUNDING

    def to_dict(self) -> dict[str, float | str | None]:
        """JSON-safe: the four thresholds, the monthly target, the inputs and the explanation."""
        return {
            "minimum_precision": self.minimum_precision,
            "minimum_recall": self.minimum_recall,
            "target_precision": self.target_precision,
            "target_recall": self.target_recall,
            "monthly_saving_target": self.monthly_saving_target,
            "cost_per_transaction": self.cost_per_transaction,
            "error_cost": self.error_cost,
            "improvement_rate": self.improvement_rate,
            "error_budget": self.error_budget,
            "explanation": self.explanation,
        }


def quality_targets(
    volume_per_month: float,
    cost_per_transaction: float,
    improvement_rate: float,
    *,
    error_cost: float | None = None,
    error_budget: float | None = None,
) -> QualityTargets:
    """The precision and recall the business case needs; the module docstring gives the formulas."""
    _check("volume_per_month", volume_per_month, low=0.0)
    _check("cost_per_transaction", cost_per_transaction, low=0.0, open_low=True)
    _check("improvement_rate", improvement_rate, low=0.0, high=1.0)
    c, r = float(cost_per_transaction), float(improvement_rate)
    e = c if error_cost is None else float(error_cost)
    _check("error_cost", e, low=0.0)
    if error_budget is not None:
        _check("error_budget", error_budget, low=0.0, high=1.0)
    floor = 0.0 if error_budget is None else 1 - error_budget
    break_even = (r * c + e) / (c + e)
    minimum_precision = max(break_even, floor)
    target_precision = max((1 + break_even) / 2, floor)
    target_recall = 2 * r / (1 + r)
    monthly = r * float(volume_per_month) * c
    explanation = (
        f"To remove {_percent(r)} of the cost ({monthly:,.2f} a month), the model must be right on "
        f"at least {_percent(minimum_precision)} of what it handles"
        + (f" (the error budget allows {_percent(error_budget)} wrong)" if error_budget is not None else "")
        + f" and handle at least {_percent(r)} of the transactions, since a right answer saves "
        f"{c:,.2f} and a wrong one costs {e:,.2f}; at {_percent(target_precision)} precision, "
        f"{_percent(target_recall)} recall is enough."
    )
    return QualityTargets(
        minimum_precision=minimum_precision,
        minimum_recall=r,
        target_precision=target_precision,
        target_recall=target_recall,
        monthly_saving_target=monthly,
        cost_per_transaction=c,
        error_cost=e,
        improvement_rate=r,
        error_budget=error_budget,
        explanation=explanation,
    )


def _check(name: str, value: float, *, low: float, high: float = math.inf, open_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < low or (open_low and value == low) or value > high:
        bounds = f"{'above' if open_low else 'at least'} {low:g}" + (
            f" and at most {high:g}" if high < math.inf else ""
        )
        raise ValueError(f"{name} must be {bounds}, got {value!r}")


def _percent(share: float) -> str:
    """A share as a percentage with one decimal, or as many more as keep 99.9996 % from reading 100 %."""
    for decimals in range(1, 7):
        text = f"{share * 100:.{decimals}f}"
        if share in (0.0, 1.0) or float(text) not in (0.0, 100.0):
            break
    return text.rstrip("0").rstrip(".") + " %"


# --- reading an error budget from text ----------------------------------------------------------

# "1,000" is a thousand; "0,5" is a half, written with a decimal comma.
_NUMBER = r"([1-9]\d{0,2}(?:,\d{3})+|\d+(?:[.,]\d+)?|\.\d+)"
_PERCENT = re.compile(_NUMBER + r"\s*(%|percent\b|per\s?cent\b|pct\b)", re.IGNORECASE)
_PER_MILLE = re.compile(_NUMBER + r"\s*(‰|per\s?mille\b|per\s?mil\b)", re.IGNORECASE)
_ONE_IN = re.compile(_NUMBER + r"\s*(?:in|out\s+of|per|of\s+every)\s+" + _NUMBER, re.IGNORECASE)
_NONE_WRONG = re.compile(r"\b(no|zero|none)\s+(errors?|mistakes?|wrong)\b|\bnever\s+wrong\b", re.IGNORECASE)
# Words saying the number is the share right rather than the share wrong.
_RIGHT = re.compile(r"\b(right|correct|accura\w*|precis\w*)\b", re.IGNORECASE)
_WRONG = re.compile(r"\b(wrong|errors?|mistakes?|incorrect|inaccura\w*|false|misclassif\w*)\b", re.IGNORECASE)


def error_budget_fraction(text: str | None) -> float | None:
    """The share of wrong answers a text allows, as a fraction; None when it cannot tell.

    Reads "at most 2% wrong" (0.02), "0.5 %" (0.005), "1 in 100" or "1 out of 200" (0.01,
    0.005), "3 per mille" (0.003), "no errors" (0.0), and a share right such as "98% accurate"
    (0.02). A bare number ("2") or two different numbers are ambiguous and give None.
    """
    if not text or not text.strip():
        return None
    found: set[float] = set()
    rest = text
    for pattern, scale in ((_ONE_IN, 0.0), (_PERCENT, 100.0), (_PER_MILLE, 1000.0)):
        for match in pattern.finditer(rest):
            if scale:
                found.add(_number(match.group(1)) / scale)
            else:
                whole = _number(match.group(2))
                if whole == 0:
                    return None
                found.add(_number(match.group(1)) / whole)
        rest = pattern.sub(" ", rest)
    if not found:
        return 0.0 if _NONE_WRONG.search(text) else None
    if len(found) > 1:
        return None
    share = found.pop()
    if share > 1:
        return None
    if _RIGHT.search(text):
        return None if _WRONG.search(text) else round(1 - share, 12)
    return share


def _number(text: str) -> float:
    if re.fullmatch(r"[1-9]\d{0,2}(?:,\d{3})+", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))
