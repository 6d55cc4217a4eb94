"""A data contract as a document (`kind: DataContract`): what a source's data must look like.

Checked where the data lives by `checking.run_contract`; written as YAML next to the pipeline, so a
team's CI fails when the data breaks it. Its row rules are SQL conditions in a small language
(`compile_rule`), rebuilt as Ibis expressions so each engine runs them in its own dialect.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import sqlglot
import sqlglot.errors
import sqlglot.expressions as exp
from pydantic import Field, ValidationError, field_validator, model_validator

from phasegate.data.schemas import SOURCE_ID, Classification, parse_lag
from phasegate.errors import InvalidInput
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import Strict

ColumnType = Literal["string", "integer", "decimal", "float", "boolean", "date", "timestamp"]
# Examples of these columns are masked in reports and CI logs.
MASKED_CLASSIFICATIONS: frozenset[str] = frozenset({"confidential", "restricted"})
REFERENCE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,79})\.([^.\s]+)$")
SNAPSHOT = re.compile(r"^snapshot:\S+$")

Bound = int | float


class Freshness(Strict):
    """The newest value of a timestamp column is at most max_lag old."""

    column: str = Field(min_length=1)
    max_lag: str = Field(description="90m, 26h, 3d or 2w")

    @field_validator("max_lag")
    @classmethod
    def _lag(cls, value: str) -> str:
        parse_lag(value)
        return value

    @property
    def lag(self) -> timedelta:
        """max_lag as a duration."""
        return parse_lag(self.max_lag)


class ColumnRule(Strict):
    """What one column must satisfy; every field is optional."""

    type: ColumnType | None = None
    not_null: bool = False
    max_null_rate: float | None = Field(None, ge=0, le=1, description="share of rows that may be null")
    unique: bool = False
    min: Bound | None = None
    max: Bound | None = None
    allowed: list[str | int | float | bool] | None = Field(None, min_length=1)
    pattern: str | None = Field(None, description="a regular expression each non-null value contains")
    references: str | None = Field(None, description="source.column whose values this column must be in")
    classification: Classification | None = None
    pii: bool = False

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("references")
    @classmethod
    def _references(cls, value: str | None) -> str | None:
        if value is not None and not REFERENCE.match(value):
            raise ValueError("write SOURCE.COLUMN, e.g. suppliers.supplier_id")
        return value

    @model_validator(mode="after")
    def _range(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    @property
    def masked(self) -> bool:
        """Whether example values of this column are hidden."""
        return self.pii or self.classification in MASKED_CLASSIFICATIONS


class RowRule(Strict):
    """A condition every row should meet, written in SQL, with the share of rows allowed to fail."""

    name: str = Field(min_length=1, max_length=200)
    expression: str = Field(
        min_length=1, description="e.g. abs(total_amount - net_amount - tax_amount) <= 0.01"
    )
    max_failure_rate: float = Field(0.0, ge=0, le=1)


class Distribution(Strict):
    """Drift against a stored profile: the population stability index of each numeric column."""

    baseline: str = Field(description="snapshot:ID or snapshot:LABEL (e.g. snapshot:2026-09-30)")
    max_psi: float = Field(0.2, gt=0)
    columns: list[str] | None = Field(
        None, min_length=1, description="default: every column with a histogram"
    )

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: str) -> str:
        if not SNAPSHOT.match(value):
            raise ValueError("write snapshot:ID or snapshot:LABEL, e.g. snapshot:2026-09-30")
        return value

    @property
    def snapshot(self) -> str:
        """The snapshot's id or label, without the prefix."""
        return self.baseline.removeprefix("snapshot:")


class ContractSpec(Strict):
    """A data contract for one catalog source."""

    kind: Literal["DataContract"] = "DataContract"
    id: str
    source: str = Field(description="the catalog source id the contract is checked against")
    description: str | None = None
    freshness: Freshness | None = None
    columns: dict[str, ColumnRule] = Field(default_factory=dict)
    rules: list[RowRule] = Field(default_factory=list)
    distribution: Distribution | None = None

    @field_validator("id", "source")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError("must be 1-80 lower-case letters, digits, hyphens or underscores")
        return value

    @field_validator("rules")
    @classmethod
    def _distinct_rule_names(cls, rules: list[RowRule]) -> list[RowRule]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must differ; repeated: {', '.join(repeated)}")
        return rules

    def document(self) -> dict[str, Any]:
        """The canonical form: what is stored and compared; defaults left out."""
        dumped: dict[str, Any] = self.model_dump(mode="json", exclude_defaults=True)
        return {"kind": self.kind, **dumped}

    @property
    def masked_columns(self) -> frozenset[str]:
        """Columns whose example values are hidden (pii, confidential or restricted)."""
        return frozenset(name for name, rule in self.columns.items() if rule.masked)


def parse_contract(document: dict[str, Any], *, file: str | None = None) -> ContractSpec:
    """A validated contract, or InvalidInput naming every bad field by its dotted path."""
    try:
        return ContractSpec.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            "the data contract is not valid", portfolio_service.problems_from(exc, file=file)
        ) from exc


