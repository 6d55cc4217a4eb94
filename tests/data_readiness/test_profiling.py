"""Profiles: pandas' counts and means, the same profile on every engine, and snapshots that round-trip."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dtypes
import pandas as pd
import pytest

from phasegate.data import drift, profiling
from phasegate.data.engines import opened, parse_location
from phasegate.data.profiling import ColumnProfile, Histogram, Profile, bin_counts, column_type, profile
from phasegate.errors import InvalidInput

from .conftest import DATA, EngineTable, arrow


def mixed_frame() -> pd.DataFrame:
    """Every logical type, with missing values (NaN among them) and ties among the top values."""
    return pd.DataFrame(
        {
            "invoice": ["INV-00001234", "INV-00001235", None, "inv 77", "b", "a", "B", "b", ""],
            "amount": [10.5, float("nan"), 3.25, 1e6, -2.0, 0.1, 0.2, 0.3, 7.0],
            "quantity": pd.array([1, 2, None, 4, 4, 4, 10, 0, -3], dtype="Int64"),
            "price": [
                Decimal(p) if p else None
                for p in ["1.10", "2.25", "", "0.01", "1.10", "9.99", "3.00", "3.00", "100.50"]
            ],
            "issued": [dt.date(2024, 1, 31), None, dt.date(2023, 12, 1), dt.date(2024, 2, 29)] * 2
            + [dt.date(2025, 6, 30)],
            "created_at": pd.to_datetime(
                ["2024-01-31 08:15:00", None, "2023-12-01 00:00:00", "2024-02-29 23:59:59.5"] * 2
                + ["2025-06-30 12:00:00"],
                format="ISO8601",
            ),
            "paid": pd.array([True, False, None, True, True, False, True, None, True], dtype="boolean"),
        }
    )


def reference(frame: pd.DataFrame, approximate: bool | None = None) -> Profile:
    """The frame's profile on an in-memory DuckDB, the engine the others are compared with."""
    con = ibis.duckdb.connect()
    try:
        table = con.create_table("reference", ibis.memtable(arrow(frame)))
        return profile(table, engine="duckdb", approximate=approximate)
    finally:
        con.disconnect()


def assert_same_profile(result: Profile, expected: Profile) -> None:
    """Equal in everything but the engine's name, compared column by column for a readable failure."""
    assert (result.rows, result.exact) == (expected.rows, expected.exact)
    assert [c.name for c in result.columns] == [c.name for c in expected.columns]
    for got, want in zip(result.columns, expected.columns, strict=True):
        assert got.as_dict() == want.as_dict()


# -- pandas agrees --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["adult.csv", "bikeshare.csv"])
def test_counts_nulls_means_and_quantiles_equal_what_pandas_computes(name: str) -> None:
    frame = pd.read_csv(DATA / name)
    with opened(parse_location(str(DATA / name))) as table:
        result = profile(table, engine="duckdb")

    assert result.rows == len(frame)
    assert result.exact
    assert [c.name for c in result.columns] == list(frame.columns)
    for column in result.columns:
        values = frame[column.name]
        assert column.count == values.notna().sum(), column.name
        assert column.nulls == values.isna().sum(), column.name
        assert column.distinct == values.nunique(), column.name
        if column.type in ("integer", "float"):
            assert column.mean == pytest.approx(values.mean(), rel=1e-11), column.name
            assert column.stddev == pytest.approx(values.std(), rel=1e-11), column.name
            assert column.min == values.min() and column.max == values.max(), column.name
            expected = values.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).tolist()
            assert list(column.quantiles.values()) == pytest.approx(expected, rel=1e-11), column.name


def test_adult_missing_values_are_counted_where_the_census_left_them_blank() -> None:
    with opened(parse_location(str(DATA / "adult.csv"))) as table:
        result = profile(table, engine="duckdb")

    missing = {c.name: c.nulls for c in result.columns if c.nulls}
    assert missing == {"workclass": 2799, "occupation": 2809, "native_country": 857}
    assert result.column("workclass").null_rate == pytest.approx(2799 / 48842)
    assert result.column("workclass").top_values[0] == ("Private", 33906)


