"""Where the gateway sends a request: the stage, the canary's sticky split, segment rules and the kill switch.

Pure: a route is computed from the in-memory ``RoutingState`` and the request alone, so the gateway's hot
path reads no database (DESIGN.md, "Storage and scale"). The primary is the version that answers today
(None before any model answered: the caller's own process); the candidate is the version under trial.

=============  ===================================================================================
stage          what a request meets
=============  ===================================================================================
off            no model: target ``none``, the caller's own process answers
shadow         the primary answers (``none`` without one); the candidate runs on the same request
               off the request path, so its agreement with the primary can be tracked
supervised     the primary answers (the candidate when there is no primary), held for human review
segment        as supervised, but ``after_model`` lets the segment rules release outputs unreviewed
canary         keys whose bucket is below the weight meet the candidate, the others the primary
full           the candidate answers everything (the primary once the candidate is promoted)
killed         whatever the stage: the fallback, a version (usually the previous one) or a static answer
=============  ===================================================================================

Canary assignment: a key is in the candidate arm when ``bucket(salt, key) < weight``. The bucket depends
on the salt and the key alone, so a caller meets the same version on every request (stickiness) and
raising the weight only adds keys (monotonicity); a new salt reshuffles everyone for a fresh trial. A
request without a key goes to the primary below weight 100: it cannot be assigned stickily, a random
draw would let one caller flip between versions, and the reason says so, so the share of unkeyed traffic
is visible in the inference log and stays out of the candidate's analysis window. The key itself is never
written into a reason, as it may be personal data (an account or an email address).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast, get_args

from phasegate.errors import InvalidInput, Problem

# A value as JSON holds it: what a static fallback answer, a model's input and output are made of.
JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

Stage = Literal["off", "shadow", "supervised", "segment", "canary", "full"]
Target = Literal["primary", "candidate", "fallback", "none"]
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
Then = Literal["autonomous", "review"]

STAGES: tuple[Stage, ...] = get_args(Stage)
OPS: tuple[Op, ...] = get_args(Op)
THENS: tuple[Then, ...] = get_args(Then)
ORDERING: frozenset[str] = frozenset({"<", "<=", ">", ">="})
# Ten thousand buckets: weights are honoured to a hundredth of a point and a bucket prints exactly.
BUCKETS = 10_000


class InvalidRoutingState(InvalidInput, ValueError):
    """A routing state no request could be routed by; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__("the routing state is not valid", [Problem(problem, field=field)])


class InvalidRules(InvalidInput, ValueError):
    """Segment rules that cannot be applied; each problem names the rule index and the field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("the segment rules are not valid", problems)


@dataclass(frozen=True)
class Fallback:
    """What answers while the kill switch is on: a version (usually the previous one) or a static answer."""

    version: str | None = None
    static: JSON = None  # the answer when there is no version; None is a null answer

    def __post_init__(self) -> None:
        if self.version is not None and self.static is not None:
            raise InvalidRoutingState("fallback", "give a version or a static answer, not both")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Fallback:
        """The stored form: ``{"version": id}``, ``{"static": answer}`` or ``{}`` (a null answer)."""
        data = data or {}
        unknown = sorted(set(data) - {"version", "static"})
        if unknown:
            raise InvalidRoutingState("fallback", f"unknown key '{unknown[0]}'; use 'version' or 'static'")
        version = data.get("version")
        if version is not None and not isinstance(version, str):
            raise InvalidRoutingState("fallback.version", "must be a version id (text)")
        return cls(version=version, static=data.get("static"))

    def describe(self, name: str | None = None) -> str:
        """What answers, in words for a route's reason; `name` is how people call the version."""
        if self.version is not None:
            return f"fallback version {name or self.version}"
        return "the static fallback answer"


