"""The portfolio roadmap: every plan on one timeline, and its round trip through an Excel workbook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy.orm import Session

from phasegate.errors import InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import plans, schedule, workbook
from phasegate.lifecycle.models import Activity, Plan
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.models import UseCase

# A phase's own status is set by its gate; the workbook shows it in the words activities use.
PHASE_STATUS = {"pending": "not started", "active": "in progress", "passed": "completed"}


@dataclass(frozen=True)
class RoadmapFilters:
    owner: str | None = None
    business_unit: str | None = None
    usecase_ids: tuple[str, ...] = ()


def selected_plans(session: Session, filters: RoadmapFilters) -> list[tuple[Plan, UseCase]]:
    """The plans the filters keep, with their use cases, by use case id."""
    chosen = []
    for plan in plans.all_plans(session, usecase_ids=filters.usecase_ids or None):
        usecase = portfolio_service.get(session, usecase_id=plan.usecase_id)
        if filters.business_unit and usecase.business_unit != filters.business_unit:
            continue
        if filters.owner and not _owned_by(plan, usecase, filters.owner):
            continue
        chosen.append((plan, usecase))
    return chosen


def _owned_by(plan: Plan, usecase: UseCase, owner: str) -> bool:
    owners = set(usecase.document.get("owners", {}).values())
    return owner in owners or any(a.owner == owner for a in plan.activities)


def timeline(session: Session, *, filters: RoadmapFilters, today: date) -> list[dict[str, Any]]:
    """Each plan's phases and activities with forecast, slippage, overdue and blocked flags."""
    items = []
    for plan, usecase in selected_plans(session, filters):
        tasks = plans.scheduled_tasks(plan)
        forecasts = {f.id: f for f in schedule.forecast(tasks, today=today)} if tasks else {}
        activities = []
        for activity in plan.activities:
            if (
                filters.owner
                and activity.owner != filters.owner
                and filters.owner not in usecase.document.get("owners", {}).values()
            ):
                continue
            seen = forecasts.get(str(activity.id))
            activities.append(
                {
                    **plans.activity_view(activity),
                    "forecast_end": seen.forecast_end.isoformat() if seen else None,
                    "slippage_days": seen.slippage_days if seen else None,
                    "overdue": seen.overdue if seen else False,
                    "blocked": activity.status == "blocked",
                }
            )
        items.append(
            {
                "usecase": usecase.id,
                "name": usecase.name,
                "business_unit": usecase.business_unit,
                "owner": usecase.owner,
                "current_phase": usecase.current_phase,
                "phases": [plans.phase_view(p) for p in plan.phases],
                "activities": activities,
            }
        )
    return items


def rows_of(
    chosen: Sequence[tuple[Plan, UseCase]],
) -> tuple[list[workbook.PhaseRow], list[workbook.ActivityRow]]:
    """The workbook rows of some plans."""
    phase_rows, activity_rows = [], []
    for plan, usecase in chosen:
        names = {p.phase_id: p.name for p in plan.phases}
        for phase in plan.phases:
            phase_rows.append(
                workbook.PhaseRow(
                    usecase_id=usecase.id,
                    phase_id=phase.phase_id,
                    phase=phase.name,
                    description=phase.objective or "",
                    start=phase.planned_start,
                    end=phase.planned_end,
                    owner=phase.owner or usecase.owner,
                    status=PHASE_STATUS.get(phase.status, "not started"),
                    notes=phase.notes,
                )
            )
        for activity in sorted(plan.activities, key=lambda a: a.position):
            activity_rows.append(
                workbook.ActivityRow(
                    id=activity.id,
                    usecase_id=usecase.id,
                    phase=names.get(activity.phase_id, activity.phase_id),
                    name=activity.name,
                    owner=activity.owner,
                    planned_start=activity.planned_start,
                    planned_end=activity.planned_end,
                    effort_hours=activity.effort_hours,
                    status=activity.status,
                    dependencies=[str(d) for d in activity.depends_on],
                    notes=activity.notes,
                )
            )
    return phase_rows, activity_rows


def export_workbook(session: Session, *, filters: RoadmapFilters) -> bytes:
    """The roadmap of the chosen plans as an Excel workbook."""
    phase_rows, activity_rows = rows_of(selected_plans(session, filters))
    return workbook.write_workbook(phase_rows, activity_rows)


@dataclass
class RowOutcome:
    sheet: str
    row: int
    outcome: Literal["create", "update", "unchanged", "reject"]
    target: str
    problems: list[str] = field(default_factory=list)


def import_workbook(
    session: Session, *, actor: Principal, data: bytes, filename: str, dry_run: bool = False
) -> list[RowOutcome]:
    """Apply a hand-edited roadmap workbook: every row's change, or (on any problem) nothing at all."""
    content = workbook.read_workbook(data, filename=filename)
    report: list[RowOutcome] = []
    problems: list[str] = [str(p) for p in content.problems]
    plans_by_usecase: dict[str, Plan] = {}
    for index, row in enumerate(content.phases, start=2):
        outcome = _apply_phase_row(session, actor, row, plans_by_usecase, index)
        report.append(outcome)
    touched: list[tuple[Activity, workbook.ActivityRow, RowOutcome]] = []
    for index, activity_row in enumerate(content.activities, start=2):
        outcome, activity = _apply_activity_row(session, actor, activity_row, plans_by_usecase, index)
        report.append(outcome)
        if activity is not None:
            touched.append((activity, activity_row, outcome))
    session.flush()  # new activities get their ids, so dependencies can name them
    _resolve_dependencies(touched, plans_by_usecase)
    for plan in plans_by_usecase.values():
        cycle = schedule.find_cycle(plans.tasks_of(plan)) if plan.activities else None
        if cycle:
            problems.append(
                f"{plan.usecase_id}: activities depend on each other in a loop: {' → '.join(cycle)}"
            )
    problems += [f"{r.sheet} row {r.row}: {p}" for r in report for p in r.problems]
    if problems:
        raise InvalidInput(
            f"{filename}: the workbook cannot be applied; nothing was written", [Problem(p) for p in problems]
        )
    changes = [r for r in report if r.outcome in ("create", "update")]
    if dry_run:
        return report
    for change in changes:
        audit.record(
            session,
            actor=actor.name,
            change=Change(
                f"roadmap.{change.outcome}",
                "activity" if change.sheet == "Activities" else "phase",
                change.target,
                after={"sheet": change.sheet, "row": change.row, "file": filename},
                usecase_id=change.target.split(":", 1)[0],
            ),
        )
    return report


