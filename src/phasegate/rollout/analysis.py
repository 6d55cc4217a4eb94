"""Step analysis for canary and shadow: over one window, is the candidate clearly good enough, or clearly not?

A criterion is decided on one-sided confidence bounds, never on the point estimate alone, so that noise
moves the rollout neither forward nor back. For an "at most" criterion (``<``, ``<=``; mirrored for
"at least"):

    pass          the upper bound is within the limit: the candidate is clearly good enough
    fail          the lower bound is beyond the limit: the candidate is clearly worse
    inconclusive  the bounds straddle the limit, or an arm the criterion reads has fewer than min_samples

At confidence 0.95 each of these one-sided calls is wrong at most 5 % of the time when the true value
sits on the limit. A step fails when any criterion fails (roll back at once), passes only when every
criterion passes (advance), and is otherwise inconclusive (hold the weight, look again next window).
Too little data is inconclusive, never a pass; with no criteria at all there is no evidence, so a step
is inconclusive too.

Bounds:
- rates (``error_rate`` = errors / requests, ``override_rate`` = overridden / reviewed, ``agreement`` =
  agreed / compared): the Wilson score interval (Wilson, 1927), which keeps its coverage near 0 where
  error rates live, unlike the Wald interval (Brown, Cai & DasGupta, Statistical Science, 2001).
- ``p95_latency_ms``: distribution-free order-statistic bounds (Conover, Practical Nonparametric
  Statistics, 3rd ed., 1999, §3.2): the j-th smallest of n latencies lies above the 95th percentile
  with probability P(Binomial(n, 0.95) <= j - 1). The point estimate is the nearest-rank percentile,
  a latency actually observed.
- relative to control (limit = the control's value + a margin, the threshold): MOVER (Zou & Donner,
  2008; Newcombe, 1998, for two proportions) combines each arm's bounds into bounds on candidate −
  control, reported on the candidate's scale so they compare with the limit directly.

Samples: a criterion needs min_samples in every arm it reads. An absolute criterion and ``agreement``
(already a comparison with the primary) read the candidate only; a relative one reads both arms. So the
last canary step, at weight 100 with no control traffic, is still judged on absolute criteria. The
default of 100 is the smallest round sample at which the one-sided 95 % bound on a p95 is an observed
latency short of the maximum (the 99th of 100).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist
from typing import Any, Literal, cast, get_args

import numpy as np
from numpy.typing import NDArray

from phasegate.errors import InvalidInput, Problem

Metric = Literal["error_rate", "p95_latency_ms", "override_rate", "agreement"]
Comparison = Literal["<", "<=", ">", ">="]
Outcome = Literal["pass", "fail", "inconclusive"]
StepAction = Literal["advance", "promote", "hold", "rollback"]

METRICS: tuple[Metric, ...] = get_args(Metric)
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
RATES: frozenset[str] = frozenset({"error_rate", "override_rate", "agreement"})
QUANTILE = 0.95
DEFAULT_MIN_SAMPLES = 100
DEFAULT_CONFIDENCE = 0.95
DEFAULT_LADDER = (5, 25, 50, 100)
TIE_SLACK = 1e-9
# What a criterion's sample is made of, for messages.
SAMPLE_NAMES: Mapping[str, str] = {
    "error_rate": "requests",
    "p95_latency_ms": "latencies",
    "override_rate": "reviewed outputs",
    "agreement": "compared outputs",
}


class InvalidCriteria(InvalidInput, ValueError):
    """Step criteria that cannot be applied; each problem names the criterion's index and field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("the step criteria are not valid", problems)


class InvalidWindow(InvalidInput, ValueError):
    """An arm's window whose counts contradict each other (more errors than requests, say)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__("the analysis window is not valid", [Problem(problem, field=field)])


class InvalidLadder(InvalidInput, ValueError):
    """Canary steps that do not rise from above 0 to at most 100."""

    def __init__(self, ladder: Sequence[float]) -> None:
        super().__init__(
            "the canary ladder is not valid",
            [Problem(f"{list(ladder)} must be rising weights above 0 and at most 100", field="ladder")],
        )


@dataclass(frozen=True)
class Criterion:
    """A metric of the candidate held to a limit: a threshold, or the control's value plus a margin."""

    metric: Metric
    op: Comparison
    threshold: float  # the limit, or the margin over the control's value when relative_to_control
    relative_to_control: bool = False

    @property
    def at_most(self) -> bool:
        """Whether lower is better: the metric must stay below the limit."""
        return self.op in ("<", "<=")

    def describe(self) -> str:
        """The criterion as written: ``error_rate <= 0.02``, ``p95_latency_ms <= control + 50``."""
        if not self.relative_to_control:
            return f"{self.metric} {self.op} {self.threshold:g}"
        sign = "-" if self.threshold < 0 else "+"
        return f"{self.metric} {self.op} control {sign} {abs(self.threshold):g}"