@dataclass(frozen=True)
class Condition:
    """One test on a request: an input field (a dotted path) or the model's confidence, against a value."""

    field: str
    op: Op
    value: JSON
    source: Literal["input", "model"] = "input"

    def holds(self, inputs: Mapping[str, Any], confidence: float | None) -> bool:
        """Whether the request passes the test; a missing field or a value of another type never does."""
        if self.source == "model":
            if confidence is None or not math.isfinite(confidence):
                return False
            return _compare(confidence, self.op, self.value)
        found, actual = _lookup(inputs, self.field)
        return found and _compare(actual, self.op, self.value)

    def describe(self) -> str:
        """The test as written: ``amount < 1000``, ``confidence >= 0.9``, ``country in ['FR', 'DE']``."""
        return f"{self.field} {self.op.replace('_', ' ')} {self.value!r}"


@dataclass(frozen=True)
class SegmentRule:
    """Conditions that must all hold, and whether a request meeting them is autonomous or reviewed."""

    when: tuple[Condition, ...]
    then: Then
    name: str | None = None

    def matches(self, inputs: Mapping[str, Any], confidence: float | None) -> bool:
        """Whether every condition holds (a rule without conditions matches everything)."""
        return all(c.holds(inputs, confidence) for c in self.when)

    def describe(self) -> str:
        """The rule in words: its name and its conditions."""
        tests = " and ".join(c.describe() for c in self.when) or "always"
        return f"'{self.name}' ({tests})" if self.name else f"({tests})"


@dataclass(frozen=True)
class RoutingState:
    """One use case's routing, as the gateway holds it in memory between reloads."""

    usecase_id: str
    stage: Stage
    primary: str | None = None
    candidate: str | None = None
    weight: float = 0  # the candidate's share in canary, 0-100
    salt: str = ""
    killed: bool = False
    fallback: Fallback = Fallback()
    segment_rules: tuple[SegmentRule, ...] = ()
    counter: int = 0  # the store's reload counter this state was read at
    # How people call the versions (`name@version`), for the reasons; an id without one is given as is.
    names: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def name(self, version: str | None) -> str | None:
        """The version as the reasons give it."""
        return self.names.get(version, version) if version is not None else None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise InvalidRoutingState("stage", f"'{self.stage}' is not one of {', '.join(STAGES)}")
        if not (math.isfinite(self.weight) and 0 <= self.weight <= 100):
            raise InvalidRoutingState("weight", f"is {self.weight}; it must be from 0 to 100")
        if self.counter < 0:
            raise InvalidRoutingState("counter", f"is {self.counter}; it must be 0 or more")
        if self.stage in ("shadow", "canary") and self.candidate is None:
            raise InvalidRoutingState("candidate", f"{self.stage} needs a candidate version")
        answerable = self.primary is not None or self.candidate is not None
        if self.stage in ("supervised", "segment", "full") and not answerable:
            raise InvalidRoutingState("primary", f"{self.stage} needs a version to answer")
        if self.candidate is not None and self.candidate == self.primary:
            raise InvalidRoutingState("candidate", "is the primary itself; there would be nothing to compare")


@dataclass(frozen=True)
class Route:
    """Where one request goes, and the sentence the inference log keeps about why."""

    target: Target
    version: str | None  # the version to call; None for a static fallback or no model
    shadow_candidate: bool = False  # also run the candidate, off the request path
    hold_for_review: bool = False
    reason: str = ""


def bucket(salt: str, key: str) -> float:
    """The key's place in [0, 100): SHA-256 of the salt and key, so uniform and stable across processes."""
    # The salt's length goes first so that ("ab", "c") and ("a", "bc") cannot collide.
    digest = hashlib.sha256(f"{len(salt)}:{salt}:{key}".encode()).digest()
    # 2**64 is not a multiple of 10,000; the bias this leaves is below 1e-15.
    return int.from_bytes(digest[:8], "big") % BUCKETS / (BUCKETS / 100)


def in_candidate(state: RoutingState, key: str) -> bool:
    """Whether a key meets the candidate at the state's weight."""
    return bucket(state.salt, key) < state.weight


