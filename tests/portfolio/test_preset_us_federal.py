"""The us-federal-2025 preset on OMB's real 2025 inventory: every row converts, ids are stable."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from phasegate.errors import InvalidInput
from phasegate.portfolio.importing import RowResult, Table, read_table, rows_to_specs
from phasegate.portfolio.presets import PRESETS, get_preset
from phasegate.portfolio.presets.us_federal_2025 import (
    ANSWERS,
    US_FEDERAL_2025,
    answer,
    base_id,
    business_unit,
)
from phasegate.portfolio.schemas import UseCaseSpec

DATA = Path(__file__).parent.parent / "data"
INVENTORY = DATA / "us-federal-ai-inventory-2025.csv"
DICTIONARY = DATA / "us-federal-data-dictionary.json"
DEMO_SLICE = Path(__file__).parents[2] / "src" / "phasegate" / "demo" / "federal-slice.csv"
ROWS_IN_INVENTORY = 3611
# Columns carried into a field unchanged; every other column is kept in attributes.
CARRIED = {"use_case_name", "problem_solved", "system_outputs", "contact_email"}


def convert(table: Table, filename: str = INVENTORY.name) -> list[RowResult]:
    """The table through the preset, as the CLI and the API run it."""
    return rows_to_specs(table, dict(US_FEDERAL_2025.mapping), preset=US_FEDERAL_2025, filename=filename)


@pytest.fixture(scope="module")
def table() -> Table:
    """OMB's inventory as published, read once for the module."""
    return read_table(INVENTORY.read_bytes(), filename=INVENTORY.name)


@pytest.fixture(scope="module")
def results(table: Table) -> list[RowResult]:
    """The inventory converted once for the module."""
    return convert(table)


def spec_at(results: list[RowResult], row: int) -> UseCaseSpec:
    """The spec converted from a row of the file, as a spreadsheet numbers it."""
    found = next(r for r in results if r.row == row)
    assert found.spec is not None, found.problems
    return found.spec


def test_every_row_of_the_inventory_converts_without_a_problem(results: list[RowResult]) -> None:
    assert len(results) == ROWS_IN_INVENTORY
    assert [r for r in results if r.problems or r.spec is None] == []


def test_every_row_gets_its_own_id(results: list[RowResult]) -> None:
    ids = [r.id for r in results]
    assert len(set(ids)) == ROWS_IN_INVENTORY
    assert all(id_ is not None and id_.startswith("omb-") for id_ in ids)


def test_converting_twice_gives_identical_documents(table: Table, results: list[RowResult]) -> None:
    again = convert(read_table(INVENTORY.read_bytes(), filename=INVENTORY.name))
    assert [r.spec.document() for r in again if r.spec] == [r.spec.document() for r in results if r.spec]


def test_a_deployed_use_case_with_pii_not_high_impact(results: list[RowResult]) -> None:
    # Row 1271: DOJ-0160, the Bureau of Prisons' PATTERN recidivism tool.
    spec = spec_at(results, 1271)
    assert spec.id == "omb-doj-0160"
    assert spec.name == "Prisoner Assessment Tool Targeting Estimated Risk and Needs (PATTERN)"
    assert spec.business_unit == "DOJ / FBOP"
    assert spec.status == "active"
    assert (spec.risk.customer_impact, spec.risk.data_sensitivity) == ("low", "confidential")
    assert (spec.risk.autonomy, spec.risk.eu_ai_act) == (None, None)
    assert spec.workflow == "The tool uses pre-defined rules to score an inmate's recidivism risk level."
    assert spec.task_boundary == "Recidivism risk score."


def test_a_repeated_inventory_id_is_made_unique_in_file_order(results: list[RowResult]) -> None:
    # Row 1315: DOJ-0160 again, reported by OJP and high-impact there.
    spec = spec_at(results, 1315)
    assert spec.id == "omb-doj-0160-2"
    assert spec.business_unit == "DOJ / OJP"
    assert spec.risk.customer_impact == "high"
    assert spec.attributes["id"] == "DOJ-0160"


def test_ids_the_agency_left_out_put_the_agency_in_front(results: list[RowResult]) -> None:
    # EPA numbers its use cases without a prefix; Treasury's OCC ("17") meets the IRS's TREAS-17.
    assert spec_at(results, 1538).id == "omb-epa-77"
    assert spec_at(results, 2936).id == "omb-treas-17"
    assert spec_at(results, 3005).id == "omb-treas-17-2"


