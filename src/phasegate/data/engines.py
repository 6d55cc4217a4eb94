"""Where data lives and the engine that scans it there: DuckDB, SQLite, PostgreSQL or Spark, through Ibis.

Every check is written once as an Ibis expression and pushed down to the engine; data is scanned
where it lives and only aggregates (and a few example rows) come back to Python.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from phasegate.errors import InvalidInput, Problem

EngineName = Literal["duckdb", "sqlite", "postgres", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "sqlite", "postgres", "spark")
FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
}


@dataclass(frozen=True)
class Location:
    """A data set's address: a file or folder of files, or a table in a DuckDB, SQLite or PostgreSQL database.

    Written as text in the catalog: ``data/invoices.parquet``, ``data/invoices/`` (a folder of one
    format), ``duckdb:warehouse.duckdb#invoices``, ``sqlite:app.db#invoices``,
    ``postgresql://user@host/db#schema.invoices``.
    """

    kind: Literal["file", "duckdb", "sqlite", "postgres"]
    path: str
    table: str | None = None
    format: str | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            return self.path
        prefix = "" if self.kind == "postgres" else f"{self.kind}:"
        return f"{prefix}{self.path}#{self.table}"

    @property
    def default_engine(self) -> EngineName:
        """The engine that reads this location where it lives."""
        return {"file": "duckdb", "duckdb": "duckdb", "sqlite": "sqlite", "postgres": "postgres"}[self.kind]  # type: ignore[return-value]


def parse_location(text: str, *, base: Path | None = None) -> Location:
    """A location from its text; InvalidInput names what is wrong with it."""
    text = text.strip()
    where = Problem("", field="location")
    if re.match(r"^postgres(ql)?(\+\w+)?://", text):
        url, _, table = text.partition("#")
        if not table:
            raise InvalidInput(
                "a PostgreSQL location names a table", [_at(where, "add #table or #schema.table")]
            )
        return Location("postgres", url, table)
    for kind in ("duckdb", "sqlite"):
        if text.startswith(f"{kind}:"):
            database, _, table = text[len(kind) + 1 :].partition("#")
            if not table:
                raise InvalidInput(
                    f"a {kind} location names a table", [_at(where, f"write {kind}:FILE#table")]
                )
            return Location("duckdb" if kind == "duckdb" else "sqlite", _resolve(database, base), table)
    path = Path(_resolve(text, base))
    if path.is_dir():
        formats = {FILE_FORMATS[p.suffix.lower()] for p in path.iterdir() if p.suffix.lower() in FILE_FORMATS}
        if len(formats) != 1:
            found = ", ".join(sorted(formats)) or "none"
            raise InvalidInput(
                "a folder location holds files of one format", [_at(where, f"{path}: formats found: {found}")]
            )
        return Location("file", str(path), format=formats.pop())
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        known = ", ".join(sorted(FILE_FORMATS))
        raise InvalidInput("unknown file format", [_at(where, f"{path}: expected one of {known}")])
    return Location("file", str(path), format=FILE_FORMATS[suffix])


def _at(problem: Problem, message: str) -> Problem:
    return Problem(message, field=problem.field)


def _resolve(path: str, base: Path | None) -> str:
    candidate = Path(path).expanduser()
    if base is not None and not candidate.is_absolute():
        candidate = base / candidate
    return str(candidate)


class Engine:
    """An Ibis backend and how to open a location's table on it."""

    def __init__(self, name: EngineName, backend: Any) -> None:
        self.name = name
        self.backend = backend

    def table(self, location: Location, *, name: str = "source", encoding: str | None = None) -> ir.Table:
        """The location's data as an Ibis table on this engine, read lazily where the engine can."""
        return open_table(self, location, name=name, encoding=encoding)

    def close(self) -> None:
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect is not None:
            disconnect()


def open_table(engine: Engine, location: Location, *, name: str, encoding: str | None = None) -> ir.Table:
    """See Engine.table; raises InvalidInput naming the location when it cannot be read."""
    try:
        if location.kind == "file":
            return _file_table(engine, location, name, encoding)
        if location.table is None:
            raise InvalidInput(f"{location}: no table named")
        schema, _, table = location.table.rpartition(".")
        if schema:
            return engine.backend.table(table, database=schema)
        return engine.backend.table(table)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"cannot read {location} on {engine.name}", [Problem(_first_line(exc), field="location")]
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _file_table(engine: Engine, location: Location, name: str, encoding: str | None) -> ir.Table:
    path = Path(location.path)
    if not path.exists():
        raise InvalidInput(f"no such file or folder: {path}", [Problem("does not exist", field="location")])
    pattern = str(path / f"*{_suffix(location)}") if path.is_dir() else str(path)
    backend = engine.backend
    if engine.name == "duckdb":
        _PARQUET_VIEWS.get(backend, {}).pop(name, None)  # whatever the name read before, it reads this now
    if location.format == "xlsx":
        # No engine reads XLSX without an extension download: openpyxl reads it into an Arrow table.
        return ibis.memtable(_xlsx_arrow(path), name=name)
    if engine.name == "spark":
        reader = {"csv": backend.read_csv, "parquet": backend.read_parquet, "jsonl": backend.read_json}
        return reader[location.format or "csv"](pattern, table_name=name)
    if location.format == "csv":
        options: dict[str, Any] = {"header": True}
        if encoding:
            options["encoding"] = encoding
        # Parsed once into a temporary table in the engine: a view would re-parse the text on every query.
        backend.read_csv(pattern, table_name=f"{name}_file", **options)
        return _materialised(backend, name)
    if location.format == "parquet":
        table = backend.read_parquet(pattern, table_name=name)
        if engine.name == "duckdb":
            _PARQUET_VIEWS.setdefault(backend, {})[name] = pattern
        return table
    backend.read_json(pattern, table_name=f"{name}_file")
    return _materialised(backend, name)


