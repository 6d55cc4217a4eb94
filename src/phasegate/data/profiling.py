"""Column profiles computed where the data lives, the baseline later audits and drift checks compare with.

The engine does the work and only aggregates come back: one query for every column's scalar
statistics, one for the numeric histograms and one for the top values and shapes of text columns
(plus a row count on DuckDB and Spark, and on engines without a quantile aggregate, such as
SQLite, one for the exact quantiles). Above EXACT_ROW_LIMIT rows on DuckDB and Spark only the
scalar statistics read every row: histograms, quantiles, top values and shapes come from a random
sample of about SAMPLE_ROWS rows, scaled back up, and the profile says it is approximate.
Floats that engines compute by different algorithms are rounded to 12 significant digits, so the
same data gives the same profile on DuckDB, SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

import datetime as dt
import math
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.operations as ops
import ibis.expr.types as ir

from phasegate.data import engines
from phasegate.errors import InvalidInput, Problem

LogicalType = Literal["integer", "float", "decimal", "string", "boolean", "date", "timestamp", "other"]
NUMERIC: frozenset[str] = frozenset({"integer", "float", "decimal"})
JSONValue = int | float | str | bool | None

QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
HISTOGRAM_BINS = 10
# Exact distinct counts and quantiles cost a hash set or a sort per column; up to a million rows that
# is cheap on every engine, beyond it a HyperLogLog sketch counts distinct values in the one pass.
SAMPLE_SEED = 20261207
EXACT_ROW_LIMIT = 1_000_000
# Beyond EXACT_ROW_LIMIT rows, the statistics of a distribution come from a Bernoulli sample of about
# this many rows: a share p read off it is within 1.96·√(p(1−p)/n) ≤ 0.31 % of the rows (95 %), far
# below what a reader of a histogram or a PSI threshold of 0.1–0.2 notices; a million-row sample
# cost seconds more at 10 million rows (shapes, groups and quantile sorts grow with the sample).
SAMPLE_ROWS = 100_000
# Engines sum and divide in different orders (DuckDB and Spark in doubles, PostgreSQL in numeric),
# which moves the last bits of a mean or standard deviation; 12 digits is far above that noise.
SIGNIFICANT_DIGITS = 12
# Ibis backends whose approximate aggregates really approximate; on the others Ibis compiles them
# to the exact SQL (COUNT(DISTINCT ...), PERCENTILE_CONT), so a profile there is exact regardless.
APPROXIMATING_BACKENDS = frozenset({"duckdb", "pyspark"})


@dataclass(frozen=True)
class Histogram:
    """Counts of a numeric column's values per bin: [edges[i], edges[i + 1]), the outer bins open-ended."""

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds; statistics that do not apply to its type are None or empty."""

    name: str
    type: LogicalType
    count: int
    nulls: int
    null_rate: float
    distinct: int | None = None
    distinct_approximate: bool = False
    min: JSONValue = None
    max: JSONValue = None
    mean: float | None = None
    stddev: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    quantiles_approximate: bool = False
    top_values: list[tuple[JSONValue, int]] = field(default_factory=list)
    length_min: int | None = None
    length_max: int | None = None
    length_mean: float | None = None
    shapes: list[tuple[str, int]] = field(default_factory=list)
    histogram: Histogram | None = None

    def as_dict(self) -> dict[str, Any]:
        """The column's profile as JSON-able values."""
        data = dict(self.__dict__)
        data["quantiles"] = dict(self.quantiles)
        data["top_values"] = [[value, count] for value, count in self.top_values]
        data["shapes"] = [[shape, count] for shape, count in self.shapes]
        data["histogram"] = None if self.histogram is None else dict(self.histogram.__dict__)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        """The column's profile from as_dict's output (after a JSON round trip too)."""
        histogram = data.get("histogram")
        return cls(
            **{
                **data,
                "quantiles": dict(data.get("quantiles") or {}),
                "top_values": [(value, count) for value, count in data.get("top_values") or []],
                "shapes": [(shape, count) for shape, count in data.get("shapes") or []],
                "histogram": None if histogram is None else Histogram(**histogram),
            }
        )


