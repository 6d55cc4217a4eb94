"""Bulk import, the pure part: an inventory's bytes in, validated use-case documents out.

Three steps, each usable alone: ``read_table`` turns CSV or XLSX bytes into a header and
rows of text, ``resolve_mapping`` says which column fills which field of the document, and
``rows_to_specs`` validates every row as a ``UseCaseSpec``. Nothing here touches the store;
the service decides what is created, updated or unchanged.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import json
import re
import types
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Annotated, Any, Union, get_args, get_origin

import charset_normalizer
import openpyxl
import yaml
from pydantic import BaseModel, ValidationError

from phasegate.errors import InvalidInput, Problem
from phasegate.portfolio.schemas import UseCaseSpec

DELIMITERS = (",", ";", "\t")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
WINDOWS_WESTERN = "cp1252"
ATTRIBUTES = "attributes."
SLUG_LENGTH = 80  # schemas.SLUG allows 1-80 characters


# -- the fields a column can fill -------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The type inside ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every single-valued field of a model as a dotted path, with its type."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = _unwrap(info.annotation)
        path = prefix + name
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found.update(_leaf_fields(kind, path + "."))
        elif name not in ("kind", "attributes") and get_origin(kind) not in (list, dict):
            found[path] = kind
    return found


# Read from the schema, so a field added to UseCaseSpec can be imported the day it exists.
FIELDS: dict[str, Any] = _leaf_fields(UseCaseSpec)


def is_field(path: str) -> bool:
    """Whether a dotted path names a field a column can fill (``attributes.<key>`` included)."""
    return path in FIELDS or (path.startswith(ATTRIBUTES) and len(path) > len(ATTRIBUTES))


def slugify(text: str, limit: int = SLUG_LENGTH) -> str:
    """Lower-case ASCII letters and digits joined by single hyphens, at most ``limit`` long."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].rstrip("-")


def normalise_header(text: str) -> str:
    """A header or field path with case, spaces, underscores, dots and hyphens ignored."""
    return re.sub(r"[\s_.\-]+", "", text.casefold())


# -- reading a table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """An inventory as text: headers, non-blank rows and where each row is in the file.

    ``row_numbers`` are the rows a spreadsheet shows (header row 1); for a CSV a row whose
    cells hold line breaks still counts as one. ``problems`` are rows that could not be
    read faithfully (more cells than headers); ``rows_to_specs`` rejects them.
    """

    headers: tuple[str, ...]
    rows: list[dict[str, str]]
    row_numbers: list[int]
    encoding: str | None = None
    encoding_detected: bool = False
    sheet: str | None = None
    problems: tuple[Problem, ...] = ()


def read_table(data: bytes, *, filename: str, encoding: str | None = None, sheet: str | None = None) -> Table:
    """The table in a CSV or XLSX file, told apart by its first bytes and then its name."""
    suffix = PurePath(filename).suffix.lower()
    if data.startswith(ZIP_MAGIC) or suffix in XLSX_SUFFIXES:
        return _read_xlsx(data, filename=filename, sheet=sheet)
    if suffix == ".xls":
        raise InvalidInput(f"{filename}: Excel 97-2003 (.xls) files are not read; save it as .xlsx or .csv",
                           [Problem("save as .xlsx or .csv", file=filename)])
    if sheet:
        what = "a sheet can only be chosen in an XLSX file"
        raise InvalidInput(f"{filename} is not a workbook: {what}",
                           [Problem(what, field="sheet", file=filename)])
    text, used, detected = decode_text(data, filename=filename, encoding=encoding)
    headers, rows, numbers, problems = _tabulate(_csv_records(text, filename), filename)
    return Table(headers, rows, numbers, used, detected, None, problems)


def decode_text(data: bytes, *, filename: str, encoding: str | None = None) -> tuple[str, str, bool]:
    """The text, the encoding used and whether it was detected: the named one, else UTF-8, else a guess."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InvalidInput(f"unknown encoding '{encoding}'",
                               [Problem(f"unknown encoding '{encoding}'", field="encoding", file=filename)]
                               ) from None
        return _decode(data, encoding, filename), encoding, False
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[len(codecs.BOM_UTF8):], "utf-8", filename), "utf-8-sig", False
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError as error:
        not_utf8 = error
    guess = _guess_encoding(data)
    if guess is None:
        raise _undecodable(data, not_utf8, filename, "UTF-8",
                           "and no other encoding fits it; name the encoding (--encoding)")
    return _decode(data, guess, filename), guess, True


