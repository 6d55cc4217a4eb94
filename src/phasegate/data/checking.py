"""A data contract checked where the data lives: every check pushed down to the engine through Ibis.

The cost is a handful of queries whatever the contract's size: ONE aggregate computes every column
check, rule, freshness and distribution measure together; each reference adds one anti-join count;
and, only when something fails, ONE more query fetches a few example rows for every failing check.
Rows never come back to Python: only counts, and at most five example rows a failing check. Given
a profile of the same table, the aggregate leaves out what the profile counted (rows, nulls,
extremes), and runs not at all when nothing is left.

What each check reports as observed, against its limit:

- ``type``: the column's logical type, against the declared one;
- ``not_null`` and ``unique``: null rows and duplicate rows (beyond each value's first), against 0;
- ``max_null_rate``: the share of null rows, against the declared rate;
- ``min`` and ``max``: the column's minimum or maximum, against the bound (rows beyond it fail it);
- ``allowed``, ``pattern`` and ``references``: rows breaking them, against the declared values;
- rules: the share of rows where the expression is false (unknown, from nulls, does not fail, as in a
  SQL CHECK constraint: null-ness has checks of its own);
- ``freshness``: the age of the newest value, against max_lag;
- ``psi``: the population stability index of the column against the baseline's histogram.

Floating-point NaN counts as missing, as profiles count it (SQLite cannot even store it). Example
values of pii, confidential and restricted columns, and their minimum or maximum, show as ``•••``.
A check that cannot run is reported with status ``error`` and its cause, never as passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise
from typing import Any, Literal

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from phasegate.data import profiling
from phasegate.data.contracts import ColumnRule, ContractSpec, Distribution, RowRule, RuleError, compile_rule
from phasegate.data.drift import population_stability_index

Status = Literal["pass", "fail", "error"]
MASK = "•••"
MAX_EXAMPLES = 5
# Values of a referenced column on another engine are copied over when there are at most this many:
# a dimension table (suppliers, products) fits; a fact table does not, and the check says so.
MAX_COPIED_REFERENCE_VALUES = 100_000
# On DuckDB, an integer column's exact distinct count is a bitmap over its profiled range (BITSTRING_AGG)
# when that range spans at most this many values: one bit a value, 8 MiB a thread, where COUNT(DISTINCT)
# hashes every row into a table (about 8x the CPU on 10 million keys).
MAX_BITMAP_RANGE = 2**26
ROWS = "pg_rows"
CHECK_INDEX = "pg_check"
REFERENCE = "pg_ref"

# What each declared type accepts: whole numbers are valid decimals (CSV readers infer integers).
ACCEPTED_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"string"}),
    "integer": frozenset({"integer"}),
    "decimal": frozenset({"decimal", "float", "integer"}),
    "float": frozenset({"decimal", "float", "integer"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "timestamp": frozenset({"timestamp"}),
}


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: what was observed against the contract's limit, and a few failing rows."""

    check: str
    column: str | None
    status: Status
    observed: Any = None
    limit: Any = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    violations: int | None = None  # rows breaking the check, where counting rows means something

    @property
    def kind(self) -> str:
        """The check without its column: type, not_null, unique, min, rule, freshness, psi ..."""
        if self.check.startswith("rule: "):
            return "rule"
        if self.column is not None and self.check.startswith(f"{self.column}."):
            return self.check[len(self.column) + 1 :]
        return self.check

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {**asdict(self), "kind": self.kind}


@dataclass
class ContractReport:
    """Every check of one contract, run on one engine."""

    contract_id: str
    source: str
    engine: str
    rows: int | None
    results: list[CheckResult]
    queries: int = 0

    @property
    def passed(self) -> bool:
        """No check failed and every check ran."""
        return all(result.status == "pass" for result in self.results)

    @property
    def counts(self) -> dict[str, int]:
        """How many checks passed, failed and could not run."""
        tally = {"pass": 0, "fail": 0, "error": 0}
        for result in self.results:
            tally[result.status] += 1
        return tally

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "contract": self.contract_id,
            "source": self.source,
            "engine": self.engine,
            "rows": self.rows,
            "passed": self.passed,
            "counts": self.counts,
            "queries": self.queries,
            "results": [result.as_dict() for result in self.results],
        }


class CheckError(Exception):
    """A check cannot run; the message says why, in the contract's terms."""


@dataclass(frozen=True)
class _Verdict:
    status: Status
    observed: Any
    violations: int | None = None


