"""Playbooks as documents: ordered phases, their activities and deliverables, and each phase's gate.

The built-in playbooks are YAML files in ``builtin/`` read through this same schema, so a
built-in playbook and an organisation's own can never disagree on what a playbook is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from phasegate.errors import InvalidInput, Problem
from phasegate.identity.roles import OWNER_FIELD_ROLES, Role, parse_role
from phasegate.portfolio.schemas import SLUG, Strict

# Evidence kinds are named by the part that produces them: ``data.audit``, ``evaluation.load``.
EVIDENCE_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
METRIC_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")

Op = Literal[">=", ">", "<=", "<", "==", "!="]
ORDERING_OPS = frozenset({">=", ">", "<=", "<"})
CriterionKind = Literal["metric", "presence", "approval"]
Threshold = StrictBool | StrictInt | StrictFloat | StrictStr

# Shown in this order when a program lead lists them.
BUILTIN_IDS = ("four-phase", "five-phase", "six-phase", "ninety-day")

# A playbook's shares are written to two decimals; the tolerance absorbs float addition only.
EFFORT_TOLERANCE = 1e-9

_OWNER_FIELD_OF = {role: owner_field for owner_field, role in OWNER_FIELD_ROLES.items()}


def role_name(text: str) -> str:
    """A role as playbooks write it: the owner field (``risk``) where one exists, else the role name."""
    role = parse_role(text)
    return _OWNER_FIELD_OF.get(role, role.value)


def shown(value: Any) -> str:
    """A threshold or observed value as a reader expects it: ``0.85``, ``true``, ``"ok"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if isinstance(value, float) else str(value)


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            "must be a slug: 1-80 lower-case letters, digits and hyphens, starting with a letter or digit"
        )
    return value


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class Requirement(Strict):
    """A metric of the evidence, compared with a threshold: ``metrics.precision.ci_low >= 0.85``."""

    metric: str = Field(description="a dotted path into the evidence payload; digits index lists")
    op: Op
    value: Threshold

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not METRIC_PATH.match(value):
            raise ValueError("must be a dotted path of field names, like metrics.precision.ci_low")
        return value

    @model_validator(mode="after")
    def _comparable(self) -> Requirement:
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"value must be a finite number, not {self.value}")
        if self.op in ORDERING_OPS and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(
                f"'{self.op}' compares numbers, but the value {shown(self.value)} is not a number"
            )
        return self

    def text(self) -> str:
        """The requirement as one would write it: ``gaps.blockers == 0``."""
        return f"{self.metric} {self.op} {shown(self.value)}"


class CriterionSpec(Strict):
    """One criterion of a gate: a metric of evidence, evidence present and fresh, or a role's sign-off."""

    evidence: str | None = Field(None, description="the evidence kind read, like data.audit")
    require: Requirement | None = Field(None, description="the metric test; without it, presence is enough")
    max_age_days: int | None = Field(None, ge=1, description="evidence older than this fails the criterion")
    approval: str | None = Field(None, description="the role that signs off: use_case, technical, risk, ...")
    name: str | None = Field(None, description="a label for people; derived from the criterion when absent")
    description: str | None = Field(None, description="why the criterion is there")

    @field_validator("evidence")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and not EVIDENCE_KIND.match(value):
            raise ValueError("must be dotted lower-case words naming the producer and what, like data.audit")
        return value

    @field_validator("approval")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if parse_role(value) is Role.viewer:
            raise ValueError("a viewer cannot sign off; name a role that owns part of the use case")
        return role_name(value)

    @field_validator("name", "description")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else _text(value)

    @model_validator(mode="after")
    def _one_form(self) -> CriterionSpec:
        if self.evidence is not None and self.approval is not None:
            raise ValueError(
                "a criterion is either 'evidence: KIND' (a metric or presence check) or 'approval: ROLE' "
                "(a sign-off), not both; write them as two criteria"
            )
        if self.evidence is None and self.approval is None:
            raise ValueError("a criterion needs 'evidence: KIND' or 'approval: ROLE'")
        if self.approval is not None and (self.require is not None or self.max_age_days is not None):
            raise ValueError("'require' and 'max_age_days' go with 'evidence', not with 'approval'")
        return self

    @property
    def kind(self) -> CriterionKind:
        """Which of the three forms this criterion takes."""
        if self.approval is not None:
            return "approval"
        return "metric" if self.require is not None else "presence"

    @property
    def role(self) -> Role | None:
        """The role whose sign-off an approval criterion needs."""
        return None if self.approval is None else parse_role(self.approval)

    @property
    def label(self) -> str:
        """The name, or one derived: ``data.audit: gaps.blockers == 0 (no older than 14 days)``."""
        if self.name:
            return self.name
        if self.role is not None:
            return f"approval by {self.role.value}"
        age = f" (no older than {self.max_age_days} days)" if self.max_age_days else ""
        if self.require is not None:
            return f"{self.evidence}: {self.require.text()}{age}"
        return f"{self.evidence} present{age}"

    def document(self) -> dict[str, Any]:
        """The canonical form: what is frozen, hashed and exported; unset fields left out."""
        document: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return document