def route(state: RoutingState, key: str | None) -> Route:
    """Where a request goes under the state's stage (see the module's table); killed goes to the fallback."""
    if state.killed:
        fallback = state.fallback
        answers = fallback.describe(state.name(fallback.version))
        return Route("fallback", fallback.version, reason=f"killed: {answers} answers")
    if state.stage == "off":
        return Route("none", None, reason="off: no model answers this use case")
    if state.stage == "shadow":
        target, version = _primary(state)
        answers = f"primary {state.name(version)}" if version else "no model (no primary)"
        off_path = f"candidate {state.name(state.candidate)} runs off the request path"
        return Route(target, version, shadow_candidate=True, reason=f"shadow: {answers} answers; {off_path}")
    if state.stage == "canary":
        return _canary(state, key)
    if state.stage == "full":
        target, version = ("candidate", state.candidate) if state.candidate else ("primary", state.primary)
        return Route(target, version, reason=f"full: {target} {state.name(version)} answers every request")
    target, version = ("primary", state.primary) if state.primary else ("candidate", state.candidate)
    who = f"{target} {state.name(version)}"
    if state.stage == "supervised":
        return Route(
            target, version, hold_for_review=True, reason=f"supervised: {who} answers, held for review"
        )
    return Route(target, version, reason=f"segment: {who} answers; segment rules decide review")


def _primary(state: RoutingState) -> tuple[Target, str | None]:
    return ("primary", state.primary) if state.primary else ("none", None)


def _canary(state: RoutingState, key: str | None) -> Route:
    weight = f"{state.weight:g}"
    if key is None and state.weight >= 100:
        reason = "canary: no key; weight 100 sends everyone to the candidate"
        return Route("candidate", state.candidate, reason=reason)
    if key is None:
        target, version = _primary(state)
        return Route(
            target, version, reason=f"canary: no key, so no sticky assignment; {_who(state, target, version)}"
        )
    place = bucket(state.salt, key)
    if place < state.weight:
        return Route("candidate", state.candidate, reason=f"canary: key bucket {place:.2f} < weight {weight}")
    target, version = _primary(state)
    reason = f"canary: key bucket {place:.2f} >= weight {weight}; {_who(state, target, version)}"
    return Route(target, version, reason=reason)


def _who(state: RoutingState, target: Target, version: str | None) -> str:
    if target == "primary":
        return f"primary {state.name(version)} answers"
    return "no primary, so no model answers"


def after_model(state: RoutingState, inputs: Mapping[str, Any], confidence: float | None) -> tuple[bool, str]:
    """Whether to hold an output for review, and why: in segment, the first matching rule decides.

    When no rule matches, the output is held: autonomy must be granted by a rule, never assumed.
    Other stages: supervised holds everything, the rest release everything (a killed state's fallback
    answer included, as it is the known-good answer).
    """
    if state.killed:
        return False, "killed: the fallback answer is released without review"
    if state.stage == "supervised":
        return True, "supervised: every output is held for review"
    if state.stage != "segment":
        return False, f"{state.stage}: released without review"
    for index, rule in enumerate(state.segment_rules):
        if rule.matches(inputs, confidence):
            verdict = "held for review" if rule.then == "review" else "released without review"
            return rule.then == "review", f"segment: rule {index} {rule.describe()} matched; {verdict}"
    return True, "segment: no rule matched, so held for review (the default)"


