"""Gates decided on evidence, as pure functions: freeze the criteria, then evaluate them.

Criteria are frozen (canonical JSON and its SHA-256) when a phase starts, so anyone can later
prove the thresholds were set before the results were seen. Evaluation reads only what it is
given, so the same inputs always give the same verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from phasegate.identity.chain import canonical
from phasegate.identity.roles import Role, parse_role
from phasegate.lifecycle.playbooks import (
    ORDERING_OPS,
    CriterionKind,
    CriterionSpec,
    Op,
    parse_criteria,
    shown,
)

Status = Literal["pass", "fail", "missing"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "missing")


@dataclass(frozen=True)
class FrozenCriteria:
    """A gate's criteria as the one canonical JSON text, and its SHA-256."""

    text: str
    sha256: str


@dataclass(frozen=True)
class EvidenceView:
    """The part of an evidence record a gate reads."""

    id: str
    kind: str
    created_at: datetime
    payload: Mapping[str, Any]
    sha256: str


@dataclass(frozen=True)
class ApprovalView:
    """A sign-off (approved) or refusal (not approved) of one criterion, for one version of the gate."""

    criterion_index: int
    role: str
    by: str
    approved: bool
    reason: str
    at: datetime
    criteria_version: int


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's verdict, with what was observed, against what, from which evidence, and why."""

    index: int
    label: str
    kind: CriterionKind
    status: Status
    observed: Any
    threshold: Any
    evidence_id: str | None
    reason: str


@dataclass(frozen=True)
class GateResult:
    """Every criterion's verdict; the gate passes only when every one of them does."""

    results: tuple[CriterionResult, ...]
    passed: bool
    counts: Mapping[Status, int]


class Missing:
    """What a metric path that leads nowhere resolves to."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()


def _plain(value: Any) -> Any:
    """Whole floats written as integers, so ``value: 1`` and ``value: 1.0`` freeze alike."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def freeze(criteria: Sequence[CriterionSpec]) -> FrozenCriteria:
    """The criteria's canonical JSON (sorted keys, no spaces) and its SHA-256 hex digest."""
    text = canonical(_plain([c.document() for c in criteria]))
    return FrozenCriteria(text=text, sha256=hashlib.sha256(text.encode()).hexdigest())


def thaw(text: str) -> list[CriterionSpec]:
    """The criteria back from their frozen text."""
    return parse_criteria(json.loads(text))


def metric_at(payload: Any, path: str) -> Any:
    """The value at a dotted path through mappings (and lists, by digit), or MISSING."""
    value = payload
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list | tuple) else "an object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def compare(observed: Any, op: Op, threshold: Any) -> tuple[bool, str]:
    """Whether ``observed op threshold`` holds, and why not when it cannot be tested."""
    if _is_number(observed) and math.isnan(observed):
        return False, "the observed value is NaN, not a number"
    if op in ORDERING_OPS:
        if not _is_number(observed):
            return False, f"{shown(observed)} is {_type_of(observed)}, not a number: '{op}' cannot test it"
    elif _type_of(observed) != _type_of(threshold):
        return False, (
            f"{shown(observed)} is {_type_of(observed)} and {shown(threshold)} is {_type_of(threshold)}: "
            f"'{op}' cannot compare them"
        )
    holds = bool(OPERATORS[op](observed, threshold))
    verdict = (
        f"{shown(observed)} {op} {shown(threshold)}"
        if holds
        else f"{shown(observed)} is not {op} {shown(threshold)}"
    )
    return holds, verdict


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; phasegate stores UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _age(age: timedelta, limit_days: int) -> str:
    days = age.total_seconds() / 86400
    text = f"{days:.1f} days"
    # Just past the limit, one decimal would read as the limit itself.
    return str(age) if days > limit_days and f"{days:.1f}" == f"{float(limit_days):.1f}" else text


def _stale(criterion: CriterionSpec, item: EvidenceView, now: datetime) -> str | None:
    """Why the evidence is too old for the criterion, or None when it is fresh enough."""
    if criterion.max_age_days is None:
        return None
    age = now - _utc(item.created_at)
    if age <= timedelta(days=criterion.max_age_days):
        return None
    return (
        f"the newest {item.kind} ({item.id}) is {_age(age, criterion.max_age_days)} old, "
        f"older than the {criterion.max_age_days}-day limit"
    )


def _newest(evidence: Sequence[EvidenceView]) -> dict[str, EvidenceView]:
    """The newest record of each kind; ties broken by id so the input's order never matters."""
    newest: dict[str, EvidenceView] = {}
    for item in evidence:
        current = newest.get(item.kind)
        if current is None or (_utc(item.created_at), item.id, item.sha256) > (
            _utc(current.created_at),
            current.id,
            current.sha256,
        ):
            newest[item.kind] = item
    return newest


def _evidence_result(
    index: int, criterion: CriterionSpec, item: EvidenceView | None, now: datetime
) -> CriterionResult:
    require = criterion.require
    threshold = require.value if require is not None else criterion.max_age_days

    def result(status: Status, observed: Any, reason: str) -> CriterionResult:
        evidence_id = item.id if item is not None else None
        return CriterionResult(
            index, criterion.label, criterion.kind, status, observed, threshold, evidence_id, reason
        )

    if item is None:
        return result("missing", None, f"no {criterion.evidence} evidence yet")
    age_days = round((now - _utc(item.created_at)).total_seconds() / 86400, 2)
    observed = metric_at(item.payload, require.metric) if require is not None else age_days
    stale = _stale(criterion, item, now)
    if stale is not None:
        return result("fail", None if observed is MISSING else observed, stale)
    if require is None:
        limit = f" (limit {criterion.max_age_days} days)" if criterion.max_age_days else ""
        return result("pass", observed, f"{item.kind} {item.id} is {age_days} days old{limit}")
    if observed is MISSING:
        return result("missing", None, f"no metric '{require.metric}' in evidence {item.id}")
    if observed is None:
        return result("missing", None, f"metric '{require.metric}' is null in evidence {item.id}")
    if isinstance(observed, Mapping | list | tuple):
        return result(
            "fail",
            observed,
            f"metric '{require.metric}' in evidence {item.id} is {_type_of(observed)}, not a value",
        )
    holds, verdict = compare(observed, require.op, require.value)
    return result("pass" if holds else "fail", observed, f"{require.metric}: {verdict} (evidence {item.id})")


def _role_of(text: str) -> Role | None:
    try:
        return parse_role(text)
    except ValueError:
        return None


def _approval_result(
    index: int, criterion: CriterionSpec, approvals: Sequence[ApprovalView], criteria_version: int
) -> CriterionResult:
    role = criterion.role
    assert role is not None  # an approval criterion always names its role
    mine = [a for a in approvals if a.criterion_index == index and _role_of(a.role) == role]
    current = [a for a in mine if a.criteria_version == criteria_version]

    def result(status: Status, observed: Any, reason: str) -> CriterionResult:
        return CriterionResult(index, criterion.label, "approval", status, observed, role.value, None, reason)

    if not current:
        reason = f"no sign-off by {role.value} yet"
        older = sorted({a.criteria_version for a in mine})
        if older:
            versions = ", ".join(str(v) for v in older)
            reason += (
                f"; sign-offs of criteria version {versions} do not count: the criteria are now "
                f"version {criteria_version}, so they need a new sign-off"
            )
        return result("missing", None, reason)
    # On a tie, the refusal wins: a gate should not pass on a coin toss between two sign-offs.
    latest = max(current, key=lambda a: (_utc(a.at), not a.approved, a.by, a.reason))
    verb = "approved" if latest.approved else "rejected"
    because = f": {latest.reason}" if latest.reason else ""
    reason = f"{verb} by {latest.by} ({role.value}) on {_utc(latest.at):%Y-%m-%d %H:%M} UTC{because}"
    return result("pass" if latest.approved else "fail", verb, reason)


def evaluate(
    criteria: Sequence[CriterionSpec],
    *,
    evidence: Sequence[EvidenceView],
    approvals: Sequence[ApprovalView],
    now: datetime,
    criteria_version: int,
) -> GateResult:
    """Each criterion (numbered from 1) judged on the newest evidence and current sign-offs."""
    now = _utc(now)
    newest = _newest(evidence)
    results = tuple(
        _approval_result(index, criterion, approvals, criteria_version)
        if criterion.kind == "approval"
        else _evidence_result(index, criterion, newest.get(criterion.evidence or ""), now)
        for index, criterion in enumerate(criteria, start=1)
    )
    counts: dict[Status, int] = {status: sum(r.status == status for r in results) for status in STATUSES}
    return GateResult(results=results, passed=all(r.status == "pass" for r in results), counts=counts)