class GateSpec(Strict):
    """The gate at a phase's end: every criterion must pass to go on."""

    criteria: list[CriterionSpec] = Field(default_factory=list)


class ActivitySpec(Strict):
    """Work expected in a phase; written as its name alone, or with the details below."""

    name: str
    days: int | None = Field(None, gt=0, description="recommended calendar days")
    effort_hours: float | None = Field(None, ge=0)
    owner_role: str | None = Field(None, description="the role that usually owns it")
    depends_on: list[str] = Field(default_factory=list, description="names of activities in this playbook")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _text(value)

    @field_validator("owner_role")
    @classmethod
    def _owner_role(cls, value: str | None) -> str | None:
        return None if value is None else role_name(value)


class PhaseSpec(Strict):
    """One phase: why it exists, what is done in it, what it delivers, and the gate at its end."""

    id: str = Field(description="a slug, unique in the playbook")
    name: str = Field(min_length=1, max_length=200)
    objective: str | None = None
    days: int = Field(gt=0, description="recommended duration; for a continuous phase, its review cadence")
    duration_note: str | None = Field(None, description="the range behind the days, like '4–8 weeks'")
    continuous: bool = Field(False, description="the phase never ends, like operations")
    effort_share: float | None = Field(None, ge=0, le=1, description="share of the use case's total effort")
    activities: list[ActivitySpec] = Field(default_factory=list)
    deliverables: list[str] = Field(default_factory=list)
    gate: GateSpec = Field(default_factory=GateSpec)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _slug(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _text(value)


_CRITERIA = TypeAdapter(list[CriterionSpec])


class PlaybookInconsistent(ValueError):
    """Parts of a playbook that are each valid but do not fit together; each problem names its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class PlaybookSpec(Strict):
    """A path from idea to production: ordered phases, each ending at a gate."""

    kind: Literal["Playbook"] = "Playbook"
    id: str = Field(description="a slug: lower-case letters, digits and hyphens")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    phases: list[PhaseSpec] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _slug(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _text(value)

    @model_validator(mode="after")
    def _consistent(self) -> PlaybookSpec:
        problems = consistency_problems(self)
        if problems:
            raise PlaybookInconsistent(problems)
        return self

    def phase(self, phase_id: str) -> PhaseSpec | None:
        """The phase with this id, if the playbook has one."""
        return next((p for p in self.phases if p.id == phase_id), None)

    def document(self) -> dict[str, Any]:
        """The canonical form: defaults left out, an activity with only a name written as that name."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_defaults=True)
        for phase in body["phases"]:
            if "activities" in phase:
                phase["activities"] = [a["name"] if set(a) == {"name"} else a for a in phase["activities"]]
        return {"kind": self.kind, **body}


def consistency_problems(playbook: PlaybookSpec) -> list[Problem]:
    """What does not fit together: repeated ids and names, unknown or circular dependencies, effort over 1."""
    problems: list[Problem] = []
    seen_phases: dict[str, int] = {}
    for i, phase in enumerate(playbook.phases):
        if phase.id in seen_phases:
            problems.append(
                Problem(
                    f"phase id '{phase.id}' is already used at phases.{seen_phases[phase.id]}",
                    f"phases.{i}.id",
                )
            )
        seen_phases.setdefault(phase.id, i)

    shares = [p.effort_share for p in playbook.phases if p.effort_share is not None]
    total = math.fsum(shares)
    if total > 1 + EFFORT_TOLERANCE:
        parts = ", ".join(f"{p.id} {p.effort_share}" for p in playbook.phases if p.effort_share is not None)
        problems.append(Problem(f"effort shares sum to {round(total, 6)}, more than 1 ({parts})", "phases"))

    located: dict[str, str] = {}
    for i, phase in enumerate(playbook.phases):
        for j, activity in enumerate(phase.activities):
            where = f"phases.{i}.activities.{j}"
            if activity.name in located:
                problems.append(
                    Problem(
                        f"activity '{activity.name}' is already at {located[activity.name]}; "
                        "names must be unique in a playbook so dependencies can name them",
                        f"{where}.name",
                    )
                )
            located.setdefault(activity.name, where)
    for i, phase in enumerate(playbook.phases):
        for j, activity in enumerate(phase.activities):
            for k, name in enumerate(activity.depends_on):
                if name not in located:
                    problems.append(
                        Problem(
                            f"no activity named '{name}' in this playbook"
                            + _comma_hint(activity.depends_on, k, located),
                            f"phases.{i}.activities.{j}.depends_on.{k}",
                        )
                    )
    cycle = _dependency_cycle(playbook)
    if cycle:
        problems.append(
            Problem(
                "activities depend on each other in a circle: " + " → ".join(cycle),
                located[cycle[0]] + ".depends_on",
            )
        )
    return problems


def _comma_hint(names: list[str], k: int, known: Mapping[str, str]) -> str:
    """A hint when YAML split one name at its commas: ``[Set SLOs, alerts and runbook]`` is two items."""
    joined = {", ".join(names[start : end + 1]) for start in range(k + 1) for end in range(k, len(names))}
    if joined & set(known):
        return "; a name with a comma must be quoted in a [a, b] list"
    return ""


def _dependency_cycle(playbook: PlaybookSpec) -> list[str]:
    """One circle of dependencies, as the names along it back to the first, or an empty list."""
    graph = {a.name: a.depends_on for p in playbook.phases for a in p.activities}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done or name not in graph:
            return []
        for needed in graph[name]:
            cycle = visit(needed, [*path, name])
            if cycle:
                return cycle
        done.add(name)
        return []

    for name in graph:
        cycle = visit(name, [])
        if cycle:
            return cycle
    return []


def problems_from(error: ValidationError, *, file: str | None = None) -> list[Problem]:
    """Pydantic's errors as problems naming the dotted field path, from the document's root."""
    problems: list[Problem] = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, PlaybookInconsistent):
            for problem in cause.problems:
                field = ".".join(p for p in (path, problem.field or "") if p)
                problems.append(Problem(problem.message, field=field or None, file=file))
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(Problem(message, field=path or None, file=file))
    return problems


