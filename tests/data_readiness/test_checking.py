"""Running a data contract where the data lives: the same verdicts, values and examples on every engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pytest
import yaml

from phasegate.data import drift, profiling
from phasegate.data.checking import MASK, CheckResult, ContractReport, run_contract
from phasegate.data.contracts import ContractSpec, parse_contract

from .conftest import EngineTable

DATA = Path(__file__).parent.parent / "data"
LATEST = datetime(2026, 9, 30, 18, 0)
NOW = (LATEST + timedelta(hours=2)).replace(tzinfo=UTC)
CURRENCIES = ["EUR", "USD", "GBP", "SEK"]
LABELS = ["verified", "corrected", "unreviewed"]
# The baseline's bins for net_amount: clean amounts run from 100 to 1095.
EDGES = [100.0, 300.0, 500.0, 700.0, 900.0, 1095.0]


def invoices(*, planted: bool, rows: int = 1000) -> pd.DataFrame:
    """Invoices, clean or with a known number of each violation planted in rows of their own."""
    age = timedelta(days=2) if planted else timedelta(0)
    records: list[dict[str, Any]] = []
    for i in range(rows):
        net = 100.0 + (i % 200) * 5  # quarters of these are exact in binary: total − net − tax is 0
        records.append(
            {
                "invoice_id": f"INV-{i + 1:08d}",
                "supplier_id": f"S{i % 50:03d}",
                "received_at": LATEST - age - timedelta(minutes=30 * i),
                "net_amount": net,
                "tax_amount": net / 4,
                "total_amount": net + net / 4,
                "currency": CURRENCIES[i % 4],
                "label_status": LABELS[i % 3],
                "buyer_email": f"buyer{i}@example.com",
            }
        )
    if planted:
        for row, copied in ((10, 0), (11, 1), (12, 2)):  # 3 duplicate ids
            records[row]["invoice_id"] = records[copied]["invoice_id"]
        records[20]["invoice_id"], records[21]["invoice_id"] = "INV-12AB", "inv-00000022"  # 2 bad ids
        for row in (25, 26):  # 2 missing totals
            records[row]["total_amount"] = None
        for row in range(30, 34):  # 4 unknown suppliers
            records[row]["supplier_id"] = "S999"
        for row in range(40, 52):  # 12 missing amounts: 1.2 % against 1 % allowed
            records[row]["net_amount"] = records[row]["tax_amount"] = None
        for row in (60, 61):  # 2 negative amounts
            records[row].update(net_amount=-5.0, tax_amount=0.0, total_amount=-5.0)
        records[62].update(net_amount=2_000_000.0, tax_amount=500_000.0, total_amount=2_500_000.0)
        for row in range(70, 75):  # 5 totals that are not net plus tax
            records[row]["total_amount"] += 1.0
        for row, currency in ((80, "XXX"), (81, "eur"), (82, "")):  # 3 unknown currencies
            records[row]["currency"] = currency
    return pd.DataFrame.from_records(records)


INVOICE_TYPES = ibis.memtable(invoices(planted=False).head(1)).schema()


def suppliers() -> pd.DataFrame:
    return pd.DataFrame({"supplier_id": [f"S{i:03d}" for i in range(50)], "name": "a supplier"})


def example_contract(**changes: Any) -> ContractSpec:
    document = yaml.safe_load((DATA / "contract-invoices.yaml").read_text(encoding="utf-8"))
    return parse_contract({**document, **changes})


def baseline() -> dict[str, Any]:
    """A stored profile of clean invoices, with net_amount's histogram: the snapshot drift compares with."""
    values = invoices(planted=False)["net_amount"].tolist()
    column = profiling.ColumnProfile(
        name="net_amount",
        type="float",
        count=len(values),
        nulls=0,
        null_rate=0.0,
        histogram=profiling.Histogram(edges=EDGES, counts=drift.histogram(EDGES, values)),
    )
    profile = profiling.Profile(rows=len(values), columns=[column], engine="duckdb", exact=True)
    stored: dict[str, Any] = json.loads(json.dumps(profile.as_dict()))
    return stored


def planted_psi() -> float:
    """What PSI the planted table must show: the pure function over counts made in Python."""
    planted = [v for v in invoices(planted=True)["net_amount"] if pd.notna(v)]
    expected = baseline()["columns"][0]["histogram"]["counts"]
    return drift.population_stability_index(expected, drift.histogram(EDGES, planted))