def test_rows_without_an_inventory_id_take_it_from_the_name(results: list[RowResult]) -> None:
    # Rows 1781 and 1782: two retired HHS chatbots, identical as published.
    first, second = spec_at(results, 1781), spec_at(results, 1782)
    assert (first.id, second.id) == ("omb-hhs-chatbot", "omb-hhs-chatbot-2")
    assert first.status == second.status == "retired"
    assert first.business_unit == "HHS / AHRQ/CQuIPS"


def test_presumed_high_impact_but_determined_not_is_medium_and_no_pii_is_internal(
    results: list[RowResult],
) -> None:
    # Row 32: CBP's gunshot detection pilot.
    spec = spec_at(results, 32)
    assert spec.id == "omb-dhs-2572"
    assert spec.status == "active"
    assert (spec.risk.customer_impact, spec.risk.data_sensitivity) == ("medium", "internal")


def test_a_blank_pii_answer_leaves_data_sensitivity_unset(results: list[RowResult]) -> None:
    # Row 3247: VA-24-1938, deployed and high-impact, PII question left blank.
    spec = spec_at(results, 3247)
    assert (spec.status, spec.risk.customer_impact, spec.risk.data_sensitivity) == ("active", "high", None)
    assert "has_pii" not in spec.attributes  # blank cells are not kept


def test_pre_deployment_is_proposed_and_a_blank_stage_is_proposed(results: list[RowResult]) -> None:
    assert spec_at(results, 3005).status == "proposed"  # Pre-deployment
    assert spec_at(results, 1482).status == "proposed"  # blank stage (ED)
    assert "development_stage" not in spec_at(results, 1482).attributes


def test_columns_without_a_home_are_kept_as_attributes_by_their_own_names(results: list[RowResult]) -> None:
    spec = spec_at(results, 1271)
    assert spec.attributes["agency"] == "DOJ"
    assert spec.attributes["agency_bureau"] == "Department of Justice / FBOP"
    assert spec.attributes["development_stage"] == "Deployed"
    assert spec.attributes["is_high_impact"] == "Not High-impact"
    assert spec.attributes["has_pii"] == "Yes"
    assert spec.attributes["operational_date"] == "08/2021"  # free text, kept as written
    assert CARRIED.isdisjoint(spec.attributes)


def test_every_non_blank_column_is_somewhere_in_the_document(table: Table, results: list[RowResult]) -> None:
    for row, result in zip(table.rows[:200], results[:200], strict=True):
        assert result.spec is not None
        for column, value in row.items():
            # "[]" is a select-multiple question answered with nothing.
            if value not in ("", "[]") and column not in CARRIED:
                assert column in result.spec.attributes, (result.row, column)


def test_select_multiple_answers_become_lists(results: list[RowResult]) -> None:
    assert spec_at(results, 839).attributes["demographic_features"] == ["k) None of the above"]
    # "[]" is an empty answer, so the attribute is left out.
    assert "hi_public_consultation" not in spec_at(results, 839).attributes


def test_a_name_too_long_is_cut_at_a_word_and_kept_whole_in_attributes(results: list[RowResult]) -> None:
    spec = spec_at(results, 366)
    assert len(spec.name) <= 200
    assert spec.name.endswith("…")
    assert spec.attributes["use_case_name"].endswith("collected in the Gulf of Mexico.")
    assert spec.attributes["use_case_name"].startswith(spec.name[:-1])


def test_a_blank_name_becomes_untitled_with_the_inventory_id(results: list[RowResult]) -> None:
    assert spec_at(results, 839).name == "Untitled (DOI-0015)"


@pytest.mark.parametrize(
    ("column", "written", "expected"),
    [
        ("development_stage", "a) Pre-deployment – The use case is in a development or acquisition status.",
         "Pre-deployment"),
        ("development_stage", "Initiated", "Pilot"),
        ("development_stage", "Operation and Maintenance", "Deployed"),
        ("development_stage", "  RETIRED ", "Retired"),
        ("development_stage", "Pre-deployment (acquisition)", "Pre-deployment"),
        ("development_stage", "", None),
        ("development_stage", "On hold", None),
        ("is_high_impact", "Presumed high-impact, but determined not high impact",
         "Presumed High-Impact, but Not High-impact"),
        ("is_high_impact", "yes", "High-impact"),
        ("is_high_impact", "Not applicable", None),
        ("has_pii", "b) Yes", "Yes"),
        ("has_pii", "Yes - staff names in tickets", "Yes"),
        ("has_pii", "false", "No"),
        ("has_pii", "Nope", None),
    ],
)
def test_messy_answers_are_read_as_omb_recodes_them(column: str, written: str, expected: str | None) -> None:
    assert answer(column, written) == expected