Judge = Callable[[Mapping[str, Any], int], _Verdict]  # (measured values, rows) -> verdict


@dataclass
class _Plan:
    """A check that reads the data: its measures, how to judge them, and the rows that break it."""

    judge: Judge
    measures: dict[str, ir.Scalar]
    query: ir.Table | None = None  # a one-row query of its own, when it cannot join the aggregate
    failing: ir.Table | None = None
    shown: tuple[str, ...] = ()
    # For a unique check: whether its column proved a key (no duplicates, no nulls) on this run.
    keyed: Callable[[Mapping[str, Any], int], bool] | None = None
    check: str = ""  # set with column and limit by the planner, which knows the check's name
    column: str | None = None
    limit: Any = None


Planned = _Plan | CheckResult


def run_contract(
    contract: ContractSpec,
    table: ir.Table,
    *,
    engine: str,
    resolve_reference: Callable[[str], ir.Table] | None = None,
    baseline: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    profile: profiling.Profile | None = None,
) -> ContractReport:
    """Check a contract against a table on its engine, in a bounded number of queries.

    profile, a profile of this same table taken just before (as an audit does), lends its exact
    counts: rows, nulls, extremes of integer and float columns and exact distinct counts are read
    from it instead of the data, and a bound its extreme keeps costs nothing to check.
    """
    executor = _Executor()
    planner = _Planner(
        contract, table, executor, resolve_reference, baseline, now or datetime.now(UTC), profile
    )
    planned = planner.plan()
    plans = [item for item in planned if isinstance(item, _Plan)]
    values, rows, broken = _measure(executor, table, plans, engine, planner.known)
    results: list[CheckResult] = []
    failing: list[tuple[int, _Plan]] = []
    for item in planned:
        if isinstance(item, CheckResult):
            results.append(item)
            continue
        result = _judged(item, values, rows, broken.get(id(item)))
        if result.status == "fail" and item.failing is not None:
            failing.append((len(results), item))
        results.append(result)
    key = _key(plans, values, rows, broken)
    examples = _examples(executor, [plan for _, plan in failing], contract.masked_columns, key)
    for (index, _), rows_of_check in zip(failing, examples, strict=True):
        results[index] = replace(results[index], examples=rows_of_check)
    return ContractReport(contract.id, contract.source, engine, rows, results, executor.queries)


class _Executor:
    """Runs queries and counts them: the contract's cost is part of its report."""

    def __init__(self) -> None:
        self.queries = 0

    def rows(self, expr: ir.Table) -> list[dict[str, Any]]:
        self.queries += 1
        rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
        return rows

    def one(self, expr: ir.Table) -> dict[str, Any]:
        return self.rows(expr)[0]


def _measure(
    executor: _Executor, table: ir.Table, plans: Sequence[_Plan], engine: str, known: Mapping[str, Any]
) -> tuple[dict[str, Any], int | None, dict[int, str]]:
    """Every plan's measures in one aggregate; if the engine refuses it, plan by plan to find which.

    known holds the values a profile already measured, the row count among them: with nothing
    left to measure, no query runs.
    """
    measures = {alias: expr for plan in plans for alias, expr in plan.measures.items()}
    broken: dict[int, str] = {}
    try:
        if ROWS in known and not measures:
            values = dict(known)
        else:
            values = {**known, **executor.one(table.aggregate(**{ROWS: table.count()}, **measures))}
    except Exception as exc:
        try:
            values = {**known, **executor.one(table.aggregate(**{ROWS: table.count()}))}
        except Exception:
            cause = f"cannot read the source on {engine}: {_cause(exc)}"
            return {}, None, {id(plan): cause for plan in plans}
        for plan in plans:
            if not plan.measures:
                continue
            try:
                values.update(executor.one(table.aggregate(**plan.measures)))
            except Exception as single:
                broken[id(plan)] = f"the engine could not run it: {_cause(single)}"
    for plan in plans:
        if plan.query is not None:
            try:
                values.update(executor.one(plan.query))
            except Exception as exc:
                broken[id(plan)] = f"the engine could not run it: {_cause(exc)}"
    return values, int(values[ROWS]), broken