# The rule language: a SQL condition over one row, parsed by sqlglot and rebuilt as an Ibis
# expression node by node, so only what is listed here can run (nothing is evaluated as Python
# or passed to the engine as text).

RULE_LANGUAGE = (
    "columns, numbers, 'strings', + - * /, = <> < <= > >=, AND, OR, NOT, abs(), coalesce(), lower(), "
    "upper(), IS [NOT] NULL, [NOT] IN (...), [NOT] LIKE, BETWEEN"
)


class RuleError(Exception):
    """A rule that cannot run: it does not parse, names no such column or goes beyond the language."""


def compile_rule(
    expression: str, table: ir.Table, *, value: Callable[[str], ir.Value] | None = None
) -> tuple[ir.BooleanValue, tuple[str, ...]]:
    """A rule's expression as an Ibis condition over the table, and the columns it reads.

    value reads a column (by default ``table[name]``), e.g. with NaN taken as missing.
    """
    try:
        tree = sqlglot.parse_one(expression)
    except sqlglot.errors.ParseError as exc:
        problem = exc.errors[0] if exc.errors else {}
        where = f" (column {problem['col']})" if problem.get("col") else ""
        raise RuleError(f"cannot parse the expression: {problem.get('description', exc)}{where}") from None
    except sqlglot.errors.SqlglotError as exc:  # e.g. an unterminated string, found by the tokenizer
        raise RuleError(f"cannot parse the expression: {_first_line(exc)}") from None
    used: list[str] = []
    condition = _rebuild(tree, _Columns(table, value or table.__getitem__, used))
    if not isinstance(condition, ir.BooleanValue):
        raise RuleError(f"'{expression}' is not a condition: it must be true or false for each row")
    return condition, tuple(dict.fromkeys(used))


_OPERATORS: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
    exp.And: operator.and_,
    exp.Or: operator.or_,
}


@dataclass
class _Columns:
    """The columns a rule may read, and those it has read."""

    table: ir.Table
    value: Callable[[str], ir.Value]
    used: list[str]

    def __call__(self, node: exp.Column) -> ir.Value:
        if node.table:
            raise RuleError(f"write column names alone, not '{node.sql()}'")
        name, columns = node.name, self.table.columns
        if name not in columns and not node.this.quoted:
            # Unquoted names match whatever their case, as in SQL.
            folded = [c for c in columns if c.lower() == name.lower()]
            name = folded[0] if len(folded) == 1 else name
        if name not in columns:
            raise RuleError(f"no column '{node.name}' in source (columns: {', '.join(columns)})")
        self.used.append(name)
        return self.value(name)


def _rebuild(node: exp.Expression, columns: _Columns) -> Any:
    def again(child: exp.Expression) -> Any:
        return _rebuild(child, columns)

    if isinstance(node, exp.Paren):
        return again(node.this)
    if isinstance(node, exp.Column):
        return columns(node)
    if isinstance(node, exp.Literal):
        return ibis.literal(node.this if node.is_string else _number(node.this))
    if isinstance(node, exp.Boolean):
        return ibis.literal(bool(node.this))
    if isinstance(node, exp.Null):
        return ibis.null()
    try:
        if type(node) in _OPERATORS:
            return _OPERATORS[type(node)](again(node.this), again(node.expression))
        if isinstance(node, exp.Div):
            # x / 0 is null, as DuckDB and SQLite say, rather than an error on PostgreSQL and Spark.
            return again(node.this) / again(node.expression).nullif(0)
        if isinstance(node, exp.Neg):
            return -again(node.this)
        if isinstance(node, exp.Not):
            return ~again(node.this)
        if isinstance(node, exp.Abs):
            return again(node.this).abs()
        if isinstance(node, exp.Lower):
            return again(node.this).lower()
        if isinstance(node, exp.Upper):
            return again(node.this).upper()
        if isinstance(node, exp.Coalesce):
            return ibis.coalesce(again(node.this), *(again(e) for e in node.expressions))
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            return again(node.this).isnull()
        if isinstance(node, exp.In) and node.expressions and not node.args.get("query"):
            return again(node.this).isin([again(e) for e in node.expressions])
        if isinstance(node, exp.Like) and isinstance(node.expression, exp.Literal):
            like = again(node.this).like(node.expression.this)
            return ~like if node.args.get("negate") else like
        if isinstance(node, exp.Between):
            return again(node.this).between(again(node.args["low"]), again(node.args["high"]))
    except RuleError:
        raise
    except Exception as exc:  # Ibis refuses mixed types, e.g. a string plus a number
        raise RuleError(f"'{node.sql()}' does not fit the columns' types: {_first_line(exc)}") from None
    if isinstance(node, exp.Func):
        function = node.name if isinstance(node, exp.Anonymous) else str(node.sql_name())  # type: ignore[no-untyped-call]
        raise RuleError(f"function {function.lower()}() is not allowed in rules; use {RULE_LANGUAGE}")
    raise RuleError(f"'{node.sql()[:80]}' is not allowed in rules; use {RULE_LANGUAGE}")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