# -- the same profile on every engine -------------------------------------------------------------


def test_a_mixed_table_has_the_same_profile_on_every_engine(engine_table: EngineTable) -> None:
    frame = mixed_frame()

    result = profile(engine_table(frame), engine=engine_table.name)

    assert result.engine == engine_table.name
    assert_same_profile(result, reference(frame))


def test_bikeshare_has_the_same_profile_on_every_engine(engine_table: EngineTable) -> None:
    frame = pd.read_csv(DATA / "bikeshare.csv")

    result = profile(engine_table(frame), engine=engine_table.name)

    assert_same_profile(result, reference(frame))


def test_the_mixed_profile_reads_as_the_data_does() -> None:
    result = reference(mixed_frame())

    assert [(c.name, c.type) for c in result.columns] == [
        ("invoice", "string"),
        ("amount", "float"),
        ("quantity", "integer"),
        ("price", "decimal"),
        ("issued", "date"),
        ("created_at", "timestamp"),
        ("paid", "boolean"),
    ]
    invoice = result.column("invoice")
    # By count, then by value in code-point order: "" < "B" < "INV…" < "a".
    assert invoice.top_values[:4] == [("b", 2), ("", 1), ("B", 1), ("INV-00001234", 1)]
    assert (invoice.length_min, invoice.length_max) == (0, 12)
    amount = result.column("amount")
    assert (amount.count, amount.nulls, amount.min, amount.max) == (8, 1, -2.0, 1e6)
    assert amount.quantiles["p50"] == (0.3 + 3.25) / 2
    assert result.column("price").max == 100.5
    assert (result.column("issued").min, result.column("issued").max) == ("2023-12-01", "2025-06-30")
    created = result.column("created_at")
    assert (created.min, created.max) == ("2023-12-01T00:00:00", "2025-06-30T12:00:00")
    assert result.column("paid").top_values == [(True, 5), (False, 2)]


def test_shapes_write_letters_as_a_and_digits_as_9_and_keep_punctuation(engine_table: EngineTable) -> None:
    frame = pd.DataFrame({"invoice": ["INV-00001234", "INV-00009999", "inv 12/b", None]})

    invoice = profile(engine_table(frame), engine=engine_table.name).column("invoice")

    assert invoice.shapes == [("AAA-99999999", 2), ("aaa 99/a", 1)]


# -- histograms, estimates and edge cases ---------------------------------------------------------


def test_histograms_count_every_value_in_the_bins_drift_checks_use() -> None:
    frame = pd.read_csv(DATA / "bikeshare.csv")

    result = reference(frame)

    for column in result.columns:
        if column.type not in ("integer", "float"):
            assert column.histogram is None
            continue
        assert column.histogram is not None
        assert len(column.histogram.edges) == profiling.HISTOGRAM_BINS + 1
        assert (column.histogram.edges[0], column.histogram.edges[-1]) == (column.min, column.max)
        values = frame[column.name].dropna().astype(float).tolist()
        assert column.histogram.counts == drift.histogram(column.histogram.edges, values), column.name


def test_a_stored_nan_is_missing_as_pandas_reads_it() -> None:
    con = ibis.duckdb.connect()
    table = con.sql("SELECT * FROM (VALUES (1.0), ('NaN'::DOUBLE), (3.0), (NULL)) AS t(x)")

    x = profile(table, engine="duckdb").column("x")

    assert (x.count, x.nulls, x.distinct, x.max, x.mean) == (2, 2, 2, 3.0, 2.0)


def test_a_constant_column_has_one_bin() -> None:
    result = reference(pd.DataFrame({"x": [3, 3, 3]}))

    assert result.column("x").histogram == Histogram(edges=[3.0, 3.0], counts=[3])


