"""The definition-of-done checklist: what is filled, what is missing, in the owner's words."""

from __future__ import annotations

from phasegate.portfolio.completeness import CHECKLIST, completeness
from phasegate.portfolio.schemas import UseCaseSpec


def test_a_use_case_at_intake_has_nothing_of_its_definition_of_done() -> None:
    result = completeness(UseCaseSpec(id="invoice-extraction", name="Invoice field extraction"))
    assert result.filled == 0
    assert result.total == len(CHECKLIST) == 25
    assert result.ratio == 0
    assert result.missing == tuple(label for label, _ in CHECKLIST)


def test_the_invoice_example_is_complete(invoice: UseCaseSpec) -> None:
    result = completeness(invoice)
    assert (result.filled, result.total, result.missing) == (25, 25, ())
    assert result.ratio == 1


def test_a_missing_owner_is_named(invoice: UseCaseSpec) -> None:
    spec = invoice.model_copy(update={"owners": invoice.owners.model_copy(update={"risk": None})})
    result = completeness(spec)
    assert result.missing == ("risk owner",)
    assert result.filled == 24
    assert result.ratio == 24 / 25


def test_a_blank_answer_counts_as_missing(invoice: UseCaseSpec) -> None:
    assert completeness(invoice.model_copy(update={"stop_rule": "   "})).missing == ("stop rule",)


def test_a_zero_counts_as_an_answer(invoice: UseCaseSpec) -> None:
    roi = invoice.roi.model_copy(update={"one_off_cost": 0})
    assert completeness(invoice.model_copy(update={"roi": roi})).missing == ()


def test_kpi_items_are_missing_without_a_primary_kpi_or_counter_metrics(invoice: UseCaseSpec) -> None:
    kpis = invoice.kpis.model_copy(update={"primary": None, "counter_metrics": []})
    assert completeness(invoice.model_copy(update={"kpis": kpis})).missing == (
        "primary KPI name",
        "primary KPI baseline",
        "primary KPI target",
        "at least one counter-metric",
    )


def test_a_primary_kpi_without_baseline_or_target_is_not_done(invoice: UseCaseSpec) -> None:
    assert invoice.kpis.primary is not None
    primary = invoice.kpis.primary.model_copy(update={"baseline": None, "target": None})
    kpis = invoice.kpis.model_copy(update={"primary": primary})
    assert completeness(invoice.model_copy(update={"kpis": kpis})).missing == (
        "primary KPI baseline",
        "primary KPI target",
    )


def test_scores_are_not_part_of_the_definition_of_done(invoice: UseCaseSpec) -> None:
    spec = invoice.model_copy(update={"scores": type(invoice.scores)()})
    assert completeness(spec).missing == ()
