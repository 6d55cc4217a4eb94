"""PII detection: the check-digit maths, each built-in detector, the scan in the engine and the registry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import ibis
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.data import pii
from phasegate.data.pii import (
    BUILT_IN_DETECTORS,
    Detector,
    PiiFinding,
    iban_check_digits,
    iban_valid,
    load_detectors,
    luhn_check_digit,
    luhn_valid,
    scan,
    suggest_classification,
)
from phasegate.errors import InvalidInput

from .conftest import DATA, EngineTable

# Every engine but Spark: at seconds a query, Spark runs only the "on every engine" tests.
CHEAP_ENGINES = pytest.mark.parametrize("engine_table", ["duckdb", "sqlite", "postgres"], indirect=True)
DETECTORS = {d.name: d for d in BUILT_IN_DETECTORS}

# Published test numbers: card networks' test cards, and the IBAN examples of the SWIFT IBAN Registry.
TEST_CARDS = ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"]
VALID_IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "CH9300762011623852957",
    "NO9386011117947",
]

digits = st.text("0123456789", min_size=1, max_size=30)


@pytest.mark.parametrize("number", TEST_CARDS)
def test_published_test_card_numbers_pass_the_luhn_check(number: str) -> None:
    assert luhn_valid(number)


@given(digits)
def test_a_luhn_check_digit_makes_any_number_valid(payload: str) -> None:
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(digits, st.data())
def test_changing_any_one_digit_breaks_the_luhn_check(payload: str, data: st.DataObject) -> None:
    number = payload + luhn_check_digit(payload)
    position = data.draw(st.integers(0, len(number) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    assert not luhn_valid(number[:position] + other + number[position + 1 :])


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_the_iban_registrys_examples_are_valid(iban: str) -> None:
    assert iban_valid(iban)


@given(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18))
def test_an_iban_built_with_its_check_digits_is_valid(bban: str) -> None:
    assert iban_valid("DE" + iban_check_digits("DE", bban) + bban)


@given(st.text("0123456789", min_size=18, max_size=18), st.integers(0, 99))
def test_an_iban_with_a_wrong_check_digit_fails(bban: str, wrong: int) -> None:
    right = iban_check_digits("DE", bban)
    if f"{wrong:02d}" != right:
        assert not iban_valid(f"DE{wrong:02d}{bban}")


def test_an_iban_of_the_wrong_length_for_its_country_fails() -> None:
    bban = "370400440532013000"
    assert iban_valid("DE" + iban_check_digits("DE", bban) + bban)
    assert not iban_valid("DE" + iban_check_digits("DE", bban + "1") + bban + "1")


@pytest.mark.parametrize(
    ("detector", "text", "found"),
    [
        ("email", "write to jane.doe@example.co.uk today", ["jane.doe@example.co.uk"]),
        ("email", "not an address: a..b@example.com", []),
        ("phone", "call +44 20 7946 0958", ["+44 20 7946 0958"]),
        ("phone", "office (020) 7946 0958", ["(020) 7946 0958"]),
        ("phone", "US desk 415-555-0132", ["415-555-0132"]),
        ("phone", "order 4155550132", []),  # a bare ten-digit run is more often an identifier
        ("phone", "released 2024-10-01", []),
        ("phone", "https://doi.org/10.1785/0220200178", []),
        ("phone", "id 0000123456", []),
        ("iban", "pay to GB82 WEST 1234 5698 7654 32 please", ["GB82 WEST 1234 5698 7654 32"]),
        ("iban", "GB83 WEST 1234 5698 7654 32", []),
        ("payment_card", "card 4111 1111 1111 1111 exp 12/29", ["4111 1111 1111 1111"]),
        ("payment_card", "card 4111 1111 1111 1112", []),
        ("payment_card", "order 12345678901234567890123", []),  # too long to be a card
        ("us_ssn", "SSN 123-45-6789", ["123-45-6789"]),
        ("us_ssn", "SSN 666-45-6789", []),
        ("us_ssn", "SSN 123-00-6789", []),
        ("uk_nino", "NI AB 12 34 56 C", ["AB 12 34 56 C"]),
        ("uk_nino", "NI QQ123456C", []),  # Q is never a first letter: QQ is HMRC's specimen prefix
        ("uk_nino", "NI GB123456A", []),
    ],
)
def test_each_built_in_detector_confirms_real_values_and_rejects_look_alikes(
    detector: str, text: str, found: list[str]
) -> None:
    assert DETECTORS[detector].find(text) == found


@pytest.mark.parametrize(
    ("detector", "value", "masked"),
    [
        ("email", "jane.doe@example.com", "j***@example.com"),
        ("phone", "+44 20 7946 0958", "+** ** **** **58"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "GB** **** **** **** **54 32"),
        ("payment_card", "4111 1111 1111 1111", "**** **** **** 1111"),
        ("us_ssn", "123-45-6789", "***-**-6789"),
    ],
)
def test_examples_are_masked_before_they_leave_the_scan(detector: str, value: str, masked: str) -> None:
    assert DETECTORS[detector].mask(value) == masked


def _people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "note": [
                "contact jane.doe@example.com",
                "paid with 4111 1111 1111 1111",
                "paid with 4111 1111 1111 1112",  # fails the Luhn check
                "refund to GB82 WEST 1234 5698 7654 32",
                None,
                "nothing personal",
            ],
            "card": [4111111111111111, 5500005555555559, 1234, None, 7, 8],
        }
    )


def test_the_scan_finds_the_same_personal_data_on_every_engine(engine_table: EngineTable) -> None:
    findings = scan(engine_table(_people(), schema={"id": "int64", "note": "string", "card": "int64"}))
    found = {(f.column, f.detector): f for f in findings}
    assert set(found) == {
        ("note", "email"),
        ("note", "payment_card"),
        ("note", "iban"),
        ("card", "payment_card"),
    }
    # Three candidates: two card-like numbers and the digits inside the IBAN; only one passes Luhn.
    assert found[("note", "payment_card")].candidates == 3
    assert found[("note", "payment_card")].matches == 1
    assert found[("card", "payment_card")].matches == 2  # card numbers stored as integers
    assert found[("note", "email")].examples_masked == ["j***@example.com"]
    assert found[("note", "iban")].suggested_classification == "restricted"
    assert all(f.rows_scanned == 6 and f.sampled is None for f in findings)


@CHEAP_ENGINES
def test_the_scan_estimates_from_a_sample_when_candidates_exceed_the_limit(engine_table: EngineTable) -> None:
    # Half the candidates pass the Luhn check; the scan validates 10 of 40 and scales up.
    numbers = [f"4111 1111 1111 {1111 if i % 2 == 0 else 1112}" for i in range(40)]
    table = engine_table(pd.DataFrame({"note": numbers}))
    (finding,) = scan(table, detectors=[DETECTORS["payment_card"]], sample_limit=10)
    assert finding.candidates == 40
    assert finding.sampled == 10
    assert finding.matches == 20
    assert finding.note == "estimated from a sample of 10 of 40 candidates (the first the engine returned)"


@CHEAP_ENGINES
def test_the_scan_only_looks_at_the_columns_named(engine_table: EngineTable) -> None:
    table = engine_table(_people(), schema={"id": "int64", "note": "string", "card": "int64"})
    assert {f.column for f in scan(table, columns=["card"])} == {"card"}
    with pytest.raises(InvalidInput) as raised:
        scan(table, columns=["email"])
    assert raised.value.problems[0].message == "no column 'email'"


def test_the_adult_census_holds_no_personal_identifiers() -> None:
    # 48,842 rows of ages, weights, occupations and countries: a scan that cries wolf here is useless.
    table = ibis.duckdb.connect().read_csv(DATA / "adult.csv")
    assert scan(table) == []


def test_the_federal_ai_inventory_reveals_one_email_address_in_free_text() -> None:
    # contact_email is empty throughout; one description names a mailbox. DOIs and catalogue ids in the
    # link columns look like national phone numbers to the engine's prefilter and are rejected in Python.
    table = ibis.duckdb.connect().read_csv(DATA / "us-federal-ai-inventory-2025.csv")
    findings = scan(table)
    assert [(f.column, f.detector, f.matches) for f in findings] == [("problem_solved", "email", 1)]
    assert findings[0].examples_masked == ["w***@dol.gov"]
    assert suggest_classification(findings, declared="public") == "confidential"


def _finding(detector: str, classification: Any, matches: int = 3) -> PiiFinding:
    return PiiFinding("c", detector, matches, 10, [], classification)


@pytest.mark.parametrize(
    ("found", "declared", "suggested"),
    [
        ([], None, "internal"),
        ([], "public", "public"),
        ([_finding("email", "confidential")], "public", "confidential"),
        ([_finding("phone", "confidential"), _finding("iban", "restricted")], "internal", "restricted"),
        ([_finding("email", "confidential")], "restricted", "restricted"),  # never lowered
        ([_finding("payment_card", "restricted", matches=0)], "internal", "internal"),
    ],
)
def test_the_suggested_classification_is_the_highest_the_findings_call_for(
    found: list[PiiFinding], declared: Any, suggested: str
) -> None:
    assert suggest_classification(found, declared=declared) == suggested


class PassportDetector(Detector):
    name = "passport"
    classification: ClassVar = "restricted"
    description = "test passports"
    pattern = "P<[A-Z]{3}"

    def validate(self, candidate: str) -> bool:
        """Every candidate."""
        return True


def _entry_points(*entries: SimpleNamespace) -> Any:
    return lambda group: list(entries) if group == pii.ENTRY_POINT_GROUP else []


def test_detectors_from_entry_points_join_the_built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = SimpleNamespace(name="passport", value="tests:PassportDetector", load=lambda: PassportDetector)
    monkeypatch.setattr(pii, "entry_points", _entry_points(entry))
    detectors = load_detectors()
    assert set(detectors) == {"email", "phone", "iban", "payment_card", "us_ssn", "uk_nino", "passport"}
    assert isinstance(detectors["passport"], PassportDetector)


def test_an_entry_point_may_replace_a_built_in_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = SimpleNamespace(name="email", value="tests:PassportDetector", load=lambda: PassportDetector())
    monkeypatch.setattr(pii, "entry_points", _entry_points(entry))
    assert isinstance(load_detectors()["email"], PassportDetector)


def test_an_entry_point_that_is_not_a_detector_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = SimpleNamespace(name="broken", value="somewhere:thing", load=lambda: "not a detector")
    monkeypatch.setattr(pii, "entry_points", _entry_points(entry))
    with pytest.raises(InvalidInput) as raised:
        load_detectors()
    assert raised.value.problems[0].message == "'broken' (somewhere:thing) is a str"