def test_above_the_exact_row_limit_counts_and_quantiles_are_estimated_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 5)
    frame = pd.DataFrame({"n": range(100), "s": [f"v{i % 7}" for i in range(100)]})

    estimated = reference(frame)
    exact = reference(frame, approximate=False)

    assert not estimated.exact and exact.exact
    assert estimated.column("n").distinct_approximate and estimated.column("n").quantiles_approximate
    assert estimated.column("s").distinct == 7
    assert not exact.column("n").distinct_approximate and exact.column("n").distinct == 100
    assert estimated.column("n").mean == exact.column("n").mean == 49.5


@pytest.mark.parametrize("engine_table", ["sqlite", "postgres"], indirect=True)
def test_engines_without_estimates_stay_exact_when_asked_to_estimate(engine_table: EngineTable) -> None:
    frame = pd.DataFrame({"n": [1, 2, 2, 3]})

    result = profile(engine_table(frame), engine=engine_table.name, approximate=True)

    assert result.exact
    assert result.column("n").distinct == 3 and result.column("n").quantiles["p50"] == 2.0


def test_an_empty_table_has_zero_rows_and_no_statistics(engine_table: EngineTable) -> None:
    frame = mixed_frame().iloc[0:0]
    schema = ibis.memtable(mixed_frame()).schema()

    result = profile(engine_table(frame, schema), engine=engine_table.name)

    assert result.rows == 0 and result.exact
    for column in result.columns:
        assert (column.count, column.nulls, column.null_rate) == (0, 0, 0.0), column.name
        assert column.distinct == 0
        assert (column.min, column.max, column.mean, column.stddev) == (None, None, None, None)
        assert column.quantiles == {} and column.histogram is None
        assert column.top_values == [] and column.shapes == []


def test_a_column_of_nothing_but_nulls_is_all_nulls(engine_table: EngineTable) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "score": [None, None, None], "note": [None, None, None]})

    table = engine_table(frame, {"id": "int64", "score": "float64", "note": "string"})
    result = profile(table, engine=engine_table.name)

    for name in ("score", "note"):
        column = result.column(name)
        assert (column.count, column.nulls, column.null_rate, column.distinct) == (0, 3, 1.0, 0)
        assert column.mean is None and column.quantiles == {} and column.histogram is None
        assert column.top_values == [] and column.length_min is None


def test_zoned_timestamps_read_in_utc_with_their_offset() -> None:
    moments = ["2024-03-01 09:30+01:00", "2024-03-02 00:00+00:00"]

    at = reference(pd.DataFrame({"at": pd.to_datetime(moments, utc=True)})).column("at")

    assert (at.min, at.max) == ("2024-03-01T08:30:00+00:00", "2024-03-02T00:00:00+00:00")


def test_bins_are_counted_for_given_edges_and_unknown_columns_are_named() -> None:
    con = ibis.duckdb.connect()
    table = con.create_table("t", ibis.memtable({"x": [0.0, 1.0, 1.5, 2.0, None]}))

    assert bin_counts(table, {"x": [0.0, 1.0, 2.0]}) == {"x": [1, 3]}
    with pytest.raises(InvalidInput) as raised:
        bin_counts(table, {"y": [0.0, 1.0], "x": [0.0]})
    assert [(p.field, p.message) for p in raised.value.problems] == [
        ("y", "not in the table"),
        ("x", "a histogram needs two edges or more"),
    ]


# -- snapshots ------------------------------------------------------------------------------------


def test_a_profile_survives_a_round_trip_through_json() -> None:
    original = reference(mixed_frame())

    stored = json.dumps(original.as_dict())

    assert Profile.from_dict(json.loads(stored)) == original


def test_the_profile_of_a_missing_column_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="'nope'"):
        reference(pd.DataFrame({"x": [1]})).column("nope")