def check(
    contract: ContractSpec,
    table: ir.Table,
    *,
    engine: str,
    references: dict[str, ir.Table] | None = None,
    stored: dict[str, Any] | None = None,
    profile: profiling.Profile | None = None,
) -> ContractReport:
    def resolve(reference: str) -> ir.Table:
        source = reference.rpartition(".")[0]
        if references is None or source not in references:
            raise LookupError(f"no data source '{source}' in the catalog")
        return references[source]

    return run_contract(
        contract, table, engine=engine, resolve_reference=resolve, baseline=stored, now=NOW, profile=profile
    )


def outcome(report: ContractReport) -> dict[str, tuple[str, Any, int | None]]:
    return {r.check: (r.status, r.observed, r.violations) for r in report.results}


def result(report: ContractReport, name: str) -> CheckResult:
    return next(r for r in report.results if r.check == name)


@contextmanager
def counted_queries(backend: Any) -> Iterator[list[int]]:
    """Counts the queries a backend runs: outermost execute/to_pyarrow calls (one may call the other)."""
    calls, depth = [0], [0]
    names = ("execute", "to_pyarrow", "to_pyarrow_batches")
    for name in names:
        original = getattr(backend, name)

        def counting(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            depth[0] += 1
            calls[0] += depth[0] == 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(backend, name, counting)
    try:
        yield calls
    finally:
        for name in names:
            delattr(backend, name)


PLANTED: dict[str, tuple[str, Any, int | None]] = {
    "invoice_id.type": ("pass", "string", None),
    "invoice_id.not_null": ("pass", 0, 0),
    "invoice_id.unique": ("fail", 3, 3),
    "invoice_id.pattern": ("fail", 2, 2),
    "supplier_id.type": ("pass", "string", None),
    "supplier_id.not_null": ("pass", 0, 0),
    "supplier_id.references": ("fail", 4, 4),
    "received_at.type": ("pass", "timestamp", None),
    "received_at.not_null": ("pass", 0, 0),
    "net_amount.type": ("pass", "float", None),
    "net_amount.max_null_rate": ("fail", 0.012, 12),
    "net_amount.min": ("fail", -5.0, 2),
    "net_amount.max": ("fail", 2_000_000.0, 1),
    "tax_amount.type": ("pass", "float", None),
    "tax_amount.min": ("pass", 0.0, 0),
    "total_amount.type": ("pass", "float", None),
    "total_amount.not_null": ("fail", 2, 2),
    "total_amount.min": ("fail", -5.0, 2),
    "currency.type": ("pass", "string", None),
    "currency.allowed": ("fail", 3, 3),
    "label_status.type": ("pass", "string", None),
    "label_status.allowed": ("pass", 0, 0),
    "rule: total equals net plus tax": ("fail", 0.005, 5),
    "freshness": ("fail", "2d 2h", None),
}
CLEAN: dict[str, tuple[str, Any, int | None]] = {
    "invoice_id.type": ("pass", "string", None),
    "invoice_id.not_null": ("pass", 0, 0),
    "invoice_id.unique": ("pass", 0, 0),
    "invoice_id.pattern": ("pass", 0, 0),
    "supplier_id.type": ("pass", "string", None),
    "supplier_id.not_null": ("pass", 0, 0),
    "supplier_id.references": ("pass", 0, 0),
    "received_at.type": ("pass", "timestamp", None),
    "received_at.not_null": ("pass", 0, 0),
    "net_amount.type": ("pass", "float", None),
    "net_amount.max_null_rate": ("pass", 0.0, 0),
    "net_amount.min": ("pass", 100.0, 0),
    "net_amount.max": ("pass", 1095.0, 0),
    "tax_amount.type": ("pass", "float", None),
    "tax_amount.min": ("pass", 25.0, 0),
    "total_amount.type": ("pass", "float", None),
    "total_amount.not_null": ("pass", 0, 0),
    "total_amount.min": ("pass", 125.0, 0),
    "currency.type": ("pass", "string", None),
    "currency.allowed": ("pass", 0, 0),
    "label_status.type": ("pass", "string", None),
    "label_status.allowed": ("pass", 0, 0),
    "rule: total equals net plus tax": ("pass", 0.0, 0),
    "freshness": ("pass", "2h", None),
    "net_amount.psi": ("pass", 0.0, None),
}


@pytest.fixture
def planted(engine_table: EngineTable) -> ContractReport:
    table = engine_table(invoices(planted=True))
    references = {"suppliers": engine_table(suppliers())}
    return check(
        example_contract(), table, engine=engine_table.name, references=references, stored=baseline()
    )


def test_the_shared_contract_passes_on_clean_invoices_on_every_engine(engine_table: EngineTable) -> None:
    table = engine_table(invoices(planted=False))
    references = {"suppliers": engine_table(suppliers())}

    report = check(
        example_contract(), table, engine=engine_table.name, references=references, stored=baseline()
    )

    assert report.passed, [r for r in report.results if r.status != "pass"]
    assert report.rows == 1000
    assert outcome(report) == CLEAN
    assert all(r.examples == [] and r.error is None for r in report.results)


def test_each_planted_violation_fails_its_check_with_the_exact_observed_value(
    planted: ContractReport,
) -> None:
    # The outliers move a few amounts into the outer bins: a shift far below max_psi.
    assert outcome(planted) == {**PLANTED, "net_amount.psi": ("pass", planted_psi(), None)}
    assert 0 < planted_psi() < 0.01
    assert not planted.passed
    assert planted.counts == {"pass": 14, "fail": 11, "error": 0}


def test_each_result_names_its_check_column_and_kind(planted: ContractReport) -> None:
    named = {(r.check, r.column, r.kind) for r in planted.results}
    assert {
        ("net_amount.max_null_rate", "net_amount", "max_null_rate"),
        ("invoice_id.unique", "invoice_id", "unique"),
        ("rule: total equals net plus tax", None, "rule"),
        ("freshness", "received_at", "freshness"),
        ("net_amount.psi", "net_amount", "psi"),
    } <= named
    assert planted.as_dict()["results"][0]["kind"] == "type"


def test_limits_are_what_the_contract_declares(planted: ContractReport) -> None:
    limits = {r.check: r.limit for r in planted.results}
    assert limits["net_amount.max_null_rate"] == 0.01
    assert (limits["net_amount.min"], limits["net_amount.max"]) == (0, 1000000)
    assert (limits["invoice_id.unique"], limits["total_amount.not_null"]) == (0, 0)
    assert limits["currency.allowed"] == ["EUR", "USD", "GBP", "SEK"]
    assert limits["invoice_id.pattern"] == "^INV-[0-9]{8}$"
    assert limits["supplier_id.references"] == "suppliers.supplier_id"
    assert limits["rule: total equals net plus tax"] == 0.001
    assert (limits["freshness"], limits["net_amount.psi"], limits["net_amount.type"]) == (
        "26h",
        0.2,
        "decimal",
    )


def test_every_engine_reports_exactly_what_duckdb_reports(
    engine_table: EngineTable, planted: ContractReport
) -> None:
    con = ibis.duckdb.connect()
    table = con.create_table("invoices", ibis.memtable(invoices(planted=True)))
    references = {"suppliers": con.create_table("suppliers", ibis.memtable(suppliers()))}
    on_duckdb = check(example_contract(), table, engine="duckdb", references=references, stored=baseline())

    assert {**planted.as_dict(), "engine": "duckdb"} == on_duckdb.as_dict()


def test_failing_checks_show_up_to_five_rows_that_break_them_check_column_first(
    planted: ContractReport,
) -> None:
    unique = result(planted, "invoice_id.unique")
    assert [row["invoice_id"] for row in unique.examples] == [
        "INV-00000001",
        "INV-00000001",
        "INV-00000002",
        "INV-00000002",
        "INV-00000003",
    ]
    assert list(unique.examples[0]) == [
        "invoice_id",
        "supplier_id",
        "received_at",
        "net_amount",
        "tax_amount",
        "total_amount",
        "currency",
        "label_status",
    ]
    assert unique.examples[0]["received_at"] == "2026-09-28T18:00:00"
    assert [row["currency"] for row in result(planted, "currency.allowed").examples] == ["", "XXX", "eur"]
    assert [row["supplier_id"] for row in result(planted, "supplier_id.references").examples] == ["S999"] * 4
    assert [row["net_amount"] for row in result(planted, "net_amount.max_null_rate").examples] == [None] * 5
    rule = result(planted, "rule: total equals net plus tax")
    # A rule's examples lead with the columns it reads: here, one euro too much.
    first = rule.examples[0]
    assert list(first)[:3] == ["total_amount", "net_amount", "tax_amount"]
    assert (first["total_amount"], first["net_amount"], first["tax_amount"]) == (563.5, 450.0, 112.5)
    assert all(r.examples == [] for r in planted.results if r.status == "pass")


def test_examples_of_pii_confidential_and_restricted_columns_are_masked(engine_table: EngineTable) -> None:
    frame = invoices(planted=True)
    frame.loc[20, "buyer_email"] = None
    table = engine_table(frame)
    contract = example_contract()
    columns = {
        **{name: rule.model_dump(exclude_defaults=True) for name, rule in contract.columns.items()},
        "buyer_email": {"type": "string", "pii": True},
        "supplier_id": {"classification": "confidential"},
        "net_amount": {"classification": "restricted", "min": 0},
        "currency": {"classification": "internal", "allowed": ["EUR", "USD", "GBP", "SEK"]},
    }
    masked = example_contract(columns=columns, distribution=None)

    report = check(masked, table, engine=engine_table.name)

    pattern = result(report, "invoice_id.pattern")
    assert [row["invoice_id"] for row in pattern.examples] == ["INV-12AB", "inv-00000022"]
    assert [row["buyer_email"] for row in pattern.examples] == [None, MASK]  # a null hides nothing
    assert {row["supplier_id"] for row in pattern.examples} == {MASK}
    assert {row["net_amount"] for row in pattern.examples} == {MASK}
    assert [row["currency"] for row in pattern.examples] == ["EUR", "USD"]
    # One row's value is no less private as a minimum.
    assert result(report, "net_amount.min").observed == MASK
    assert result(report, "net_amount.min").violations == 2


def test_the_contract_costs_one_aggregate_one_anti_join_per_reference_and_one_query_for_examples(
    engine_table: EngineTable,
) -> None:
    planted = engine_table(invoices(planted=True))
    clean = engine_table(invoices(planted=False))
    references = {"suppliers": engine_table(suppliers())}
    contract = example_contract()
    without_reference = example_contract(
        columns={"invoice_id": {"unique": True}, "currency": {"allowed": ["EUR"]}}, distribution=None
    )

    with counted_queries(engine_table.backend) as queries:
        failing = check(contract, planted, engine=engine_table.name, references=references, stored=baseline())
    assert queries[0] == failing.queries == 3

    with counted_queries(engine_table.backend) as queries:
        passing = check(contract, clean, engine=engine_table.name, references=references, stored=baseline())
    assert queries[0] == passing.queries == 2  # nothing fails: no examples to fetch

    with counted_queries(engine_table.backend) as queries:
        alone = check(without_reference, planted, engine=engine_table.name)
    assert queries[0] == alone.queries == 2


def test_a_reference_on_another_engine_is_checked_against_a_copy_of_its_values(
    engine_table: EngineTable,
) -> None:
    table = engine_table(invoices(planted=True))
    elsewhere = ibis.duckdb.connect().create_table("suppliers", ibis.memtable(suppliers()))
    contract = example_contract(
        columns={"supplier_id": {"references": "suppliers.supplier_id"}}, distribution=None
    )

    report = check(contract, table, engine=engine_table.name, references={"suppliers": elsewhere})

    reference = result(report, "supplier_id.references")
    assert (reference.status, reference.observed) == ("fail", 4)
    assert [row["supplier_id"] for row in reference.examples] == ["S999"] * 4
    assert report.queries == 4  # the copy, the aggregate, the anti-join, the examples


# A check that cannot run is an error with its cause, never a pass.


def test_checks_on_a_column_the_source_lacks_are_errors_naming_the_columns_it_has(
    engine_table: EngineTable,
) -> None:
    table = engine_table(invoices(planted=False).drop(columns=["currency"]))
    contract = example_contract(distribution=None, rules=[], freshness=None)

    report = check(
        contract, table, engine=engine_table.name, references={"suppliers": engine_table(suppliers())}
    )

    for name in ("currency.type", "currency.allowed"):
        assert result(report, name).status == "error"
        assert result(report, name).error == (
            "no column 'currency' in source (columns: invoice_id, supplier_id, received_at, net_amount, "
            "tax_amount, total_amount, label_status, buyer_email)"
        )
    assert report.counts == {"pass": 20, "fail": 0, "error": 2}
    assert not report.passed


@pytest.mark.parametrize(
    ("expression", "cause"),
    [
        ("abs(total_amount - gross_amount) <= 0.01", "no column 'gross_amount' in source"),
        ("abs(total_amount - net_amount - tax_amount <= 0.01", "cannot parse the expression"),
        ("round(total_amount) = total_amount", "function round() is not allowed in rules"),
        ("currency * 2 > 1", "does not fit the columns' types"),
    ],
)
def test_a_rule_that_cannot_run_is_an_error_with_its_cause(expression: str, cause: str) -> None:
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=False)))
    contract = example_contract(
        rules=[{"name": "totals", "expression": expression, "max_failure_rate": 1}],
        distribution=None,
        columns={},
    )

    report = check(contract, table, engine="duckdb")

    rule = result(report, "rule: totals")
    assert rule.status == "error" and rule.limit == 1
    assert rule.error is not None and cause in rule.error
    assert report.counts == {"pass": 1, "fail": 0, "error": 1}  # freshness still ran


