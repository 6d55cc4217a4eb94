"""The foundation gap list: which findings become gaps, ranked blocker or degrader by the documented rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from phasegate.data.gaps import GapDraft, gaps_from
from phasegate.data.pii import PiiFinding
from phasegate.data.quality import Dimension


def _check(
    check: str, column: str | None, status: str = "fail", observed: Any = 3, limit: Any = 0, **more: Any
) -> SimpleNamespace:
    """A check result as checking.CheckResult has it, duck-typed."""
    return SimpleNamespace(check=check, column=column, status=status, observed=observed, limit=limit, **more)


def _only(gaps: list[GapDraft]) -> GapDraft:
    assert len(gaps) == 1, gaps
    return gaps[0]


def _from_checks(*results: SimpleNamespace, **options: Any) -> list[GapDraft]:
    return gaps_from(results, [], [], declared_classification="internal", contract="invoices", **options)


def test_passed_checks_are_not_gaps() -> None:
    assert _from_checks(_check("not_null", "invoice_id", status="pass")) == []


def test_a_check_that_could_not_run_is_a_blocker() -> None:
    gap = _only(
        _from_checks(_check("references", "supplier_id", status="error", error="no source 'suppliers'"))
    )
    assert gap.severity == "blocker"
    assert gap.key == "contract:invoices:supplier_id.references"
    assert gap.title == "supplier_id: references could not run: no source 'suppliers'"
    assert gap.reason == "a check that could not run is a blocker: unknown is not passed"


@pytest.mark.parametrize("check", ["not_null", "unique", "type", "references"])
def test_a_failed_integrity_check_on_a_key_column_is_a_blocker(check: str) -> None:
    gap = _only(_from_checks(_check(check, "invoice_id"), keys=["invoice_id"]))
    assert gap.severity == "blocker"
    assert gap.reason.startswith(f"failed {check} on key column invoice_id")


@pytest.mark.parametrize("check", ["not_null", "type", "allowed", "references"])
def test_a_failed_check_on_a_label_column_is_a_blocker(check: str) -> None:
    gap = _only(_from_checks(_check(check, "label_status"), labels=["label_status"]))
    assert gap.severity == "blocker"
    assert "a model cannot learn from missing or invalid labels" in gap.reason


def test_other_failed_checks_are_degraders_with_a_stable_key() -> None:
    gap = _only(
        _from_checks(_check("max_null_rate", "net_amount", observed=0.031, limit=0.01), keys=["invoice_id"])
    )
    assert (gap.key, gap.severity) == ("contract:invoices:net_amount.max_null_rate", "degrader")
    assert gap.title == "net_amount: max_null_rate failed (observed 0.031, limit 0.01)"
    assert gap.evidence == {
        "check": "max_null_rate",
        "column": "net_amount",
        "status": "fail",
        "observed": 0.031,
        "limit": 0.01,
    }


def test_a_row_rule_has_a_key_without_a_column() -> None:
    gap = _only(_from_checks(_check("rule: total equals net plus tax", None)))
    assert gap.key == "contract:invoices:rule: total equals net plus tax"


def test_the_contracts_own_check_results_are_read_as_they_are() -> None:
    from phasegate.data.checking import CheckResult

    result = CheckResult("unique", "invoice_id", "fail", observed=2, limit=0, violations=2)
    assert _only(_from_checks(result, keys=["invoice_id"])).severity == "blocker"


def _dimension(name: Any, score: float | None) -> Dimension:
    return Dimension(name, score, {}, [f"{name} finding"])


@pytest.mark.parametrize(
    ("name", "score", "severity"),
    [
        ("accuracy", 0.89, "blocker"),
        ("accuracy", 0.95, "degrader"),
        ("accuracy", 0.98, None),
        ("completeness", 0.85, "blocker"),
        ("completeness", 0.93, "degrader"),
        ("completeness", 0.96, None),
        ("consistency", 0.5, "degrader"),
        ("consistency", 0.95, None),
        ("timeliness", 0.0, "blocker"),
        ("timeliness", 0.4, "degrader"),
        ("timeliness", 1.0, None),
        ("accuracy", None, None),  # not measured: not a gap
    ],
)
def test_weak_dimensions_are_ranked_by_their_thresholds(
    name: str, score: float | None, severity: str | None
) -> None:
    gaps = gaps_from([], [_dimension(name, score)], [], declared_classification="internal")
    assert [g.severity for g in gaps] == ([severity] if severity else [])
    if gaps:
        assert gaps[0].key == f"dimension:{name}"
        assert gaps[0].evidence["findings"] == [f"{name} finding"]


def _pii(detector: str, classification: Any, matches: int = 4) -> PiiFinding:
    return PiiFinding("notes", detector, matches, 100, ["j***@example.com"], classification)


@pytest.mark.parametrize(
    ("declared", "finding", "severity"),
    [
        ("public", _pii("email", "confidential"), "blocker"),
        ("internal", _pii("payment_card", "restricted"), "blocker"),
        (None, _pii("phone", "confidential"), "blocker"),
        ("confidential", _pii("iban", "restricted"), "degrader"),
        ("confidential", _pii("email", "confidential"), None),
        ("restricted", _pii("us_ssn", "restricted"), None),
        ("public", _pii("email", "confidential", matches=0), None),
    ],
)
def test_personal_data_above_the_declared_classification_is_a_gap(
    declared: str | None, finding: PiiFinding, severity: str | None
) -> None:
    gaps = gaps_from([], [], [finding], declared_classification=declared)
    assert [g.severity for g in gaps] == ([severity] if severity else [])


def test_a_kind_of_personal_data_the_catalog_does_not_list_is_a_degrader() -> None:
    gap = _only(
        gaps_from(
            [],
            [],
            [_pii("phone", "confidential")],
            declared_classification="confidential",
            declared_pii=["email"],
        )
    )
    assert (gap.key, gap.severity) == ("pii:notes.phone", "degrader")
    assert gap.reason == "the catalog does not list phone among the source's personal data (email)"
    assert gap.evidence["examples_masked"] == ["j***@example.com"]


def test_gaps_come_blockers_first_then_by_key_and_belong_to_the_sources_owner() -> None:
    gaps = gaps_from(
        [_check("min", "net_amount"), _check("not_null", "invoice_id")],
        [_dimension("completeness", 0.5), _dimension("consistency", 0.9)],
        [_pii("email", "confidential")],
        declared_classification="public",
        keys=["invoice_id"],
        contract="invoices",
        owner="finance-data@example.com",
    )
    assert [(g.severity, g.key) for g in gaps] == [
        ("blocker", "contract:invoices:invoice_id.not_null"),
        ("blocker", "dimension:completeness"),
        ("blocker", "pii:notes.email"),
        ("degrader", "contract:invoices:net_amount.min"),
        ("degrader", "dimension:consistency"),
    ]
    assert {g.owner for g in gaps} == {"finance-data@example.com"}
