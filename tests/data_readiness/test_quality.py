"""The four quality dimensions: scored in the engine, with the counts behind each score and what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.data.quality import (
    CODE_MAX_DISTINCT,
    accuracy,
    completeness,
    consistency,
    date_format,
    shape,
    timeliness,
    timeliness_score,
)
from phasegate.errors import InvalidInput

from .conftest import DATA, EngineTable

# Every engine but Spark: at seconds a query, Spark runs only the "on every engine" tests.
CHEAP_ENGINES = pytest.mark.parametrize("engine_table", ["duckdb", "sqlite", "postgres"], indirect=True)


# --- completeness -------------------------------------------------------------------------------


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [1, 2, 3, 4], "name": ["Ann", "", None, "Bo"], "city": ["Oslo", "Rome", "Lima", "  "]}
    )


def test_completeness_counts_nulls_and_blank_text_as_missing_on_every_engine(
    engine_table: EngineTable,
) -> None:
    result = completeness(engine_table(_customers()))
    assert result.score == pytest.approx(9 / 12)
    assert result.evidence["columns"]["name"] == {"present": 2, "missing": 2, "missing_rate": 0.5}
    assert result.findings == ["name: 2 of 4 values missing (50.0%)", "city: 1 of 4 values missing (25.0%)"]


@CHEAP_ENGINES
def test_completeness_is_scaled_by_row_coverage_when_rows_are_expected(engine_table: EngineTable) -> None:
    result = completeness(engine_table(_customers()), expected_rows=8, required=["id"])
    assert result.score == pytest.approx(1.0 * 4 / 8)
    assert result.findings[0] == "4 rows of 8 expected (50.0%)"
    assert completeness(engine_table(_customers()), expected_rows=3, required=["id"]).score == 1.0


@CHEAP_ENGINES
def test_an_empty_table_is_unmeasurable_unless_rows_were_expected(engine_table: EngineTable) -> None:
    empty = engine_table(_customers().iloc[:0], schema={"id": "int64", "name": "string", "city": "string"})
    unmeasured = completeness(empty)
    assert (unmeasured.score, unmeasured.reason) == (None, "the table has no rows")
    assert completeness(empty, expected_rows=10).score == 0.0


def test_completeness_refuses_columns_the_table_does_not_have() -> None:
    with pytest.raises(InvalidInput) as raised:
        completeness(ibis.memtable(_customers()), required=["id", "email"])
    assert [(p.field, p.message.split(";")[0]) for p in raised.value.problems] == [
        ("required", "no column 'email'")
    ]


def test_the_adult_census_is_incomplete_where_its_documentation_says() -> None:
    # UCI Adult marks unknown workclass, occupation and native country with '?', read here as missing.
    table = ibis.duckdb.connect().read_csv(DATA / "adult.csv")
    result = completeness(table)
    missing = {c: e["missing"] for c, e in result.evidence["columns"].items() if e["missing"]}
    assert missing == {"workclass": 2799, "occupation": 2809, "native_country": 857}
    assert result.score == pytest.approx(1 - (2799 + 2809 + 857) / (48842 * 16))
    assert result.findings[0] == "occupation: 2,809 of 48,842 values missing (5.8%)"


# --- accuracy -----------------------------------------------------------------------------------


def _invoices() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 6],
            "amount": [100.0, 200.0000000001, 300.0, None, 9.0],
            "currency": ["EUR", " USD ", "gbp", "SEK", "EUR"],
        }
    )


def _golden() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "amount": [100.0, 200.0, 300.001, 50.0, 10.0],
            "currency": ["EUR", "USD", "GBP", None, "EUR"],
        }
    )


def test_accuracy_compares_each_verified_value_on_every_engine(engine_table: EngineTable) -> None:
    result = accuracy(engine_table(_invoices()), engine_table(_golden()), key="id")
    # amount: 1 and 2 agree (2 within 1e-9 relative), 3 differs, 4 is missing in the source.
    # currency: 1 and 2 agree (trimmed), 3 differs in case; 4 has no verified value.
    assert result.evidence["fields"] == {
        "amount": {"compared": 4, "agreed": 2, "rate": 0.5},
        "currency": {"compared": 3, "agreed": 2, "rate": pytest.approx(2 / 3)},
    }
    assert result.score == pytest.approx(4 / 7)
    assert (result.evidence["matched_keys"], result.evidence["missing_from_source"]) == (4, 1)
    assert result.findings == [
        "1 of 5 golden keys are missing from the source (e.g. 5)",
        "amount disagrees with the golden slice on 2 of 4 records (50.0%; e.g. key 3, 4)",
        "currency disagrees with the golden slice on 1 of 3 records (33.3%; e.g. key 3)",
    ]


@CHEAP_ENGINES
def test_accuracy_says_when_repeated_keys_pair_a_record_more_than_once(engine_table: EngineTable) -> None:
    source = pd.concat([_invoices(), _invoices().iloc[:1]])
    result = accuracy(engine_table(source), engine_table(_golden()), key="id")
    assert result.evidence["joined_rows"] == 5
    assert result.findings[-1] == "keys repeat in the source or golden slice: 1 extra pairing(s) compared"


@CHEAP_ENGINES
def test_accuracy_compares_only_the_fields_named(engine_table: EngineTable) -> None:
    result = accuracy(engine_table(_invoices()), engine_table(_golden()), key="id", fields=["currency"])
    assert list(result.evidence["fields"]) == ["currency"]
    assert result.score == pytest.approx(2 / 3)


@CHEAP_ENGINES
def test_accuracy_joins_keys_written_as_numbers_in_one_table_and_text_in_the_other(
    engine_table: EngineTable,
) -> None:
    golden = _golden().assign(id=lambda f: f["id"].astype(str))
    result = accuracy(engine_table(_invoices()), engine_table(golden), key="id")
    assert result.evidence["matched_keys"] == 4


@CHEAP_ENGINES
def test_accuracy_cannot_be_measured_when_no_golden_key_is_in_the_source(engine_table: EngineTable) -> None:
    golden = _golden().assign(id=lambda f: f["id"] + 100)
    result = accuracy(engine_table(_invoices()), engine_table(golden), key="id")
    assert (result.score, result.reason) == (None, "no golden key matched the source")


# --- consistency --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("2026-01-31", "YYYY-MM-DD"),
        ("31/01/2026", "NN/NN/YYYY"),
        ("1/1/2004", "NN/NN/YYYY"),
        ("2024-10-01 00:00:00", "YYYY-MM-DD hh:mm:ss"),
        ("2024-10-01T08:30Z", "YYYY-MM-DD hh:mm"),
        ("01/2024", "MM/YYYY"),
        ("Jul-25", "Mon-YY"),
        ("January 5, 2024", "Month DD, YYYY"),
        ("2025", "YYYY"),
        ("INV-00001234", None),
        ("40 hours", None),
    ],
)
def test_date_formats_are_read_from_value_shapes(value: str, written: str | None) -> None:
    assert date_format(shape(value)) == written


def test_a_shape_keeps_punctuation_and_abstracts_letters_and_digits() -> None:
    assert shape("INV-00001234 é") == "AAA-99999999 é"


def _ledger() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "booked": ["2026-01-31", "2026-02-01", "2026-02-02", "31/01/2026"] + [None] * 6,
            "currency": ["EUR"] * 5 + ["eur", "€"] + ["USD"] * 3,
        }
    )


def test_consistency_finds_mixed_date_formats_and_currency_codes_on_every_engine(
    engine_table: EngineTable,
) -> None:
    result = consistency(engine_table(_ledger()))
    # booked: 1 of 4 dates in a minority format; currency: 'eur' (spelling, case) and '€' (code system).
    assert result.evidence["checks"] == 4 + 10
    assert result.evidence["inconsistent"] == 1 + 2
    assert result.score == pytest.approx(1 - 3 / 14)
    assert result.findings == [
        "booked mixes 2 date formats: YYYY-MM-DD (3, e.g. '2026-01-31'), NN/NN/YYYY (1, e.g. '31/01/2026')",
        "currency writes 1 value(s) several ways (1 cells use a less common spelling): 'EUR' (5) / 'eur' (1)",
        "currency mixes code systems: alphabetic (9, e.g. 'EUR', 'USD', 'eur'), symbolic (1, e.g. '€')",
        "currency mixes letter case: capitals (8, e.g. 'EUR', 'USD'), lower case (1, e.g. 'eur')",
    ]


@CHEAP_ENGINES
def test_one_entity_coded_two_ways_is_found_among_many_distinct_values(engine_table: EngineTable) -> None:
    names = [f"Supplier {i}" for i in range(CODE_MAX_DISTINCT + 50)] + ["ACME Corp"] * 3 + ["Acme Corp."]
    result = consistency(engine_table(pd.DataFrame({"supplier": names})))
    assert result.evidence["columns"]["supplier"]["kind"] == "text"
    assert result.evidence["inconsistent"] == 1
    assert result.findings == [
        "supplier writes 1 value(s) several ways (1 cells use a less common spelling): "
        "'ACME Corp' (3) / 'Acme Corp.' (1)"
    ]


@CHEAP_ENGINES
def test_values_spelt_differently_in_another_source_are_inconsistent_across_sources(
    engine_table: EngineTable,
) -> None:
    invoices = engine_table(pd.DataFrame({"supplier": ["ACME Corp", "ACME Corp", "Globex"]}))
    suppliers = engine_table(pd.DataFrame({"supplier": ["Acme Corp", "Globex", "Initech"]}))
    result = consistency(invoices, others={"suppliers": suppliers})
    assert result.evidence["checks"] == 3 + 3  # once within the source, once against suppliers
    assert result.evidence["across"]["suppliers"]["supplier"]["inconsistent"] == 2
    assert result.score == pytest.approx(1 - 2 / 6)
    assert result.findings == [
        "supplier: 2 cells are spelt differently in suppliers: 'ACME Corp' here, 'Acme Corp' there"
    ]


def test_the_federal_ai_inventory_mixes_date_formats_and_writes_yes_and_no_several_ways() -> None:
    table = ibis.duckdb.connect().read_csv(DATA / "us-federal-ai-inventory-2025.csv")
    result = consistency(table)
    operational = result.evidence["columns"]["operational_date"]
    assert operational["kind"] == "date"
    assert {"YYYY-MM-DD hh:mm:ss", "NN/NN/YYYY", "Mon-YY", "MM/YYYY"} <= set(operational["date_formats"])
    assert any(
        f.startswith("operational_date mixes 8 date formats: YYYY-MM-DD hh:mm:ss (374")
        for f in result.findings
    )
    assert "code_url writes 2 value(s) several ways (32 cells use a less common spelling): " in "\n".join(
        result.findings
    )
    assert "'No' (6) / 'NO' (1)" in "\n".join(result.findings)
    assert (
        "link_to_data mixes letter case: capitals (69, e.g. 'No', 'No.', 'TBD'), lower case (7"
        in "\n".join(result.findings)
    )
    assert 0.95 < result.score < 0.99  # type: ignore[operator]


def test_consistency_checks_text_columns_only() -> None:
    with pytest.raises(InvalidInput) as raised:
        consistency(ibis.memtable(_customers()), columns=["id"])
    assert raised.value.problems[0].message == "'id' is int64"
    unmeasured = consistency(ibis.memtable(_customers()), columns=[])
    assert (unmeasured.score, unmeasured.reason) == (None, "no text values to check")


# --- timeliness ---------------------------------------------------------------------------------

NOW = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)


def _events() -> pd.DataFrame:
    return pd.DataFrame({"received_at": pd.to_datetime(["2026-01-30 08:00", "2026-01-31 12:00", None])})


@pytest.mark.parametrize(("target_hours", "score"), [(26, 1.0), (12, 1.0), (8, 0.5), (6, 0.0)])
def test_timeliness_falls_linearly_from_the_target_to_zero_at_twice_it_on_every_engine(
    engine_table: EngineTable, target_hours: int, score: float
) -> None:
    result = timeliness(
        engine_table(_events()), column="received_at", max_lag=timedelta(hours=target_hours), now=NOW
    )
    assert result.score == pytest.approx(score)
    assert result.evidence["lag_seconds"] == 12 * 3600
    assert result.evidence["newest"] == "2026-01-31T12:00:00+00:00"


def test_timeliness_names_the_lag_and_the_target_when_late() -> None:
    result = timeliness(ibis.memtable(_events()), column="received_at", max_lag=timedelta(hours=8), now=NOW)
    assert result.findings == ["received_at: the newest record is 12.0 hours old; the target is 8.0 hours"]


@CHEAP_ENGINES
def test_timeliness_reads_timestamps_written_as_iso_text(engine_table: EngineTable) -> None:
    table = engine_table(pd.DataFrame({"received_at": ["2026-01-31 12:00:00", "2026-01-30 09:00:00"]}))
    result = timeliness(table, column="received_at", max_lag=timedelta(hours=24), now=NOW)
    assert (result.score, result.evidence["parsed_from_text"]) == (1.0, True)
    assert result.evidence["newest"] == "2026-01-31T12:00:00+00:00"


def test_records_from_the_future_are_timely_but_reported() -> None:
    result = timeliness(
        ibis.memtable(_events()), column="received_at", max_lag=timedelta(hours=1), now=datetime(2026, 1, 31)
    )
    assert result.score == 1.0
    assert result.findings == [
        "received_at: the newest record is 12.0 hours in the future (clock skew or bad data)"
    ]


def test_timeliness_without_any_timestamp_is_unmeasurable() -> None:
    table = ibis.memtable(pd.DataFrame({"received_at": pd.to_datetime([None, None])}))
    result = timeliness(table, column="received_at", max_lag=timedelta(hours=1), now=NOW)
    assert (result.score, result.reason) == (None, "no timestamps in received_at")


@given(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=10)),
)
def test_timeliness_score_stays_in_0_1_and_never_rises_with_lag(
    a: timedelta, b: timedelta, target: timedelta
) -> None:
    sooner, later = sorted((a, b))
    assert 0.0 <= timeliness_score(later, target) <= timeliness_score(sooner, target) <= 1.0
    assert timeliness_score(target, target) == 1.0
    assert timeliness_score(2 * target, target) == 0.0