def test_a_reference_to_an_unknown_source_or_column_is_an_error_naming_it() -> None:
    con = ibis.duckdb.connect()
    table = con.create_table("invoices", ibis.memtable(invoices(planted=False)))
    other = con.create_table("suppliers", ibis.memtable(suppliers()))
    contract = example_contract(
        columns={
            "supplier_id": {"references": "vendors.supplier_id"},
            "invoice_id": {"references": "suppliers.invoice_id"},
            "net_amount": {"references": "suppliers.supplier_id"},
        },
        distribution=None,
        freshness=None,
        rules=[],
    )

    report = check(contract, table, engine="duckdb", references={"suppliers": other})
    unresolved = run_contract(contract, table, engine="duckdb")

    assert {r.check: r.error for r in report.results} == {
        "supplier_id.references": "cannot read the referenced source 'vendors': "
        "no data source 'vendors' in the catalog",
        "invoice_id.references": "no column 'invoice_id' in suppliers (columns: supplier_id, name)",
        "net_amount.references": "'net_amount' is float but suppliers.supplier_id is string: "
        "their values cannot match",
    }
    assert {r.status for r in unresolved.results} == {"error"}
    assert "no catalog to find it in" in (unresolved.results[0].error or "")


@pytest.mark.parametrize(
    ("column", "rule", "error"),
    [
        ("tax_amount", {"pattern": "^[0-9]+$"}, "pattern needs a string column; 'tax_amount' is float"),
        ("net_amount", {"min": 0}, "min needs a numeric column; 'net_amount' is string"),
        ("currency", {"max": 10}, "max needs a numeric column; 'currency' is string"),
        (
            "total_amount",
            {"allowed": ["1", "2"]},
            "allowed values of numeric column 'total_amount' are numbers",
        ),
        (
            "received_at",
            {"allowed": ["today"]},
            "allowed needs a string, number or boolean column; 'received_at' is timestamp",
        ),
    ],
)
def test_a_check_that_does_not_fit_the_column_type_is_an_error(
    column: str, rule: dict[str, Any], error: str
) -> None:
    frame = invoices(planted=False).astype({"net_amount": str, "total_amount": int})
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(frame))
    contract = example_contract(columns={column: rule}, distribution=None, freshness=None, rules=[])

    (only,) = check(contract, table, engine="duckdb").results

    assert (only.status, only.error) == ("error", error)


