"""Bulk import from real bytes: reading CSV and XLSX, mapping columns to fields, rows to documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from phasegate.errors import InvalidInput
from phasegate.portfolio.importing import (
    FIELDS,
    Preset,
    Table,
    cell_text,
    parse_map_options,
    read_map_file,
    read_table,
    resolve_mapping,
    rows_to_specs,
    slugify,
)

FRENCH = (
    "Use Case Title;Dept;Owner Email\r\n"
    "Réclamations fournisseurs;Finance;élodie.martin@example.fr\r\n"
    "Prévision de trésorerie;Trésorerie;jérôme.dupont@example.fr\r\n"
    "Tri du courrier entrant;Opérations;hélène.roux@example.fr\r\n"
)
FRENCH_MAP = {"name": "Use Case Title", "business_unit": "Dept", "owners.use_case": "Owner Email"}


def csv_table(text: str, filename: str = "inventory.csv") -> Table:
    """A UTF-8 CSV as a table."""
    return read_table(text.encode("utf-8"), filename=filename)


# -- reading CSV ------------------------------------------------------------------------------


def test_latin1_semicolon_csv_with_foreign_headers_imports_with_a_mapping() -> None:
    table = read_table(FRENCH.encode("latin-1"), filename="inventaire.csv", encoding="latin-1")
    results = rows_to_specs(table, FRENCH_MAP, filename="inventaire.csv")

    assert [r.problems for r in results] == [(), (), ()]
    first = results[0].spec
    assert first is not None
    assert first.name == "Réclamations fournisseurs"
    assert first.id == "reclamations-fournisseurs"  # derived from the name: no id column mapped
    assert first.business_unit == "Finance"
    assert first.owners.use_case == "élodie.martin@example.fr"
    assert [r.row for r in results] == [2, 3, 4]


def test_named_encoding_is_used_as_given_and_not_reported_as_detected() -> None:
    table = read_table(FRENCH.encode("latin-1"), filename="inventaire.csv", encoding="latin-1")
    assert (table.encoding, table.encoding_detected) == ("latin-1", False)


def test_encoding_is_detected_when_the_file_is_not_utf8_and_none_is_named() -> None:
    table = read_table(FRENCH.encode("latin-1"), filename="inventaire.csv")
    assert table.encoding_detected
    assert table.encoding == "cp1252"
    assert table.rows[2]["Owner Email"] == "hélène.roux@example.fr"


def test_utf8_is_read_without_detection_and_a_byte_order_mark_is_not_part_of_the_first_header() -> None:
    table = read_table(b"\xef\xbb\xbfname,status\nTriage,active\n", filename="bom.csv")
    assert table.headers == ("name", "status")
    assert (table.encoding, table.encoding_detected) == ("utf-8-sig", False)


def test_undecodable_bytes_in_a_named_encoding_are_an_error_naming_file_offset_and_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_table(b"name\nfine\nbroken \xff here\n", filename="bad.csv", encoding="utf-8")
    message = str(caught.value)
    assert "bad.csv" in message
    assert "offset 17" in message
    assert "line 3" in message
    assert caught.value.problems[0].line == 3


def test_an_unknown_encoding_name_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidInput, match="unknown encoding 'latin-9000'"):
        read_table(b"name\nx\n", filename="x.csv", encoding="latin-9000")


def test_ragged_row_is_reported_with_its_row_number_and_rejected() -> None:
    table = csv_table("name,business_unit\nTriage,Support\nRouting,Ops,extra\nSearch,IT\n")
    assert [(p.row, p.file) for p in table.problems] == [(3, "inventory.csv")]
    assert "'extra'" in table.problems[0].message

    results = rows_to_specs(table, {}, filename="inventory.csv")
    assert [(r.row, r.spec is not None) for r in results] == [(2, True), (3, False), (4, True)]
    assert results[1].problems[0].row == 3


def test_trailing_empty_cells_are_not_ragged() -> None:
    table = csv_table("name;business_unit;\nTriage;Support;\nRouting;;\n")
    assert table.headers == ("name", "business_unit")
    assert table.problems == ()
    assert table.rows[1] == {"name": "Routing", "business_unit": ""}


def test_blank_rows_are_skipped_and_row_numbers_stay_where_the_user_sees_them() -> None:
    table = csv_table('name,workflow\n\nTriage,"first line\nsecond line"\n,\nRouting,Ops\n')
    assert [r["name"] for r in table.rows] == ["Triage", "Routing"]
    # A cell with a line break is still one row, as a spreadsheet shows it.
    assert table.row_numbers == [3, 5]
    assert table.rows[0]["workflow"] == "first line\nsecond line"


def test_values_are_stripped_and_blank_cells_are_empty_strings() -> None:
    table = csv_table("name , business_unit\n  Triage  ,   \n")
    assert table.headers == ("name", "business_unit")
    assert table.rows == [{"name": "Triage", "business_unit": ""}]


def test_duplicate_headers_are_an_error_naming_them() -> None:
    with pytest.raises(InvalidInput, match="repeated header 'name' in columns 1, 3"):
        csv_table("name,business_unit,name\na,b,c\n")


def test_blank_header_between_named_ones_is_an_error_naming_its_column() -> None:
    with pytest.raises(InvalidInput, match=r"blank header in column 2 \(B\)"):
        csv_table("name,,business_unit\na,b,c\n")


def test_a_file_with_no_header_row_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="no header row"):
        csv_table("\n\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name,business_unit\nTriage,Support\n", {"name": "Triage", "business_unit": "Support"}),
        ("name;business_unit\nTriage;Support\n", {"name": "Triage", "business_unit": "Support"}),
        ("name\tbusiness_unit\nTriage\tSupport\n", {"name": "Triage", "business_unit": "Support"}),
        ('"name, full";unit\n"Triage, tier 1";"Support, EMEA"\n',
         {"name, full": "Triage, tier 1", "unit": "Support, EMEA"}),
    ],
    ids=["comma", "semicolon", "tab", "semicolon-with-quoted-commas"],
)
def test_the_delimiter_is_sniffed_from_the_header(text: str, expected: dict[str, str]) -> None:
    assert csv_table(text).rows == [expected]


def test_choosing_a_sheet_in_a_csv_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="XLSX"):
        read_table(b"name\nx\n", filename="x.csv", sheet="Sheet1")


# -- reading XLSX -----------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path: Path) -> bytes:
    """A workbook written by openpyxl: a cover sheet first, the inventory second."""
    book = openpyxl.Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "Cover"
    cover.append(["About", "Inventory export"])
    sheet = book.create_sheet("Use cases")
    sheet.append(["Title", "Unit", "Monthly volume", "Launched", "Reviewed at", "Readiness", "Active?"])
    launched, reviewed = dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 9, 30)
    sheet.append(["Invoice extraction", "Finance", 42000, launched, reviewed, 4.0, True])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["Claims triage", "Insurance", 1250.5, dt.datetime(2024, 10, 1), None, 3, False])
    path = tmp_path / "inventory.xlsx"
    book.save(path)
    return path.read_bytes()


def test_xlsx_sheet_is_chosen_by_name_with_dates_iso_and_whole_numbers_plain(workbook: bytes) -> None:
    table = read_table(workbook, filename="inventory.xlsx", sheet="Use cases")
    assert table.sheet == "Use cases"
    assert table.encoding is None
    assert table.row_numbers == [2, 4]  # the blank row 3 is skipped
    assert table.rows[0] == {
        "Title": "Invoice extraction", "Unit": "Finance", "Monthly volume": "42000",
        "Launched": "2024-03-01", "Reviewed at": "2024-03-01 09:30:00", "Readiness": "4", "Active?": "TRUE",
    }
    assert table.rows[1]["Monthly volume"] == "1250.5"
    assert table.rows[1]["Launched"] == "2024-10-01"


def test_xlsx_rows_import_with_a_mapping(workbook: bytes) -> None:
    table = read_table(workbook, filename="inventory.xlsx", sheet="Use cases")
    mapping = {"name": "Title", "business_unit": "Unit", "roi.volume_per_month": "Monthly volume",
               "scores.data_readiness": "Readiness"}
    specs = [r.spec for r in rows_to_specs(table, mapping, filename="inventory.xlsx")]
    assert specs[0] is not None and specs[1] is not None
    assert (specs[0].id, specs[0].roi.volume_per_month, specs[0].scores.data_readiness) == (
        "invoice-extraction", 42000, 4)
    assert specs[1].roi.volume_per_month == 1250.5


def test_xlsx_reads_the_first_sheet_when_none_is_named(workbook: bytes) -> None:
    table = read_table(workbook, filename="inventory.xlsx")
    assert table.sheet == "Cover"
    assert table.headers == ("About", "Inventory export")


def test_unknown_sheet_is_an_error_listing_the_sheets(workbook: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_table(workbook, filename="inventory.xlsx", sheet="Usecases")
    assert str(caught.value).startswith(
        "no sheet 'Usecases' in inventory.xlsx; its sheets are: Cover, Use cases")
    assert caught.value.problems[0].field == "sheet"


def test_a_file_named_xlsx_that_is_not_a_workbook_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="not a readable XLSX workbook"):
        read_table(b"name\nx\n", filename="inventory.xlsx")


def test_cells_are_written_as_a_person_would_type_them() -> None:
    assert cell_text(dt.datetime(2025, 7, 1)) == "2025-07-01"
    assert cell_text(dt.date(2025, 7, 1)) == "2025-07-01"
    assert cell_text(3.0) == "3"
    assert cell_text(0.7) == "0.7"
    assert cell_text(None) == ""
    assert cell_text(False) == "FALSE"


# -- the mapping ------------------------------------------------------------------------------


def test_map_options_are_field_equals_column_and_the_column_may_contain_equals() -> None:
    assert parse_map_options(["name=Use Case Title", "roi.volume_per_month = Volume (n=month)"]) == {
        "name": "Use Case Title", "roi.volume_per_month": "Volume (n=month)"}


def test_a_map_option_without_equals_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidInput, match="'name:Title'"):
        parse_map_options(["business_unit=Dept", "name:Title"])


def test_map_file_in_yaml_may_nest_dotted_fields() -> None:
    data = (b"name: Use Case Title\nowners:\n  use_case: Owner Email\n"
            b"kpis:\n  primary:\n    baseline: Baseline\n")
    assert read_map_file(data, "map.yaml") == {
        "name": "Use Case Title", "owners.use_case": "Owner Email", "kpis.primary.baseline": "Baseline"}


def test_map_file_in_json() -> None:
    assert read_map_file(b'{"name": "Title", "risk.data_sensitivity": "PII"}', "map.json") == {
        "name": "Title", "risk.data_sensitivity": "PII"}


def test_a_broken_map_file_is_an_error_naming_file_and_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_map_file(b'{"name": "Title",\n "unit" }', "map.json")
    assert caught.value.problems[0].file == "map.json"
    assert caught.value.problems[0].line == 2


def test_a_map_file_value_that_is_not_a_column_name_is_an_error_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_map_file(b"name: Title\nscores:\n  data_readiness: 4\n", "map.yaml")
    assert [p.field for p in caught.value.problems] == ["scores.data_readiness"]


def test_unknown_map_field_is_an_error_listing_the_valid_fields() -> None:
    table = csv_table("Title,Dept\nTriage,Support\n")
    with pytest.raises(InvalidInput) as caught:
        rows_to_specs(table, {"name": "Title", "department": "Dept"}, filename="inventory.csv")
    message = str(caught.value)
    assert "unknown field 'department'" in message
    assert "business_unit" in message and "kpis.primary.baseline" in message
    assert caught.value.problems[0].field == "department"


def test_mapped_column_missing_from_the_file_is_an_error_naming_it_and_listing_the_headers() -> None:
    table = csv_table("Title,Dept\nTriage,Support\n")
    with pytest.raises(InvalidInput) as caught:
        rows_to_specs(table, {"name": "title", "business_unit": "Department"}, filename="inventory.csv")
    message = str(caught.value)
    assert "column 'title' (for name) is not in inventory.csv (did you mean 'Title'?)" in message
    assert "column 'Department' (for business_unit)" in message
    assert "its headers are: 'Title', 'Dept'" in message


def test_without_a_mapping_headers_that_spell_a_field_map_themselves() -> None:
    table = csv_table("ID,Name,Business Unit,Owners Use Case,Use Case Name\n"
                      "claims-triage,Claims triage,Ops,k.osei,x\n")
    mapping = resolve_mapping(table, {}, filename="inventory.csv")
    assert mapping.fields == {"id": "ID", "name": "Name", "business_unit": "Business Unit",
                              "owners.use_case": "Owners Use Case"}
    assert "'Business Unit' → business_unit" in mapping.notes[0]
    spec = rows_to_specs(table, {}, filename="inventory.csv")[0].spec
    assert spec is not None
    assert (spec.id, spec.business_unit, spec.owners.use_case, spec.attributes) == (
        "claims-triage", "Ops", "k.osei", {})


def test_use_case_name_is_not_taken_for_name_without_a_mapping() -> None:
    table = csv_table("Use Case Name,Dept\nTriage,Support\n")
    with pytest.raises(InvalidInput, match=r"no column of inventory\.csv fills 'name'"):
        rows_to_specs(table, {}, filename="inventory.csv")


def test_without_an_id_column_the_id_is_made_from_the_name_and_the_mapping_says_so() -> None:
    table = csv_table("Title\nClaims Triage — Tier 1 (EMEA)\n")
    mapping = resolve_mapping(table, {"name": "Title"}, filename="inventory.csv")
    assert mapping.id_from_name
    assert any("made from the name" in note for note in mapping.notes)
    assert rows_to_specs(table, mapping, filename="inventory.csv")[0].id == "claims-triage-tier-1-emea"


def test_slug_is_ascii_hyphenated_and_at_most_80_long() -> None:
    assert slugify("Réseau  électrique / Nord") == "reseau-electrique-nord"
    long = slugify("word " * 40)
    assert len(long) <= 80 and not long.endswith("-")


# -- rows to documents ------------------------------------------------------------------------


def test_a_repeated_id_rejects_the_later_row_naming_the_first() -> None:
    table = csv_table("name,workflow\nTriage,a\nRouting,b\ntriage,c\n")
    results = rows_to_specs(table, {"name": "name", "workflow": "workflow"}, filename="inventory.csv")
    assert [r.spec is not None for r in results] == [True, True, False]
    assert results[2].id == "triage"
    assert results[2].problems[0].message == "id 'triage' is already used by row 2"
    assert results[2].problems[0].row == 4


def test_an_invalid_value_names_file_row_field_and_column() -> None:
    table = csv_table("Title,Volume,Sensitivity\nTriage,lots,secret\nRouting,1200,Confidential\n")
    mapping = {"name": "Title", "roi.volume_per_month": "Volume", "risk.data_sensitivity": "Sensitivity"}
    results = rows_to_specs(table, mapping, filename="inventory.csv")

    assert results[0].spec is None
    by_field = {p.field: p for p in results[0].problems}
    assert set(by_field) == {"roi.volume_per_month", "risk.data_sensitivity"}
    volume = by_field["roi.volume_per_month"]
    assert (volume.file, volume.row) == ("inventory.csv", 2)
    assert "'lots' from column 'Volume'" in volume.message
    assert "inventory.csv row 2 field 'roi.volume_per_month'" in str(volume)
    # Choices are matched regardless of case.
    assert results[1].spec is not None
    assert results[1].spec.risk.data_sensitivity == "confidential"


def test_a_mapped_id_that_is_not_a_slug_is_rejected_not_rewritten() -> None:
    table = csv_table("Ref,Title\nDOJ-0357,Triage\n")
    result = rows_to_specs(table, {"id": "Ref", "name": "Title"}, filename="inventory.csv")[0]
    assert result.spec is None
    assert result.problems[0].field == "id"
    assert "from column 'Ref'" in result.problems[0].message


def test_a_blank_required_cell_says_which_column_is_blank() -> None:
    table = csv_table("Title,KPI,Baseline\nTriage,,36\n")
    mapping = {"name": "Title", "kpis.primary.name": "KPI", "kpis.primary.baseline": "Baseline"}
    problem = rows_to_specs(table, mapping, filename="inventory.csv")[0].problems[0]
    assert (problem.field, problem.message) == ("kpis.primary.name", "required, but column 'KPI' is blank")


def test_unmapped_columns_are_dropped_unless_mapped_to_attributes() -> None:
    table = csv_table("Title,Cost centre,Notes\nTriage,CC-12,pilot in Q3\n")
    plain = rows_to_specs(table, {"name": "Title"}, filename="inventory.csv")[0].spec
    kept = rows_to_specs(table, {"name": "Title", "attributes.cost_centre": "Cost centre"},
                         filename="inventory.csv")[0].spec
    assert plain is not None and plain.attributes == {}
    assert kept is not None and kept.attributes == {"cost_centre": "CC-12"}


class KeepEverything(Preset):
    """A preset that keeps unmapped columns and derives the status from a flag."""

    def __init__(self) -> None:
        super().__init__("keep", "test preset", {"name": "Title"}, derived=frozenset({"status"}),
                         sources={"status": ("Live",)}, keep_unmapped=True)

    def derive(self, row: dict[str, str], doc: dict[str, object]) -> dict[str, object]:
        """Status from the Live column; a row saying 'explode' breaks the preset."""
        if row["Live"] == "explode":
            raise RuntimeError("cannot read Live")
        return {**doc, "status": "active" if row["Live"] == "yes" else "nonsense"}


def test_a_preset_keeps_unmapped_columns_as_attributes_and_derives_fields() -> None:
    table = csv_table("Title,Live,Cost centre\nTriage,yes,CC-12\n")
    spec = rows_to_specs(table, {"name": "Title"}, preset=KeepEverything(), filename="inventory.csv")[0].spec
    assert spec is not None
    assert spec.status == "active"
    assert spec.attributes == {"Live": "yes", "Cost centre": "CC-12"}


def test_a_derived_value_that_fails_names_the_columns_it_came_from() -> None:
    table = csv_table("Title,Live\nTriage,no\n")
    result = rows_to_specs(table, {"name": "Title"}, preset=KeepEverything(), filename="inventory.csv")[0]
    problem = result.problems[0]
    assert problem.field == "status"
    assert "from column 'Live'" in problem.message


def test_a_row_the_preset_cannot_read_becomes_a_problem_not_a_crash() -> None:
    table = csv_table("Title,Live\nTriage,explode\nRouting,yes\n")
    results = rows_to_specs(table, {"name": "Title"}, preset=KeepEverything(), filename="inventory.csv")
    assert results[0].spec is None
    assert "cannot read Live" in results[0].problems[0].message
    assert results[1].spec is not None


def test_an_explicit_mapping_wins_over_what_the_preset_derives() -> None:
    table = csv_table("Title,Live,State\nTriage,no,paused\n")
    spec = rows_to_specs(table, {"name": "Title", "status": "State"}, preset=KeepEverything(),
                         filename="inventory.csv")[0].spec
    assert spec is not None
    assert spec.status == "paused"
    assert "State" not in spec.attributes


def test_every_leaf_of_the_document_can_be_mapped() -> None:
    for path in ("id", "name", "status", "business_unit", "owners.use_case", "kpis.primary.baseline",
                 "roi.volume_per_month", "scores.data_readiness", "risk.data_sensitivity", "playbook"):
        assert path in FIELDS
    assert "kind" not in FIELDS and "attributes" not in FIELDS and "kpis.counter_metrics" not in FIELDS


def test_every_field_filled_from_its_own_column_round_trips() -> None:
    values = {
        "id": "claims-triage", "name": "Claims triage", "status": "active", "business_unit": "Ops",
        "workflow": "claims intake", "outcome_class": "action", "user_group": "adjusters",
        "task_boundary": "route claims", "owners.use_case": "a", "owners.technical": "b", "owners.risk": "c",
        "owners.domain_reviewer": "d", "kpis.primary.name": "handling time", "kpis.primary.unit": "hours",
        "kpis.primary.baseline": "36", "kpis.primary.target": "8", "kpis.primary.direction": "lower",
        "error_budget": "2%", "label_reality": "adjuster decisions", "stop_rule": "cost > 1 USD",
        "roi.volume_per_month": "1000", "roi.cost_per_transaction_now": "4.1", "roi.improvement_rate": "0.5",
        "roi.run_cost_per_month": "700", "roi.one_off_cost": "10000", "scores.data_readiness": "4",
        "scores.process_clarity": "4", "scores.roi_measurability": "3", "scores.scope_boundedness": "5",
        "scores.business_value": "4", "scores.technical_feasibility": "4",
        "scores.implementation_difficulty": "2", "scores.team_acceptance": "3",
        "risk.data_sensitivity": "internal", "risk.customer_impact": "medium",
        "risk.autonomy": "drafts then acts", "risk.eu_ai_act": "limited", "playbook": "five-phase",
    }
    assert set(values) == set(FIELDS)
    header = ",".join(f"col{i}" for i in range(len(values)))
    table = csv_table(header + "\n" + ",".join(values.values()) + "\n")
    mapping = {path: f"col{i}" for i, path in enumerate(values)}
    result = rows_to_specs(table, mapping, filename="inventory.csv")[0]
    assert result.problems == ()
    assert result.spec is not None
    assert result.spec.risk.autonomy == "drafts_then_acts"
    assert result.spec.kpis.primary is not None and result.spec.kpis.primary.baseline == 36