def _plan_for(session: Session, actor: Principal, usecase_id: str, cache: dict[str, Plan]) -> Plan:
    if usecase_id not in cache:
        plan = plans.get(session, usecase_id=usecase_id)
        usecase = portfolio_service.get(session, usecase_id=usecase_id)
        actor.require(Action.plan_edit, usecase_id, portfolio_service.ownership_roles(usecase, actor))
        cache[usecase_id] = plan
    return cache[usecase_id]


def _apply_phase_row(
    session: Session, actor: Principal, row: workbook.PhaseRow, cache: dict[str, Plan], index: int
) -> RowOutcome:
    target = f"{row.usecase_id}:{row.phase_id}"
    try:
        plan = _plan_for(session, actor, row.usecase_id, cache)
    except NotFound as exc:  # an unknown use case, or one without a plan; a refused role is not caught
        return RowOutcome("Roadmap", index, "reject", target, [exc.message])
    phase = next((p for p in plan.phases if p.phase_id == row.phase_id), None)
    if phase is None:
        return RowOutcome("Roadmap", index, "reject", target, [f"no phase '{row.phase_id}' in the plan"])
    start, end = row.start or phase.planned_start, row.end or phase.planned_end
    if end < start:
        return RowOutcome("Roadmap", index, "reject", target, ["End is before Start"])
    # The export shows the use-case owner where a phase has none of its own; that is not a change.
    shown_owner = phase.owner or _usecase_owner(session, row.usecase_id)
    wanted: dict[str, Any] = {
        "name": row.phase or phase.name,
        "objective": row.description or None,
        "planned_start": start,
        "planned_end": end,
        "owner": row.owner if row.owner != shown_owner else phase.owner,
        "notes": row.notes,
    }
    changed = {k: v for k, v in wanted.items() if getattr(phase, k) != v}
    for key, value in changed.items():
        setattr(phase, key, value)
    return RowOutcome("Roadmap", index, "update" if changed else "unchanged", target)


def _usecase_owner(session: Session, usecase_id: str) -> str | None:
    return portfolio_service.get(session, usecase_id=usecase_id).owner


def _apply_activity_row(
    session: Session, actor: Principal, row: workbook.ActivityRow, cache: dict[str, Plan], index: int
) -> tuple[RowOutcome, Activity | None]:
    target = f"{row.usecase_id}:{row.id if row.id is not None else 'new'}"
    try:
        plan = _plan_for(session, actor, row.usecase_id, cache)
    except NotFound as exc:
        return RowOutcome("Activities", index, "reject", target, [exc.message]), None
    phase = next((p for p in plan.phases if row.phase in (p.name, p.phase_id)), None)
    if phase is None:
        known = ", ".join(p.name for p in plan.phases)
        return RowOutcome(
            "Activities", index, "reject", target, [f"no phase '{row.phase}'; phases: {known}"]
        ), None
    wanted: dict[str, Any] = {
        "phase_id": phase.phase_id,
        "name": row.name,
        "owner": row.owner,
        "planned_start": row.planned_start,
        "planned_end": row.planned_end,
        "effort_hours": row.effort_hours,
        "status": row.status,
        "notes": row.notes,
    }
    if row.planned_start and row.planned_end and row.planned_end < row.planned_start:
        return RowOutcome(
            "Activities", index, "reject", target, ["Planned end is before Planned start"]
        ), None
    if row.id is None:
        activity = Activity(plan_id=plan.id, position=plans.next_position(plan), depends_on=[], **wanted)
        plan.activities.append(activity)
        return RowOutcome("Activities", index, "create", target), activity
    existing = next((a for a in plan.activities if a.id == row.id), None)
    if existing is None:
        return RowOutcome("Activities", index, "reject", target, [f"no activity {row.id} in this plan"]), None
    changed = {k: v for k, v in wanted.items() if getattr(existing, k) != v}
    for key, value in changed.items():
        setattr(existing, key, value)
    return RowOutcome("Activities", index, "update" if changed else "unchanged", target), existing


def _resolve_dependencies(
    touched: list[tuple[Activity, workbook.ActivityRow, RowOutcome]], cache: dict[str, Plan]
) -> None:
    """Dependencies typed as ids or as activity names, resolved within the same plan."""
    for activity, row, outcome in touched:
        plan = cache[row.usecase_id]
        by_id = {str(a.id): a.id for a in plan.activities}
        by_name = {a.name.strip().lower(): a.id for a in plan.activities}
        resolved: list[int] = []
        for text in row.dependencies:
            found = by_id.get(text.strip()) or by_name.get(text.strip().lower())
            if found is None:
                outcome.problems.append(f"Dependencies: no activity '{text}' in this plan")
                outcome.outcome = "reject"
            else:
                resolved.append(found)
        if resolved != list(activity.depends_on):
            activity.depends_on = resolved
            if outcome.outcome == "unchanged":
                outcome.outcome = "update"