def test_a_string_column_declared_decimal_fails_its_type_check_naming_the_type_it_has() -> None:
    frame = invoices(planted=False).assign(net_amount=lambda f: f["net_amount"].astype(str))
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(frame))

    report = check(
        example_contract(distribution=None),
        table,
        engine="duckdb",
        references={"suppliers": ibis.duckdb.connect().create_table("s", ibis.memtable(suppliers()))},
    )

    assert outcome(report)["net_amount.type"] == ("fail", "string", None)
    assert result(report, "net_amount.type").limit == "decimal"
    assert result(report, "net_amount.min").status == "error"
    # An integer column is a valid decimal: CSV readers infer whole amounts as integers.
    whole = ibis.duckdb.connect().create_table("w", ibis.memtable({"net_amount": [1, 2]}))
    contract = example_contract(
        columns={"net_amount": {"type": "decimal"}}, distribution=None, freshness=None, rules=[]
    )
    assert outcome(check(contract, whole, engine="duckdb")) == {"net_amount.type": ("pass", "integer", None)}


def test_freshness_distribution_without_a_baseline_and_non_temporal_freshness_are_errors() -> None:
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=False)))
    contract = example_contract(columns={}, rules=[], freshness={"column": "currency", "max_lag": "1d"})

    report = check(contract, table, engine="duckdb")

    assert {r.check: (r.status, r.error) for r in report.results} == {
        "freshness": ("error", "freshness needs a date or timestamp column; 'currency' is string"),
        "distribution": ("error", "no baseline profile: snapshot:2026-09-30 was not found"),
    }