@dataclass(frozen=True)
class Profile:
    """A table's profile on one engine; exact is False when any count or quantile was estimated.

    sample is the share of rows that histograms, quantiles, top values and shapes were counted on
    (and scaled back up from), or None when they were counted on every row.
    """

    rows: int
    columns: list[ColumnProfile]
    engine: str
    exact: bool
    sample: float | None = None

    def column(self, name: str) -> ColumnProfile:
        """The named column's profile; KeyError names a column the table does not have."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column named {name!r} in the profile")

    def as_dict(self) -> dict[str, Any]:
        """The profile as JSON-able values, the form snapshots are stored in."""
        return {
            "rows": self.rows,
            "engine": self.engine,
            "exact": self.exact,
            "sample": self.sample,
            "columns": [column.as_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile from as_dict's output."""
        return cls(
            rows=data["rows"],
            columns=[ColumnProfile.from_dict(column) for column in data["columns"]],
            engine=data["engine"],
            exact=data["exact"],
            sample=data.get("sample"),
        )


def column_type(dtype: dtypes.DataType) -> LogicalType:
    """The logical type profiles and contracts speak of, for an Ibis data type."""
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating():
        return "float"
    if dtype.is_decimal():
        return "decimal"
    if dtype.is_string():
        return "string"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "timestamp"
    return "other"


def profile(table: ir.Table, *, engine: str, top: int = 10, approximate: bool | None = None) -> Profile:
    """Profile every column of the table in a few aggregate queries pushed down to its engine.

    engine is the name the profile records (duckdb, sqlite, postgres, spark); top bounds the top
    values and shapes kept per text column; approximate=None estimates distinct counts, and reads
    the distributions off a sample, only above EXACT_ROW_LIMIT rows, and only engines that can
    estimate ever do.
    """
    if top < 0:
        raise InvalidInput("top counts values to keep", [Problem(f"{top} is negative", field="top")])
    backend = table.get_backend()
    if backend.name not in APPROXIMATING_BACKENDS:
        approximate = False
    rows = _fetch_one(table.count()) if approximate is not False else None
    if approximate is None:
        approximate = rows is not None and rows > EXACT_ROW_LIMIT
    # The share of rows the distributions are read from, when not every row.
    sample = SAMPLE_ROWS / rows if approximate and rows and rows > max(EXACT_ROW_LIMIT, SAMPLE_ROWS) else None
    native_quantiles = backend.has_operation(ops.MultiQuantile)
    # Spark plans several COUNT(DISTINCT ...) by copying every row once per counted column (its Expand
    # operator), and an exact percentile over the copies costs several times a scan: there the
    # quantiles wait for the histogram query, which counts nothing distinct. A sample's quantiles
    # wait for it too: the histogram query reads the sample.
    spark_exact = backend.name == "pyspark" and not approximate
    deferred_quantiles = native_quantiles and (spark_exact or sample is not None)
    columns = [
        _Column(i, name, dtype, _values(table, name, backend))
        for i, (name, dtype) in enumerate(table.schema().items())
    ]

    stats = _scalar_stats(
        table, columns, approximate=approximate, quantiles=native_quantiles and not deferred_quantiles
    )
    rows = int(stats["rows"])
    numeric = [c for c in columns if c.type in NUMERIC and stats[c.key("count")]]
    edges = {c.name: _edges(c, stats) for c in numeric}
    texts = [c for c in columns if c.type == "string" and stats[c.key("count")]]
    read = [c.name for c in (*numeric, *texts)]
    with _sampled(table, sample, backend.name, read) as source:
        binned = {n: e for n, e in edges.items() if len(e) > 2}
        second: dict[str, ir.Scalar] = _bin_metrics(source, binned, named_by=table)
        if deferred_quantiles:
            # On a sample, exact quantiles of the sample: a sketch's error would only add to the sample's.
            exact = not approximate or bool(sample)
            second |= {c.key("quantiles"): _quantile_metric(source, c, exact=exact) for c in numeric}
        if second:
            stats |= _fetch_row(source.aggregate(**second))
        if native_quantiles:
            quantiles = {c.index: _named_quantiles(stats[c.key("quantiles")]) for c in numeric}
        else:
            quantiles = _ranked_quantiles(table, numeric, {c.index: stats[c.key("count")] for c in numeric})
        histograms = {c.index: _histogram(c, edges[c.name], stats, sampled=bool(sample)) for c in numeric}
        # Counting every distinct value of a near-unique text column is the costliest query of a profile:
        # on a sample, top values and shapes are counted on it and scaled back up.
        top_values, shapes = _top_values_and_shapes(source, texts, top=top, backend_name=backend.name)
    if sample:
        top_values = {k: [(v, round(n / sample)) for v, n in found] for k, found in top_values.items()}
        shapes = {k: [(v, round(n / sample)) for v, n in found] for k, found in shapes.items()}

    profiles = [
        _column_profile(
            c,
            stats,
            rows=rows,
            approximate=approximate,
            quantiles=quantiles.get(c.index, {}),
            histogram=histograms.get(c.index),
            top_values=top_values.get(c.index, []),
            shapes=shapes.get(c.index, []),
        )
        for c in columns
    ]
    estimated = any(p.distinct_approximate or p.quantiles_approximate for p in profiles)
    return Profile(rows=rows, columns=profiles, engine=engine, exact=not estimated, sample=sample)


