"""An activity as the lifecycle page's add and edit forms send it: read into a change, or refused by field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from phasegate.errors import InvalidInput, PhasegateError, Problem
from phasegate.lifecycle import plans

# The forms' labels: a refusal names a field as the reader sees it on the page, not as the service spells it.
LABELS = {
    "phase": "Phase",
    "name": "Name",
    "owner": "Owner",
    "planned_start": "Planned start",
    "planned_end": "Planned end",
    "effort_hours": "Effort hours",
    "depends_on": "Depends on",
    "notes": "Notes",
}


class ActivityForm(BaseModel):
    """The fields as typed, so a refused form comes back with what was sent in it."""

    phase: str = ""
    name: str = ""
    owner: str = ""
    planned_start: str = ""
    planned_end: str = ""
    effort_hours: str = ""
    depends_on: list[str] = []
    notes: str = ""

    @classmethod
    def of(cls, activity: Mapping[str, Any]) -> ActivityForm:
        """An activity's stored fields (``plans.activity_view``), to fill the edit form."""
        hours = activity["effort_hours"]
        return cls(
            phase=activity["phase"],
            name=activity["name"],
            owner=activity["owner"] or "",
            planned_start=activity["planned_start"] or "",
            planned_end=activity["planned_end"] or "",
            effort_hours="" if hours is None else f"{hours:g}",
            depends_on=[str(d) for d in activity["depends_on"]],
            notes=activity["notes"] or "",
        )

    def change(self) -> plans.ActivityChange:
        """The fields as a change: a blank date or effort leaves it as it is; text is taken as typed."""
        problems: list[Problem] = []
        start = _date(self.planned_start, "planned_start", problems)
        end = _date(self.planned_end, "planned_end", problems)
        hours = _hours(self.effort_hours, problems)
        depends_on = _ids(self.depends_on, problems)
        if problems:
            raise InvalidInput(f"activity '{self.name}' is not valid; nothing was written", problems)
        return plans.ActivityChange(
            phase_id=self.phase,
            name=self.name,
            owner=self.owner,
            planned_start=start,
            planned_end=end,
            effort_hours=hours,
            depends_on=depends_on,
            notes=self.notes,
        )

    def depends_on_ids(self) -> set[int]:
        """The activities ticked in the depends-on list (what is not an id ticks nothing)."""
        return {int(i) for i in _split(self.depends_on) if i.isdigit()}


def _date(text: str, field: str, problems: list[Problem]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems.append(Problem(f"'{text}' is not a date (YYYY-MM-DD)", field=field))
        return None


def _hours(text: str, problems: list[Problem]) -> float | None:
    if not text.strip():
        return None
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours):
        problems.append(Problem(f"'{text}' is not a number of hours", field="effort_hours"))
        return None
    return hours


def _split(values: list[str]) -> list[str]:
    # A multi-select sends one value per choice; someone typing ids may send "3, 5" in one.
    return [part.strip().lstrip("#") for value in values for part in value.split(",") if part.strip()]


def _ids(values: list[str], problems: list[Problem]) -> list[int]:
    ids = []
    for text in _split(values):
        if text.isdigit():
            ids.append(int(text))
        else:
            problems.append(Problem(f"'{text}' is not an activity id", field="depends_on"))
    return ids


@dataclass(frozen=True)
class Refusal:
    """Why a form was not saved: the message, each problem under its field's label, each field's problem."""

    message: str
    problems: list[str]
    fields: dict[str, str]


def refusal(error: PhasegateError) -> Refusal:
    """The error as the form shows it, beside the fields it names."""
    lines: list[str] = []
    fields: dict[str, str] = {}
    for problem in error.problems:
        label = LABELS.get(problem.field or "", problem.field)
        lines.append(f"{label}: {problem.message}" if label else problem.message)
        if problem.field:
            fields.setdefault(problem.field, problem.message)
    return Refusal(message=error.message, problems=lines, fields=fields)