def test_a_psi_check_on_a_column_the_baseline_did_not_bin_is_an_error() -> None:
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=False)))
    contract = example_contract(
        columns={},
        rules=[],
        freshness=None,
        distribution={"baseline": "snapshot:2026-09-30", "columns": ["net_amount", "tax_amount", "vat"]},
    )

    report = check(contract, table, engine="duckdb", stored=baseline())

    assert {r.check: (r.status, r.error) for r in report.results} == {
        "net_amount.psi": ("pass", None),
        "tax_amount.psi": ("error", "snapshot:2026-09-30 has no histogram of 'tax_amount'"),
        "vat.psi": (
            "error",
            "no column 'vat' in source (columns: invoice_id, supplier_id, received_at, "
            "net_amount, tax_amount, total_amount, currency, label_status, buyer_email)",
        ),
    }


def test_a_check_the_engine_refuses_is_an_error_and_the_others_still_run() -> None:
    # Python's re accepts a lookahead; DuckDB's RE2 does not, so the engine refuses the aggregate.
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=True)))
    contract = example_contract(
        columns={"invoice_id": {"unique": True, "pattern": "^(?=INV)"}, "currency": {"allowed": CURRENCIES}},
        rules=[],
        distribution=None,
        freshness=None,
    )

    report = check(contract, table, engine="duckdb")

    assert outcome(report) == {
        "invoice_id.unique": ("fail", 3, 3),
        "invoice_id.pattern": ("error", None, None),
        "currency.allowed": ("fail", 3, 3),
    }
    assert (result(report, "invoice_id.pattern").error or "").startswith("the engine could not run it: ")
    assert len(result(report, "currency.allowed").examples) == 3


