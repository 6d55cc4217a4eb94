"""The roadmap as an Excel workbook: written for people who plan in Excel, read back after they edit it.

``write_workbook`` gives three sheets: ``Roadmap`` (a row per phase), ``Activities`` (a row per
activity) and ``Roadmap with Activities`` (both as one outline, for reading only). Each has a
Gantt bar drawn by conditional formatting over one column per week, so a date edited by hand
moves its bar. ``read_workbook`` reads ``Roadmap`` and ``Activities`` back by header name and
turns whatever a person did that it cannot use into a ``WorkbookProblem`` for that row.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import Outline, PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from phasegate.errors import InvalidInput, Problem

STATUSES = ("not started", "in progress", "completed", "blocked")

ROADMAP = "Roadmap"
ACTIVITIES = "Activities"
OUTLINE = "Roadmap with Activities"
ROADMAP_COLUMNS = ("Use case", "Phase ID", "Phase", "Description", "Start", "End", "Owner", "Status", "Notes")
ACTIVITY_COLUMNS = (
    "ID", "Use case", "Phase", "Activity", "Owner", "Planned start", "Planned end",
    "Effort hours", "Status", "Dependencies", "Notes",
)  # fmt: skip
OUTLINE_COLUMNS = (
    "ID", "Use case", "Phase / activity", "Owner", "Start", "End", "Effort hours", "Status",
    "Dependencies", "Notes",
)  # fmt: skip

DATE_FORMAT = "yyyy-mm-dd"
# Excel shows these in File > Info; fixed so the same plan always gives the same bytes.
FIXED_TIMESTAMP = datetime(2026, 1, 1)
_ZIP_TIMESTAMP = (2026, 1, 1, 0, 0, 0)
# Rows below the data that still get the status drop-down and the Gantt bar, for rows added by hand.
SPARE_ROWS = 500
# A mistyped year (2062) would otherwise add thousands of week columns; past five years a
# weekly bar is unreadable anyway, so later weeks get no column.
MAX_WEEKS = 260
TEXT_DATE_FORMATS = (
    "%d/%m/%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%b %d, %Y", "%B %d, %Y",
    "%b %d %Y", "%B %d %Y",
)  # fmt: skip
# A number in a date column is a date whose cell format was cleared, when it falls in
# 1990-2099 as an Excel serial day; outside that it is more likely a typing slip.
SERIAL_DAYS = (32874, 73051)

# Named in full: a font with only bold set shows in a serif face in LibreOffice.
_BOLD = Font(name="Calibri", size=11, bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", start_color="D9E2F3", end_color="D9E2F3")
_WEEK_HEADER = Alignment(text_rotation=90, horizontal="center")
_INDENTED = Alignment(horizontal="left", indent=2)  # indenting needs an explicit alignment
# Checked in this order, so a blocked or completed activity shows its own colour.
_BAR_COLOURS = (("blocked", "E06666"), ("completed", "93C47D"), (None, "6FA8DC"))


@dataclass
class PhaseRow:
    """One phase of a use case's plan, as a row of the Roadmap sheet."""

    usecase_id: str
    phase_id: str
    phase: str
    description: str
    start: date | None
    end: date | None
    owner: str | None
    status: str
    notes: str | None


@dataclass
class ActivityRow:
    """One activity of a phase, as a row of the Activities sheet; ``id`` is None for a row added by hand."""

    id: int | None
    usecase_id: str
    phase: str
    name: str
    owner: str | None
    planned_start: date | None
    planned_end: date | None
    effort_hours: float | None
    status: str
    dependencies: list[str]
    notes: str | None


@dataclass
class WorkbookProblem:
    """Something in a workbook that cannot be read, and where: row 0 means the sheet as a whole."""

    sheet: str
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        place = self.sheet if self.row == 0 else f"{self.sheet} row {self.row}"
        if self.column is not None:
            place += f", column '{self.column}'"
        return f"{place}: {self.message}"


@dataclass
class WorkbookContent:
    """The rows read from a workbook, and the problems that kept other rows out."""

    phases: list[PhaseRow]
    activities: list[ActivityRow]
    problems: list[WorkbookProblem]


# -- writing ----------------------------------------------------------------------------------


