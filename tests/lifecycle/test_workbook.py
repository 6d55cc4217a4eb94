"""The roadmap workbook: what it holds for people who plan in Excel, and what it reads back from them."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from phasegate.errors import InvalidInput
from phasegate.lifecycle.workbook import (
    ACTIVITY_COLUMNS,
    MAX_WEEKS,
    ROADMAP_COLUMNS,
    STATUSES,
    ActivityRow,
    PhaseRow,
    WorkbookProblem,
    read_workbook,
    week_starts,
    write_workbook,
)


def plan() -> tuple[list[PhaseRow], list[ActivityRow]]:
    """Two use cases: one with a finished and a running phase, one not yet planned in dates."""
    phases = [
        PhaseRow("invoice-extraction", "discover", "Discover", "Find where invoices wait",
                 date(2026, 3, 2), date(2026, 3, 27), "maria.lopez", "completed", None),
        PhaseRow("invoice-extraction", "pilot", "Pilot", "Run on one supplier's invoices",
                 date(2026, 3, 30), date(2026, 5, 22), "dev.patel", "in progress", "Watch the cost per page"),
        PhaseRow("claims-triage", "discover", "Discover", "", None, None, None, "not started", None),
    ]  # fmt: skip
    activities = [
        ActivityRow(1, "invoice-extraction", "Discover", "Interview AP clerks", "maria.lopez",
                    date(2026, 3, 2), date(2026, 3, 13), 16.0, "completed", [], None),
        ActivityRow(2, "invoice-extraction", "Pilot", "Build the extraction prototype", "dev.patel",
                    date(2026, 3, 30), date(2026, 4, 24), 80.5, "in progress", ["1"], "Use the ERP sandbox"),
        ActivityRow(3, "invoice-extraction", "pilot", "Measure field accuracy", None, date(2026, 4, 20),
                    date(2026, 5, 22), 24.0, "blocked", ["2", "Interview AP clerks"], None),
        ActivityRow(4, "claims-triage", "Discover", "Map the claims workflow", None,
                    None, None, None, "not started", [], None),
    ]  # fmt: skip
    return phases, activities


def cell_values(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values, row by row."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.values) for sheet in book.worksheets}


def edited(data: bytes, edit: Any) -> bytes:
    """The workbook after ``edit(book)`` changed it, saved as a person's spreadsheet program would."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    edit(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def column_of(sheet: Any, header: str) -> int:
    """The column number under this header in row 1."""
    return int(next(cell.column for cell in sheet[1] if cell.value == header))


def activities_sheet_with(rows: list[list[object]], header: tuple[str, ...] = ACTIVITY_COLUMNS) -> bytes:
    """A workbook whose Activities sheet holds these rows as typed, and an empty Roadmap."""
    book = openpyxl.Workbook()
    book.active.title = "Roadmap"
    book.active.append(ROADMAP_COLUMNS)
    sheet = book.create_sheet("Activities")
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def activity_typed(**typed: object) -> list[object]:
    """An Activities row with sensible values, some replaced by what the test types."""
    values: dict[str, object] = {
        "ID": 7, "Use case": "invoice-extraction", "Phase": "Pilot", "Activity": "Label invoices",
        "Owner": None, "Planned start": date(2026, 4, 1), "Planned end": date(2026, 4, 10),
        "Effort hours": 8, "Status": "in progress", "Dependencies": None, "Notes": None,
    }  # fmt: skip
    by_keyword = {c.lower().replace(" ", "_"): c for c in ACTIVITY_COLUMNS}
    values.update({by_keyword[k]: v for k, v in typed.items()})
    return [values[c] for c in ACTIVITY_COLUMNS]


# -- what the workbook holds ------------------------------------------------------------------


def test_the_workbook_has_a_roadmap_an_activities_and_an_outline_sheet_with_their_headers() -> None:
    book = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))
    assert book.sheetnames == ["Roadmap", "Activities", "Roadmap with Activities"]
    assert [c.value for c in book["Roadmap"][1]][:9] == [
        "Use case", "Phase ID", "Phase", "Description", "Start", "End", "Owner", "Status", "Notes",
    ]  # fmt: skip
    assert [c.value for c in book["Activities"][1]][:11] == [
        "ID", "Use case", "Phase", "Activity", "Owner", "Planned start", "Planned end", "Effort hours",
        "Status", "Dependencies", "Notes",
    ]  # fmt: skip


def test_dates_are_real_excel_dates_shown_as_year_month_day() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))["Activities"]
    start = sheet.cell(row=2, column=column_of(sheet, "Planned start"))
    assert start.is_date and start.value == datetime(2026, 3, 2)
    assert start.number_format == "yyyy-mm-dd"