def test_unreadable_data_makes_every_check_that_reads_it_an_error(tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    invoices(planted=False).to_csv(path, index=False)
    table = ibis.duckdb.connect().read_csv(path)
    path.unlink()

    report = check(
        example_contract(distribution=None), table, engine="duckdb", references={"suppliers": table}
    )

    # Types come from the schema, read when the source was opened; every other check reads rows.
    reading = [r for r in report.results if not r.check.endswith(".type")]
    assert reading and all(r.status == "error" for r in reading)
    assert all((r.error or "").startswith("cannot read the source on duckdb: ") for r in reading)
    assert report.rows is None and not report.passed


def test_an_empty_table_passes_its_counts_and_fails_freshness() -> None:
    table = ibis.duckdb.connect().create_table(
        "invoices", ibis.memtable(invoices(planted=False).head(0), schema=INVOICE_TYPES)
    )
    contract = example_contract(
        columns={"net_amount": {"max_null_rate": 0.0, "min": 0}},
        rules=[{"name": "positive", "expression": "net_amount > 0"}],
        distribution=None,
    )

    assert outcome(check(contract, table, engine="duckdb")) == {
        "net_amount.max_null_rate": ("pass", 0.0, 0),
        "net_amount.min": ("pass", None, 0),
        "rule: positive": ("pass", 0.0, 0),
        "freshness": ("fail", "no values", None),
    }


# A profile of the same table, taken just before (as an audit does), lends its counts.


def test_a_profile_of_the_table_lends_its_counts_without_changing_a_result(engine_table: EngineTable) -> None:
    table = engine_table(invoices(planted=True))
    references = {"suppliers": engine_table(suppliers())}
    alone = check(
        example_contract(), table, engine=engine_table.name, references=references, stored=baseline()
    )
    profile = profiling.profile(table, engine=engine_table.name)

    lent = check(
        example_contract(),
        table,
        engine=engine_table.name,
        references=references,
        stored=baseline(),
        profile=profile,
    )

    assert lent.as_dict() == alone.as_dict()


def test_checks_a_profile_answers_run_no_query() -> None:
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=False)))
    contract = example_contract(
        columns={
            "invoice_id": {"not_null": True, "unique": True},
            "net_amount": {"max_null_rate": 0.01, "min": 0, "max": 5000},
            "total_amount": {"not_null": True},
        },
        rules=[],
        distribution=None,
        freshness=None,
    )
    profile = profiling.profile(table, engine="duckdb")

    with counted_queries(table.get_backend()) as queries:
        report = check(contract, table, engine="duckdb", profile=profile)

    assert report.passed and queries[0] == report.queries == 0
    assert outcome(report)["net_amount.min"] == ("pass", 100.0, 0)
    assert report.rows == 1000