def write_workbook(phases: Sequence[PhaseRow], activities: Sequence[ActivityRow]) -> bytes:
    """The roadmap as .xlsx bytes: phases, activities and both as an outline, each with a Gantt."""
    weeks = week_starts(
        [d for p in phases for d in (p.start, p.end) if d]
        + [d for a in activities for d in (a.planned_start, a.planned_end) if d]
    )
    book = Workbook()
    roadmap = book.active
    roadmap.title = ROADMAP
    _write_table(roadmap, ROADMAP_COLUMNS, [_phase_cells(p) for p in phases], weeks, gantt=("Start", "End"))
    roadmap.freeze_panes = "D2"
    sheet = book.create_sheet(ACTIVITIES)
    _write_table(
        sheet,
        ACTIVITY_COLUMNS,
        [_activity_cells(a) for a in activities],
        weeks,
        gantt=("Planned start", "Planned end"),
    )
    sheet.freeze_panes = "E2"
    _write_outline(book.create_sheet(OUTLINE), phases, activities, weeks)
    book.properties.creator = "phasegate"
    book.properties.created = book.properties.modified = FIXED_TIMESTAMP
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps the modified time with the clock.
    ExcelWriter(book, _StableZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return buffer.getvalue()


def week_starts(dates: Iterable[date]) -> list[date]:
    """The Monday of every week from the earliest date to the latest, at most MAX_WEEKS of them."""
    known = list(dates)
    if not known:
        return []
    first = min(known) - timedelta(days=min(known).weekday())
    count = min((max(known) - first).days // 7 + 1, MAX_WEEKS)
    return [first + timedelta(weeks=n) for n in range(count)]


class _StableZipFile(zipfile.ZipFile):
    """A zip whose members all carry one timestamp, so equal workbooks are equal bytes."""

    def writestr(self, zinfo_or_arcname: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        """Store a member under the fixed timestamp rather than the clock's."""
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=_ZIP_TIMESTAMP)
            zinfo_or_arcname.compress_type = self.compression
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)


def _phase_cells(phase: PhaseRow) -> list[object]:
    """A phase as the cells of a Roadmap row, in ROADMAP_COLUMNS order."""
    return [
        phase.usecase_id, phase.phase_id, phase.phase, phase.description or None, phase.start, phase.end,
        phase.owner, phase.status, phase.notes,
    ]  # fmt: skip


def _activity_cells(activity: ActivityRow) -> list[object]:
    """An activity as the cells of an Activities row, in ACTIVITY_COLUMNS order."""
    return [
        activity.id, activity.usecase_id, activity.phase, activity.name, activity.owner,
        activity.planned_start, activity.planned_end, activity.effort_hours, activity.status,
        ", ".join(activity.dependencies) or None, activity.notes,
    ]  # fmt: skip


def _write_table(
    sheet: Worksheet,
    columns: Sequence[str],
    rows: list[list[object]],
    weeks: list[date],
    *,
    gantt: tuple[str, str],
) -> None:
    """Header, rows, drop-down, filter, widths and a Gantt bar from the two named date columns."""
    sheet.append(list(columns))
    for row in rows:
        sheet.append(row)
    last = len(rows) + 1
    letter = {name: get_column_letter(n) for n, name in enumerate(columns, start=1)}
    for n in range(1, len(columns) + 1):
        header = sheet.cell(row=1, column=n)
        header.font, header.fill = _BOLD, _HEADER_FILL
    for n, name in enumerate(columns):
        width = max([len(name), *(len(_shown_text(r[n])) for r in rows)]) + 2
        sheet.column_dimensions[letter[name]].width = min(max(width, 8), 50)
    for name in gantt:
        # A column style, so a date typed into a new row is shown as a date too.
        sheet.column_dimensions[letter[name]].number_format = DATE_FORMAT
        sheet.column_dimensions[letter[name]].width = max(12, len(name) + 3)
    status = DataValidation(
        type="list",
        formula1='"' + ",".join(STATUSES) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Status",
        error="Choose one of: " + ", ".join(STATUSES),
    )
    status.add(f"{letter['Status']}2:{letter['Status']}{last + SPARE_ROWS}")
    sheet.add_data_validation(status)
    sheet.auto_filter.ref = f"A1:{letter[columns[-1]]}{last}"
    _add_gantt(sheet, len(columns) + 1, weeks, last, (letter[gantt[0]], letter[gantt[1]], letter["Status"]))
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


def _add_gantt(
    sheet: Worksheet, first: int, weeks: list[date], last: int, letters: tuple[str, str, str]
) -> None:
    """Week columns whose cells fill, by formula, where the week overlaps the row's start and end."""
    if not weeks:
        return
    for n, monday in enumerate(weeks):
        cell = sheet.cell(row=1, column=first + n, value=monday)
        cell.number_format, cell.alignment, cell.font = DATE_FORMAT, _WEEK_HEADER, _BOLD
        sheet.column_dimensions[get_column_letter(first + n)].width = 3
    sheet.row_dimensions[1].height = 80  # room for a date turned on its side
    start, end, status = letters
    week = get_column_letter(first)
    area = f"{week}2:{get_column_letter(first + len(weeks) - 1)}{last + SPARE_ROWS}"
    # The week of Monday m overlaps [start, end] when m <= end and m + 6 >= start.
    overlap = f"AND(ISNUMBER(${start}2),ISNUMBER(${end}2),{week}$1<=${end}2,{week}$1+6>=${start}2)"
    for state, colour in _BAR_COLOURS:
        formula = overlap if state is None else f'AND({overlap},LOWER(TRIM(${status}2))="{state}")'
        fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
        sheet.conditional_formatting.add(area, FormulaRule(formula=[formula], fill=fill, stopIfTrue=True))


def _write_outline(
    sheet: Worksheet, phases: Sequence[PhaseRow], activities: Sequence[ActivityRow], weeks: list[date]
) -> None:
    """Each phase as a bold row with its activities grouped under it, one outline level down."""
    rows: list[list[object]] = []
    bold_rows: list[int] = []
    for phase, members in _activities_by_phase(phases, activities):
        bold_rows.append(len(rows) + 2)
        rows.append(
            [phase.phase_id, phase.usecase_id, phase.phase, phase.owner, phase.start, phase.end, None,
             phase.status, None, phase.notes]
        )  # fmt: skip
        rows += [
            [a.id, a.usecase_id, a.name, a.owner, a.planned_start, a.planned_end, a.effort_hours, a.status,
             ", ".join(a.dependencies) or None, a.notes]
            for a in members
        ]  # fmt: skip
    _write_table(sheet, OUTLINE_COLUMNS, rows, weeks, gantt=("Start", "End"))
    bold = set(bold_rows)
    for number in range(2, len(rows) + 2):
        if number in bold:
            # One cell at a time: sheet[number] would make a cell in every week column too.
            for n in range(1, len(OUTLINE_COLUMNS) + 1):
                sheet.cell(row=number, column=n).font = _BOLD
        else:
            sheet.row_dimensions[number].outline_level = 1
            sheet.cell(row=number, column=3).alignment = _INDENTED
    # The group's button sits on the phase row above it, not below the last activity.
    sheet.sheet_properties.outlinePr = Outline(summaryBelow=False)
    sheet.freeze_panes = "D2"
    sheet["C1"].comment = Comment(
        f"Made from the {ROADMAP} and {ACTIVITIES} sheets: edit those, changes here are not read back.",
        "phasegate",
    )


def _activities_by_phase(
    phases: Sequence[PhaseRow], activities: Sequence[ActivityRow]
) -> list[tuple[PhaseRow, list[ActivityRow]]]:
    """Phases in order with their activities; an activity naming no known phase gets its own."""
    groups: dict[tuple[str, str], tuple[PhaseRow, list[ActivityRow]]] = {}
    named: dict[tuple[str, str], tuple[str, str]] = {}
    for phase in phases:
        key = (phase.usecase_id, phase.phase_id)
        groups.setdefault(key, (phase, []))
        for label in (phase.phase_id, phase.phase):
            named.setdefault((phase.usecase_id, _key(label)), key)
    for activity in activities:
        stray_key = (activity.usecase_id, _key(activity.phase))
        key = named.get(stray_key, stray_key)
        if key not in groups:
            stray = PhaseRow(activity.usecase_id, "", activity.phase, "", None, None, None, "", None)
            groups[key] = (stray, [])
        groups[key][1].append(activity)
    return list(groups.values())


def _shown_text(value: object) -> str:
    """The text a cell shows, near enough to size its column."""
    if value is None:
        return ""
    if isinstance(value, date):
        return "2026-01-01"
    return str(value)


# -- reading ----------------------------------------------------------------------------------

_Row = TypeVar("_Row")


def read_workbook(data: bytes, *, filename: str = "workbook") -> WorkbookContent:
    """The phases and activities in a workbook, perhaps edited by hand, and the problems found in it."""
    try:
        # data_only: a formula typed into a cell counts for the value Excel last computed.
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, SyntaxError) as error:
        message = f"{filename} is not an Excel workbook (.xlsx): {error}"
        raise InvalidInput(message, [Problem(message, file=filename)]) from error
    try:
        problems: list[WorkbookProblem] = []
        phases = _read_sheet(book, ROADMAP, ROADMAP_COLUMNS, _phase_from, problems)
        activities = _read_sheet(book, ACTIVITIES, ACTIVITY_COLUMNS, _activity_from, problems)
    finally:
        book.close()
    phases = _drop_repeats(
        ROADMAP, phases, lambda p: (p.usecase_id, p.phase_id),
        lambda p: f"phase '{p.phase_id}' of use case '{p.usecase_id}'", problems,
    )  # fmt: skip
    activities = _drop_repeats(
        ACTIVITIES, activities, lambda a: a.id, lambda a: f"activity ID {a.id}", problems
    )
    problems.sort(key=lambda p: (p.sheet != ROADMAP, p.row))
    return WorkbookContent(
        phases=[row for _, row in phases], activities=[row for _, row in activities], problems=problems
    )