def _judged(plan: _Plan, values: Mapping[str, Any], rows: int | None, broken: str | None) -> CheckResult:
    if broken is not None:
        return _error(plan.check, plan.column, broken, plan.limit)
    try:
        verdict = plan.judge(values, rows or 0)
    except (CheckError, ValueError) as exc:
        return _error(plan.check, plan.column, str(exc), plan.limit)
    return CheckResult(
        plan.check, plan.column, verdict.status, verdict.observed, plan.limit, violations=verdict.violations
    )


def _error(check: str, column: str | None, cause: str, limit: Any = None) -> CheckResult:
    return CheckResult(check, column, "error", limit=limit, error=cause)


def _key(
    plans: Sequence[_Plan], values: Mapping[str, Any], rows: int | None, broken: Mapping[int, str]
) -> str | None:
    """A column this run proved a key (unique, never null): examples are the first rows by it."""
    for plan in plans:
        if plan.keyed is not None and id(plan) not in broken and plan.keyed(values, rows or 0):
            return plan.column
    return None


def _examples(
    executor: _Executor, plans: Sequence[_Plan], masked: frozenset[str], key: str | None = None
) -> list[list[dict[str, Any]]]:
    """A few rows breaking each failing check, in one query (a UNION ALL of one top-N per check)."""
    if not plans:
        return []
    shown = list(dict.fromkeys(column for plan in plans for column in plan.shown))
    parts = [_example_part(plan, index, shown, key) for index, plan in enumerate(plans)]
    try:
        fetched = executor.rows(ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0])
    except Exception:
        # One check's rows the engine cannot fetch must not cost the others theirs.
        fetched = []
        for part in parts:
            try:
                fetched.extend(executor.rows(part))
            except Exception:
                continue  # the check still fails; it only lacks examples
    grouped: list[list[dict[str, Any]]] = [[] for _ in plans]
    for row in fetched:
        grouped[int(row[CHECK_INDEX])].append(row)
    return [
        [
            _masked(row, plan.shown, masked)
            for row in sorted(rows, key=_order_of([key] if key else plan.shown))
        ]
        for plan, rows in zip(plans, grouped, strict=True)
    ]


def _example_part(plan: _Plan, index: int, shown: Sequence[str], key: str | None) -> ir.Table:
    """The check's first rows by the key, when the run proved one; else sorted by every shown column.

    Either order is total, so every engine picks the same rows. By a key, the engine sorts one
    column and reads the others of five rows only (DuckDB's late materialisation, an index scan that
    stops early on PostgreSQL), where a sort by every column reads them all for every failing row:
    millions when a column's null rate fails.
    """
    assert plan.failing is not None
    failing = plan.failing
    if key is not None:
        keys = [failing[key].asc()]  # never null: no NULLS FIRST to spoil DuckDB's pruning by the key
    else:
        keys = [failing[c].asc(nulls_first=True) for c in plan.shown if _orderable(failing[c])]
    top = failing.order_by(keys).limit(MAX_EXAMPLES) if keys else failing.limit(MAX_EXAMPLES)
    return top.select(*shown, **{CHECK_INDEX: ibis.literal(index, "int32")})


def _orderable(column: ir.Value) -> bool:
    dtype = column.type()
    return bool(dtype.is_string() or dtype.is_numeric() or dtype.is_temporal() or dtype.is_boolean())