def test_every_status_column_offers_the_statuses_as_a_drop_down() -> None:
    book = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))
    for sheet in book.worksheets:
        status = get_column_letter(column_of(sheet, "Status"))
        (validation,) = sheet.data_validations.dataValidation
        assert validation.type == "list"
        assert validation.formula1 == '"not started,in progress,completed,blocked"'
        assert f"{status}2" in validation.sqref, sheet.title


def test_headers_stay_in_view_and_can_filter() -> None:
    book = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))
    for sheet in book.worksheets:
        assert sheet.freeze_panes.endswith("2"), sheet.title
        assert sheet.auto_filter.ref.startswith("A1:")
    assert book["Activities"].auto_filter.ref == "A1:K5"
    assert book["Activities"].column_dimensions["D"].width >= len("Build the extraction prototype")


def test_week_columns_run_monday_by_monday_from_the_earliest_date_to_the_latest() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))["Activities"]
    weeks = [cell.value for cell in sheet[1][len(ACTIVITY_COLUMNS) :]]
    assert weeks[0] == datetime(2026, 3, 2) and weeks[-1] == datetime(2026, 5, 18)
    assert len(weeks) == 12 and all(w.weekday() == 0 for w in weeks)
    assert sheet.cell(row=1, column=len(ACTIVITY_COLUMNS) + 1).number_format == "yyyy-mm-dd"


def test_weeks_start_on_the_monday_before_the_earliest_date_and_include_the_latest() -> None:
    assert week_starts([date(2026, 3, 4), date(2026, 3, 16)]) == [
        date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16),
    ]  # fmt: skip
    assert week_starts([]) == []


def test_a_mistyped_year_adds_at_most_five_years_of_week_columns() -> None:
    assert len(week_starts([date(2026, 3, 2), date(2062, 3, 2)])) == MAX_WEEKS == 260


def test_the_gantt_bar_is_drawn_by_formulas_over_the_dates_so_edited_dates_move_it() -> None:
    book = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))
    sheet = book["Activities"]
    (area,) = [str(rng.sqref) for rng in sheet.conditional_formatting]
    assert area.startswith("L2:W")
    formulas = [rule.formula[0] for rng in sheet.conditional_formatting for rule in rng.rules]
    assert all("L$1<=$G2" in f and "L$1+6>=$F2" in f for f in formulas)
    assert any('"blocked"' in f for f in formulas) and any('"completed"' in f for f in formulas)
    filled = [
        cell.coordinate
        for row in sheet.iter_rows(min_row=2, min_col=len(ACTIVITY_COLUMNS) + 1)
        for cell in row
        if cell.fill.fill_type is not None or cell.value is not None
    ]
    assert filled == []
    assert [str(r.sqref)[:2] for r in book["Roadmap"].conditional_formatting] == ["J2"]


def test_the_outline_sheet_shows_each_phase_in_bold_with_its_activities_grouped_under_it() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan())))["Roadmap with Activities"]
    rows = [(sheet.cell(row=r, column=3).value, sheet.row_dimensions[r].outline_level) for r in range(2, 9)]
    assert rows == [
        ("Discover", 0), ("Interview AP clerks", 1),
        ("Pilot", 0), ("Build the extraction prototype", 1), ("Measure field accuracy", 1),
        ("Discover", 0), ("Map the claims workflow", 1),
    ]  # fmt: skip
    assert sheet.cell(row=2, column=3).font.b and not sheet.cell(row=3, column=3).font.b
    assert sheet.cell(row=3, column=3).alignment.indent > 0
    assert sheet.sheet_properties.outlinePr.summaryBelow is False


def test_an_activity_of_a_phase_not_on_the_roadmap_gets_a_phase_row_of_its_own_in_the_outline() -> None:
    phases, activities = plan()
    activities.append(ActivityRow(None, "claims-triage", "Pilot", "Pick a region", None, None, None, None,
                                  "not started", [], None))  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(write_workbook(phases, activities)))["Roadmap with Activities"]
    assert [sheet.cell(row=r, column=3).value for r in (9, 10)] == ["Pilot", "Pick a region"]
    assert sheet.cell(row=9, column=3).font.b


def test_the_same_plan_always_gives_the_same_bytes() -> None:
    assert write_workbook(*plan()) == write_workbook(*plan())
    properties = openpyxl.load_workbook(io.BytesIO(write_workbook(*plan()))).properties
    assert properties.created == properties.modified == datetime(2026, 1, 1)


def test_an_empty_plan_writes_the_headers_and_reads_back_empty() -> None:
    content = read_workbook(write_workbook([], []))
    assert (content.phases, content.activities, content.problems) == ([], [], [])


# -- round trips ------------------------------------------------------------------------------


def test_reading_what_was_written_gives_back_the_same_rows() -> None:
    phases, activities = plan()
    content = read_workbook(write_workbook(phases, activities))
    assert content.problems == []
    assert content.phases == phases
    assert content.activities == activities


def test_writing_what_was_read_gives_the_same_cell_values_in_every_sheet() -> None:
    first = write_workbook(*plan())
    content = read_workbook(first)
    assert cell_values(write_workbook(content.phases, content.activities)) == cell_values(first)


def test_a_workbook_edited_by_hand_reads_as_meant_and_writes_back_stably() -> None:
    def edit(book: Any) -> None:
        sheet = book["Activities"]
        sheet.insert_rows(3)  # a blank row between activity 1 and 2
        activity, owner = column_of(sheet, "Activity"), column_of(sheet, "Owner")
        for row in range(1, sheet.max_row + 1):  # the two columns swapped, headers and all
            a, o = sheet.cell(row=row, column=activity), sheet.cell(row=row, column=owner)
            a.value, o.value = o.value, a.value
        sheet.cell(row=4, column=column_of(sheet, "Planned start")).value = "2026-04-01 "
        sheet.cell(row=5, column=column_of(sheet, "Activity")).value = "Measure field accuracy  "
        new = {"Use case": "claims-triage", "Phase": "Discover", "Activity": "Read past claims",
               "Planned start": "01/06/2026", "Planned end": "1 Jul 2026", "Effort hours": "12",
               "Status": "In Progress", "Dependencies": "4; Map the claims workflow"}  # fmt: skip
        appended = sheet.max_row + 1
        for header, value in new.items():
            sheet.cell(row=appended, column=column_of(sheet, header)).value = value
        book["Roadmap"]["G3"] = "  dev.patel "

    phases, activities = plan()
    content = read_workbook(edited(write_workbook(phases, activities), edit))

    assert content.problems == []
    assert content.phases == phases
    activities[1].planned_start = date(2026, 4, 1)
    added = ActivityRow(None, "claims-triage", "Discover", "Read past claims", None, date(2026, 6, 1),
                        date(2026, 7, 1), 12.0, "in progress", ["4", "Map the claims workflow"],
                        None)  # fmt: skip
    assert content.activities == [*activities, added]
    rewritten = write_workbook(content.phases, content.activities)
    again = read_workbook(rewritten)
    assert (again.phases, again.activities) == (content.phases, content.activities)
    assert cell_values(write_workbook(again.phases, again.activities)) == cell_values(rewritten)


# -- what a person types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["2026-03-01", " 2026-03-01 ", "01/03/2026", "1/3/2026", "1 Mar 2026", "1 March 2026", "March 1, 2026",
     "Mar 1, 2026", "2026-03-01 00:00:00", 46082, datetime(2026, 3, 1, 0, 0)],
)  # fmt: skip
def test_a_date_is_read_whether_a_date_cell_or_typed_as_text_in_the_usual_forms(typed: object) -> None:
    content = read_workbook(activities_sheet_with([activity_typed(planned_start=typed, planned_end=None)]))
    assert content.problems == []
    assert content.activities[0].planned_start == date(2026, 3, 1)


def test_an_impossible_date_is_a_problem_naming_the_sheet_row_column_and_value() -> None:
    rows: list[list[object]] = [activity_typed(), [None] * 11, activity_typed(id=8, planned_end="31/02/2026")]
    content = read_workbook(activities_sheet_with(rows))
    assert [str(p) for p in content.problems] == [
        "Activities row 4, column 'Planned end': not a date: '31/02/2026'"
    ]
    assert content.problems[0] == WorkbookProblem("Activities", 4, "Planned end", "not a date: '31/02/2026'")


def test_a_bad_value_rejects_only_its_row_and_every_problem_is_reported() -> None:
    rows = [
        activity_typed(id=1, planned_start="soon"),
        activity_typed(id=2),
        activity_typed(id=3, effort_hours="a lot", status="done"),
        activity_typed(id=4, activity=None),
    ]
    content = read_workbook(activities_sheet_with(rows))
    assert [a.id for a in content.activities] == [2]
    assert [(p.row, p.column) for p in content.problems] == [
        (2, "Planned start"), (4, "Effort hours"), (4, "Status"), (5, "Activity"),
    ]  # fmt: skip


def test_a_status_is_read_in_any_case_and_an_unknown_one_names_the_allowed_ones() -> None:
    rows = [activity_typed(id=1, status="Completed"), activity_typed(id=2, status=" IN PROGRESS "),
            activity_typed(id=3, status="Done")]  # fmt: skip
    content = read_workbook(activities_sheet_with(rows))
    assert [a.status for a in content.activities] == ["completed", "in progress"]
    assert [str(p) for p in content.problems] == [
        "Activities row 4, column 'Status': unknown status 'Done': "
        "use one of not started, in progress, completed, blocked"
    ]