# The Parquet files behind each DuckDB view _file_table opened, by backend and view name: a sample of
# them can be drawn by row position (row_sample). Weak keys: a closed backend takes its entries along.
_PARQUET_VIEWS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
# row_sample keeps a row when a hash of its position, modulo this, falls below the share times this:
# fine enough for a share of a hundred thousand rows in a hundred thousand billion.
_SAMPLE_SCALE = 2**32
_POSITION_COLUMNS = frozenset({"filename", "file_row_number"})


def row_sample(table: ir.Table, fraction: float, seed: int) -> ir.Table | None:
    """A Bernoulli sample of a Parquet table's rows that DuckDB draws in parallel, the same on every run.

    A row is kept when a seeded hash of its position (file name and row number in it) falls below
    the fraction: each row independently, as TABLESAMPLE bernoulli keeps it. DuckDB runs a sample
    with a seed (REPEATABLE) on one thread and decodes every row of every column first; this
    filter runs on every core and decodes the other columns of the kept rows only. None when the
    table is not a Parquet view this module opened on DuckDB (or its file has columns named like
    DuckDB's position columns): then the caller samples as the engine does.
    """
    op = table.op()
    if not isinstance(op, ops.DatabaseTable):
        return None
    pattern = _PARQUET_VIEWS.get(op.source, {}).get(op.name)
    if pattern is None or _POSITION_COLUMNS & set(table.columns):
        return None
    files = pattern.replace("'", "''")
    threshold = max(1, round(fraction * _SAMPLE_SCALE))
    sampled: ir.Table = op.source.sql(
        f"SELECT * FROM read_parquet('{files}') "
        f"WHERE hash(filename, file_row_number, {int(seed)}) % {_SAMPLE_SCALE} < {threshold}"
    )
    # The same files read the same way: anything else (a file rewritten since) samples as the engine does.
    return sampled if sampled.schema() == table.schema() else None


def _materialised(backend: Any, name: str) -> ir.Table:
    """The file's view copied into a temporary table of the engine's, so it is parsed once, not per query."""
    if getattr(backend, "name", "") != "duckdb":
        return backend.table(f"{name}_file")
    backend.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{name}_file"')
    return backend.table(name)


def _suffix(location: Location) -> str:
    return {"csv": ".csv", "parquet": ".parquet", "jsonl": ".json*", "xlsx": ".xlsx"}[
        location.format or "csv"
    ]


def _xlsx_arrow(path: Path) -> Any:
    import pyarrow as pa
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(next(rows, ()))]
    columns: list[list[Any]] = [[] for _ in header]
    for row in rows:
        if all(v is None for v in row):
            continue
        for i in range(len(header)):
            columns[i].append(row[i] if i < len(row) else None)
    return pa.table({h: _arrow_column(values) for h, values in zip(header, columns, strict=True)})


def _arrow_column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])


def check_engine(name: str) -> EngineName:
    """An engine name, or InvalidInput listing the engines there are."""
    if name not in ENGINES:
        raise InvalidInput(
            "unknown engine", [Problem(f"'{name}': must be one of {', '.join(ENGINES)}", field="engine")]
        )
    return name


def connect(name: EngineName, *, location: Location | None = None, spark: Any = None) -> Engine:
    """An engine: an in-process DuckDB, the SQLite or PostgreSQL database a location names, or Spark."""
    if name not in ENGINES:
        raise InvalidInput(
            "unknown engine", [Problem(f"must be one of: {', '.join(ENGINES)}", field="engine")]
        )
    if name == "duckdb":
        if location is not None and location.kind == "duckdb":
            backend = ibis.duckdb.connect(location.path, read_only=True)
        else:
            backend = ibis.duckdb.connect()
        backend.raw_sql("SET enable_progress_bar = false")  # its bar would scribble over the CLI's own
        return Engine(name, backend)
    if name == "sqlite":
        if location is None or location.kind != "sqlite":
            raise InvalidInput(
                "the sqlite engine reads a table in a SQLite file",
                [Problem("sqlite:FILE#table", field="location")],
            )
        return Engine(name, ibis.sqlite.connect(location.path))
    if name == "postgres":
        if location is None or location.kind != "postgres":
            raise InvalidInput(
                "the postgres engine reads a PostgreSQL table",
                [Problem("postgresql://user@host/db#table", field="location")],
            )
        return Engine(name, ibis.connect(_libpq_url(location.path)))
    return Engine(name, ibis.pyspark.connect(spark or local_spark()))


def _libpq_url(url: str) -> str:
    # SQLAlchemy-style driver suffixes (postgresql+psycopg://) mean nothing to Ibis.
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


_SPARK: Any = None


def local_spark() -> Any:
    """One local Spark session per process (it takes seconds to start); quiet and bound to loopback."""
    global _SPARK
    if _SPARK is None:
        from pyspark.sql import SparkSession

        _SPARK = (
            SparkSession.builder.master("local[2]")
            .appName("phasegate")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        _SPARK.sparkContext.setLogLevel("ERROR")
    return _SPARK


@contextmanager
def opened(
    location: Location, engine: EngineName | None = None, *, encoding: str | None = None, spark: Any = None
) -> Iterator[ir.Table]:
    """The location's table on its own engine (or the one named), closed afterwards."""
    chosen = connect(engine or location.default_engine, location=location, spark=spark)
    try:
        yield chosen.table(location, encoding=encoding)
    finally:
        if chosen.name != "spark":
            chosen.close()
