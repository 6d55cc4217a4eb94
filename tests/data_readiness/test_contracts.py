"""The data contract document: what validates, what each bad field is called, and the rule language."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import ibis
import pytest
import yaml

from phasegate import documents
from phasegate.data.contracts import ContractSpec, RuleError, compile_rule, parse_contract
from phasegate.errors import InvalidInput

DATA = Path(__file__).parent.parent / "data"
EXAMPLE = DATA / "contract-invoices.yaml"


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return document


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as raised:
        parse_contract(document, file="contract.yaml")
    assert all(p.file == "contract.yaml" for p in raised.value.problems)
    return {p.field or "": p.message for p in raised.value.problems}


def test_the_shared_invoices_example_validates() -> None:
    contract = parse_contract(example())

    assert (contract.id, contract.source) == ("invoices", "invoices_2026")
    assert contract.freshness is not None and contract.freshness.lag == timedelta(hours=26)
    assert contract.columns["invoice_id"].pattern == "^INV-[0-9]{8}$"
    assert contract.columns["supplier_id"].references == "suppliers.supplier_id"
    assert contract.columns["net_amount"].max_null_rate == 0.01
    assert contract.columns["currency"].allowed == ["EUR", "USD", "GBP", "SEK"]
    assert contract.rules[0].max_failure_rate == 0.001
    assert contract.distribution is not None
    assert (contract.distribution.snapshot, contract.distribution.max_psi) == ("2026-09-30", 0.2)


def test_the_example_in_the_shared_folder_is_the_one_tested() -> None:
    shared = Path(__file__).parents[3] / "shared" / "examples" / "contract-invoices.yaml"
    if not shared.exists():
        pytest.skip(f"{shared} is not here: the copy in tests/data is all there is")
    assert yaml.safe_load(shared.read_text(encoding="utf-8")) == example()


def test_bounds_keep_whole_numbers_whole() -> None:
    rule = parse_contract(example()).columns["net_amount"]
    assert (rule.min, rule.max) == (0, 1000000)
    assert isinstance(rule.max, int)


def test_the_canonical_document_reads_back_as_the_same_contract() -> None:
    contract = parse_contract(example())
    document = contract.document()

    assert document["kind"] == "DataContract"
    assert "rules" in document and "pii" not in document["columns"]["net_amount"]
    assert parse_contract(document) == contract


def test_only_a_minimal_contract_needs_id_and_source() -> None:
    contract = parse_contract({"kind": "DataContract", "id": "tiny", "source": "orders"})
    assert (contract.columns, contract.rules, contract.freshness, contract.distribution) == (
        {},
        [],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"kind": "DataSource"}, "kind", "DataContract"),
        ({"id": "Invoices 2026"}, "id", "lower-case"),
        ({"owner": "finance"}, "owner", "unknown field"),
        ({"freshness": {"column": "received_at", "max_lag": "a day"}}, "freshness.max_lag", "not a duration"),
        ({"columns": {"net_amount": {"type": "money"}}}, "columns.net_amount.type", "'decimal'"),
        (
            {"columns": {"net_amount": {"max_null_rate": 1.5}}},
            "columns.net_amount.max_null_rate",
            "less than",
        ),
        (
            {"columns": {"net_amount": {"min": 10, "max": 1}}},
            "columns.net_amount",
            "min (10) is above max (1)",
        ),
        ({"columns": {"net_amount": {"nullable": True}}}, "columns.net_amount.nullable", "unknown field"),
        (
            {"columns": {"invoice_id": {"pattern": "^INV-[0-9"}}},
            "columns.invoice_id.pattern",
            "not a regular",
        ),
        (
            {"columns": {"supplier_id": {"references": "suppliers"}}},
            "columns.supplier_id.references",
            "SOURCE.COLUMN",
        ),
        ({"columns": {"currency": {"allowed": []}}}, "columns.currency.allowed", "at least 1"),
        (
            {"columns": {"email": {"classification": "secret"}}},
            "columns.email.classification",
            "'restricted'",
        ),
        (
            {"rules": [{"name": "r", "expression": "a > 0", "max_failure_rate": 2}]},
            "rules.0.max_failure_rate",
            "less",
        ),
        ({"rules": [{"name": "r"}]}, "rules.0.expression", "Field required"),
        (
            {"rules": [{"name": "r", "expression": "a > 0"}, {"name": "r", "expression": "b > 0"}]},
            "rules",
            "repeated: r",
        ),
        ({"distribution": {"baseline": "2026-09-30"}}, "distribution.baseline", "snapshot:"),
        (
            {"distribution": {"baseline": "snapshot:x", "max_psi": 0}},
            "distribution.max_psi",
            "greater than 0",
        ),
    ],
)
def test_a_bad_contract_names_the_field_at_fault(change: dict[str, Any], field: str, message: str) -> None:
    problems = problems_of({**example(), **change})
    assert field in problems, problems
    assert message in problems[field]


def test_every_bad_field_is_reported_at_once() -> None:
    document = {**example(), "id": "Bad Id", "distribution": {"baseline": "yesterday"}}
    assert set(problems_of(document)) == {"id", "distribution.baseline"}


def test_a_bad_field_in_a_file_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "contract.yaml"
    text = EXAMPLE.read_text(encoding="utf-8").replace("max_null_rate: 0.01", "max_null_rate: lots")
    path.write_text(text, encoding="utf-8")
    (document,) = documents.load(path)

    with pytest.raises(InvalidInput) as raised:
        parse_contract(document.data, file=document.file)
    (problem,) = document.locate(raised.value.problems)

    assert problem.field == "columns.net_amount.max_null_rate"
    assert (
        problem.line
        == text.splitlines().index(next(line for line in text.splitlines() if "lots" in line)) + 1
    )


def test_pii_and_confidential_or_restricted_columns_are_masked_public_and_internal_are_not() -> None:
    contract = ContractSpec.model_validate(
        {
            "id": "people",
            "source": "crm",
            "columns": {
                "email": {"pii": True},
                "salary": {"classification": "confidential"},
                "ssn": {"classification": "restricted"},
                "team": {"classification": "internal"},
                "country": {"classification": "public"},
                "age": {},
            },
        }
    )
    assert contract.masked_columns == {"email", "salary", "ssn"}


# The rule language: SQL conditions rebuilt node by node; anything else is refused by name.

RULE_TABLE = ibis.table(
    {"total_amount": "float64", "net_amount": "float64", "tax_amount": "float64", "currency": "string"},
    name="invoices",
)


@pytest.mark.parametrize(
    "expression",
    [
        "abs(total_amount - net_amount - tax_amount) <= 0.01",
        "coalesce(tax_amount, 0) * 4 = net_amount / 1",
        "currency IN ('EUR', 'USD') AND NOT net_amount IS NULL",
        "currency NOT IN ('XXX') OR currency LIKE 'E%' OR currency NOT LIKE '_S_'",
        "net_amount BETWEEN 0 AND 1000000 AND -tax_amount <= 0",
        "lower(currency) <> 'eur' OR upper(currency) != 'EUR' OR TRUE",
        "TOTAL_AMOUNT >= 0",
        '"net_amount" IS NOT NULL',
    ],
)
def test_a_rule_in_the_language_compiles_to_a_condition(expression: str) -> None:
    condition, _ = compile_rule(expression, RULE_TABLE)
    assert condition.type().is_boolean()


def test_a_rule_reports_the_columns_it_reads_in_order() -> None:
    _, used = compile_rule("abs(total_amount - net_amount - tax_amount) <= 0.01", RULE_TABLE)
    assert used == ("total_amount", "net_amount", "tax_amount")


@pytest.mark.parametrize(
    ("expression", "cause"),
    [
        (
            "abs(total_amount - gross) <= 0.01",
            "no column 'gross' in source (columns: total_amount, net_amount",
        ),
        ("total_amount >", "cannot parse the expression"),
        ("currency = 'EUR", "cannot parse the expression"),
        ("sqrt(total_amount) > 1", "function sqrt() is not allowed in rules"),
        ("shell('rm -rf /') = 1", "function shell() is not allowed in rules"),
        ("currency IN (SELECT code FROM currencies)", "is not allowed in rules"),
        ("total_amount > 0; DROP TABLE invoices", "is not allowed in rules"),
        ("invoices.total_amount > 0", "write column names alone"),
        ("total_amount + 1", "is not a condition"),
        ("currency + 1 > 0", "does not fit the columns' types"),
        ("currency LIKE net_amount", "is not allowed in rules"),
    ],
)
def test_a_rule_outside_the_language_is_refused_with_its_cause(expression: str, cause: str) -> None:
    with pytest.raises(RuleError) as raised:
        compile_rule(expression, RULE_TABLE)
    assert cause in str(raised.value)
