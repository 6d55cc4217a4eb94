"""The population stability index: a pure function of two binned distributions."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.data.drift import (
    EPSILON,
    bin_index,
    histogram,
    population_stability_index,
    shares,
    shift,
)

counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20).filter(any)


@st.composite
def two_distributions(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    expected = draw(counts)
    actual = draw(
        st.lists(
            st.integers(min_value=0, max_value=10_000), min_size=len(expected), max_size=len(expected)
        ).filter(any)
    )
    return expected, actual


@given(two_distributions())
def test_psi_is_never_negative(pair: tuple[list[int], list[int]]) -> None:
    assert population_stability_index(*pair) >= 0


@given(counts)
def test_psi_of_a_distribution_with_itself_is_zero(distribution: list[int]) -> None:
    assert population_stability_index(distribution, distribution) == 0


@given(counts, st.integers(min_value=1, max_value=50))
def test_psi_depends_on_shares_not_on_how_many_rows(distribution: list[int], factor: int) -> None:
    scaled = [c * factor for c in distribution]
    assert population_stability_index(distribution, scaled) == pytest.approx(0, abs=1e-12)


@given(two_distributions())
def test_psi_is_symmetric_to_the_last_bit(pair: tuple[list[int], list[int]]) -> None:
    expected, actual = pair
    assert population_stability_index(expected, actual) == population_stability_index(actual, expected)


@given(st.integers(min_value=4, max_value=30), st.integers(min_value=10, max_value=1000))
def test_psi_grows_as_the_distribution_moves_further(bins: int, height: int) -> None:
    # A block of mass two bins wide, moved one bin further right each time.
    def block_at(start: int) -> list[int]:
        return [height if start <= i < start + 2 else 0 for i in range(bins)]

    moves = [population_stability_index(block_at(0), block_at(step)) for step in range(bins - 1)]
    assert moves[0] == 0
    assert all(later >= earlier for earlier, later in pairwise(moves))
    assert moves[-1] > moves[1] > 0


def test_psi_matches_the_formula_on_a_worked_example() -> None:
    expected, actual = [50, 30, 20], [30, 30, 40]
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert population_stability_index(expected, actual) == pytest.approx(by_hand)


def test_an_empty_bin_counts_as_epsilon_so_psi_stays_finite() -> None:
    assert shares([0, 10]) == [EPSILON, 1.0]
    psi = population_stability_index([0, 10], [10, 0])
    assert math.isfinite(psi)
    assert psi == pytest.approx(2 * (1 - EPSILON) * math.log(1 / EPSILON))


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([1, 2], [1, 2, 3], "different bins"),
        ([0, 0], [1, 2], "every bin is empty"),
        ([], [], "no bins"),
        ([1, -1], [1, 1], "negative"),
    ],
)
def test_psi_refuses_distributions_it_cannot_compare(
    expected: list[int], actual: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        population_stability_index(expected, actual)


@pytest.mark.parametrize(
    ("psi", "reading"), [(0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.3, "major")]
)
def test_psi_is_read_by_the_conventional_thresholds(psi: float, reading: str) -> None:
    assert shift(psi) == reading


def test_values_fall_in_half_open_bins_and_the_outer_bins_take_everything_beyond() -> None:
    edges = [0.0, 1.0, 2.0, 3.0]
    assert [bin_index(edges, v) for v in (-5, 0, 0.99, 1, 2.5, 3, 99)] == [0, 0, 0, 1, 2, 2, 2]
    assert histogram(edges, [-5, 0, 1, 1.5, 2, 99]) == [2, 2, 2]


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=200))
def test_every_value_falls_in_exactly_one_bin(values: list[float]) -> None:
    edges = [-10.0, -1.0, 0.0, 0.5, 100.0]
    assert sum(histogram(edges, values)) == len(values)