@contextmanager
def _sampled(
    table: ir.Table, fraction: float | None, backend_name: str, columns: list[str]
) -> Iterator[ir.Table]:
    """The rows distributions are counted on: all of them, or a Bernoulli sample of about fraction.

    A sample is drawn the same on every run on DuckDB: a Parquet file by a hash of each row's
    position, in parallel (see engines.row_sample), its named columns kept in a temporary table
    while the histogram and top-value queries read it, so the file is read once rather than once
    per query (and per text column); other DuckDB tables by a seeded TABLESAMPLE. Ibis seeds only
    DuckDB's sample, not Spark's (rand()).
    """
    if fraction is None:
        yield table
        return
    by_position = engines.row_sample(table, fraction, SAMPLE_SEED) if backend_name == "duckdb" else None
    if by_position is None:
        yield table.sample(fraction, seed=SAMPLE_SEED if backend_name == "duckdb" else None)
        return
    with by_position.select(*columns).cache() as cached:
        yield cached


def bin_counts(table: ir.Table, edges: dict[str, list[float]]) -> dict[str, list[int]]:
    """Rows per histogram bin of each named numeric column, in one aggregate query (see Histogram)."""
    problems = [Problem("not in the table", field=name) for name in edges if name not in table.columns]
    short = [name for name, column_edges in edges.items() if len(column_edges) < 2]
    problems += [Problem("a histogram needs two edges or more", field=name) for name in short]
    if problems:
        raise InvalidInput("cannot count these bins", problems)
    metrics = _bin_metrics(table, edges)
    result = _fetch_row(table.aggregate(**metrics)) if metrics else {}
    return {
        name: [int(result[_bin_key(table, name, b)] or 0) for b in range(len(column_edges) - 1)]
        for name, column_edges in edges.items()
    }


def _bin_metrics(
    table: ir.Table, edges: dict[str, list[float]], *, named_by: ir.Table | None = None
) -> dict[str, ir.Scalar]:
    """Each bin's count of the table's rows, named by the column's position in named_by (the table).

    A profile's sample may hold fewer columns than the profiled table: its bins keep the table's names.
    """
    backend = table.get_backend()
    metrics: dict[str, ir.Scalar] = {}
    for name, column_edges in edges.items():
        bins = _bin_index(_values(table, name, backend).cast("float64"), column_edges)
        for b in range(len(column_edges) - 1):
            # SUM over one CASE per row: DuckDB runs 10 × columns COUNT(*) FILTER clauses ~8× slower.
            metrics[_bin_key(table if named_by is None else named_by, name, b)] = (bins == b).sum()
    return metrics


def _bin_key(table: ir.Table, column: str, bin_index: int) -> str:
    return f"c{table.columns.index(column)}_bin{bin_index}"


@dataclass(frozen=True)
class _Column:
    """A column being profiled: its position names its statistics (c3_mean, c3_bin0), whatever its name."""

    index: int
    name: str
    dtype: dtypes.DataType
    values: ir.Column

    @property
    def type(self) -> LogicalType:
        return column_type(self.dtype)

    def key(self, statistic: str) -> str:
        return f"c{self.index}_{statistic}"