def _guess_encoding(data: bytes) -> str | None:
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    ties = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    # Short Western text fits several code pages equally well; Windows-1252 is what Excel
    # writes a "CSV" in across the Americas and Western Europe, so it wins a tie.
    return next((WINDOWS_WESTERN for m in ties if WINDOWS_WESTERN in m.could_be_from_charset), best.encoding)


def _decode(data: bytes, encoding: str, filename: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(data, error, filename, encoding, "") from None
    # A byte-order mark is not part of the first header, whatever the encoding.
    return text.removeprefix("\ufeff")


def _undecodable(data: bytes, error: UnicodeDecodeError, filename: str, encoding: str,
                 hint: str) -> InvalidInput:
    line = data.count(b"\n", 0, error.start) + 1
    what = f"not {encoding}: byte 0x{data[error.start]:02x} at offset {error.start} (line {line})"
    return InvalidInput(f"cannot read {filename}: {what} {hint}".strip(),
                        [Problem(what, field="encoding", file=filename, line=line)])


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: whichever of comma, semicolon and tab occurs most outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_records(text: str, filename: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error as error:
        what = f"not CSV after row {number}: {error}"
        raise InvalidInput(f"cannot read {filename}: {what}",
                           [Problem(what, file=filename, line=reader.line_num)]) from None


def _read_xlsx(data: bytes, *, filename: str, sheet: str | None) -> Table:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        what = f"not a readable XLSX workbook ({error})"
        raise InvalidInput(f"{filename} is {what}", [Problem(what, file=filename)]) from None
    try:
        names: list[str] = list(book.sheetnames)
        if sheet and sheet not in names:
            listed = f"its sheets are: {', '.join(names)}"
            raise InvalidInput(f"no sheet '{sheet}' in {filename}; {listed}",
                               [Problem(f"no sheet '{sheet}'; {listed}", field="sheet", file=filename)])
        chosen = sheet or names[0]
        values = book[chosen].iter_rows(min_row=1, values_only=True)
        records = ((number, [cell_text(v) for v in row]) for number, row in enumerate(values, start=1))
        headers, rows, numbers, problems = _tabulate(records, filename)
    finally:
        book.close()
    return Table(headers, rows, numbers, None, False, chosen, problems)


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person would type: dates ISO, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _tabulate(
    records: Iterable[tuple[int, list[str]]], filename: str
) -> tuple[tuple[str, ...], list[dict[str, str]], list[int], tuple[Problem, ...]]:
    """Headers from the first non-blank record, then every non-blank record as a row."""
    headers: tuple[str, ...] | None = None
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    for number, raw in records:
        cells = [cell.strip() for cell in raw]
        if not any(cells):
            continue
        if headers is None:
            headers = _check_headers(cells, filename, number)
            continue
        extra = [cell for cell in cells[len(headers):] if cell]
        if extra:
            unexpected = ", ".join(repr(_short(cell)) for cell in extra)
            problems.append(Problem(
                f"{len(headers) + len(extra)} cells but {len(headers)} headers; unexpected {unexpected}"
                " (a stray delimiter or an unquoted value?)", file=filename, row=number))
        cells += [""] * (len(headers) - len(cells))
        rows.append(dict(zip(headers, cells, strict=False)))
        numbers.append(number)
    if headers is None:
        raise InvalidInput(f"{filename} has no header row", [Problem("no header row", file=filename)])
    return headers, rows, numbers, tuple(problems)


def _check_headers(cells: list[str], filename: str, number: int) -> tuple[str, ...]:
    """The headers, trailing blank ones dropped; blank or repeated ones are an error."""
    while cells and not cells[-1]:
        cells.pop()
    blank = [i for i, cell in enumerate(cells, start=1) if not cell]
    if blank:
        where = ", ".join(f"column {i} ({_column_letter(i)})" for i in blank)
        raise InvalidInput(f"{filename}: blank header in {where}; every column with data needs a name",
                           [Problem(f"blank header in column {i}", file=filename, row=number) for i in blank])
    seen: dict[str, list[int]] = {}
    for i, cell in enumerate(cells, start=1):
        seen.setdefault(cell, []).append(i)
    repeated = {name: places for name, places in seen.items() if len(places) > 1}
    if repeated:
        where = "; ".join(f"'{name}' in columns {', '.join(map(str, places))}"
                          for name, places in repeated.items())
        raise InvalidInput(f"{filename}: repeated header {where}; each column needs its own name",
                           [Problem("header repeated", field=name, file=filename, row=number)
                            for name in repeated])
    return tuple(cells)


def _column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """Which column fills which field, and what was decided on the user's behalf (``notes``)."""

    fields: dict[str, str]
    notes: tuple[str, ...] = ()
    id_from_name: bool = False


def parse_map_options(options: list[str]) -> dict[str, str]:
    """``FIELD=COLUMN`` options as a mapping; the column may itself contain '='."""
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for option in options:
        target, sep, column = option.partition("=")
        if not sep or not target.strip() or not column.strip():
            bad.append(option)
        else:
            mapping[target.strip()] = column.strip()
    if bad:
        raise InvalidInput("a mapping is written FIELD=COLUMN, e.g. name=Use Case Title; not "
                           + ", ".join(repr(b) for b in bad),
                           [Problem(f"not FIELD=COLUMN: {b!r}", field="map") for b in bad])
    return mapping


def read_map_file(data: bytes, filename: str) -> dict[str, str]:
    """A YAML or JSON mapping of field to column; nested objects spell dotted fields."""
    try:
        loaded = (json.loads(data) if PurePath(filename).suffix.lower() == ".json"
                  else yaml.safe_load(data.decode("utf-8-sig")))
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{filename} is not JSON: {error.msg}",
                           [Problem(error.msg, file=filename, line=error.lineno)]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem(str(getattr(error, "problem", error)), file=filename, line=line)
        raise InvalidInput(f"{filename} is not YAML: {error}", [problem]) from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{filename} is not UTF-8 text", [Problem(str(error), file=filename)]) from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{filename} must hold a mapping of field: column",
                           [Problem("not a mapping of field: column", file=filename)])
    mapping: dict[str, str] = {}
    problems: list[Problem] = []
    for path, column in _flatten(loaded):
        if isinstance(column, str) and column.strip():
            mapping[path] = column.strip()
        else:
            problems.append(Problem(f"the column must be a header's text, not {column!r}",
                                    field=path, file=filename))
    if problems:
        raise InvalidInput(f"{filename}: every field must name a column", problems)
    return mapping


def _flatten(mapping: dict[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def resolve_mapping(table: Table, mapping: dict[str, str], *, preset: Preset | None = None,
                    filename: str) -> Mapping:
    """The checked mapping: fields exist, columns exist, a name is found and the id is accounted for.

    With no mapping and no preset, a column fills the field its header spells
    ("Business Unit" → ``business_unit``).
    """
    notes: list[str] = []
    unknown = [path for path in mapping if not is_field(path)]
    if unknown:
        raise InvalidInput(
            "unknown field " + ", ".join(f"'{p}'" for p in unknown) + "; the fields are: "
            + ", ".join(FIELDS) + f", or {ATTRIBUTES}<name> to keep a column as an attribute",
            [Problem("not a field of a use case", field=p, file=filename) for p in unknown])
    missing = {path: column for path, column in mapping.items() if column not in table.headers}
    if missing:
        raise InvalidInput(
            "; ".join(f"column '{c}' (for {p}) is not in {filename}{_suggest(c, table.headers)}"
                      for p, c in missing.items())
            + "; its headers are: " + ", ".join(f"'{h}'" for h in table.headers),
            [Problem(f"column '{c}' is not in the file", field=p, file=filename) for p, c in missing.items()])
    fields = dict(mapping)
    if not fields and preset is None:
        fields = _auto_mapping(table.headers, filename)
        if fields:
            notes.append("columns matched to fields by header: "
                         + ", ".join(f"'{c}' → {p}" for p, c in fields.items()))
    derived = preset.derived if preset is not None else frozenset()
    if "name" not in fields and "name" not in derived:
        raise InvalidInput(
            f"no column of {filename} fills 'name', which every use case needs; map one, e.g. "
            f"--map name=COLUMN; its headers are: " + ", ".join(f"'{h}'" for h in table.headers),
            [Problem("no column maps to it", field="name", file=filename)])
    id_from_name = "id" not in fields and "id" not in derived
    if id_from_name:
        notes.append(f"no column fills 'id', so each id is made from the name ('{fields['name']}'): "
                     f"lower-case, anything but letters and digits turned into '-', "
                     f"at most {SLUG_LENGTH} long")
    return Mapping(fields, tuple(notes), id_from_name)


def _auto_mapping(headers: Sequence[str], filename: str) -> dict[str, str]:
    by_key = {normalise_header(path): path for path in FIELDS}
    found: dict[str, list[str]] = {}
    for header in headers:
        path = by_key.get(normalise_header(header))
        if path is not None:
            found.setdefault(path, []).append(header)
    clashes = {path: columns for path, columns in found.items() if len(columns) > 1}
    if clashes:
        raise InvalidInput(
            "; ".join(f"columns {', '.join(repr(c) for c in cs)} all spell '{p}'"
                      for p, cs in clashes.items())
            + "; map the one to use with --map FIELD=COLUMN",
            [Problem("more than one column spells this field", field=p, file=filename) for p in clashes])
    return {path: columns[0] for path, columns in found.items()}


def _suggest(column: str, headers: Sequence[str]) -> str:
    close = [h for h in headers if normalise_header(h) == normalise_header(column)]
    close = close or difflib.get_close_matches(column, headers, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# -- presets ----------------------------------------------------------------------------------


class Preset:
    """A known inventory layout: its mapping, the fields it derives from a row, and how ids stay unique.

    Subclasses override ``derive`` (and ``unique_ids`` when the source's own ids collide).
    """

    def __init__(
        self,
        name: str,
        description: str,
        mapping: dict[str, str],
        *,
        derived: frozenset[str] = frozenset(),
        sources: dict[str, tuple[str, ...]] | None = None,
        keep_unmapped: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.mapping = dict(mapping)
        self.derived = derived  # fields derive() fills, so the mapping needs no column for them
        self.sources = dict(sources or {})  # field → the columns it is derived from, for error messages
        self.keep_unmapped = keep_unmapped  # keep every column no field took in ``attributes``

    def derive(self, row: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
        """The document with the fields this preset derives from the row set; the default derives none."""
        return doc

    def unique_ids(self, ids: Sequence[str | None]) -> list[str | None]:
        """The ids of all rows, in order, made distinct; the default leaves them for rejection."""
        return list(ids)


# -- rows to documents ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    """One row's outcome: a valid spec, or no spec and the problems that stopped it."""

    row: int
    id: str | None
    spec: UseCaseSpec | None
    problems: tuple[Problem, ...] = ()


def rows_to_specs(table: Table, mapping: dict[str, str] | Mapping, *, preset: Preset | None = None,
                  filename: str) -> list[RowResult]:
    """Each row as a validated ``UseCaseSpec`` or the problems stopping it; a repeat id rejects the later."""
    resolved = mapping if isinstance(mapping, Mapping) else resolve_mapping(
        table, mapping, preset=preset, filename=filename)
    fields = resolved.fields
    # What the user mapped beyond the preset wins over what the preset derives.
    overrides = {} if preset is None else {p: c for p, c in fields.items() if preset.mapping.get(p) != c}
    taken = set(fields.values())
    drafts = [_draft(row, number, fields, overrides, taken, resolved.id_from_name, preset, filename)
              for row, number in zip(table.rows, table.row_numbers, strict=True)]
    ids = [doc.get("id") if isinstance(doc.get("id"), str) else None for doc, _ in drafts]
    if preset is not None:
        ids = preset.unique_ids(ids)
    read_problems: dict[int, list[Problem]] = {}
    for problem in table.problems:
        if problem.row is not None:
            read_problems.setdefault(problem.row, []).append(problem)

    first_row: dict[str, int] = {}
    results: list[RowResult] = []
    for number, (doc, problems), id_ in zip(table.row_numbers, drafts, ids, strict=True):
        problems = read_problems.get(number, []) + problems
        if id_ is not None:
            doc["id"] = id_
            if id_ in first_row:
                problems.append(Problem(f"id '{id_}' is already used by row {first_row[id_]}",
                                        field="id", file=filename, row=number))
            else:
                first_row[id_] = number
        spec: UseCaseSpec | None = None
        try:
            spec = UseCaseSpec.model_validate(doc)
        except ValidationError as error:
            problems.extend(_problems(error, number, resolved, preset, filename))
        results.append(RowResult(number, id_, None if problems else spec, tuple(problems)))
    return results


def _draft(row: dict[str, str], number: int, fields: dict[str, str], overrides: dict[str, str],
           taken: set[str], id_from_name: bool, preset: Preset | None,
           filename: str) -> tuple[dict[str, Any], list[Problem]]:
    """The row as an unvalidated document, with any problem the preset had reading it."""
    doc: dict[str, Any] = {}
    for path, column in fields.items():
        _put(doc, path, row.get(column, ""))
    if preset is not None:
        if preset.keep_unmapped:
            kept = {column: value for column, value in row.items() if value and column not in taken}
            doc["attributes"] = {**kept, **doc.get("attributes", {})}
        try:
            doc = preset.derive(row, doc)
        # A preset meets rows nobody has seen; one it cannot read must not stop the others.
        except Exception as error:
            return doc, [Problem(f"the {preset.name} preset cannot read this row: {error!r}",
                                 file=filename, row=number)]
        for path, column in overrides.items():
            _put(doc, path, row.get(column, ""), replace=True)
    if id_from_name and isinstance(doc.get("name"), str):
        slug = slugify(doc["name"])
        if slug:
            doc["id"] = slug
    return doc, []


def _put(doc: dict[str, Any], path: str, value: str, *, replace: bool = False) -> None:
    """Set a dotted field to a cell's value; a blank cell sets nothing (or, replacing, clears it)."""
    if path.startswith(ATTRIBUTES):
        parents, leaf = ["attributes"], path[len(ATTRIBUTES):]
    else:
        *parents, leaf = path.split(".")
    target = doc
    for key in parents:
        target = target.setdefault(key, {})
    if value:
        target[leaf] = _enum_value(FIELDS.get(path), value)
    elif replace:
        target.pop(leaf, None)


def _enum_value(kind: Any, value: str) -> str:
    """'Drafts then acts' as ``drafts_then_acts`` when the field is a choice; other text unchanged."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        key = re.sub(r"[\s\-]+", "_", value.casefold())
        if key in {member.value for member in kind}:
            return key
    return value


def _problems(error: ValidationError, number: int, mapping: Mapping, preset: Preset | None,
              filename: str) -> list[Problem]:
    """Pydantic's errors in the user's terms: the field, the column and the value it came from."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        columns = (mapping.fields[path],) if path in mapping.fields else (
            preset.sources.get(path, ()) if preset is not None else ())
        source = ("column " if len(columns) == 1 else "columns ") + ", ".join(f"'{c}'" for c in columns)
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            if columns:
                message = f"required, but {source} {'is' if len(columns) == 1 else 'are'} blank"
            elif path == "id" and mapping.id_from_name:
                message = "required, but the name gives no id (no letters or digits)"
            else:
                message = f"required; map a column to {path}"
        else:
            message = f"{message}: {_short(item['input'])!r}" + (f" from {source}" if columns else "")
        problems.append(Problem(message, field=path, file=filename, row=number))
    return problems