def test_a_bound_the_profiles_extreme_breaks_is_still_counted_in_the_data() -> None:
    table = ibis.duckdb.connect().create_table("invoices", ibis.memtable(invoices(planted=True)))
    contract = example_contract(
        columns={"net_amount": {"min": 0, "max": 5000}}, rules=[], distribution=None, freshness=None
    )
    profile = profiling.profile(table, engine="duckdb")

    with counted_queries(table.get_backend()) as queries:
        report = check(contract, table, engine="duckdb", profile=profile)

    assert outcome(report) == {
        "net_amount.min": ("fail", -5.0, 2),
        "net_amount.max": ("fail", 2_000_000.0, 1),
    }
    assert queries[0] == report.queries == 2  # the two counts in one aggregate, then the examples


def test_examples_are_the_first_failing_rows_by_a_column_the_run_proved_a_key(
    engine_table: EngineTable,
) -> None:
    # Shuffled ids, scores falling as they rise, names against them: each order picks other rows.
    ids = [(i * 37) % 101 for i in range(101)]
    frame = pd.DataFrame(
        {
            "score": [-i if i % 2 == 0 else i for i in ids],
            "name": [f"n{1000 - i}" for i in ids],
            "id": ids,
        }
    )
    contract = parse_contract(
        {
            "kind": "DataContract",
            "id": "scores",
            "source": "scores",
            "columns": {"score": {"min": 0}, "name": {"not_null": True}, "id": {"unique": True}},
        }
    )

    report = run_contract(contract, engine_table(frame), engine=engine_table.name)

    examples = result(report, "score.min").examples
    assert [row["id"] for row in examples] == [2, 4, 6, 8, 10]
    assert list(examples[0]) == ["score", "name", "id"]


def test_without_a_proven_key_examples_are_sorted_by_every_column_check_column_first() -> None:
    frame = pd.DataFrame({"score": [-1, -1, -2, -3, -1, -5], "id": [7, 3, 9, 9, 1, 2]})
    contract = parse_contract(
        {
            "kind": "DataContract",
            "id": "scores",
            "source": "scores",
            "columns": {"score": {"min": 0}, "id": {"unique": True}},
        }
    )
    table = ibis.duckdb.connect().create_table("scores", ibis.memtable(frame))

    report = run_contract(contract, table, engine="duckdb")

    assert result(report, "id.unique").status == "fail"
    assert [(row["score"], row["id"]) for row in result(report, "score.min").examples] == [
        (-5, 2),
        (-3, 9),
        (-2, 9),
        (-1, 1),
        (-1, 3),
    ]


# Row rules mean the same on every engine.

RULES: dict[str, tuple[str, int]] = {
    "a >= b": ("unknown (null) is not a failure", 1),
    "a / b >= 1": ("division by zero is null, not an error", 1),
    "coalesce(a, 0) + coalesce(b, 0) > 1": ("coalesce fills the nulls", 1),
    "s LIKE 'E%'": ("LIKE is case-sensitive", 3),
    "lower(s) IN ('eur', 'usd')": ("IN a list of strings", 1),
    "a BETWEEN 1 AND 2": ("BETWEEN includes its ends", 2),
    "NOT (a > 1)": ("NOT of unknown is unknown", 2),
    "b IS NOT NULL": ("IS NULL sees nulls", 1),
    "a * 2 - b = 1": ("arithmetic", 2),
    "s NOT LIKE '%r' OR s IS NULL": ("NOT LIKE", 2),
}


