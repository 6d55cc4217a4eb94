"""Distribution drift as pure arithmetic: the population stability index over binned counts.

No I/O here: the engines count rows per bin, these functions compare the counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

# Share given to an empty bin, so ln(a/e) stays finite. 1e-4 is the usual choice in credit-risk
# practice: small against any real bin share, large enough that one empty bin cannot dominate.
EPSILON = 1e-4

# Conventional reading of PSI (Siddiqi, "Credit Risk Scorecards", 2006): below 0.1 no significant
# change, 0.1 to 0.25 a moderate shift worth a look, above 0.25 a major shift.
MODERATE_SHIFT = 0.1
MAJOR_SHIFT = 0.25

Shift = Literal["stable", "moderate", "major"]


def shares(counts: Sequence[float], *, epsilon: float = EPSILON) -> list[float]:
    """Each bin's share of the total, with empty bins raised to epsilon."""
    if any(c < 0 for c in counts):
        raise ValueError("bin counts cannot be negative")
    total = math.fsum(counts)
    if total <= 0:
        raise ValueError("no values to compare: every bin is empty")
    return [max(c / total, epsilon) for c in counts]


def population_stability_index(
    expected_counts: Sequence[float], actual_counts: Sequence[float], *, epsilon: float = EPSILON
) -> float:
    """PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over bins, where aᵢ and eᵢ are the bins' shares of each total.

    Both sequences count the same bins in the same order. Each term is ≥ 0 (the two factors share a
    sign), so PSI ≥ 0, it is 0 for identical distributions and symmetric in its two arguments.
    """
    if len(expected_counts) != len(actual_counts):
        raise ValueError(
            f"the distributions have different bins: {len(expected_counts)} and {len(actual_counts)}"
        )
    if not expected_counts:
        raise ValueError("no bins to compare")
    expected = shares(expected_counts, epsilon=epsilon)
    actual = shares(actual_counts, epsilon=epsilon)
    # ln a − ln e rather than ln(a/e): swapping the arguments then negates both factors exactly,
    # so PSI(a, b) == PSI(b, a) to the last bit.
    return math.fsum((a - e) * (math.log(a) - math.log(e)) for a, e in zip(actual, expected, strict=True))


def shift(psi: float) -> Shift:
    """How people read a PSI value: stable, a moderate shift, or a major one."""
    if psi < MODERATE_SHIFT:
        return "stable"
    if psi < MAJOR_SHIFT:
        return "moderate"
    return "major"


def bin_index(edges: Sequence[float], value: float) -> int:
    """The bin a value falls in: [eᵢ, eᵢ₊₁), the outer bins open-ended, as the engines bin it."""
    if len(edges) < 2:
        raise ValueError("a histogram needs at least two edges")
    index = 0
    for edge in edges[1:-1]:
        if value >= edge:
            index += 1
    return index


def histogram(edges: Sequence[float], values: Sequence[float]) -> list[int]:
    """Counts of values per bin of the given edges (see bin_index); a reference for small inputs."""
    counts = [0] * (len(edges) - 1)
    for value in values:
        counts[bin_index(edges, value)] += 1
    return counts