def _values(table: ir.Table, name: str, backend: Any) -> ir.Column:
    """The column's values with NaN read as missing, as pandas reads it; SQLite stores no NaN."""
    column = table[name]
    if column.type().is_floating() and backend.has_operation(ops.IsNan):
        return column.isnan().ifelse(ibis.null().cast(column.type()), column)
    return column


def _scalar_stats(
    table: ir.Table, columns: list[_Column], *, approximate: bool, quantiles: bool
) -> dict[str, Any]:
    """Every column's counts, extremes, moments, lengths and (if asked) quantiles: one query."""
    metrics: dict[str, ir.Scalar] = {"rows": table.count()}
    for c in columns:
        values = c.values
        metrics[c.key("count")] = values.count()
        # A boolean's distinct values are read off its counts of trues and falses, exactly, where a
        # HyperLogLog sketch of every row costs as much as one of a text column.
        if c.type not in ("other", "boolean"):
            metrics[c.key("distinct")] = values.approx_nunique() if approximate else values.nunique()
        if c.type in NUMERIC:
            # Moments over doubles on every engine: PostgreSQL averages integers in numeric, which Ibis
            # cannot read back as a double, and Spark rounds a decimal's mean to its scale plus four.
            doubles = values.cast("float64")
            extremes = doubles if c.type == "decimal" else values
            metrics[c.key("min")] = extremes.min()
            metrics[c.key("max")] = extremes.max()
            metrics[c.key("mean")] = doubles.mean()
            metrics[c.key("stddev")] = doubles.std()
            if quantiles:
                metrics[c.key("quantiles")] = _quantile_metric(table, c, exact=not approximate)
        elif c.type == "string":
            lengths = values.length()
            metrics[c.key("length_min")] = lengths.min()
            metrics[c.key("length_max")] = lengths.max()
            metrics[c.key("length_mean")] = lengths.cast("float64").mean()
        elif c.type == "boolean":
            metrics[c.key("trues")] = values.count(where=values)
        elif c.type in ("date", "timestamp"):
            metrics[c.key("min")] = values.min()
            metrics[c.key("max")] = values.max()
    return _fetch_row(table.aggregate(**metrics))


def _quantile_metric(table: ir.Table, c: _Column, *, exact: bool) -> ir.Scalar:
    doubles = _values(table, c.name, table.get_backend()).cast("float64")
    levels = list(QUANTILES.values())
    return doubles.quantile(levels) if exact else doubles.approx_quantile(levels)


def _named_quantiles(values: list[Any] | None) -> dict[str, float]:
    if not values:
        return {}
    return {name: _real(value) for name, value in zip(QUANTILES, values, strict=True) if value is not None}


def _ranked_quantiles(
    table: ir.Table, columns: list[_Column], counts: dict[int, int]
) -> dict[int, dict[str, float]]:
    """Exact quantiles for engines without a quantile aggregate: the two ranked values around each level.

    Linear interpolation between ranks, as pandas, PERCENTILE_CONT and DuckDB's QUANTILE_CONT do:
    with n values, level q sits at rank h = (n − 1)·q and reads x⌊h⌋ + (h − ⌊h⌋)·(x⌈h⌉ − x⌊h⌋).
    """
    branches = []
    for c in columns:
        ranks = sorted({r for q in QUANTILES.values() for r in _neighbour_ranks(counts[c.index], q)})
        ranked = (
            table.select(value=c.values.cast("float64"))
            .filter(ibis._.value.notnull())
            .mutate(rank=ibis.row_number().over(order_by="value"))
        )
        branches.append(
            ranked.filter(ranked.rank.isin(ranks)).select(
                column=ibis.literal(c.index, type="int64"), rank=ranked.rank.cast("int64"), value="value"
            )
        )
    if not branches:
        return {}
    found: dict[int, dict[int, float]] = {}
    for row in _fetch_rows(ibis.union(*branches)):
        found.setdefault(int(row["column"]), {})[int(row["rank"])] = float(row["value"])
    quantiles: dict[int, dict[str, float]] = {}
    for c in columns:
        values = found.get(c.index, {})
        n = counts[c.index]
        quantiles[c.index] = {}
        for name, q in QUANTILES.items():
            low, high = _neighbour_ranks(n, q)
            position = (n - 1) * q
            interpolated = values[low] + (position - low) * (values[high] - values[low])
            quantiles[c.index][name] = _real(interpolated)
    return quantiles