def _read_sheet(
    book: Any,
    title: str,
    columns: Sequence[str],
    parse: Callable[[_Cells], _Row],
    problems: list[WorkbookProblem],
) -> list[tuple[int, _Row]]:
    """Each non-blank row of one sheet parsed by header name, with its row number."""
    sheets = {_key(name): name for name in book.sheetnames}
    if _key(title) not in sheets:
        problems.append(
            WorkbookProblem(
                title, 0, None, f"no sheet named '{title}' (sheets: {', '.join(book.sheetnames)})"
            )
        )
        return []
    sheet = book[sheets[_key(title)]]
    # Some programs write a wrong size into the file; without it, rows are read to their last cell.
    sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)
    positions = _header_positions(title, next(rows, ()), columns, problems)
    if positions is None:
        return []
    found: list[tuple[int, _Row]] = []
    for number, row in enumerate(rows, start=2):
        values = {name: row[i] if i < len(row) else None for name, i in positions.items()}
        if all(_text(v) is None for v in values.values()):
            continue
        cells = _Cells(title, number, values)
        parsed = parse(cells)
        problems += cells.problems
        if not cells.problems:
            found.append((number, parsed))
    return found


def _header_positions(
    title: str, header: Sequence[object], columns: Sequence[str], problems: list[WorkbookProblem]
) -> dict[str, int] | None:
    """Where each column is, found by its header in row 1; None when one is missing or repeated."""
    wanted = {_key(name): name for name in columns}
    positions: dict[str, int] = {}
    before = len(problems)
    for index, value in enumerate(header):
        name = wanted.get(_key(value)) if isinstance(value, str) else None
        if name is None:
            continue  # the Gantt's week columns, or a column someone added for themselves
        if name in positions:
            where = f"columns {get_column_letter(positions[name] + 1)} and {get_column_letter(index + 1)}"
            problems.append(WorkbookProblem(title, 1, name, f"column appears twice ({where})"))
        positions.setdefault(name, index)
    for name in columns:
        if name not in positions:
            problems.append(
                WorkbookProblem(title, 1, name, "missing column (columns are found by their header)")
            )
    return positions if len(problems) == before else None