@dataclass(frozen=True)
class ArmWindow:
    """What one arm (control = primary, or candidate) did over a window."""

    requests: int = 0
    errors: int = 0
    latencies_ms: Sequence[float] = ()
    reviewed: int = 0
    overridden: int = 0
    compared: int = 0  # candidate outputs compared with the primary's (shadow, or both arms answering)
    agreed: int = 0

    def __post_init__(self) -> None:
        for name in ("requests", "errors", "reviewed", "overridden", "compared", "agreed"):
            if getattr(self, name) < 0:
                raise InvalidWindow(name, f"is {getattr(self, name)}; a count cannot be negative")
        for part, whole in (("errors", "requests"), ("overridden", "reviewed"), ("agreed", "compared")):
            if getattr(self, part) > getattr(self, whole):
                raise InvalidWindow(
                    part, f"{getattr(self, part)} is more than the {getattr(self, whole)} {whole}"
                )

    def samples(self, metric: Metric) -> int:
        """How many observations the metric rests on in this arm."""
        if metric == "error_rate":
            return self.requests
        if metric == "p95_latency_ms":
            return len(self.latencies_ms)
        if metric == "override_rate":
            return self.reviewed
        return self.compared


@dataclass(frozen=True)
class Estimate:
    """A metric's point value and its one-sided lower and upper bounds (each at the confidence level)."""

    value: float
    low: float
    high: float
    samples: int


@dataclass(frozen=True)
class CriterionResult:
    """One criterion over one window: the outcome, what was observed, the limit, the sample, why."""

    criterion: Criterion
    outcome: Outcome
    observed: float | None  # the candidate's value; None with no samples
    limit: float | None  # None when the control's value it depends on is unknown
    samples: int  # the candidate's
    reason: str
    low: float | None = None  # bounds on the candidate's value (on its scale, for relative criteria)
    high: float | None = None
    control_observed: float | None = None
    control_samples: int | None = None  # None when the criterion does not read the control

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with an unbounded side as None."""
        return {
            "criterion": self.criterion.describe(),
            "metric": self.criterion.metric,
            "outcome": self.outcome,
            "observed": _finite(self.observed),
            "limit": _finite(self.limit),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "samples": self.samples,
            "control_observed": _finite(self.control_observed),
            "control_samples": self.control_samples,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StepVerdict:
    """A window's verdict: fail if any criterion fails, pass if all pass, inconclusive otherwise."""

    outcome: Outcome
    results: tuple[CriterionResult, ...]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the transition it causes and the evidence it publishes."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "results": [r.as_dict() for r in self.results],
        }


@dataclass(frozen=True)
class StepDecision:
    """What a verdict does to a canary: the action and the weight it leaves."""

    action: StepAction
    weight: float
    reason: str


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --- bounds -------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence is {confidence}; it must be between 0.5 and 1")
    return NormalDist().inv_cdf(confidence)