def _neighbour_ranks(n: int, q: float) -> tuple[int, int]:
    position = (n - 1) * q
    return math.floor(position), math.ceil(position)


def _edges(c: _Column, stats: dict[str, Any]) -> list[float]:
    """HISTOGRAM_BINS equal-width bins from the column's min to its max; one bin if they are equal.

    The inner edges are rounded to SIGNIFICANT_DIGITS, so every engine parses them to the same double.
    """
    low, high = float(stats[c.key("min")]), float(stats[c.key("max")])
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    width = (high - low) / HISTOGRAM_BINS
    inner = [_real(low + width * i) for i in range(1, HISTOGRAM_BINS)] if width else []
    return [low, *inner, high]


def _histogram(c: _Column, edges: list[float], stats: dict[str, Any], *, sampled: bool) -> Histogram | None:
    """The column's histogram; one counted on a sample is scaled to the column's exact count of values.

    None when there are no finite edges, or when the sample holds none of a sparse column's values.
    """
    count = int(stats[c.key("count")])
    if len(edges) < 2:
        return None
    if len(edges) == 2:
        return Histogram(edges=edges, counts=[count])
    counts = [int(stats[c.key(f"bin{b}")] or 0) for b in range(len(edges) - 1)]
    if not sampled:
        return Histogram(edges=edges, counts=counts)
    seen = sum(counts)
    if not seen:
        return None
    return Histogram(edges=edges, counts=[round(n * count / seen) for n in counts])


def _bin_index(values: ir.FloatingColumn, edges: list[float]) -> ir.IntegerColumn:
    """The bin each value falls in, the number of inner edges at or below it; NULL for a missing value."""
    inner = [(values < ibis.literal(edge, type="float64"), b) for b, edge in enumerate(edges[1:-1])]
    missing = (values.isnull(), ibis.null("int16"))
    index: ir.IntegerColumn = ibis.cases(missing, *inner, else_=len(edges) - 2).cast("int16")
    return index


def _top_values_and_shapes(
    table: ir.Table, columns: list[_Column], *, top: int, backend_name: str
) -> tuple[dict[int, list[tuple[JSONValue, int]]], dict[int, list[tuple[str, int]]]]:
    """The most frequent values and shapes of each text column: one UNION ALL query.

    A shape is derived from a value, so shapes are counted over the distinct values (with their
    counts) rather than by running the regular expressions over every row.
    """
    branches = []
    backend = table.get_backend()
    for c in columns:
        counted = (
            # The column read off this table, which may be a sample drawn apart from the profiled one.
            table.select(key=_values(table, c.name, backend))
            .filter(ibis._.key.notnull())
            .group_by("key")
            .aggregate(n=ibis._.count())
        )
        branches.append(_most_frequent(counted, c.index, "value", top, backend_name))
        shaped = (
            counted.select(key=_shape(counted.key), n=counted.n).group_by("key").aggregate(n=ibis._.n.sum())
        )
        branches.append(_most_frequent(shaped, c.index, "shape", top, backend_name))
    top_values: dict[int, list[tuple[JSONValue, int]]] = {}
    shapes: dict[int, list[tuple[str, int]]] = {}
    if not branches:
        return top_values, shapes
    rows = sorted(_fetch_rows(ibis.union(*branches)), key=lambda r: (-int(r["n"]), r["key"]))
    for row in rows:
        target: dict[int, Any] = top_values if row["kind"] == "value" else shapes
        target.setdefault(int(row["column"]), []).append((row["key"], int(row["n"])))
    return top_values, shapes


def _most_frequent(counted: ir.Table, index: int, kind: str, top: int, backend_name: str) -> ir.Table:
    """The top rows by count, ties broken by the key in code-point order on every engine."""
    order_key = counted.key
    if backend_name == "postgres":
        # PostgreSQL sorts text by the database's collation (en_US puts 'a' before 'B'); its UTF-8
        # bytes sort in code-point order, as DuckDB, SQLite and Spark sort text by default.
        order_key = _convert_to(counted.key, "UTF8")
    return (
        counted.order_by([ibis.desc(counted.n), order_key])
        .limit(top)
        .select(
            column=ibis.literal(index, type="int64"),
            kind=ibis.literal(kind, type="string"),
            key=counted.key,
            n=counted.n.cast("int64"),
        )
    )