def _drop_repeats(
    title: str,
    rows: list[tuple[int, _Row]],
    key: Callable[[_Row], object],
    describe: Callable[[_Row], str],
    problems: list[WorkbookProblem],
) -> list[tuple[int, _Row]]:
    """The rows whose key comes first; a later one is a problem, as nobody can tell which is meant."""
    first: dict[object, int] = {}
    kept: list[tuple[int, _Row]] = []
    for number, row in rows:
        value = key(row)
        if value is not None and value in first:
            message = f"{describe(row)} appears again (first in row {first[value]})"
            problems.append(WorkbookProblem(title, number, None, message))
            continue
        if value is not None:
            first[value] = number
        kept.append((number, row))
    return kept


def _phase_from(cells: _Cells) -> PhaseRow:
    """A Roadmap row as a phase; it counts only if reading it found no problem."""
    start, end = cells.day("Start"), cells.day("End")
    cells.check_order("Start", start, "End", end)
    return PhaseRow(
        usecase_id=cells.required("Use case"),
        phase_id=cells.required("Phase ID"),
        phase=cells.required("Phase"),
        description=cells.text("Description") or "",
        start=start,
        end=end,
        owner=cells.text("Owner"),
        status=cells.status("Status"),
        notes=cells.text("Notes"),
    )


def _activity_from(cells: _Cells) -> ActivityRow:
    """An Activities row as an activity; it counts only if reading it found no problem."""
    start, end = cells.day("Planned start"), cells.day("Planned end")
    cells.check_order("Planned start", start, "Planned end", end)
    return ActivityRow(
        id=cells.identifier("ID"),
        usecase_id=cells.required("Use case"),
        phase=cells.required("Phase"),
        name=cells.required("Activity"),
        owner=cells.text("Owner"),
        planned_start=start,
        planned_end=end,
        effort_hours=cells.hours("Effort hours"),
        status=cells.status("Status"),
        dependencies=cells.names("Dependencies"),
        notes=cells.text("Notes"),
    )


class _Cells:
    """One row's values by column name; a value that does not read becomes a problem, not an error."""

    def __init__(self, sheet: str, row: int, values: dict[str, object]) -> None:
        self.sheet, self.row, self.values = sheet, row, values
        self.problems: list[WorkbookProblem] = []

    def _problem(self, column: str, message: str) -> None:
        """Record a problem with one of this row's cells."""
        self.problems.append(WorkbookProblem(self.sheet, self.row, column, message))

    def text(self, column: str) -> str | None:
        """The cell as trimmed text; None when blank."""
        return _text(self.values[column])

    def required(self, column: str) -> str:
        """The cell as trimmed text, a problem when blank."""
        text = self.text(column)
        if text is None:
            self._problem(column, "empty, and every row needs one")
        return text or ""

    def day(self, column: str) -> date | None:
        """The cell as a date, from a date cell or a date typed as text."""
        value = self.values[column]
        try:
            return _to_date(value)
        except ValueError:
            self._problem(column, f"not a date: {_quoted(value)}")
            return None

    def check_order(self, start_column: str, start: date | None, end_column: str, end: date | None) -> None:
        """A problem when the end comes before the start."""
        if start and end and end < start:
            self._problem(end_column, f"{end.isoformat()} is before the {start_column}, {start.isoformat()}")

    def hours(self, column: str) -> float | None:
        """The cell as a number of hours, not negative."""
        value = self.values[column]
        try:
            hours = _to_number(value)
        except ValueError:
            self._problem(column, f"not a number of hours: {_quoted(value)}")
            return None
        if hours is not None and hours < 0:
            self._problem(column, f"cannot be negative: {_quoted(value)}")
        return hours

    def identifier(self, column: str) -> int | None:
        """The cell as an activity ID; None for a row added by hand."""
        value = self.values[column]
        try:
            number = _to_number(value)
        except ValueError:
            number = None
        else:
            if number is None or (number.is_integer() and number >= 1):
                return None if number is None else int(number)
        self._problem(column, f"not an activity ID (a whole number; empty for a new row): {_quoted(value)}")
        return None

    def status(self, column: str) -> str:
        """The cell as one of STATUSES, in any case and spacing."""
        text = self.text(column)
        if text is None:
            return STATUSES[0]  # a row added by hand without a status has not started
        status = re.sub(r"[\s_-]+", " ", text).casefold()
        if status not in STATUSES:
            self._problem(column, f"unknown status {text!r}: use one of {', '.join(STATUSES)}")
        return status

    def names(self, column: str) -> list[str]:
        """The cell split on commas and semicolons, each part trimmed, as typed otherwise."""
        text = self.text(column) or ""
        return [name.strip() for name in re.split(r"[,;]", text) if name.strip()]


def _key(name: object) -> str:
    """A header or sheet name as compared: trimmed, inner spaces collapsed, any case."""
    return " ".join(str(name).split()).casefold()


def _text(value: object) -> str | None:
    """A cell as trimmed text; None when blank. A whole number Excel stored as 42.0 reads '42'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime) and value == datetime.combine(value.date(), datetime.min.time()):
        value = value.date()
    text = str(value).strip()
    return text or None


def _quoted(value: object) -> str:
    """A value as a problem message shows it: text in quotes, numbers and dates as they are."""
    return repr(value.strip()) if isinstance(value, str) else str(value)


def _to_date(value: object) -> date | None:
    """A date cell, an Excel serial day number or a date typed as text; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if SERIAL_DAYS[0] <= value <= SERIAL_DAYS[1]:
            return from_excel(value).date()  # type: ignore[no-any-return]
        raise ValueError(value)
    if not isinstance(value, str):
        raise ValueError(value)
    text = " ".join(value.split())
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    for pattern in TEXT_DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(value)


def _to_number(value: object) -> float | None:
    """A number cell or a number typed as text, with a decimal point or comma; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(value)
    return number