def parse_playbook(document: Mapping[str, Any], *, file: str | None = None) -> PlaybookSpec:
    """A validated playbook, or InvalidInput naming every bad field by its path."""
    if not isinstance(document, Mapping):
        raise InvalidInput(
            "the playbook is not valid; nothing was written",
            [Problem("a playbook is a mapping with kind, id, name and phases", file=file)],
        )
    try:
        return PlaybookSpec.model_validate(dict(document))
    except ValidationError as exc:
        raise InvalidInput(
            "the playbook is not valid; nothing was written", problems_from(exc, file=file)
        ) from exc


def parse_criteria(documents: Sequence[Mapping[str, Any]], *, file: str | None = None) -> list[CriterionSpec]:
    """A gate's criteria from their documents (as stored or frozen), or InvalidInput naming each bad field."""
    try:
        return _CRITERIA.validate_python([dict(d) for d in documents])
    except ValidationError as exc:
        problems = [
            Problem(p.message, field=f"criteria.{p.field}" if p.field else "criteria", file=file)
            for p in problems_from(exc)
        ]
        raise InvalidInput("the gate criteria are not valid; nothing was written", problems) from exc


def activity_of(item: ActivitySpec | str) -> ActivitySpec:
    """An activity as a full spec, whether written as its name alone or with details."""
    return item if isinstance(item, ActivitySpec) else ActivitySpec.model_validate(item)


def builtin_playbooks() -> dict[str, PlaybookSpec]:
    """The playbooks that ship with phasegate, by id, in the order they are presented."""
    folder = resources.files("phasegate.lifecycle") / "builtin"
    playbooks: dict[str, PlaybookSpec] = {}
    for playbook_id in BUILTIN_IDS:
        name = f"{playbook_id}.yaml"
        spec = parse_playbook(
            yaml.safe_load((folder / name).read_text(encoding="utf-8")), file=f"builtin/{name}"
        )
        if spec.id != playbook_id:
            raise InvalidInput(
                "a built-in playbook is misnamed",
                [Problem(f"is '{spec.id}' in the file {name}", field="id", file=f"builtin/{name}")],
            )
        playbooks[spec.id] = spec
    return playbooks