def _lookup(inputs: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = inputs
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    # JSON keeps true and 1 apart; Python's == does not.
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def _compare(actual: Any, op: Op, expected: Any) -> bool:
    if op == "==":
        return _same(actual, expected)
    if op == "!=":
        return not _same(actual, expected)
    if op in ("in", "not_in"):
        inside = any(_same(actual, e) for e in expected)
        return inside if op == "in" else not inside
    # Ordering only between numbers or between strings: "9" < 10 is no evidence of anything.
    numbers = _number(actual) and _number(expected)
    if not (numbers or (isinstance(actual, str) and isinstance(expected, str))):
        return False
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    if op == ">":
        return bool(actual > expected)
    return bool(actual >= expected)


# Parsing the stored form.
#
#   - name: small invoices the model is sure of      # optional
#     when:                                          # all must hold; a single condition may stand alone
#       - {input: amount, op: "<", value: 1000}      # a dotted path into the request's inputs
#       - {input: country, op: in, value: [FR, DE]}
#       - {model: confidence, op: ">=", value: 0.9}
#     then: autonomous                               # or review

RULE_KEYS = frozenset({"name", "when", "then"})
CONDITION_KEYS = frozenset({"input", "model", "op", "value"})


def parse_rules(data: Sequence[Mapping[str, Any]] | None) -> list[SegmentRule]:
    """Segment rules from their stored form (see above); InvalidRules names every rule and field at fault."""
    if data is None:
        return []
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise InvalidRules([Problem("must be a list of rules", field="rules")])
    problems: list[Problem] = []
    rules = [_rule(i, item, problems) for i, item in enumerate(data)]
    if problems:
        raise InvalidRules(problems)
    return [r for r in rules if r is not None]


def _rule(index: int, item: Any, problems: list[Problem]) -> SegmentRule | None:
    where = f"rules[{index}]"
    if not isinstance(item, Mapping):
        problems.append(Problem(f"rule {index} must be a mapping with 'when' and 'then'", field=where))
        return None
    start = len(problems)
    for key in sorted(set(item) - RULE_KEYS):
        problems.append(Problem(f"rule {index} has an unknown key '{key}'", field=f"{where}.{key}"))
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        problems.append(Problem(f"rule {index}: the name must be text", field=f"{where}.name"))
    then = item.get("then")
    if then not in THENS:
        problems.append(
            Problem(
                f"rule {index}: then is {then!r}; it must be one of {', '.join(THENS)}", field=f"{where}.then"
            )
        )
    when = item.get("when", [])
    if isinstance(when, Mapping):
        when = [when]
    if isinstance(when, str) or not isinstance(when, Sequence):
        problems.append(Problem(f"rule {index}: when must be a list of conditions", field=f"{where}.when"))
        when = []
    conditions = [_condition(index, j, c, problems) for j, c in enumerate(when)]
    if len(problems) > start or then not in THENS:
        return None
    return SegmentRule(tuple(c for c in conditions if c is not None), cast(Then, then), name)


def _condition(index: int, position: int, item: Any, problems: list[Problem]) -> Condition | None:
    where = f"rules[{index}].when[{position}]"

    def problem(message: str, key: str) -> None:
        problems.append(Problem(f"rule {index}, condition {position}: {message}", field=f"{where}.{key}"))

    if not isinstance(item, Mapping):
        problems.append(Problem(f"rule {index}, condition {position} must be a mapping", field=where))
        return None
    start = len(problems)
    for key in sorted(set(item) - CONDITION_KEYS):
        problem(f"unknown key '{key}'", key)
    source: Literal["input", "model"] = "model" if "model" in item else "input"
    field = item.get(source)
    if ("input" in item) == ("model" in item):
        problem("name exactly one of 'input' (a field of the request) or 'model' (confidence)", "input")
    elif source == "model" and field != "confidence":
        problem(f"model is {field!r}; the only model value a rule can read is 'confidence'", "model")
    elif not isinstance(field, str) or not field or "" in field.split("."):
        problem(f"input is {field!r}; it must be a field or a dotted path such as customer.country", "input")
    op = item.get("op")
    value: Any = item.get("value")
    if op not in OPS:
        problem(f"op is {op!r}; it must be one of {', '.join(OPS)}", "op")
    elif "value" not in item:
        problem("has no value to compare with", "value")
    elif op in ("in", "not_in"):
        if isinstance(value, str) or not isinstance(value, Sequence) or not all(_scalar(v) for v in value):
            problem(f"{op} needs a list of numbers, text, true/false or null; got {value!r}", "value")
    elif op in ORDERING and not (_scalar(value) and (_number(value) or isinstance(value, str))):
        problem(f"{op} needs a number or text; got {value!r}", "value")
    elif not _scalar(value):
        problem(f"{op} needs a number, text, true/false or null; got {value!r}", "value")
    if source == "model" and len(problems) == start:
        values = value if op in ("in", "not_in") else [value]
        if not all(_number(v) for v in values):
            problem(f"confidence is a number, so it is compared with numbers; got {value!r}", "value")
    if len(problems) > start:
        return None
    return Condition(str(field), cast(Op, op), list(value) if op in ("in", "not_in") else value, source)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or (_number(value) and math.isfinite(value))