def test_a_row_with_messy_answers_converts() -> None:
    header = ["agency", "agency_name", "id", "use_case_name", "agency_bureau", "contact_email",
              "development_stage", "is_high_impact", "has_pii", "problem_solved", "system_outputs"]
    pilot = "b)  Pilot – The use case has been deployed in a limited test or pilot capacity."
    lines = [
        ["XYZ", "Example Agency", "", "Claims triage", "XYZ/Claims", "", pilot, "a) High-impact", "b) Yes",
         "", ""],
        ["XYZ", "Example Agency", "TBD", "Claims triage", "", "", "", "", "Depends on data sources analyzed",
         "", ""],
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *lines])
    table = read_table(buffer.getvalue().encode("utf-8"), filename="messy.csv")
    first, second = (r.spec for r in convert(table, "messy.csv"))
    assert first is not None and second is not None
    assert (first.id, first.status) == ("omb-xyz-claims-triage", "active")
    assert first.business_unit == "XYZ / Claims"
    assert (first.risk.customer_impact, first.risk.data_sensitivity) == ("high", "confidential")
    assert (second.id, second.status, second.business_unit) == ("omb-xyz-claims-triage-2", "proposed", "XYZ")
    assert (second.risk.customer_impact, second.risk.data_sensitivity) == (None, "internal")


def test_base_id_and_business_unit_rules() -> None:
    assert base_id("DOJ", "DOJ-0357", "x") == "omb-doj-0357"
    assert base_id("FDIC", "FDIC – 3", "x") == "omb-fdic-3"
    assert base_id("TREAS", "BEP-1", "x") == "omb-treas-bep-1"
    assert base_id("STB", "TBD", "Rail Rate Review") == "omb-stb-rail-rate-review"
    assert len(base_id("HHS", "", "word " * 40)) <= 80
    assert business_unit("NCUA", "National Credit Union Administration", "NCUA|ONES") == "NCUA / ONES"
    assert business_unit("FERC", "Federal Energy Regulatory Commission", "FERC") == "FERC"
    # The agency's abbreviation must end at a word: ED is not the start of "Education Office".
    assert business_unit("ED", "Department of Education", "Education Office") == "ED / Education Office"


def test_the_extracted_answers_cover_every_allowed_value_in_the_data_dictionary() -> None:
    dictionary = json.loads(DICTIONARY.read_text("utf-8"))
    for column, answers in ANSWERS.items():
        entry = dictionary[column]
        shorthand = entry.get("short_hand_recodings") or {}
        for selection in entry["valid_selections"]:
            assert answer(column, selection) == shorthand.get(selection, selection), (column, selection)
            for variant in (entry.get("recoding_map") or {}).get(selection, []):
                assert answer(column, variant) == shorthand.get(selection, selection), (column, variant)
        assert answers


def test_every_value_the_inventory_uses_is_understood(table: Table) -> None:
    for column in ANSWERS:
        written = {row[column] for row in table.rows if row[column]}
        assert {value for value in written if answer(column, value) is None} == set(), column


def test_the_preset_is_registered_by_name_and_an_unknown_name_lists_the_known_ones() -> None:
    assert get_preset("us-federal-2025") is US_FEDERAL_2025
    assert PRESETS == {"us-federal-2025": US_FEDERAL_2025}
    with pytest.raises(InvalidInput, match="no preset 'us-federal-2024'; the presets are: us-federal-2025"):
        get_preset("us-federal-2024")


def test_the_demo_slice_is_the_inventory_in_small_and_converts_whole(table: Table) -> None:
    demo = read_table(DEMO_SLICE.read_bytes(), filename=DEMO_SLICE.name)
    assert demo.headers == table.headers
    assert (demo.encoding, demo.encoding_detected) == ("utf-8", False)
    assert 140 <= len(demo.rows) <= 160
    assert len({row["agency"] for row in demo.rows}) >= 10
    stages = {row["development_stage"] for row in demo.rows}
    assert stages >= {"Pre-deployment", "Pilot", "Deployed", "Retired"}
    assert all(row in table.rows for row in demo.rows)
    assert all(r.spec is not None for r in convert(demo, DEMO_SLICE.name))
