"""Shared fixtures for the data tests: one Spark session per process, a small table on each engine."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pytest

from phasegate.data import engines

DATA = Path(__file__).parent.parent / "data"

# The JVM's C1 compiler alone halves the CPU a short-lived local Spark spends compiling its own code
# (C2 pays off only in jobs that run for minutes); this applies when these tests start the JVM.
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", '--driver-java-options "-XX:TieredStopAtLevel=1" pyspark-shell')
POSTGRES_URL_VARIABLE = "PHASEGATE_TEST_POSTGRES_URL"
NO_POSTGRES = (
    f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server for this run "
    "(scripts/with-postgres.sh starts one)"
)


def arrow(frame: pd.DataFrame, schema: ibis.Schema | dict[str, str] | None = None) -> pa.Table:
    """The frame as Arrow, in the given Ibis schema if any; pandas' missing values become nulls."""
    arrow_schema = None if schema is None else ibis.schema(schema).to_pyarrow()
    return pa.Table.from_pandas(frame, schema=arrow_schema, preserve_index=False)


@pytest.fixture(scope="session")
def spark() -> Any:
    """The process's local Spark session (it takes seconds to start, so every test shares it)."""
    return engines.local_spark()


class EngineTable:
    """Loads pandas DataFrames into one engine as uniquely named tables: ``engine_table(frame)``."""

    def __init__(self, name: engines.EngineName, backend: Any, load: Callable[[str, ir.Table], ir.Table]):
        self.name = name
        self.backend = backend
        self._load = load

    def __call__(self, frame: pd.DataFrame, schema: ibis.Schema | dict[str, str] | None = None) -> ir.Table:
        """The frame as a table on this engine; missing values (None, NaN, NaT, NA) become NULL."""
        return self._load(f"t_{uuid.uuid4().hex[:12]}", ibis.memtable(arrow(frame, schema)))


@pytest.fixture(params=engines.ENGINES)
def engine_table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineTable]:
    """A loader for each engine in turn: DuckDB, SQLite, PostgreSQL (skipped without a server) and Spark."""
    name: engines.EngineName = request.param
    if name == "duckdb":
        backend = ibis.duckdb.connect()
        yield EngineTable(name, backend, lambda table, data: backend.create_table(table, data))
        backend.disconnect()
    elif name == "sqlite":
        backend = ibis.sqlite.connect(tmp_path / "data.sqlite")
        yield EngineTable(name, backend, lambda table, data: _sqlite_table(backend, table, data))
        backend.disconnect()
    elif name == "postgres":
        yield from _postgres_tables()
    else:
        session = request.getfixturevalue("spark")
        backend = ibis.pyspark.connect(session)
        views: list[str] = []

        def load(table: str, data: ir.Table) -> ir.Table:
            # From Arrow, so missing values arrive as NULL (a pandas float NaN would stay NaN).
            session.createDataFrame(data.to_pyarrow()).createOrReplaceTempView(table)
            views.append(table)
            return backend.table(table)

        yield EngineTable(name, backend, load)
        for view in views:
            session.catalog.dropTempView(view)


def _postgres_tables() -> Iterator[EngineTable]:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(NO_POSTGRES)
    # Ibis speaks libpq URLs; the store's SQLAlchemy URL names a driver (postgresql+psycopg://).
    backend = ibis.connect(re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    backend.raw_sql(f'CREATE SCHEMA "{schema}"').close()
    try:
        yield EngineTable(
            "postgres", backend, lambda table, data: backend.create_table(table, data, database=schema)
        )
    finally:
        backend.raw_sql(f'DROP SCHEMA "{schema}" CASCADE').close()
        backend.disconnect()


def _sqlite_table(backend: Any, table: str, data: ir.Table) -> ir.Table:
    """Rows inserted as Python values: Ibis's own SQLite loader cannot bind pandas' NA."""
    columns = list(data.columns)
    declared = ", ".join(f'"{name}" {_sqlite_type(backend, dtype)}' for name, dtype in data.schema().items())
    backend.con.execute(f'CREATE TABLE "{table}" ({declared})')
    rows = [[_sqlite_value(row[c]) for c in columns] for row in data.to_pyarrow().to_pylist()]
    marks = ", ".join("?" for _ in columns)
    backend.con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    backend.con.commit()
    return backend.table(table)


def _sqlite_type(backend: Any, dtype: dtypes.DataType) -> str:
    # Ibis declares decimals REAL, which it reads back as float64; DECIMAL(p, s) reads back as decimal.
    if dtype.is_decimal():
        return f"DECIMAL({dtype.precision or 38}, {dtype.scale or 0})"
    return str(backend.compiler.type_mapper.from_ibis(dtype).sql("sqlite"))


def _sqlite_value(value: Any) -> Any:
    # SQLite has no date type: Ibis reads ISO text back as dates and timestamps.
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