def test_a_row_added_without_a_status_has_not_started() -> None:
    content = read_workbook(activities_sheet_with([activity_typed(id=None, status=None)]))
    assert content.activities[0].status == STATUSES[0] and content.activities[0].id is None


@pytest.mark.parametrize(
    ("typed", "hours"), [("6.5", 6.5), (" 6,5 ", 6.5), ("12", 12.0), (3, 3.0), (None, None)]
)
def test_effort_is_read_as_a_number_even_when_typed_as_text(typed: object, hours: float | None) -> None:
    content = read_workbook(activities_sheet_with([activity_typed(effort_hours=typed)]))
    assert content.activities[0].effort_hours == hours


def test_negative_effort_is_a_problem() -> None:
    (problem,) = read_workbook(activities_sheet_with([activity_typed(effort_hours=-2)])).problems
    assert str(problem) == "Activities row 2, column 'Effort hours': cannot be negative: -2"


def test_an_id_that_is_not_a_whole_number_is_a_problem_and_ids_typed_as_text_are_read() -> None:
    content = read_workbook(activities_sheet_with([activity_typed(id="12 "), activity_typed(id="twelve")]))
    assert [a.id for a in content.activities] == [12]
    assert [(p.row, p.column) for p in content.problems] == [(3, "ID")]


def test_a_repeated_activity_id_keeps_the_first_row_and_reports_the_second() -> None:
    rows = [activity_typed(id=5, activity="First"), activity_typed(id=5, activity="Copy")]
    content = read_workbook(activities_sheet_with(rows))
    assert [a.name for a in content.activities] == ["First"]
    assert str(content.problems[0]) == "Activities row 3: activity ID 5 appears again (first in row 2)"


def test_dependencies_are_split_on_commas_and_semicolons_and_kept_as_typed() -> None:
    typed = " 3, Interview AP clerks ;; 7 "
    content = read_workbook(activities_sheet_with([activity_typed(dependencies=typed)]))
    assert content.activities[0].dependencies == ["3", "Interview AP clerks", "7"]


def test_an_end_before_its_start_is_a_problem() -> None:
    row = activity_typed(planned_start=date(2026, 5, 1), planned_end=date(2026, 4, 1))
    (problem,) = read_workbook(activities_sheet_with([row])).problems
    assert (
        str(problem)
        == "Activities row 2, column 'Planned end': 2026-04-01 is before the Planned start, 2026-05-01"
    )


def test_headers_are_matched_in_any_case_and_spacing_and_unknown_columns_are_ignored() -> None:
    header = (*(f"  {name.upper()} " for name in ACTIVITY_COLUMNS), "My remarks")
    content = read_workbook(activities_sheet_with([[*activity_typed(), "mine"]], header=header))
    assert content.problems == [] and content.activities[0].name == "Label invoices"


# -- what cannot be read ----------------------------------------------------------------------


def test_a_missing_column_is_a_problem_and_that_sheet_gives_no_rows() -> None:
    header = tuple(c for c in ACTIVITY_COLUMNS if c != "Planned end")
    row = [v for c, v in zip(ACTIVITY_COLUMNS, activity_typed(), strict=True) if c != "Planned end"]
    content = read_workbook(activities_sheet_with([row], header=header))
    assert content.activities == []
    assert [str(p) for p in content.problems] == [
        "Activities row 1, column 'Planned end': missing column (columns are found by their header)"
    ]


def test_a_column_appearing_twice_is_a_problem() -> None:
    content = read_workbook(activities_sheet_with([], header=(*ACTIVITY_COLUMNS, "Owner")))
    assert [str(p) for p in content.problems] == [
        "Activities row 1, column 'Owner': column appears twice (columns E and L)"
    ]


def test_a_missing_sheet_is_a_problem_and_the_other_sheet_is_still_read() -> None:
    def drop_roadmap(book: Any) -> None:
        del book["Roadmap"]

    content = read_workbook(edited(write_workbook(*plan()), drop_roadmap))
    assert [str(p) for p in content.problems] == [
        "Roadmap: no sheet named 'Roadmap' (sheets: Activities, Roadmap with Activities)"
    ]
    assert len(content.activities) == 4


def test_a_repeated_phase_is_a_problem() -> None:
    phases, activities = plan()
    content = read_workbook(write_workbook([*phases, phases[0]], activities))
    assert [str(p) for p in content.problems] == [
        "Roadmap row 5: phase 'discover' of use case 'invoice-extraction' appears again (first in row 2)"
    ]


@pytest.mark.parametrize("data", [b"", b"Use case,Phase\nx,y\n", b"PK\x03\x04 not really a zip"])
def test_bytes_that_are_not_a_workbook_raise_invalid_input_naming_the_file(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^roadmap\.csv is not an Excel workbook"):
        read_workbook(data, filename="roadmap.csv")