def test_rules_mean_the_same_on_every_engine(engine_table: EngineTable) -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, None, 4.0, 0.0],
            "b": [1.0, 0.0, 1.0, None, 2.0],
            "s": ["Eur", "eur", None, "USD", "e%"],
        }
    )
    table = engine_table(frame)
    contract = ContractSpec.model_validate(
        {
            "id": "rules",
            "source": "letters",
            "rules": [
                {"name": meaning, "expression": text, "max_failure_rate": 1}
                for text, (meaning, _) in RULES.items()
            ],
        }
    )

    report = run_contract(contract, table, engine=engine_table.name)

    assert {r.check: r.violations for r in report.results} == {
        f"rule: {meaning}": failures for meaning, failures in RULES.values()
    }
    assert report.passed and report.queries == 1


# Real data: bike hires in winter against July.


def bikeshare() -> pd.DataFrame:
    return pd.read_csv(DATA / "bikeshare.csv")


def winter_snapshot(hires: pd.DataFrame) -> dict[str, Any]:
    """January and February profiled on DuckDB and stored as JSON: a snapshot any engine compares with."""
    winter = ibis.duckdb.connect().create_table(
        "winter", ibis.memtable(hires[hires["mnth"].isin(["Jan", "Feb"])])
    )
    stored: dict[str, Any] = json.loads(json.dumps(profiling.profile(winter, engine="duckdb").as_dict()))
    return stored


def test_july_drifts_from_a_winter_baseline_on_temperature(engine_table: EngineTable) -> None:
    hires = bikeshare()
    stored = winter_snapshot(hires)
    july = hires[hires["mnth"] == "July"]
    contract = ContractSpec.model_validate(
        {
            "id": "bikeshare",
            "source": "bikeshare",
            "distribution": {"baseline": "snapshot:winter", "max_psi": 0.2, "columns": ["temp", "hr"]},
        }
    )

    summer = run_contract(contract, engine_table(july), engine=engine_table.name, baseline=stored)

    histogram = next(c["histogram"] for c in stored["columns"] if c["name"] == "temp")
    by_hand = drift.population_stability_index(
        histogram["counts"], drift.histogram(histogram["edges"], july["temp"].tolist())
    )
    assert outcome(summer) == {
        "temp.psi": ("fail", by_hand, None),
        "hr.psi": ("pass", pytest.approx(0.0071, abs=1e-4), None),
    }
    # Most July hours are warmer than the warmest winter hour: a major shift, far past 0.2.
    assert drift.shift(by_hand) == "major" and by_hand > 10
    assert summer.queries == 1


def test_winter_does_not_drift_from_its_own_snapshot(engine_table: EngineTable) -> None:
    hires = bikeshare()
    winter = engine_table(hires[hires["mnth"].isin(["Jan", "Feb"])])
    contract = ContractSpec.model_validate(
        {"id": "bikeshare", "source": "bikeshare", "distribution": {"baseline": "snapshot:winter"}}
    )

    report = run_contract(contract, winter, engine=engine_table.name, baseline=winter_snapshot(hires))

    assert report.passed
    assert {r.observed for r in report.results} == {0.0}


def test_the_default_distribution_checks_every_binned_column_even_a_constant_one() -> None:
    hires = bikeshare()
    july = ibis.duckdb.connect().create_table("july", ibis.memtable(hires[hires["mnth"] == "July"]))
    stored = winter_snapshot(hires)
    contract = ContractSpec.model_validate(
        {"id": "bikeshare", "source": "bikeshare", "distribution": {"baseline": "snapshot:winter"}}
    )

    report = run_contract(contract, july, engine="duckdb", baseline=stored)

    binned = [c["name"] for c in stored["columns"] if c["histogram"] is not None]
    assert [r.check for r in report.results] == [f"{name}.psi" for name in binned]
    # Winter is season 1 only: one bin, yet July's season 3 shows as a shift.
    season = next(c["histogram"] for c in stored["columns"] if c["name"] == "season")
    assert season == {"edges": [1.0, 1.0], "counts": [1337]}
    assert {"temp.psi", "season.psi"} <= {r.check for r in report.results if r.status == "fail"}
    assert report.queries == 1