def _order_of(columns: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    # As the engines sort them (nulls first), so the examples read the same on every engine.
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple((row[c] is not None, row[c] if row[c] is not None else 0) for c in columns)

    return key


def _masked(row: Mapping[str, Any], columns: Sequence[str], masked: frozenset[str]) -> dict[str, Any]:
    return {
        column: MASK if column in masked and row[column] is not None else plain(row[column])
        for column in columns
    }


def plain(value: Any) -> Any:
    """A value as JSON can hold it: ISO dates and times, floats for decimals, None for NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    item = getattr(value, "item", None)  # NumPy scalars
    return plain(item()) if callable(item) else value


class _Planner:
    """Turns a contract into plans (or errors) against one table's columns."""

    def __init__(
        self,
        contract: ContractSpec,
        table: ir.Table,
        executor: _Executor,
        resolve_reference: Callable[[str], ir.Table] | None,
        baseline: Mapping[str, Any] | None,
        now: datetime,
        profile: profiling.Profile | None = None,
    ) -> None:
        self.contract = contract
        self.table = table
        self.schema = table.schema()
        self.executor = executor
        self.resolve_reference = resolve_reference
        self.baseline = baseline
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.display = tuple(name for name in contract.columns if name in self.schema)
        self.reads_nan = table.get_backend().has_operation(ops.IsNan)
        self.backend_name = table.get_backend().name
        self._aliases: dict[str, str] = {}
        self._measures: dict[str, ir.Scalar] = {}
        self._references = 0
        self._profiled = _profiled(profile, self.schema) if profile is not None else {}
        # Values of measures the profile already took, by alias; with them, the row count.
        self.known: dict[str, Any] = {ROWS: profile.rows} if profile is not None else {}

    def plan(self) -> list[Planned]:
        planned: list[Planned] = []
        for name, rule in self.contract.columns.items():
            planned.extend(self._column_checks(name, rule))
        for row_rule in self.contract.rules:
            build = partial(self._rule, row_rule)
            planned.append(self._guarded(f"rule: {row_rule.name}", None, row_rule.max_failure_rate, build))
        if self.contract.freshness is not None:
            freshness = self.contract.freshness
            planned.append(self._guarded("freshness", freshness.column, freshness.max_lag, self._freshness))
        if self.contract.distribution is not None:
            planned.extend(self._distribution(self.contract.distribution))
        return planned

    def _column_checks(self, name: str, rule: ColumnRule) -> list[Planned]:
        wanted: list[tuple[str, Any, Callable[[], Planned]]] = []
        if rule.type is not None:
            wanted.append(("type", rule.type, partial(self._type, name, rule.type)))
        if rule.not_null:
            wanted.append(("not_null", 0, partial(self._null_rate, name, None)))
        if rule.max_null_rate is not None:
            wanted.append(
                ("max_null_rate", rule.max_null_rate, partial(self._null_rate, name, rule.max_null_rate))
            )
        if rule.unique:
            wanted.append(("unique", 0, partial(self._unique, name)))
        if rule.min is not None:
            wanted.append(("min", rule.min, partial(self._bound, name, rule.min, "min")))
        if rule.max is not None:
            wanted.append(("max", rule.max, partial(self._bound, name, rule.max, "max")))
        if rule.allowed is not None:
            wanted.append(("allowed", rule.allowed, partial(self._allowed, name, rule.allowed)))
        if rule.pattern is not None:
            wanted.append(("pattern", rule.pattern, partial(self._pattern, name, rule.pattern)))
        if rule.references is not None:
            wanted.append(("references", rule.references, partial(self._reference, name, rule.references)))
        return [self._guarded(f"{name}.{kind}", name, limit, build) for kind, limit, build in wanted]

    def _guarded(self, check: str, column: str | None, limit: Any, build: Callable[[], Planned]) -> Planned:
        """The check's plan, or its error: a missing column, a bad rule, a type Ibis refuses."""
        try:
            if column is not None and column not in self.schema:
                raise CheckError(self.missing(column))
            planned = build()
        except (CheckError, RuleError) as exc:
            return _error(check, column, str(exc), limit)
        except Exception as exc:
            return _error(check, column, f"cannot be checked on this column: {_cause(exc)}", limit)
        if isinstance(planned, CheckResult):
            return replace(planned, check=check, column=column, limit=limit)
        planned.check, planned.column, planned.limit = check, column, limit
        return planned

    def missing(self, column: str) -> str:
        """The error for a column the source does not have."""
        return f"no column '{column}' in source (columns: {', '.join(self.schema.names)})"

    def value(self, name: str) -> ir.Value:
        """A column's values with NaN read as missing, as profiles read them (SQLite stores no NaN)."""
        column = self.table[name]
        if column.type().is_floating() and self.reads_nan:
            return column.isnan().ifelse(ibis.null().cast(column.type()), column)
        return column

    def _measure(self, signature: str, build: Callable[[], ir.Scalar]) -> str:
        # Checks sharing a measure (not_null and max_null_rate both count nulls) compute it once, and
        # one the profile took is not computed at all.
        if signature not in self._aliases:
            self._aliases[signature] = alias = f"m{len(self._aliases)}"
            if signature in self._profiled:
                self.known[alias] = self._profiled[signature]
            else:
                self._measures[alias] = build()
        return self._aliases[signature]

    def _count(self, signature: str, condition: ir.BooleanValue) -> str:
        return self._measure(signature, partial(self.table.count, where=condition))

    def _plan(
        self,
        judge: Judge,
        aliases: Sequence[str],
        *,
        failing: ir.Table | None = None,
        first: str | None = None,
    ) -> _Plan:
        shown = (first, *(c for c in self.display if c != first)) if first else self.display
        measures = {alias: self._measures[alias] for alias in aliases if alias in self._measures}
        return _Plan(judge, measures, failing=failing, shown=shown)

    def _type(self, name: str, declared: str) -> CheckResult:
        observed = logical_type(self.schema[name])
        return CheckResult("", name, "pass" if observed in ACCEPTED_TYPES[declared] else "fail", observed)

    def _null_rate(self, name: str, limit: float | None) -> _Plan:
        """not_null (limit None: no null at all) or max_null_rate (the share of nulls allowed)."""
        nulls = self.value(name).isnull()
        alias = self._count(f"nulls:{name}", nulls)
        if limit is None:
            return self._plan(_violations(alias), [alias], failing=self.table.filter(nulls), first=name)

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            count = _int(values[alias])
            rate = count / rows if rows else 0.0
            return _Verdict("fail" if rate > limit else "pass", rate, count)

        return self._plan(judge, [alias], failing=self.table.filter(nulls), first=name)

    def _unique(self, name: str) -> _Plan:
        column = self.value(name)
        present = self._measure(f"present:{name}", column.count)
        distinct = self._measure(f"distinct:{name}", partial(self._distinct, name, column))

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            duplicates = _int(values[present]) - _int(values[distinct])
            return _Verdict("fail" if duplicates else "pass", duplicates, duplicates)

        # Rows whose value repeats: a hash aggregate and a semi-join, cheaper than a window on most engines.
        values = self.table.select(pg_value=column)
        repeated = values.group_by("pg_value").aggregate(pg_n=values.count()).filter(ibis._.pg_n > 1)
        failing = self.table.semi_join(repeated, column == repeated.pg_value)
        plan = self._plan(judge, [present, distinct], failing=failing, first=name)
        if _orderable(column):

            def keyed(values: Mapping[str, Any], rows: int) -> bool:
                return _int(values[present]) == _int(values[distinct]) == rows

            plan.keyed = keyed
        return plan

    def _distinct(self, name: str, column: ir.Value) -> ir.Scalar:
        """The column's exact count of distinct values: by a bitmap on DuckDB where the profile bounds it.

        The bitmap covers the profile's [min, max]; values outside it (data changed since the profile)
        are counted distinct by hashing, so the count stays exact whatever the profile said.
        """
        low, high = self._profiled.get(f"min:{name}"), self._profiled.get(f"max:{name}")
        if (
            self.backend_name != "duckdb"
            or not column.type().is_integer()
            or not isinstance(low, int)
            or not isinstance(high, int)
            or high - low >= MAX_BITMAP_RANGE
        ):
            distinct: ir.Scalar = column.nunique()
            return distinct
        numbers = column.cast("int64")
        low_, high_ = ibis.literal(low, type="int64"), ibis.literal(high, type="int64")
        inside = numbers.between(low_, high_)
        bitmap = _bit_count(_bitstring_agg(numbers, low_, high_, where=inside))
        return bitmap.fill_null(0) + numbers.nunique(where=~inside)

    def _bound(self, name: str, bound: float, side: Literal["min", "max"]) -> _Plan:
        column = self.value(name)
        if not column.type().is_numeric():
            raise CheckError(f"{side} needs a numeric column; '{name}' is {logical_type(column.type())}")
        beyond = column < bound if side == "min" else column > bound
        extreme = self._measure(f"{side}:{name}", column.min if side == "min" else column.max)
        if extreme in self.known and _within(self.known[extreme], bound, side):
            # The profile's extreme is inside the bound: no row is beyond it, and nothing to count.
            count = f"{extreme}_{side}_kept"
            self.known[count] = 0
        else:
            count = self._count(f"beyond-{side}:{name}", beyond)

        # A confidential column's extreme is one row's value: hidden like its examples.
        hidden = name in self.contract.masked_columns

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            outside = _int(values[count])
            observed = MASK if hidden and values[extreme] is not None else plain(values[extreme])
            return _Verdict("fail" if outside else "pass", observed, outside)

        return self._plan(judge, [extreme, count], failing=self.table.filter(beyond), first=name)

    def _allowed(self, name: str, allowed: Sequence[Any]) -> _Plan:
        column = self.value(name)
        outside = column.notnull() & ~column.isin(_allowed_values(name, column.type(), allowed))
        alias = self._count(f"allowed:{name}", outside)
        return self._plan(_violations(alias), [alias], failing=self.table.filter(outside), first=name)

    def _pattern(self, name: str, pattern: str) -> _Plan:
        column = self.table[name]
        if not column.type().is_string():
            raise CheckError(f"pattern needs a string column; '{name}' is {logical_type(column.type())}")
        glob = glob_of(pattern) if self.backend_name == "duckdb" else None
        # DuckDB's GLOB matcher costs about half what RE2 does a row; the two agree on what matches.
        matches = column.re_search(pattern) if glob is None else _glob(column, glob)
        breaking = column.notnull() & ~matches
        alias = self._count(f"pattern:{name}", breaking)
        return self._plan(_violations(alias), [alias], failing=self.table.filter(breaking), first=name)

    def _reference(self, name: str, target: str) -> _Plan:
        """Rows whose value is missing from the other source's column: an anti-join, one query."""
        source, _, other_column = target.rpartition(".")
        if self.resolve_reference is None:
            raise CheckError(f"cannot read the referenced source '{source}': no catalog to find it in")
        try:
            other = self.resolve_reference(target)
        except Exception as exc:
            raise CheckError(f"cannot read the referenced source '{source}': {_cause(exc)}") from exc
        if other_column not in other.columns:
            raise CheckError(f"no column '{other_column}' in {source} (columns: {', '.join(other.columns)})")
        mine, theirs = logical_type(self.schema[name]), logical_type(other.schema()[other_column])
        if _kind_of_value(mine) != _kind_of_value(theirs):
            raise CheckError(f"'{name}' is {mine} but {target} is {theirs}: their values cannot match")
        known = self._reference_values(other, other_column, source)
        present = self.table.filter(self.table[name].notnull())
        orphans = present.anti_join(known, present[name] == known[REFERENCE])
        self._references += 1
        alias = f"r{self._references}"
        plan = self._plan(_violations(alias), [], failing=orphans, first=name)
        plan.query = orphans.aggregate(**{alias: orphans.count()})
        return plan

    def _reference_values(self, other: ir.Table, column: str, source: str) -> ir.Table:
        """The referenced column on this table's engine: itself if it lives there, else a bounded copy."""
        values = other.select(**{REFERENCE: other[column]})
        values = values.filter(values[REFERENCE].notnull())
        if other.get_backend() is self.table.get_backend():
            return values
        copied = self.executor.rows(values.distinct().limit(MAX_COPIED_REFERENCE_VALUES + 1))
        if len(copied) > MAX_COPIED_REFERENCE_VALUES:
            raise CheckError(
                f"{source} is read on another engine and has over {MAX_COPIED_REFERENCE_VALUES:,} values; "
                "read both sources on the same engine"
            )
        return ibis.memtable(
            {REFERENCE: [row[REFERENCE] for row in copied]}, schema={REFERENCE: values.schema()[REFERENCE]}
        )

    def _rule(self, rule: RowRule) -> _Plan:
        condition, used = compile_rule(rule.expression, self.table, value=self.value)
        # Unknown (null) is not false: only rows where the condition is false fail it.
        alias = self._count(f"rule:{rule.name}", ~condition)
        limit = rule.max_failure_rate

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            failures = _int(values[alias])
            rate = failures / rows if rows else 0.0
            return _Verdict("fail" if rate > limit else "pass", rate, failures)

        plan = self._plan(judge, [alias], failing=self.table.filter(~condition))
        plan.shown = (*used, *(c for c in self.display if c not in used))
        return plan

    def _freshness(self) -> _Plan:
        assert self.contract.freshness is not None
        name, max_lag = self.contract.freshness.column, self.contract.freshness.lag
        column = self.table[name]
        if not column.type().is_temporal():
            kind = logical_type(column.type())
            raise CheckError(f"freshness needs a date or timestamp column; '{name}' is {kind}")
        alias = self._measure(f"latest:{name}", column.max)

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            latest = _aware(values[alias])
            if latest is None:
                return _Verdict("fail", "no values")
            lag = self.now - latest
            return _Verdict("fail" if lag > max_lag else "pass", duration(lag))

        return self._plan(judge, [alias])

    def _distribution(self, spec: Distribution) -> list[Planned]:
        """One PSI check a column, binned with the baseline's own edges in the shared aggregate."""
        if self.baseline is None:
            return [
                _error(
                    "distribution", None, f"no baseline profile: {spec.baseline} was not found", spec.max_psi
                )
            ]
        try:
            baseline = profiling.Profile.from_dict(dict(self.baseline))
        except Exception as exc:
            return [
                _error("distribution", None, f"{spec.baseline} is not a profile: {_cause(exc)}", spec.max_psi)
            ]
        histograms = {c.name: c.histogram for c in baseline.columns if c.histogram is not None}
        names = spec.columns or [name for name in histograms if name in self.schema]
        if not names:
            cause = f"{spec.baseline} has no histogram of this source's columns"
            return [_error("distribution", None, cause, spec.max_psi)]
        return [
            self._guarded(
                f"{name}.psi", name, spec.max_psi, partial(self._psi, name, spec, histograms.get(name))
            )
            for name in names
        ]

    def _psi(self, name: str, spec: Distribution, histogram: profiling.Histogram | None) -> _Plan:
        if histogram is None:
            raise CheckError(f"{spec.baseline} has no histogram of '{name}'")
        column = self.value(name)
        if not column.type().is_numeric():
            raise CheckError(f"psi needs a numeric column; '{name}' is {logical_type(column.type())}")
        numbers, edges, expected = column.cast("float64"), histogram.edges, list(histogram.counts)
        if len(expected) == 1:
            # A constant baseline has one open-ended bin that every value falls in: bins below and
            # above it, empty in the baseline, let a change show.
            low, high = ibis.literal(edges[0], type="float64"), ibis.literal(edges[-1], type="float64")
            conditions = [numbers < low, (numbers >= low) & (numbers <= high), numbers > high]
            expected = [0, expected[0], 0]
        else:
            conditions = bin_conditions(numbers, edges)
        aliases = [self._count(f"bin:{name}:{i}:{edges}", c) for i, c in enumerate(conditions)]

        def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
            actual = [_int(values[alias]) for alias in aliases]
            if not any(actual):
                raise CheckError(f"no values of '{name}' to compare with the baseline")
            psi = population_stability_index(expected, actual)
            return _Verdict("fail" if psi > spec.max_psi else "pass", psi)

        return self._plan(judge, aliases)


def _bitmap(value: int, low: int, high: int) -> bytes:  # type: ignore[empty-body]
    """DuckDB's bitmap of the integers in [low, high] present (a signature for Ibis, never called)."""


def _set_bits(bits: bytes) -> int:  # type: ignore[empty-body]
    """DuckDB's count of the set bits of a bitmap (a signature for Ibis, never called)."""


_bitstring_agg: Any = ibis.udf.agg.builtin(_bitmap, name="bitstring_agg")
_bit_count: Any = ibis.udf.scalar.builtin(_set_bits, name="bit_count")


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")
_GLOB_SPECIAL = frozenset("*?[]!\\")
MAX_GLOB_REPEAT = 64


def glob_of(pattern: str) -> str | None:
    """A GLOB pattern matching exactly the texts a regular-expression search for pattern finds, or None.

    Only patterns GLOB can say just as well translate: ASCII literals (escaped or not), \\d, classes
    of letters and digits and their ranges, an exact repeat {n}, and ^ and $ at the ends (without
    them, GLOB's * stands for the rest of the text). Anything else (., *, +, ?, groups, alternatives,
    negated classes) is left to the regular expression.
    """
    if not pattern.isascii():
        return None
    anchored_start = pattern.startswith("^")
    body = pattern[1:] if anchored_start else pattern
    # A $ at the end anchors it unless escaped: an odd run of backslashes before it makes it a literal.
    backslashes = len(body[:-1]) - len(body[:-1].rstrip("\\"))
    anchored_end = body.endswith("$") and backslashes % 2 == 0
    body = body[:-1] if anchored_end else body
    atoms: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1 : i + 2]
            if escaped == "d":
                atom = "[0-9]"
            elif escaped and not escaped.isalnum() and escaped.isprintable() and escaped not in _GLOB_SPECIAL:
                atom = escaped
            else:
                return None
            i += 2
        elif char == "[":
            close = body.find("]", i + 1)
            if close == -1 or not _plain_class(body[i + 1 : close]):
                return None
            atom, i = body[i : close + 1], close + 1
        elif char in _REGEX_SPECIAL or char in _GLOB_SPECIAL or not char.isprintable():
            return None
        else:
            atom, i = char, i + 1
        if body.startswith("{", i):
            close = body.find("}", i)
            count = body[i + 1 : close] if close != -1 else ""
            if not count.isdigit() or int(count) > MAX_GLOB_REPEAT:
                return None
            atom, i = atom * int(count), close + 1
        atoms.append(atom)
    return ("" if anchored_start else "*") + "".join(atoms) + ("" if anchored_end else "*")


def _plain_class(inner: str) -> bool:
    """Whether a character class holds only letters and digits, single or as ranges (a-z, 0-9)."""
    i = 0
    if not inner:
        return False
    while i < len(inner):
        if not inner[i].isalnum():
            return False
        if inner[i + 1 : i + 2] == "-":
            low, high = inner[i], inner[i + 2 : i + 3]
            same_kind = (low.isdigit() and high.isdigit()) or (low.isupper() and high.isupper())
            if not high or not (same_kind or (low.islower() and high.islower())) or low > high:
                return False
            i += 3
        else:
            i += 1
    return True


def _text_glob(text: str, pattern: str) -> bool:  # type: ignore[empty-body]
    """DuckDB's GLOB operator, text GLOB pattern (a signature for Ibis, never called)."""


_glob: Any = ibis.udf.scalar.builtin(_text_glob, name="~~~")


def _profiled(profile: profiling.Profile, schema: ibis.Schema) -> dict[str, Any]:
    """The measures a profile took exactly, by the planner's signatures.

    Only of columns the table has with the profiled type (a profile of another table lends nothing
    of a column that differs), and extremes of integer and float columns only: profiles round a
    decimal's to a double.
    """
    taken: dict[str, Any] = {}
    for column in profile.columns:
        name = column.name
        if name not in schema or profiling.column_type(schema[name]) != column.type:
            continue
        taken[f"nulls:{name}"] = column.nulls
        taken[f"present:{name}"] = column.count
        if column.distinct is not None and not column.distinct_approximate:
            taken[f"distinct:{name}"] = column.distinct
        if column.type in ("integer", "float"):
            taken[f"min:{name}"], taken[f"max:{name}"] = column.min, column.max
    return taken