def _text_bytes(text: str, encoding: str) -> bytes:  # type: ignore[empty-body]
    """PostgreSQL's convert_to: the text's bytes in an encoding (a signature for Ibis, never called)."""


_convert_to: Any = ibis.udf.scalar.builtin(_text_bytes, name="convert_to")


_UPPER, _LOWER, _DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
_SHAPE_FROM = _UPPER + _LOWER + _DIGITS
_SHAPE_TO = "A" * len(_UPPER) + "a" * len(_LOWER) + "9" * len(_DIGITS)


def _shape(text: ir.StringValue) -> ir.StringValue:
    """Letters as 'A'/'a', digits as '9', the rest kept: "INV-00001234" → "AAA-99999999".

    ASCII letters only: the engines disagree on what a non-ASCII letter is. One TRANSLATE, a
    character-for-character map, costs a fraction of three regular-expression replacements.
    """
    return text.translate(_SHAPE_FROM, _SHAPE_TO)


def _column_profile(
    c: _Column,
    stats: dict[str, Any],
    *,
    rows: int,
    approximate: bool,
    quantiles: dict[str, float],
    histogram: Histogram | None,
    top_values: list[tuple[JSONValue, int]],
    shapes: list[tuple[str, int]],
) -> ColumnProfile:
    count = int(stats[c.key("count")])
    nulls = rows - count
    distinct = stats.get(c.key("distinct"))
    profile_fields: dict[str, Any] = {
        "name": c.name,
        "type": c.type,
        "count": count,
        "nulls": nulls,
        "null_rate": _real(nulls / rows) if rows else 0.0,
        "distinct": None if distinct is None else int(distinct),
        "distinct_approximate": approximate and distinct is not None,
    }
    if c.type in NUMERIC:
        integer = c.type == "integer"
        profile_fields |= {
            "min": _number(stats[c.key("min")], integer=integer),
            "max": _number(stats[c.key("max")], integer=integer),
            "mean": _optional_real(stats[c.key("mean")]),
            "stddev": _optional_real(stats[c.key("stddev")]),
            "quantiles": quantiles,
            "quantiles_approximate": approximate and bool(quantiles),
            "histogram": histogram,
        }
    elif c.type == "string":
        profile_fields |= {
            "top_values": top_values,
            "shapes": shapes,
            "length_min": _optional_int(stats[c.key("length_min")]),
            "length_max": _optional_int(stats[c.key("length_max")]),
            "length_mean": _optional_real(stats[c.key("length_mean")]),
        }
    elif c.type == "boolean":
        trues = int(stats[c.key("trues")] or 0)
        counts = [(True, trues), (False, count - trues)]
        profile_fields |= {"distinct": sum(1 for _, n in counts if n), "distinct_approximate": False}
        profile_fields["top_values"] = sorted(
            [(value, n) for value, n in counts if n], key=lambda pair: (-pair[1], pair[0])
        )
    elif c.type in ("date", "timestamp"):
        aware = c.dtype.is_timestamp() and c.dtype.timezone is not None
        profile_fields |= {
            "min": _moment(stats[c.key("min")], aware=aware),
            "max": _moment(stats[c.key("max")], aware=aware),
        }
    return ColumnProfile(**profile_fields)


def _real(value: float | Decimal | int) -> float:
    """A float rounded to SIGNIFICANT_DIGITS, so engines that differ in the last bits agree."""
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def _optional_real(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _real(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _number(value: Any, *, integer: bool) -> int | float | None:
    """An extreme as stored: integers stay integers, decimals become floats (JSON has no decimal)."""
    if value is None:
        return None
    return int(value) if integer else float(value)


def _moment(value: dt.date | None, *, aware: bool) -> str | None:
    """A date or timestamp in ISO 8601, in UTC if it carries a zone, so every engine writes the same text."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
        if not aware:
            value = value.replace(tzinfo=None)
    return None if value is None else value.isoformat()


def _fetch_one(expr: ir.Scalar) -> int:
    return int(expr.to_pyarrow().as_py())


def _fetch_row(expr: ir.Table) -> dict[str, Any]:
    rows = _fetch_rows(expr)
    return rows[0]


def _fetch_rows(expr: ir.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows
