"""Four quality dimensions, each scored 0-1 in the engine with the counts behind the score.

- completeness: present cells ÷ cells of the required columns (a cell is present when not null and,
  for text, not blank), times row coverage min(1, rows ÷ expected rows) when a row count is expected.
- accuracy: agreement with a golden slice of verified records joined by key: agreeing cells ÷ compared
  cells, a cell compared wherever the golden value is not null (a null in the source then disagrees).
  Numbers agree within a relative tolerance of 1e-9 (math.isclose's default), text after trimming
  surrounding spaces but case-sensitively: a verified record fixes the case, and in codes (units,
  identifiers) case carries meaning; surrounding spaces are a storage artefact (CHAR padding, exports).
- consistency: 1 − inconsistent cell checks ÷ cell checks; every non-null text cell is checked once
  within its source and once more against each other source sharing its column (see ``consistency``).
- timeliness: 1 when the newest record is within the freshness target, falling linearly to 0 at twice
  the target (``timeliness_score``), so a source one day late on a one-day target scores 0.

A score is None, with the reason, when nothing could be measured (no rows, no golden key matched ...).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from phasegate.errors import InvalidInput, Problem

DimensionName = Literal["completeness", "accuracy", "consistency", "timeliness"]
# math.isclose's default relative tolerance: equal to about nine significant digits.
RELATIVE_TOLERANCE = 1e-9
# A column with at most this many distinct values is read as a code list (currencies, statuses, countries);
# 250 covers the longest common one, ISO 3166-1's 249 country codes.
CODE_MAX_DISTINCT = 250
# Code rules look at single tokens this long at most (ISO codes are 2-3, statuses rarely pass 20).
CODE_MAX_LENGTH = 20
# Characters that join parts of a code: "EUR-2024", "kg/m2", "R&D", "C++", "50%".
_CODE_JOINERS = frozenset("-_./&+#%°:")
# A column is a date column when at least half its values are written as full dates.
DATE_COLUMN_SHARE = 0.5
TOP_SHAPES = 50
SHAPE_PREFIX = 40  # a date is shorter; longer text is shaped by its beginning
# Values per column compared across sources: the most frequent 10,000 cover a code list many times over.
CROSS_SOURCE_VALUES = 10_000
MAX_EXAMPLES = 3
CLIP = 60  # characters of a value quoted in a finding


@dataclass(frozen=True)
class Dimension:
    """A quality dimension's score (0-1, or None with the reason), the counts behind it and what was found."""

    name: DimensionName
    score: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    reason: str | None = None  # why the score is None

    def as_dict(self) -> dict[str, Any]:
        """The dimension as JSON-ready data."""
        return asdict(self)


# --- completeness -------------------------------------------------------------------------------


def completeness(
    table: ir.Table, *, expected_rows: int | None = None, required: Sequence[str] | None = None
) -> Dimension:
    """Present cells in the required columns (default: all), times row coverage when rows are expected."""
    names = list(required) if required is not None else list(table.columns)
    _require(table, names, "required")
    if expected_rows is not None and expected_rows <= 0:
        raise InvalidInput(
            "expected rows must be positive", [Problem(f"got {expected_rows}", field="expected_rows")]
        )
    metrics: dict[str, Any] = {"rows": table.count()}
    for i, name in enumerate(names):
        metrics[f"p{i}"] = _count_true(_present(table[name]))
    row = _one_row(table.aggregate(**metrics))
    rows = int(row["rows"])
    present = {name: int(row[f"p{i}"] or 0) for i, name in enumerate(names)}
    coverage = min(1.0, rows / expected_rows) if expected_rows else 1.0
    cells = rows * len(names)
    evidence: dict[str, Any] = {
        "rows": rows,
        "expected_rows": expected_rows,
        "row_coverage": coverage,
        "cells": cells,
        "present": sum(present.values()),
        "columns": {
            n: {"present": p, "missing": rows - p, "missing_rate": (rows - p) / rows if rows else None}
            for n, p in present.items()
        },
    }
    findings = [
        f"{n}: {rows - p:,} of {rows:,} values missing ({(rows - p) / rows:.1%})"
        for n, p in sorted(present.items(), key=lambda np: np[1])
        if p < rows
    ]
    if expected_rows and coverage < 1:
        findings.insert(0, f"{rows:,} rows of {expected_rows:,} expected ({coverage:.1%})")
    if not names:
        return Dimension("completeness", None, evidence, findings, reason="no columns to check")
    if cells == 0:
        if expected_rows:
            return Dimension("completeness", 0.0, evidence, findings)
        return Dimension("completeness", None, evidence, findings, reason="the table has no rows")
    return Dimension("completeness", sum(present.values()) / cells * coverage, evidence, findings)


def _present(value: ir.Value) -> ir.BooleanValue:
    if value.type().is_string():
        return (value.strip().length() > 0).fill_null(False)
    return value.notnull()


# --- accuracy -----------------------------------------------------------------------------------


def accuracy(
    table: ir.Table, golden: ir.Table, *, key: str, fields: Sequence[str] | None = None
) -> Dimension:
    """Per-field agreement with a golden slice joined on key in the engine; the score pools compared cells."""
    _require(table, [key], "key")
    _require(golden, [key], "key")
    names = (
        list(fields) if fields is not None else [c for c in golden.columns if c != key and c in table.columns]
    )
    _require(table, names, "fields")
    _require(golden, names, "fields")
    source_key, golden_key = table[key], golden[key]
    if source_key.type() != golden_key.type():
        source_key, golden_key = source_key.cast("string"), golden_key.cast("string")
    gold = golden.select(_k=golden_key, **{f"_g{i}": golden[n] for i, n in enumerate(names)})
    source = table.select(_k=source_key, **{f"_s{i}": table[n] for i, n in enumerate(names)})
    joined = gold.join(source, "_k")
    agree = {i: _agrees(joined[f"_s{i}"], joined[f"_g{i}"]) for i in range(len(names))}
    metrics: dict[str, Any] = {"rows": joined.count(), "matched": joined["_k"].nunique()}
    for i in range(len(names)):
        verified = joined[f"_g{i}"].notnull()
        metrics[f"c{i}"] = _count_true(verified)
        metrics[f"a{i}"] = _count_true(verified & agree[i])
    row = _one_row(joined.aggregate(**metrics))
    golden_keys, matched = (
        int(_one_row(gold.aggregate(keys=gold["_k"].nunique()))["keys"]),
        int(row["matched"]),
    )
    per_field: dict[str, dict[str, Any]] = {}
    findings: list[str] = []
    for i, name in enumerate(names):
        compared, agreed = int(row[f"c{i}"] or 0), int(row[f"a{i}"] or 0)
        per_field[name] = {
            "compared": compared,
            "agreed": agreed,
            "rate": agreed / compared if compared else None,
        }
        if agreed < compared:
            keys = _column_values(
                joined.filter(joined[f"_g{i}"].notnull() & ~agree[i]).select("_k").order_by("_k"), "_k"
            )
            shown = ", ".join(str(k) for k in keys)
            findings.append(
                f"{name} disagrees with the golden slice on {compared - agreed:,} of {compared:,} records "
                f"({(compared - agreed) / compared:.1%}; e.g. key {shown})"
            )
    missing = golden_keys - matched
    evidence: dict[str, Any] = {
        "golden_keys": golden_keys,
        "matched_keys": matched,
        "missing_from_source": missing,
        "fields": per_field,
        "compared": sum(f["compared"] for f in per_field.values()),
        "agreed": sum(f["agreed"] for f in per_field.values()),
        "tolerance": {"numbers": f"relative {RELATIVE_TOLERANCE:g}", "text": "trimmed, case-sensitive"},
    }
    if missing:
        absent = _column_values(gold.anti_join(source, "_k").select("_k").order_by("_k"), "_k")
        evidence["missing_examples"] = absent
        findings.insert(
            0,
            f"{missing:,} of {golden_keys:,} golden keys are missing from the source "
            f"(e.g. {', '.join(map(str, absent))})",
        )
    evidence["joined_rows"] = pairings = int(row["rows"])
    if pairings > matched:
        findings.append(
            f"keys repeat in the source or golden slice: {pairings - matched:,} extra pairing(s) compared"
        )
    if not names:
        return Dimension(
            "accuracy", None, evidence, findings, reason="no field is in both the source and the golden slice"
        )
    if evidence["compared"] == 0:
        reason = (
            "no golden key matched the source" if matched == 0 else "the golden slice has no verified values"
        )
        return Dimension("accuracy", None, evidence, findings, reason=reason)
    return Dimension("accuracy", evidence["agreed"] / evidence["compared"], evidence, findings)


def _agrees(source: ir.Value, golden: ir.Value) -> ir.BooleanValue:
    """Whether a source value agrees with the verified one; unknown (a null source) counts as not."""
    s_type, g_type = source.type(), golden.type()
    if s_type.is_numeric() and g_type.is_numeric():
        s, g = source.cast("float64"), golden.cast("float64")
        same = (s - g).abs() <= RELATIVE_TOLERANCE * ibis.greatest(s.abs(), g.abs())
    elif s_type.is_string() and g_type.is_string():
        same = source.strip() == golden.strip()
    elif s_type == g_type:
        same = source == golden
    else:
        same = source.cast("string").strip() == golden.cast("string").strip()
    return same.fill_null(False)


# --- consistency --------------------------------------------------------------------------------


def consistency(
    table: ir.Table,
    *,
    columns: Sequence[str] | None = None,
    others: Mapping[str, ir.Table] | None = None,
) -> Dimension:
    """Formats, codes and spellings within the source's text columns and against other sources.

    Each non-null text cell is one check within its source; its column is one of three kinds:

    - date column (at least half its values written as full dates): the cell fails when it is not in
      the column's most common date format (formats come from value shapes, see ``date_format``);
    - code column (at most CODE_MAX_DISTINCT distinct values): the cell fails when its value is a
      less common spelling of a normalised value (lower case, letters and digits only: "EUR", "eur"
      and "E.U.R." are one), or, for codes (``is_code``), when it is written in a less common code
      system (alphabetic, numeric, symbolic: "EUR" against "€") or letter case (lower case against
      capitals: "eur" against "EUR", "USD") than the column's most common one;
    - other text: the cell fails when it is a less common spelling of a normalised value.

    The cell is checked once more per other source with a column of the same name, and fails when
    its exact value is absent there while its normalised value is present (spelt another way).
    Score = 1 − failed checks ÷ checks.
    """
    names = list(columns) if columns is not None else [c for c, t in table.schema().items() if t.is_string()]
    _require(table, names, "columns")
    not_text = [n for n in names if not table[n].type().is_string()]
    if not_text:
        raise InvalidInput(
            "consistency checks text columns",
            [Problem(f"'{n}' is {table[n].type()}", field="columns") for n in not_text],
        )
    measured = _classified(table, _measured(table, names))
    checks, failed = 0, 0
    per_column: dict[str, dict[str, Any]] = {}
    findings: list[str] = []
    for column in measured:
        result = _column_consistency(column)
        per_column[column.name] = result.evidence
        findings.extend(result.findings)
        checks += column.values
        failed += result.evidence["inconsistent"]
    values = {c.name: c.values for c in measured}
    across: dict[str, dict[str, Any]] = {}
    for other_name, other in (others or {}).items():
        shared = [n for n in names if n in other.columns and other[n].type().is_string()]
        if not shared:
            continue
        mine, theirs = _spellings(table, shared), _spellings(other, shared)
        across[other_name] = {}
        for name in shared:
            outcome = _cross_source(name, other_name, mine[name], theirs[name], values[name])
            across[other_name][name] = outcome.evidence
            findings.extend(outcome.findings)
            checks += values[name]
            failed += outcome.evidence["inconsistent"]
    evidence = {"checks": checks, "inconsistent": failed, "columns": per_column, "across": across}
    if checks == 0:
        return Dimension("consistency", None, evidence, findings, reason="no text values to check")
    return Dimension("consistency", 1 - failed / checks, evidence, findings)


ColumnKind = Literal["date", "code", "text"]


@dataclass
class _Column:
    """What the engine returned about one text column, and the kind of column its rules read it as."""

    name: str
    index: int
    values: int = 0  # non-null cells
    distinct: int = 0
    shapes: list[tuple[str, int, str]] = field(default_factory=list)  # (shape, cells, an example)
    kind: ColumnKind = "text"
    formats: dict[str, tuple[int, str]] = field(default_factory=dict)  # date: format → (cells, example)
    codes: list[tuple[str, str, int]] = field(default_factory=list)  # code: (value, normalised, cells)
    spelling_groups: int = 0  # text: normalised values written more than one way
    spelling_failed: int = 0  # text: cells in a less common spelling of their group
    spellings: list[tuple[str, str, int]] = field(default_factory=list)  # text: the largest groups


@dataclass
class _Outcome:
    evidence: dict[str, Any]
    findings: list[str]