def test_a_column_profile_is_plain_json() -> None:
    column = ColumnProfile(name="x", type="integer", count=1, nulls=0, null_rate=0.0, top_values=[(1, 1)])

    assert json.loads(json.dumps(column.as_dict()))["top_values"] == [[1, 1]]


# -- logical types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "logical"),
    [
        (dtypes.int8, "integer"),
        (dtypes.uint64, "integer"),
        (dtypes.float32, "float"),
        (dtypes.Decimal(12, 2), "decimal"),
        (dtypes.string, "string"),
        (dtypes.boolean, "boolean"),
        (dtypes.date, "date"),
        (dtypes.Timestamp(timezone="UTC"), "timestamp"),
        (dtypes.time, "other"),
        (dtypes.Array(dtypes.int64), "other"),
    ],
)
def test_column_type_maps_engine_types_to_logical_types(dtype: dtypes.DataType, logical: str) -> None:
    assert column_type(dtype) == logical


def test_above_a_million_rows_top_values_come_from_a_sample_scaled_back_up() -> None:
    import ibis as ibis_

    con = ibis_.duckdb.connect()
    table = con.sql(
        "SELECT CASE WHEN i % 10 < 5 THEN 'a' WHEN i % 10 < 8 THEN 'b' ELSE 'c' END AS grade "
        "FROM range(1200000) t(i)"
    )
    result = profiling.profile(table, engine="duckdb")
    grade = result.column("grade")
    assert result.exact is False and grade.distinct_approximate
    counts = dict(grade.top_values)
    for value, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert counts[value] == pytest.approx(share * 1_200_000, rel=0.05)


def test_above_the_exact_row_limit_histograms_and_quantiles_come_from_a_sample_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 10_000)
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 5_000)
    frame = pd.DataFrame({"n": [float(i) if i % 10 else None for i in range(100_000)]})

    result = reference(frame)
    n = result.column("n")

    assert result.sample == pytest.approx(0.05) and not result.exact
    assert (n.count, n.min, n.max) == (90_000, 1.0, 99_999.0)  # every row still counted
    assert n.quantiles_approximate and n.quantiles["p50"] == pytest.approx(50_000, rel=0.05)
    assert n.histogram is not None
    # Scaled to the exact count of values, which equal-width bins of a uniform column share evenly.
    assert sum(n.histogram.counts) == pytest.approx(90_000, abs=10)
    assert all(c == pytest.approx(9_000, rel=0.1) for c in n.histogram.counts)


def test_below_the_exact_row_limit_every_row_counts() -> None:
    assert reference(mixed_frame()).sample is None


def test_a_snapshot_stored_before_samples_were_recorded_still_loads() -> None:
    stored = reference(mixed_frame()).as_dict()
    del stored["sample"]

    assert Profile.from_dict(stored).sample is None


@pytest.mark.parametrize("engine_table", ["duckdb", "spark"], indirect=True)
def test_engines_that_estimate_read_distributions_off_a_sample_above_the_limit(
    engine_table: EngineTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 1_000)
    frame = pd.DataFrame({"n": [float(i) for i in range(10_000)], "s": [f"v{i % 4}" for i in range(10_000)]})

    result = profile(engine_table(frame), engine=engine_table.name)
    n, s = result.column("n"), result.column("s")

    assert result.sample == pytest.approx(0.1) and (n.count, n.min, n.max) == (10_000, 0.0, 9_999.0)
    assert n.quantiles["p50"] == pytest.approx(5_000, rel=0.1)
    assert n.histogram is not None and sum(n.histogram.counts) == pytest.approx(10_000, abs=10)
    assert all(c == pytest.approx(1_000, rel=0.4) for c in n.histogram.counts)
    assert sorted(value for value, _ in s.top_values) == ["v0", "v1", "v2", "v3"]
    assert all(count == pytest.approx(2_500, rel=0.25) for _, count in s.top_values)
    assert s.shapes[0][0] == "a9"
