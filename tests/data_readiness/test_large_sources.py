"""Above a million rows on DuckDB: a Parquet file sampled by row position, exact unique checks by bitmap."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import ibis
import pandas as pd
import pytest

from phasegate.data import checking, engines, profiling
from phasegate.data.contracts import parse_contract


def parquet(tmp_path: Path, frame: pd.DataFrame) -> engines.Location:
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, row_group_size=7_000)  # several row groups, as a large file has
    return engines.parse_location(str(path))


def numbered(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(rows),
            "n": [float(i) for i in range(rows)],
            "s": [f"v{i % 4}" for i in range(rows)],
        }
    )


def test_a_parquet_file_on_duckdb_is_sampled_by_row_position_the_same_on_every_run(tmp_path: Path) -> None:
    location = parquet(tmp_path, numbered(20_000))
    engine = engines.connect("duckdb", location=location)
    table = engine.table(location)

    first, again = (engines.row_sample(table, 0.1, seed=7) for _ in range(2))

    assert first is not None and again is not None and first.schema() == table.schema()
    ids = sorted(first.id.to_pyarrow().to_pylist())
    assert ids == sorted(again.id.to_pyarrow().to_pylist())
    assert len(ids) == pytest.approx(2_000, rel=0.15) and len(set(ids)) == len(ids)
    # Spread over the whole file, not a block of it: each tenth of it holds about a tenth of the sample.
    tenths = pd.Series(ids).floordiv(2_000).value_counts()
    assert len(tenths) == 10 and tenths.min() > 100
    other_seed = engines.row_sample(table, 0.1, seed=8)
    assert other_seed is not None and sorted(other_seed.id.to_pyarrow().to_pylist()) != ids


def test_only_parquet_views_opened_on_duckdb_are_sampled_by_position(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    numbered(100).to_csv(csv, index=False)
    location = engines.parse_location(str(csv))
    table = engines.connect("duckdb", location=location).table(location)

    assert engines.row_sample(table, 0.5, seed=1) is None
    assert engines.row_sample(ibis.duckdb.connect().create_table("t", numbered(100)), 0.5, seed=1) is None


def test_a_sampled_parquet_profile_scales_its_distributions_and_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 2_000)
    location = parquet(tmp_path, numbered(20_000))

    def run() -> profiling.Profile:
        with engines.opened(location) as table:
            return profiling.profile(table, engine="duckdb")

    result = run()
    n, s = result.column("n"), result.column("s")

    assert result.sample == pytest.approx(0.1) and not result.exact
    assert (n.count, n.min, n.max) == (20_000, 0.0, 19_999.0)  # every row still counted
    assert n.histogram is not None and sum(n.histogram.counts) == pytest.approx(20_000, abs=10)
    assert all(c == pytest.approx(2_000, rel=0.25) for c in n.histogram.counts)
    assert n.quantiles["p50"] == pytest.approx(10_000, rel=0.1)
    assert sorted(value for value, _ in s.top_values) == ["v0", "v1", "v2", "v3"]
    assert all(count == pytest.approx(5_000, rel=0.2) for _, count in s.top_values)
    assert s.shapes and s.shapes[0][0] == "a9"
    assert run() == result  # the same sample, so the same profile


def unique_contract() -> checking.ContractSpec:
    return parse_contract(
        {"kind": "DataContract", "id": "ids", "source": "ids", "columns": {"id": {"unique": True}}}
    )


@pytest.mark.parametrize(
    ("ids", "duplicates"),
    [
        (list(range(5_000)), 0),
        ([i // 2 for i in range(5_000)], 2_500),
        ([*range(-3, 4_990), None, None, 7, 7, 7], 3),  # nulls are not duplicates; negatives count
    ],
)
def test_a_unique_integer_column_is_counted_exactly_by_bitmap_after_an_estimating_profile(
    monkeypatch: pytest.MonkeyPatch, ids: list[int | None], duplicates: int
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    table = ibis.duckdb.connect().create_table("ids", pd.DataFrame({"id": pd.array(ids, dtype="Int64")}))
    profile = profiling.profile(table, engine="duckdb")
    assert profile.column("id").distinct_approximate  # the contract cannot borrow its distinct count

    planner = checking._Planner(
        unique_contract(), table, checking._Executor(), None, None, pd.Timestamp.now(tz="UTC"), profile
    )
    (plan,) = planner.plan()
    assert isinstance(plan, checking._Plan)
    assert "BITSTRING_AGG" in ibis.to_sql(table.aggregate(**plan.measures))

    report = checking.run_contract(unique_contract(), table, engine="duckdb", profile=profile)
    alone = checking.run_contract(unique_contract(), table, engine="duckdb")

    (result,) = report.results
    assert (result.status, result.observed) == ("fail" if duplicates else "pass", duplicates)
    assert report.as_dict()["results"] == alone.as_dict()["results"]


def test_values_outside_the_profiled_range_still_count_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    table = ibis.duckdb.connect().create_table(
        "ids", pd.DataFrame({"id": [*range(5_000), 9_000, 9_000, 9_001]})
    )
    taken = profiling.profile(table, engine="duckdb")
    # A profile whose range misses the top values (as if they came after it): hashed, not in the bitmap.
    narrow = replace(taken, columns=[replace(c, max=4_999) for c in taken.columns])

    (result,) = checking.run_contract(unique_contract(), table, engine="duckdb", profile=narrow).results

    assert (result.status, result.observed) == ("fail", 1)


def test_a_bitmap_is_not_used_over_a_range_too_wide_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    ids = [i * (checking.MAX_BITMAP_RANGE // 1_000) for i in range(2_000)]
    table = ibis.duckdb.connect().create_table("ids", pd.DataFrame({"id": ids}))
    profile = profiling.profile(table, engine="duckdb")
    planner = checking._Planner(
        unique_contract(), table, checking._Executor(), None, None, pd.Timestamp.now(tz="UTC"), profile
    )
    (plan,) = planner.plan()

    assert isinstance(plan, checking._Plan)
    assert "BITSTRING_AGG" not in ibis.to_sql(table.aggregate(**plan.measures))
    (result,) = checking.run_contract(unique_contract(), table, engine="duckdb", profile=profile).results
    assert (result.status, result.observed) == ("pass", 0)


# Pattern checks on DuckDB run as GLOB where a pattern says nothing GLOB cannot.

PATTERNS = [
    r"^INV-[0-9]{8}$",
    r"^SKU-[A-Z]{3}-[0-9]{4}$",
    r"^\+44 20 [0-9]{4} [0-9]{4}$",
    r"^[A-Z]{2}[0-9] [0-9][A-Z]{2}$",
    r"^[A-Za-z0-9]{2}\d$",
    r"INV",
    r"^INV",
    r"[0-9]$",
    r"a\$",
    r"^$",
    r"",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_glob_finds_exactly_what_the_regular_expression_finds(pattern: str) -> None:
    texts = [
        "INV-00001234", "INV-0000123", "INV-000012345", "xINV-00001234", "INV-00001234\n", "inv-00001234",
        "SKU-ABC-1234", "SKU-AbC-1234", "+44 20 1234 5678", "+44 20 1234 567", "AB1 2CD", "ab1 2cd",
        "Ab1", "Ab12", "AÉ1", "a$", "a$b", "ba$", "", "9", "INV-0000123٣", "SKU-ÀBC-1234", "a\nINV",
    ]  # fmt: skip
    glob = checking.glob_of(pattern)
    assert glob is not None
    con = ibis.duckdb.connect()
    table = con.create_table("texts", pd.DataFrame({"text": texts}))

    by_regex = table.select(m=table.text.re_search(pattern)).to_pyarrow().column("m").to_pylist()
    by_glob = table.select(m=checking._glob(table.text, glob)).to_pyarrow().column("m").to_pylist()

    assert by_glob == by_regex


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$",
        r"^a.b$",
        r"^a*$",
        r"^a+$",
        r"^a?$",
        r"^a{2,3}$",
        r"^[^a]$",
        r"^[a-]$",
        r"^(?i)inv$",
        r"^a|b$",
        r"^\w$",
        r"^a\\$",
        r"^ü$",
        r"^a{3}?$",
    ],
)
def test_patterns_glob_cannot_say_stay_regular_expressions(pattern: str) -> None:
    assert checking.glob_of(pattern) is None


def test_a_pattern_check_reads_the_same_through_glob_or_regex() -> None:
    frame = pd.DataFrame({"code": ["INV-00000001", "INV-1", None, "inv-00000002", "INV-00000003"]})
    contract = parse_contract(
        {
            "kind": "DataContract",
            "id": "codes",
            "source": "codes",
            "columns": {"code": {"pattern": r"^INV-[0-9]{8}$"}},
        }
    )
    table = ibis.duckdb.connect().create_table("codes", frame)
    planner = checking._Planner(
        contract, table, checking._Executor(), None, None, pd.Timestamp.now(tz="UTC"), None
    )
    (plan,) = planner.plan()
    assert isinstance(plan, checking._Plan)
    assert "~~~" in ibis.to_sql(table.aggregate(**plan.measures))

    (result,) = checking.run_contract(contract, table, engine="duckdb").results

    assert (result.status, result.observed) == ("fail", 2)
    assert [row["code"] for row in result.examples] == ["INV-1", "inv-00000002"]


def test_a_booleans_distinct_count_is_exact_even_when_the_profile_estimates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    frame = pd.DataFrame(
        {
            "mixed": pd.array([i % 3 == 0 if i % 7 else None for i in range(5_000)], dtype="boolean"),
            "all_true": pd.array([True] * 5_000, dtype="boolean"),
            "none": pd.array([None] * 5_000, dtype="boolean"),
            "n": range(5_000),
        }
    )
    result = profiling.profile(ibis.duckdb.connect().create_table("flags", frame), engine="duckdb")

    assert result.column("n").distinct_approximate  # the others are estimated above the limit
    for name in ("mixed", "all_true", "none"):
        column = result.column(name)
        assert (column.distinct, column.distinct_approximate) == (frame[name].nunique(), False)


def test_a_sample_of_some_columns_keeps_each_histogram_with_its_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiling, "EXACT_ROW_LIMIT", 1_000)
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 2_000)
    # Text, a date and a boolean before and between the numbers: the sample leaves the date and boolean out.
    frame = pd.DataFrame(
        {
            "s": [f"v{i % 4}" for i in range(20_000)],
            "day": pd.to_datetime("2026-01-01") + pd.to_timedelta([i % 30 for i in range(20_000)], unit="D"),
            "small": [float(i % 10) for i in range(20_000)],
            "flag": [i % 2 == 0 for i in range(20_000)],
            "big": [float(i) * 1000 for i in range(20_000)],
        }
    )
    location = parquet(tmp_path, frame)

    with engines.opened(location) as table:
        result = profiling.profile(table, engine="duckdb")

    small, big = result.column("small"), result.column("big")
    assert result.sample == pytest.approx(0.1)
    assert small.histogram is not None and small.histogram.edges[-1] == 9.0
    assert all(c == pytest.approx(2_000, rel=0.25) for c in small.histogram.counts)
    assert big.histogram is not None and big.histogram.edges[-1] == 19_999_000.0
    assert all(c == pytest.approx(2_000, rel=0.25) for c in big.histogram.counts)
    assert small.quantiles["p50"] == pytest.approx(4.5, abs=1) and big.quantiles["p50"] > 5_000_000


def test_a_name_that_read_one_parquet_file_and_then_another_samples_the_other(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = (
        parquet(tmp_path / "a", numbered(100)),
        parquet(tmp_path / "b", numbered(100).assign(id=lambda f: f.id + 1_000)),
    )
    engine = engines.connect("duckdb", location=first)
    engine.table(first)

    sampled = engines.row_sample(engine.table(second), 0.5, seed=1)

    assert sampled is not None and min(sampled.id.to_pyarrow().to_pylist()) >= 1_000