def _within(extreme: Any, bound: float, side: Literal["min", "max"]) -> bool:
    """Whether a column whose minimum (or maximum) is extreme has no value beyond the bound."""
    return extreme is None or (extreme >= bound if side == "min" else extreme <= bound)


def _violations(alias: str) -> Judge:
    """Judged by a count of breaking rows: any fails the check."""

    def judge(values: Mapping[str, Any], rows: int) -> _Verdict:
        count = _int(values[alias])
        return _Verdict("fail" if count else "pass", count, count)

    return judge


def bin_conditions(column: ir.NumericValue, edges: Sequence[float]) -> list[ir.BooleanValue]:
    """One condition per bin [eᵢ, eᵢ₊₁), the outer bins open-ended, as profiles count their histograms."""
    if len(edges) < 2:
        raise CheckError("a histogram needs at least two bin edges")
    inner = [ibis.literal(edge, type="float64") for edge in edges[1:-1]]
    if not inner:
        return [column.notnull()]
    conditions = [column < inner[0]]
    conditions += [(column >= low) & (column < high) for low, high in pairwise(inner)]
    conditions.append(column >= inner[-1])
    return conditions


def _allowed_values(name: str, dtype: Any, allowed: Sequence[Any]) -> list[Any]:
    if dtype.is_string():
        return [str(value) for value in allowed]
    if dtype.is_boolean():
        if not all(isinstance(value, bool) for value in allowed):
            raise CheckError(f"allowed values of boolean column '{name}' are true or false")
        return list(allowed)
    if dtype.is_numeric():
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in allowed):
            raise CheckError(f"allowed values of numeric column '{name}' are numbers")
        return list(allowed)
    raise CheckError(f"allowed needs a string, number or boolean column; '{name}' is {logical_type(dtype)}")


def logical_type(dtype: Any) -> str:
    """A column's type as contracts name it (string, integer, decimal, float, boolean, date, timestamp)."""
    named = profiling.column_type(dtype)
    return str(dtype) if named == "other" else named


def _kind_of_value(logical: str) -> str:
    return "number" if logical in profiling.NUMERIC else logical


def _int(value: Any) -> int:
    # A count over no rows can come back NULL.
    return 0 if value is None else int(value)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise CheckError(f"the newest value {value!r} is not a date or time")


def duration(lag: timedelta) -> str:
    """A duration as contracts write it, largest unit first: 1d 7h, 45m."""
    minutes = round(lag.total_seconds() / 60)
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return sign + (" ".join(parts) or "0m")


def _cause(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
