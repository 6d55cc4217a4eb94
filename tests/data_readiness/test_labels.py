"""Label consistency: kappa against worked examples and its laws, and agreement computed in the engine."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.data.labels import MAX_INCONSISTENT, cohen_kappa, fleiss_kappa, label_consistency
from phasegate.errors import InvalidInput

from .conftest import EngineTable

# Every engine but Spark: at seconds a query, Spark runs only the "on every engine" tests.
CHEAP_ENGINES = pytest.mark.parametrize("engine_table", ["duckdb", "sqlite", "postgres"], indirect=True)

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories; κ = 0.210.
FLEISS_WORKED_EXAMPLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

labels = st.sampled_from(["cat", "dog", "bird"])


def test_cohen_kappa_matches_the_worked_example_of_0_4() -> None:
    # Wikipedia, "Cohen's kappa": 50 proposals; both yes 20, A yes B no 5, A no B yes 10, both no 15.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    kappa = cohen_kappa(a, b)
    assert kappa == pytest.approx(0.4)


def test_fleiss_kappa_matches_the_worked_example_of_0_210() -> None:
    kappa = fleiss_kappa(FLEISS_WORKED_EXAMPLE)
    assert kappa is not None
    assert round(kappa, 3) == 0.210


def test_fleiss_kappa_with_two_ratings_per_item_is_scotts_pi() -> None:
    # Scott (1955): π = (p_o − p_e) / (1 − p_e), p_e from the pooled label shares of both raters.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    pooled_yes = (a + b).count("yes") / 100
    expected_chance = pooled_yes**2 + (1 - pooled_yes) ** 2
    scotts_pi = (0.7 - expected_chance) / (1 - expected_chance)
    matrix = [
        [int(x == "yes") + int(y == "yes"), int(x == "no") + int(y == "no")]
        for x, y in zip(a, b, strict=True)
    ]
    assert fleiss_kappa(matrix) == pytest.approx(scotts_pi)


def test_kappa_is_undefined_when_everyone_always_gives_the_same_label() -> None:
    assert cohen_kappa(["a", "a", "a"], ["a", "a", "a"]) is None
    assert fleiss_kappa([[3, 0], [3, 0]]) is None


def test_cohen_kappa_refuses_raters_who_rated_different_numbers_of_items() -> None:
    with pytest.raises(ValueError, match="rater a has 2 labels and rater b 3"):
        cohen_kappa(["a", "b"], ["a", "b", "a"])


def test_fleiss_kappa_names_the_item_with_fewer_than_two_ratings() -> None:
    with pytest.raises(ValueError, match="row 1 has 1 rating"):
        fleiss_kappa([[1, 1], [1, 0]])


@given(st.lists(labels, min_size=2).filter(lambda xs: len(set(xs)) > 1))
def test_cohen_kappa_is_1_for_identical_ratings(ratings: list[str]) -> None:
    assert cohen_kappa(ratings, list(ratings)) == 1.0


@given(st.lists(st.tuples(labels, labels), min_size=1))
def test_cohen_kappa_is_at_most_1_at_least_minus_1_and_symmetric(pairs: list[tuple[str, str]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    kappa = cohen_kappa(a, b)
    if kappa is not None:
        assert -1.0 <= kappa <= 1.0
    assert kappa == cohen_kappa(b, a)


@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(2, 6)), min_size=2).filter(
        lambda rows: len({r[0] for r in rows}) > 1
    )
)
def test_fleiss_kappa_is_1_when_every_item_is_rated_unanimously(rows: list[tuple[int, int]]) -> None:
    matrix = [[n if category == column else 0 for column in range(3)] for category, n in rows]
    assert fleiss_kappa(matrix) == 1.0


@given(
    st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3).filter(lambda r: sum(r) >= 2), min_size=1),
    st.randoms(use_true_random=False),
)
def test_fleiss_kappa_is_at_most_1_and_ignores_the_order_of_items_and_categories(
    matrix: list[list[int]], shuffle: random.Random
) -> None:
    kappa = fleiss_kappa(matrix)
    if kappa is not None:
        assert kappa <= 1.0
    rows = [list(r) for r in matrix]
    shuffle.shuffle(rows)
    order = [0, 1, 2]
    shuffle.shuffle(order)
    permuted = [[r[i] for i in order] for r in rows]
    # Exact rational arithmetic: the same matrix in another order gives the same kappa, to the last bit.
    assert fleiss_kappa(permuted) == kappa


def _labelled(rows: list[tuple[object, ...]], columns: tuple[str, ...] = ("doc", "label")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def test_label_consistency_gives_the_same_answer_on_every_engine(engine_table: EngineTable) -> None:
    table = engine_table(
        _labelled(
            [
                (1, "spam"),
                (1, "spam"),
                (1, "ham"),
                (2, "ham"),
                (2, "ham"),
                (3, "spam"),
                (3, "spam"),
                (4, "ham"),
            ]
        )
    )
    result = label_consistency(table, key="doc", label="label")
    assert result.method == "fleiss"
    assert result.records_multi == 3  # document 4 is labelled once
    assert result.agreement == pytest.approx(2 / 3)
    assert result.kappa == pytest.approx(fleiss_kappa([[1, 2], [2, 0], [0, 2]]))
    assert result.inconsistent == [{"key": 1, "labels": {"ham": 1, "spam": 2}}]
    assert result.records_inconsistent == 1


@CHEAP_ENGINES
def test_two_raters_labelling_every_record_once_are_compared_with_cohens_kappa(
    engine_table: EngineTable,
) -> None:
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    rows = [(i, "ann", x) for i, x in enumerate(a)] + [(i, "bob", y) for i, y in enumerate(b)]
    table = engine_table(_labelled(rows, ("proposal", "rater", "verdict")))
    result = label_consistency(table, key="proposal", label="verdict", rater="rater")
    assert result.method == "cohen"
    assert result.kappa == pytest.approx(0.4)
    assert result.agreement == pytest.approx(0.7)
    assert result.records_inconsistent == 15


@CHEAP_ENGINES
def test_three_raters_fall_back_to_fleiss_kappa(engine_table: EngineTable) -> None:
    rows = [
        (1, "ann", "a"),
        (1, "bob", "a"),
        (1, "cy", "b"),
        (2, "ann", "b"),
        (2, "bob", "b"),
        (2, "cy", "b"),
    ]
    result = label_consistency(
        engine_table(_labelled(rows, ("item", "rater", "label"))), key="item", label="label", rater="rater"
    )
    assert result.method == "fleiss"
    assert result.kappa == pytest.approx(fleiss_kappa([[2, 1], [0, 3]]))


@CHEAP_ENGINES
def test_records_with_missing_labels_count_only_their_labels(engine_table: EngineTable) -> None:
    table = engine_table(_labelled([(1, "a"), (1, None), (2, "b"), (2, "b")]))
    result = label_consistency(table, key="doc", label="label")
    assert result.records_multi == 1
    assert result.agreement == 1.0


@CHEAP_ENGINES
def test_a_table_where_nothing_is_labelled_twice_has_no_agreement_to_report(
    engine_table: EngineTable,
) -> None:
    result = label_consistency(engine_table(_labelled([(1, "a"), (2, "b")])), key="doc", label="label")
    assert (result.records_multi, result.agreement, result.kappa, result.inconsistent) == (0, None, None, [])


@CHEAP_ENGINES
def test_the_inconsistent_list_stops_at_twenty_records_but_counts_them_all(engine_table: EngineTable) -> None:
    rows = [(i, label) for i in range(30) for label in ("a", "b")]
    result = label_consistency(engine_table(_labelled(rows)), key="doc", label="label")
    assert len(result.inconsistent) == MAX_INCONSISTENT
    assert result.records_inconsistent == 30
    assert [r["key"] for r in result.inconsistent] == list(range(20))


@CHEAP_ENGINES
def test_label_consistency_names_a_column_the_table_does_not_have(engine_table: EngineTable) -> None:
    with pytest.raises(InvalidInput) as raised:
        label_consistency(engine_table(_labelled([(1, "a")])), key="doc", label="class")
    assert [p.field for p in raised.value.problems] == ["class"]