def wilson_bounds(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """One-sided lower and upper bounds on a proportion, each at the confidence level (Wilson, 1927)."""
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # At 0 or n events the bound on that side is exactly 0 or 1; rounding must not move it inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _binomial_cdf(n: int, p: float) -> NDArray[np.float64]:
    # P(Binomial(n, p) <= i) for i = 0..n, from log-pmf ratios so that n in the millions neither
    # overflows math.comb's floats nor underflows (1 - p)**n.
    k = np.arange(n, dtype=np.float64)
    log_pmf = np.empty(n + 1)
    log_pmf[0] = n * math.log1p(-p)
    log_pmf[1:] = log_pmf[0] + np.cumsum(np.log(n - k) - np.log(k + 1) + math.log(p / (1 - p)))
    pmf = np.exp(log_pmf - log_pmf.max())
    cdf: NDArray[np.float64] = np.cumsum(pmf / pmf.sum())
    return cdf


def nearest_rank(values: Sequence[float], q: float = QUANTILE) -> float:
    """The q-quantile as the ⌈q·n⌉-th smallest value, a value actually observed (nan when empty)."""
    if not len(values):
        return math.nan
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return float(ordered[max(0, math.ceil(q * ordered.size) - 1)])


def quantile_bounds(
    values: Sequence[float], q: float = QUANTILE, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """One-sided order-statistic bounds on the q-quantile at the confidence level (±inf when too few)."""
    _z(confidence)
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = ordered.size
    if n == 0:
        return -math.inf, math.inf
    cdf = _binomial_cdf(n, q)
    # Upper: the j-th smallest with P(Bin(n, q) <= j - 1) >= confidence, the smallest such j. The slack
    # settles exact ties (n = 1, q = confidence) the way exact arithmetic would, despite rounding.
    above = int(np.searchsorted(cdf, confidence - TIE_SLACK, side="left"))
    upper = float(ordered[above]) if above < n else math.inf
    # Lower: the j-th smallest with P(Bin(n, q) >= j) >= confidence, i.e. cdf[j - 1] <= 1 - confidence.
    below = int(np.searchsorted(cdf, 1 - confidence + TIE_SLACK, side="right")) - 1
    lower = float(ordered[below]) if below >= 0 else -math.inf
    return lower, upper


def samples_for_a_bound(metric: Metric, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The fewest samples whose one-sided bound can be a number at all.

    A rate's Wilson bound exists from one sample. The order-statistic bound on the q-quantile needs the
    largest of n values to lie above it with the confidence asked, 1 − qⁿ ≥ confidence, so
    n ≥ ln(1 − confidence) / ln q: 59 for the 95th percentile at 95 %. Below that, one side of a latency
    criterion can never be decided (an `at most` criterion cannot pass), whatever the minimum sample says.
    """
    if metric != "p95_latency_ms":
        return 1
    return math.ceil(math.log(1 - confidence) / math.log(QUANTILE) - TIE_SLACK)


def estimate(metric: Metric, arm: ArmWindow, confidence: float = DEFAULT_CONFIDENCE) -> Estimate | None:
    """The metric in one arm with its bounds; None when the arm has no samples of it."""
    n = arm.samples(metric)
    if n == 0:
        return None
    if metric == "p95_latency_ms":
        low, high = quantile_bounds(arm.latencies_ms, QUANTILE, confidence)
        return Estimate(nearest_rank(arm.latencies_ms), low, high, n)
    hits = {"error_rate": arm.errors, "override_rate": arm.overridden, "agreement": arm.agreed}[metric]
    low, high = wilson_bounds(hits, n, confidence)
    return Estimate(hits / n, low, high, n)


# --- the verdict --------------------------------------------------------------------------------


def analyse(
    criteria: Sequence[Criterion],
    control: ArmWindow,
    candidate: ArmWindow,
    *,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> StepVerdict:
    """The window's verdict on every criterion, and the step's: any fail fails, all pass passes."""
    _z(confidence)
    if min_samples < 1:
        raise ValueError(f"min_samples is {min_samples}; it must be 1 or more")
    results = tuple(
        judge(c, control, candidate, min_samples=min_samples, confidence=confidence) for c in criteria
    )
    if not results:
        return StepVerdict("inconclusive", results, "inconclusive: no criteria, so no evidence either way")
    failed = [r for r in results if r.outcome == "fail"]
    if failed:
        return StepVerdict("fail", results, "fail: " + "; ".join(r.reason for r in failed))
    open_ = [r for r in results if r.outcome == "inconclusive"]
    if open_:
        return StepVerdict("inconclusive", results, "inconclusive: " + "; ".join(r.reason for r in open_))
    return StepVerdict("pass", results, f"pass: all {len(results)} criteria pass")


def judge(
    criterion: Criterion,
    control: ArmWindow,
    candidate: ArmWindow,
    *,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CriterionResult:
    """One criterion over one window (see the module docstring for the rule)."""
    metric = criterion.metric
    mine = estimate(metric, candidate, confidence)
    theirs = estimate(metric, control, confidence) if criterion.relative_to_control else None
    n = candidate.samples(metric)
    n_control = control.samples(metric) if criterion.relative_to_control else None
    observed = mine.value if mine else None
    control_observed = theirs.value if theirs else None
    limit = criterion.threshold
    if criterion.relative_to_control:
        limit = control_observed + criterion.threshold if control_observed is not None else math.nan
    shown_limit = None if math.isnan(limit) else limit
    short = [(arm, count) for arm, count in (("candidate", n), ("control", n_control)) if count is not None]
    short = [(arm, count) for arm, count in short if count < min_samples]
    if short or mine is None or (criterion.relative_to_control and theirs is None):
        what = SAMPLE_NAMES[metric]
        lacking = ", ".join(f"the {arm} has {count} {what}" for arm, count in short)
        reason = (
            f"{criterion.describe()}: too little data ({lacking}; {min_samples} needed in each arm it reads)"
        )
        return CriterionResult(
            criterion, "inconclusive", observed, shown_limit, n, reason,
            control_observed=control_observed, control_samples=n_control,
        )  # fmt: skip
    low, high = mine.low, mine.high
    if theirs is not None:
        # MOVER: bounds on candidate − control from each arm's distances to its own bounds.
        low = mine.value - math.hypot(mine.value - mine.low, theirs.high - theirs.value)
        high = mine.value + math.hypot(mine.high - mine.value, theirs.value - theirs.low)
    outcome = _outcome(criterion.op, low, high, limit)
    reason = _reason(criterion, outcome, mine.value, low, high, limit, n, control_observed)
    needs = samples_for_a_bound(criterion.metric, confidence)
    if outcome == "inconclusive" and n < needs:
        # Too few for the bound that would decide: a window this small can only ever hold on this side.
        side = "upper" if criterion.at_most else "lower"
        reason += f"; its {side} bound needs at least {needs} {SAMPLE_NAMES[criterion.metric]} to be a number"
    return CriterionResult(
        criterion, outcome, observed, shown_limit, n, reason,
        low=low, high=high, control_observed=control_observed, control_samples=n_control,
    )  # fmt: skip


def _outcome(op: Comparison, low: float, high: float, limit: float) -> Outcome:
    if op == "<=":
        return "pass" if high <= limit else "fail" if low > limit else "inconclusive"
    if op == "<":
        return "pass" if high < limit else "fail" if low >= limit else "inconclusive"
    if op == ">=":
        return "pass" if low >= limit else "fail" if high < limit else "inconclusive"
    return "pass" if low > limit else "fail" if high <= limit else "inconclusive"


def _show(metric: Metric, value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    return f"{value * 100:.2f} %" if metric in RATES else f"{value:.1f} ms"


def _reason(
    criterion: Criterion,
    outcome: Outcome,
    value: float,
    low: float,
    high: float,
    limit: float,
    n: int,
    control: float | None,
) -> str:
    metric = criterion.metric
    at_most = criterion.at_most
    limit_text = f"{criterion.op} {_show(metric, limit)}"
    if control is not None:
        limit_text += f" (control {_show(metric, control)} {'+' if criterion.threshold >= 0 else '-'} margin)"
    sample = f"n = {n:,}"
    if outcome == "pass":
        side = "upper" if at_most else "lower"
        bound = high if at_most else low
        shown = f"{_show(metric, value)} ({side} bound {_show(metric, bound)})"
        return f"{metric} {shown} meets {limit_text}, {sample}"
    if outcome == "fail":
        side = "lower" if at_most else "upper"
        bound = low if at_most else high
        return (
            f"{metric} {_show(metric, value)} ({side} bound {_show(metric, bound)}) "
            f"is clearly outside {limit_text}, {sample}"
        )
    return (
        f"{metric} {_show(metric, value)} (bounds {_show(metric, low)} to {_show(metric, high)}) "
        f"could be either side of {limit_text}, {sample}"
    )


# --- the ladder ---------------------------------------------------------------------------------


def _check_ladder(ladder: Sequence[float]) -> None:
    rising = all(a < b for a, b in pairwise(ladder))
    if not ladder or not rising or ladder[0] <= 0 or ladder[-1] > 100:
        raise InvalidLadder(ladder)


def ladder_next(weight: float, ladder: Sequence[int] = DEFAULT_LADDER) -> int | None:
    """The first step above the weight, or None at the top (weight 0, shadow, leads to the first step)."""
    _check_ladder(ladder)
    return next((step for step in ladder if step > weight), None)


def next_step(verdict: StepVerdict, weight: float, ladder: Sequence[int] = DEFAULT_LADDER) -> StepDecision:
    """What a verdict does: fail rolls back to 0 at once, inconclusive holds, pass climbs or promotes."""
    if verdict.outcome == "fail":
        return StepDecision("rollback", 0, f"rolled back from {weight:g} %: {verdict.reason}")
    if verdict.outcome == "inconclusive":
        return StepDecision("hold", weight, f"held at {weight:g} %: {verdict.reason}")
    following = ladder_next(weight, ladder)
    if following is None:
        return StepDecision("promote", weight, f"the last step ({weight:g} %) passed: ready for full traffic")
    return StepDecision(
        "advance", following, f"advanced from {weight:g} % to {following} %: {verdict.reason}"
    )


# --- parsing the stored form --------------------------------------------------------------------
#
#   - {metric: error_rate, op: "<=", threshold: 0.02}
#   - {metric: p95_latency_ms, op: "<=", threshold: 50, relative_to_control: true}
#   - "override_rate <= 0.1"
#   - "p95_latency_ms <= control + 50"

CRITERION_KEYS = frozenset({"metric", "op", "threshold", "relative_to_control"})
_WRITTEN = re.compile(
    r"\s*(?P<metric>\w+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?:(?P<control>control)\s*(?:(?P<sign>[+-])\s*(?P<margin>\S+))?|(?P<threshold>\S+))\s*"
)


def parse_criteria(data: Sequence[Mapping[str, Any] | str] | None) -> list[Criterion]:
    """Step criteria from their stored form (see above); InvalidCriteria names each criterion and field."""
    if data is None:
        return []
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise InvalidCriteria([Problem("must be a list of criteria", field="criteria")])
    problems: list[Problem] = []
    parsed = [_criterion(i, item, problems) for i, item in enumerate(data)]
    if problems:
        raise InvalidCriteria(problems)
    return [c for c in parsed if c is not None]


def _criterion(index: int, item: Any, problems: list[Problem]) -> Criterion | None:
    where = f"criteria[{index}]"

    def problem(message: str, key: str) -> None:
        problems.append(Problem(f"criterion {index}: {message}", field=f"{where}.{key}"))

    if isinstance(item, str):
        match = _WRITTEN.fullmatch(item)
        if match is None:
            problems.append(
                Problem(
                    f"criterion {index}: '{item}' does not read as "
                    "METRIC OP NUMBER or METRIC OP control + NUMBER",
                    field=where,
                )
            )
            return None
        relative = match["control"] is not None
        text = (match["margin"] or "0") if relative else match["threshold"]
        threshold: Any = _number_text(text)
        if relative and match["sign"] == "-" and isinstance(threshold, float):
            threshold = -threshold
        item = {
            "metric": match["metric"],
            "op": match["op"],
            "threshold": threshold,
            "relative_to_control": relative,
        }
        if threshold is None:
            item["threshold"] = text
    if not isinstance(item, Mapping):
        problems.append(
            Problem(
                f"criterion {index} must be a mapping or a text such as 'error_rate <= 0.02'", field=where
            )
        )
        return None
    start = len(problems)
    for key in sorted(set(item) - CRITERION_KEYS):
        problem(f"unknown key '{key}'", key)
    metric, op, threshold = item.get("metric"), item.get("op"), item.get("threshold")
    relative = item.get("relative_to_control", False)
    if metric not in METRICS:
        problem(f"metric is {metric!r}; it must be one of {', '.join(METRICS)}", "metric")
    if op not in COMPARISONS:
        problem(f"op is {op!r}; it must be one of {', '.join(COMPARISONS)}", "op")
    if not isinstance(relative, bool):
        problem(f"relative_to_control is {relative!r}; it must be true or false", "relative_to_control")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        problem(f"threshold is {threshold!r}; it must be a finite number", "threshold")
    elif metric in METRICS and relative is True:
        if metric == "agreement":
            problem(
                "agreement is already measured against the primary; it cannot be relative to control",
                "metric",
            )
        elif metric in RATES and not -1 <= threshold <= 1:
            problem(
                f"a margin on a rate is a fraction from -1 to 1 (0.005 for half a point); got {threshold}",
                "threshold",
            )
    elif metric in RATES and not 0 <= threshold <= 1:
        problem(f"a rate is a fraction from 0 to 1 (0.02 for 2 %); got {threshold}", "threshold")
    elif metric == "p95_latency_ms" and threshold < 0:
        problem(f"a latency cannot be negative; got {threshold}", "threshold")
    if len(problems) > start:
        return None
    return Criterion(cast(Metric, metric), cast(Comparison, op), float(threshold), relative)


def _number_text(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