def shape(value: str) -> str:
    """A value's shape: ASCII letters as 'A'/'a', digits as '9', the rest kept ("Jan-25" → "Aaa-99").

    The same shape the profile reports (``profiling``), computed here in Python for tests and rules.
    """
    return re.sub("[0-9]", "9", re.sub("[a-z]", "a", re.sub("[A-Z]", "A", value)))


def _shape_expr(text: ir.StringValue) -> ir.StringValue:
    return text.re_replace("[A-Z]", "A").re_replace("[a-z]", "a").re_replace("[0-9]", "9")


def _normalised_expr(text: ir.StringValue) -> ir.StringValue:
    # \W is understood alike by RE2, Python, PostgreSQL and Java; on RE2 it is ASCII-only.
    return text.lower().re_replace(r"[\W_]+", "")


_TIME = re.compile(r"(?:[ A]|, )99?:99(?::99(?:\.9+)?)?(?: ?(?:AA|aa))?(?:A|[+-]99:?99)?$")
_TOKEN = re.compile(r"9+|[Aa]+|[-/., ]+|.")
_DATE_TEMPLATES = {
    # components → format; N is a day or month written with one or two digits (they cannot be told apart)
    ("YYYY", "-", "N", "-", "N"): "YYYY-MM-DD",
    ("YYYY", "/", "N", "/", "N"): "YYYY/MM/DD",
    ("YYYY", ".", "N", ".", "N"): "YYYY.MM.DD",
    ("N", "/", "N", "/", "YYYY"): "NN/NN/YYYY",
    ("N", "-", "N", "-", "YYYY"): "NN-NN-YYYY",
    ("N", ".", "N", ".", "YYYY"): "NN.NN.YYYY",
    ("N", "/", "N", "/", "N"): "NN/NN/YY",
    ("YYYY", "-", "N"): "YYYY-MM",
    ("N", "/", "YYYY"): "MM/YYYY",
    ("N", "-", "YYYY"): "MM-YYYY",
    ("Mon", "-", "N"): "Mon-YY",
    ("Mon", " ", "N"): "Mon YY",
    ("Mon", " ", "YYYY"): "Mon YYYY",
    ("Mon", "-", "YYYY"): "Mon-YYYY",
    ("Mon", " ", "N", ", ", "YYYY"): "Mon DD, YYYY",
    ("N", " ", "Mon", " ", "YYYY"): "DD Mon YYYY",
    ("N", "-", "Mon", "-", "YYYY"): "DD-Mon-YYYY",
    ("N", "-", "Mon", "-", "N"): "DD-Mon-YY",
    ("YYYY",): "YYYY",
}
# A bare year looks like any four-digit number; it counts as a date format only in a date column.
_PARTIAL_DATES = frozenset({"YYYY"})
NOT_A_DATE = "not a date"


def date_format(value_shape: str) -> str | None:
    """The date format a shape is written in ("9999-99-99 99:99" → "YYYY-MM-DD hh:mm"), or None."""
    time = ""
    found = _TIME.search(value_shape)
    if found and found.start() > 0:
        written = found.group(0)
        seconds = ":ss" if written.count(":") > 1 else ""
        time = " hh:mm" + seconds + (" AM/PM" if re.search("AA|aa", written) else "")
        value_shape = value_shape[: found.start()]
    parts: list[str] = []
    for token in _TOKEN.findall(value_shape):
        if token[0] == "9":
            if len(token) not in (1, 2, 4):
                return None
            parts.append("YYYY" if len(token) == 4 else "N")
        elif token[0] in "Aa":
            # A month's abbreviation (Jan) or full name (January); the shape cannot tell it from a word.
            if not 3 <= len(token) <= 9:
                return None
            parts.append("Mon" if len(token) == 3 else "Month")
        else:
            parts.append(token)
    template = _DATE_TEMPLATES.get(tuple("Mon" if p == "Month" else p for p in parts))
    if template is None:
        return None
    return (template.replace("Mon", "Month") if "Month" in parts else template) + time


_MONTHS = frozenset(
    {
        *("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
        *("january", "february", "march", "april", "june", "july", "august", "september", "october"),
        *("november", "december"),
    }
)


def _months_named(example: str) -> bool:
    """Whether every word of 3+ letters in a value is an English month ("Jul-25", not "DHS-2296")."""
    return all(word.lower() in _MONTHS for word in re.findall("[A-Za-z]{3,}", example))


def code_system(value: str) -> Literal["alphabetic", "numeric", "symbolic"]:
    """How a code is written: with letters ("EUR"), digits only ("978"), or neither ("€")."""
    if any(ch.isalpha() for ch in value):
        return "alphabetic"
    if any(ch.isdigit() for ch in value):
        return "numeric"
    return "symbolic"


def letter_case(value: str) -> Literal["lower case", "capitals"] | None:
    """Whether a code is in lower case ("eur") or has capitals ("EUR", "Eur"); None under two letters.

    Capitalised words and upper-case acronyms sit together in most code lists ("IT", "Science"), so
    only lower case against capitals counts as mixed.
    """
    letters = [ch for ch in value if ch.isalpha()]
    if len(letters) < 2:
        return None
    return "lower case" if all(ch.islower() for ch in letters) else "capitals"


def is_code(value: str) -> bool:
    """Whether a value reads as a code: one short token of letters, digits, currency signs and joiners.

    Brackets and quotes mark serialised lists ("['Other']", "[]"), not codes.
    """
    return (
        0 < len(value) <= CODE_MAX_LENGTH
        and not any(ch.isspace() for ch in value)
        and all(ch.isalnum() or ch in _CODE_JOINERS or unicodedata.category(ch) == "Sc" for ch in value)
    )


def _measured(table: ir.Table, names: Sequence[str]) -> list[_Column]:
    """Non-null and distinct counts (one aggregate) and the most common shapes (one UNION ALL query)."""
    columns = [_Column(name, i) for i, name in enumerate(names)]
    if not columns:
        return columns
    metrics: dict[str, Any] = {}
    for c in columns:
        metrics[f"n{c.index}"] = table[c.name].count()
        metrics[f"d{c.index}"] = table[c.name].nunique()
    row = _one_row(table.aggregate(**metrics))
    branches = []
    for c in columns:
        c.values, c.distinct = int(row[f"n{c.index}"] or 0), int(row[f"d{c.index}"] or 0)
        distinct = _distinct(table, c.name)
        # Shapes from distinct values with their counts: one regular expression pass per distinct value.
        shaped = (
            distinct.select(s=_shape_expr(distinct.v.substr(0, SHAPE_PREFIX)), v=distinct.v, n=distinct.n)
            .group_by("s")
            .aggregate(n=ibis._.n.sum(), v=ibis._.v.min())
        )
        branches.append(
            shaped.order_by([ibis.desc("n"), "s"])
            .limit(TOP_SHAPES)
            .select(c=ibis.literal(c.index, type="int64"), s="s", n=ibis._.n.cast("int64"), v="v")
        )
    for r in _rows(ibis.union(*branches)):
        columns[int(r["c"])].shapes.append((str(r["s"]), int(r["n"]), str(r["v"])))
    for c in columns:
        c.shapes.sort(key=lambda s: (-s[1], s[0]))
    return columns


def _distinct(table: ir.Table, name: str) -> ir.Table:
    return table.select(v=table[name]).filter(ibis._.v.notnull()).group_by("v").aggregate(n=ibis._.count())


def _classified(table: ir.Table, columns: list[_Column]) -> list[_Column]:
    """Each column's kind, with what its rules need: date formats, code values or spelling groups."""
    for c in columns:
        c.formats = _date_formats(c)
        full = sum(n for fmt, (n, _) in c.formats.items() if fmt not in _PARTIAL_DATES | {NOT_A_DATE})
        if c.values and full >= DATE_COLUMN_SHARE * c.values:
            c.kind = "date"
        elif c.distinct <= CODE_MAX_DISTINCT:
            c.kind = "code"
    codes = [c for c in columns if c.kind == "code"]
    if codes:
        # A code list is short: every value comes back with its count and normalised form.
        branches = []
        for c in codes:
            distinct = _distinct(table, c.name)
            branches.append(
                distinct.select(
                    c=ibis.literal(c.index, type="int64"),
                    v="v",
                    k=_normalised_expr(distinct.v),
                    n=distinct.n.cast("int64"),
                )
            )
        for r in _rows(ibis.union(*branches)):
            columns[int(r["c"])].codes.append((str(r["v"]), str(r["k"] or ""), int(r["n"])))
    _count_spellings(table, [c for c in columns if c.kind == "text"])
    return columns


def _date_formats(c: _Column) -> dict[str, tuple[int, str]]:
    """Cells and an example per date format, from the column's shapes; other values under NOT_A_DATE."""
    formats: dict[str, tuple[int, str]] = {}
    for value_shape, n, example in c.shapes:
        fmt = date_format(value_shape)
        if fmt is None or not _months_named(example):
            fmt = NOT_A_DATE
        cells, first = formats.get(fmt, (0, example))
        formats[fmt] = (cells + n, first)
    unshown = c.values - sum(n for _, n, _ in c.shapes)
    if unshown > 0:
        # Values beyond the TOP_SHAPES most common shapes: rare shapes, counted as not in a date format.
        cells, first = formats.get(NOT_A_DATE, (0, ""))
        formats[NOT_A_DATE] = (cells + unshown, first)
    return formats


def _count_spellings(table: ir.Table, columns: Sequence[_Column]) -> None:
    """Text columns' spelling groups, in the engine: failed cells over all groups, and the largest ones."""
    if not columns:
        return
    summaries, examples = [], []
    for c in columns:
        distinct = _distinct(table, c.name)
        pairs = distinct.select(v="v", k=_normalised_expr(distinct.v), n="n").filter(ibis._.k != "")
        groups = (
            pairs.group_by("k")
            .aggregate(m=ibis._.count(), t=ibis._.n.sum(), top=ibis._.n.max())
            .filter(ibis._.m > 1)
        )
        index = ibis.literal(c.index, type="int64")
        summaries.append(
            groups.aggregate(g=ibis._.count(), f=(ibis._.t - ibis._.top).sum()).select(
                c=index, g=ibis._.g.cast("int64"), f=ibis._.f.cast("int64")
            )
        )
        largest = groups.order_by([ibis.desc("t"), "k"]).limit(MAX_EXAMPLES).select("k")
        examples.append(pairs.semi_join(largest, "k").select(c=index, v="v", k="k", n=ibis._.n.cast("int64")))
    by_index = {c.index: c for c in columns}
    for r in _rows(ibis.union(*summaries)):
        c = by_index[int(r["c"])]
        c.spelling_groups, c.spelling_failed = int(r["g"] or 0), int(r["f"] or 0)
    for r in _rows(ibis.union(*examples)):
        by_index[int(r["c"])].spellings.append((str(r["v"]), str(r["k"]), int(r["n"])))


def _column_consistency(c: _Column) -> _Outcome:
    """Failed checks of one column and sentences naming it, by its kind (see ``consistency``)."""
    evidence: dict[str, Any] = {"kind": c.kind, "values": c.values, "inconsistent": 0}
    evidence["shapes"] = [[s, n] for s, n, _ in c.shapes[:10]]
    findings: list[str] = []
    if c.kind == "date":
        ranked = sorted(
            ((fmt, n, ex) for fmt, (n, ex) in c.formats.items() if fmt != NOT_A_DATE),
            key=lambda f: (-f[1], f[0]),
        )
        dominant = ranked[0][1] if ranked else 0
        evidence.update(inconsistent=c.values - dominant, date_formats={f: n for f, n, _ in ranked})
        if len(ranked) > 1:
            listed = ", ".join(f"{fmt} ({n:,}, e.g. {_quoted([ex])})" for fmt, n, ex in ranked[:5])
            more = f" and {len(ranked) - 5} more" if len(ranked) > 5 else ""
            findings.append(f"{c.name} mixes {len(ranked)} date formats: {listed}{more}")
        not_dates = c.formats.get(NOT_A_DATE)
        if not_dates:
            evidence["not_dates"] = not_dates[0]
            findings.append(
                f"{c.name}: {not_dates[0]:,} values are not dates (e.g. {_quoted([not_dates[1]])})"
            )
    elif c.kind == "code":
        failed, sentences = _code_rules(c.name, c.codes)
        evidence["inconsistent"] = failed
        findings.extend(sentences)
    else:
        evidence.update(inconsistent=c.spelling_failed, spelling_groups=c.spelling_groups)
        if c.spelling_groups:
            findings.append(_spelling_sentence(c.name, c.spelling_groups, c.spelling_failed, c.spellings))
    return _Outcome(evidence, findings)


def _code_rules(name: str, values: list[tuple[str, str, int]]) -> tuple[int, list[str]]:
    """Failed cells of a code column (each distinct value judged once) and the sentences naming them."""
    failing: set[str] = set()
    findings: list[str] = []
    by_norm: dict[str, list[tuple[str, int]]] = {}
    for value, norm, n in values:
        if norm:
            by_norm.setdefault(norm, []).append((value, n))
    groups = {k: v for k, v in by_norm.items() if len(v) > 1}
    for spellings in groups.values():
        canonical = min(spellings, key=lambda vn: (-vn[1], vn[0]))[0]
        failing.update(v for v, _ in spellings if v != canonical)
    if groups:
        spelt = [(v, k, n) for k, vs in groups.items() for v, n in vs]
        minor = sum(n for v, _, n in values if v in failing)
        findings.append(_spelling_sentence(name, len(groups), minor, spelt))
    codes = [(v, n) for v, _, n in values if is_code(v)]
    for label, classify in (("code systems", code_system), ("letter case", letter_case)):
        classes: dict[str, list[tuple[str, int]]] = {}
        for value, n in codes:
            cls = classify(value)
            if cls is not None:
                classes.setdefault(cls, []).append((value, n))
        if len(classes) < 2:
            continue
        totals = Counter({cls: sum(n for _, n in vs) for cls, vs in classes.items()})
        dominant = min(totals, key=lambda c: (-totals[c], c))
        failing.update(v for cls, vs in classes.items() if cls != dominant for v, _ in vs)
        listed = ", ".join(
            f"{cls} ({totals[cls]:,}, e.g. {_quoted(_most_common(classes[cls]))})"
            for cls in sorted(totals, key=lambda c: (-totals[c], c))
        )
        findings.append(f"{name} mixes {label}: {listed}")
    return sum(n for v, _, n in values if v in failing), findings


def _spelling_sentence(name: str, groups: int, failed: int, spellings: Sequence[tuple[str, str, int]]) -> str:
    by_norm: dict[str, list[tuple[str, int]]] = {}
    for value, norm, n in spellings:
        by_norm.setdefault(norm, []).append((value, n))
    shown = sorted(by_norm.values(), key=lambda vs: -sum(n for _, n in vs))[:MAX_EXAMPLES]
    examples = "; ".join(
        " / ".join(f"{_quoted([v])} ({n:,})" for v, n in sorted(vs, key=lambda vn: (-vn[1], vn[0])))
        for vs in shown
    )
    return (
        f"{name} writes {groups:,} value(s) several ways "
        f"({failed:,} cells use a less common spelling): {examples}"
    )


def _spellings(table: ir.Table, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The most common CROSS_SOURCE_VALUES values of each column with their normalised form, in one query."""
    branches = []
    for i, name in enumerate(names):
        distinct = _distinct(table, name)
        branches.append(
            distinct.order_by([ibis.desc("n"), "v"])
            .limit(CROSS_SOURCE_VALUES)
            .select(
                c=ibis.literal(i, type="int64"),
                v="v",
                k=_normalised_expr(distinct.v),
                n=distinct.n.cast("int64"),
            )
        )
    found: dict[str, dict[str, Any]] = {n: {"values": {}, "norms": {}} for n in names}
    for r in _rows(ibis.union(*branches)):
        entry = found[names[int(r["c"])]]
        value, norm = str(r["v"]), str(r["k"] or "")
        entry["values"][value] = (norm, int(r["n"]))
        if norm:
            entry["norms"].setdefault(norm, value)
    return found


def _cross_source(
    name: str, other: str, mine: dict[str, Any], theirs: dict[str, Any], values: int
) -> _Outcome:
    """Cells whose value the other source spells another way (same normalised form, different text)."""
    differing = [
        (value, norm, n, theirs["norms"][norm])
        for value, (norm, n) in mine["values"].items()
        if value not in theirs["values"] and norm and norm in theirs["norms"]
    ]
    differing.sort(key=lambda d: (-d[2], d[0]))
    failed = sum(d[2] for d in differing)
    evidence: dict[str, Any] = {
        "values": values,
        "inconsistent": failed,
        "compared_distinct": len(mine["values"]),
        "truncated": len(mine["values"]) >= CROSS_SOURCE_VALUES
        or len(theirs["values"]) >= CROSS_SOURCE_VALUES,
        "examples": [{"here": v, "there": t, "cells": n} for v, _, n, t in differing[:MAX_EXAMPLES]],
    }
    findings = []
    if differing:
        shown = "; ".join(
            f"{_quoted([v])} here, {_quoted([t])} there" for v, _, _, t in differing[:MAX_EXAMPLES]
        )
        findings.append(f"{name}: {failed:,} cells are spelt differently in {other}: {shown}")
    return _Outcome(evidence, findings)


def _most_common(values: Sequence[tuple[str, int]]) -> list[str]:
    return [v for v, _ in sorted(values, key=lambda vn: (-vn[1], vn[0]))]


def _quoted(values: Sequence[str]) -> str:
    """Values quoted for a sentence: line breaks shown as \\n, long values cut at CLIP characters."""
    clipped = (v if len(v) <= CLIP else v[: CLIP - 1] + "…" for v in values[:MAX_EXAMPLES])
    return ", ".join("'" + v.replace("\n", "\\n") + "'" for v in clipped)


# --- timeliness ---------------------------------------------------------------------------------


def timeliness_score(lag: timedelta, max_lag: timedelta) -> float:
    """1 within the target, falling linearly to 0 at twice the target: 1 − (lag − target) ÷ target."""
    if lag <= max_lag:
        return 1.0
    return max(0.0, 1 - (lag - max_lag) / max_lag)


def timeliness(table: ir.Table, *, column: str, max_lag: timedelta, now: datetime) -> Dimension:
    """The lag of the newest record against the freshness target (see ``timeliness_score``).

    Timestamps without a time zone are read as UTC, and a date as its midnight UTC.
    """
    _require(table, [column], "column")
    if max_lag <= timedelta(0):
        raise InvalidInput("the freshness target must be positive", [Problem(str(max_lag), field="max_lag")])
    value = table[column]
    parsed_text = value.type().is_string()
    if parsed_text:
        # SQLite has no TRY_CAST; it keeps timestamps as ISO text, which a plain cast reads.
        can_try = table.get_backend().has_operation(ops.TryCast)
        value = value.try_cast("timestamp") if can_try else value.cast("timestamp")
    elif not value.type().is_temporal():
        raise InvalidInput(
            "timeliness reads a date or timestamp column",
            [Problem(f"'{column}' is {value.type()}", field="column")],
        )
    row = _one_row(table.aggregate(rows=table.count(), dated=value.count(), newest=value.max()))
    newest = _utc(row["newest"])
    current = _utc(now)
    evidence: dict[str, Any] = {
        "rows": int(row["rows"]),
        "dated": int(row["dated"] or 0),
        "newest": newest.isoformat() if newest else None,
        "now": current.isoformat() if current else None,
        "max_lag_seconds": max_lag.total_seconds(),
        "parsed_from_text": parsed_text,
    }
    if newest is None or current is None:
        return Dimension("timeliness", None, evidence, [], reason=f"no timestamps in {column}")
    lag = current - newest
    evidence["lag_seconds"] = lag.total_seconds()
    findings = []
    if lag < timedelta(0):
        findings.append(
            f"{column}: the newest record is {_duration(-lag)} in the future (clock skew or bad data)"
        )
    elif lag > max_lag:
        findings.append(
            f"{column}: the newest record is {_duration(lag)} old; the target is {_duration(max_lag)}"
        )
    return Dimension("timeliness", timeliness_score(lag, max_lag), evidence, findings)


def _utc(value: Any) -> datetime | None:
    if _missing(value):
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    moment: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


# --- shared -------------------------------------------------------------------------------------


def _require(table: ir.Table, names: Sequence[str], argument: str) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise InvalidInput(
            "the quality check names columns the table does not have",
            [
                Problem(f"no column '{n}'; columns: {', '.join(table.columns)}", field=argument)
                for n in missing
            ],
        )


def _count_true(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """Rows where a condition holds (PostgreSQL cannot cast a boolean to bigint, so no cast-and-sum)."""
    return condition.ifelse(1, 0).sum()


def _one_row(expr: ir.Table) -> dict[str, Any]:
    frame = expr.execute()
    return {k: _native(v) for k, v in frame.iloc[0].items()}


def _rows(expr: ir.Table) -> list[dict[str, Any]]:
    frame = expr.execute()
    return [{k: _native(v) for k, v in r.items()} for r in frame.to_dict("records")]


def _column_values(expr: ir.Table, column: str) -> list[Any]:
    return [_native(v) for v in expr.limit(MAX_EXAMPLES).execute()[column]]


def _native(value: Any) -> Any:
    """A plain Python value (NumPy scalars to int, float, str; pandas' missing values to None)."""
    if _missing(value):
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def _missing(value: Any) -> bool:
    # None, NaN and pandas' NaT are missing; pandas' NA is the one value that is not a boolean to itself.
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and value != value
