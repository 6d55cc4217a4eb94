"""Plans: a use case instantiated from a playbook, its phases and activities, and their schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import gates, library, playbooks, schedule
from phasegate.lifecycle.models import Activity, Plan, PlanPhase
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.models import UseCase
from phasegate.store import now

STATUSES = ("not started", "in progress", "completed", "blocked")


def get(session: Session, *, usecase_id: str) -> Plan:
    """The plan of a use case, or NotFound saying how to start one."""
    plan = session.scalars(select(Plan).where(Plan.usecase_id == usecase_id)).first()
    if plan is None:
        portfolio_service.get(session, usecase_id=usecase_id)
        raise NotFound(f"use case '{usecase_id}' has no plan yet: start one with 'phasegate plan start'")
    return plan


def _require_edit(session: Session, actor: Principal, usecase_id: str) -> UseCase:
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.plan_edit, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    return usecase


def plan_view(plan: Plan) -> dict[str, Any]:
    """A plan as the audit log and the doors see it."""
    return {
        "usecase": plan.usecase_id,
        "playbook": plan.playbook_id,
        "start": plan.start.isoformat(),
        "phases": [p.phase_id for p in plan.phases],
        "activities": len(plan.activities),
    }


def start(session: Session, *, actor: Principal, usecase_id: str, playbook_id: str, start_on: date) -> Plan:
    """Instantiate a playbook for a use case: phases and activities with dates; the first gate frozen."""
    usecase = _require_edit(session, actor, usecase_id)
    if session.scalars(select(Plan).where(Plan.usecase_id == usecase_id)).first() is not None:
        raise Conflict(f"use case '{usecase_id}' already has a plan")
    spec = library.get_playbook(session, playbook_id=playbook_id)
    plan = Plan(usecase_id=usecase_id, playbook_id=spec.id, playbook=spec.document(), start=start_on)
    phase_start = start_on
    names: dict[str, Activity] = {}
    links: list[tuple[Activity, list[str]]] = []
    position = 0
    for index, phase in enumerate(spec.phases):
        phase_end = phase_start + timedelta(days=phase.days)
        plan.phases.append(
            PlanPhase(
                phase_id=phase.id,
                name=phase.name,
                position=index,
                objective=phase.objective,
                planned_start=phase_start,
                planned_end=phase_end,
                effort_share=phase.effort_share,
                continuous=phase.continuous,
                status="pending",
                criteria=[c.model_dump(mode="json", exclude_none=True) for c in phase.gate.criteria],
                criteria_version=0,
            )
        )
        for item in phase.activities:
            activity_spec = playbooks.activity_of(item)
            days = activity_spec.days or phase.days
            activity = Activity(
                phase_id=phase.id,
                position=position,
                name=activity_spec.name,
                owner=_owner_for(usecase, activity_spec.owner_role),
                planned_start=phase_start,
                planned_end=min(phase_start + timedelta(days=days), phase_end),
                effort_hours=activity_spec.effort_hours,
                status="not started",
                depends_on=[],
            )
            position += 1
            plan.activities.append(activity)
            names[activity_spec.name] = activity
            links.append((activity, list(activity_spec.depends_on)))
        phase_start = phase_end
    session.add(plan)
    session.flush()
    for activity, depends_on in links:
        activity.depends_on = [names[name].id for name in depends_on if name in names]
    _shift_for_dependencies(plan)
    begin_phase(session, actor, plan, plan.phases[0])
    usecase.current_phase = plan.phases[0].phase_id
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change("plan.start", "plan", usecase_id, after=plan_view(plan), usecase_id=usecase_id),
    )
    return plan


def _owner_for(usecase: UseCase, role: str | None) -> str | None:
    """The named owner of the use case for an activity's role, else the use-case owner."""
    owners: dict[str, str] = usecase.document.get("owners", {})
    return owners.get(role or "use_case") or owners.get("use_case")


def _shift_for_dependencies(plan: Plan) -> None:
    """Move planned dates so no activity starts before what it depends on has finished."""
    result = schedule.critical_path_schedule(tasks_of(plan), start=plan.start)
    for activity in plan.activities:
        slot = result.tasks[str(activity.id)]
        if activity.planned_start is not None and slot.earliest_start > activity.planned_start:
            length = (activity.planned_end or activity.planned_start) - activity.planned_start
            activity.planned_start = slot.earliest_start
            activity.planned_end = slot.earliest_start + length


def begin_phase(session: Session, actor: Principal, plan: Plan, phase: PlanPhase) -> None:
    """Start a phase: its gate's criteria are frozen and hashed now, before any result is seen."""
    frozen = gates.freeze(playbooks.parse_criteria(phase.criteria))
    phase.status = "active"
    phase.started_at = now()
    phase.criteria_hash = frozen.sha256
    phase.criteria_version = 1
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "gate.freeze",
            "gate",
            f"{plan.usecase_id}:{phase.phase_id}",
            after={"criteria": phase.criteria, "sha256": frozen.sha256, "version": 1},
            usecase_id=plan.usecase_id,
        ),
    )


def tasks_of(plan: Plan) -> list[schedule.Task]:
    """The plan's activities as schedule tasks (ids as text)."""
    return [
        schedule.Task(
            id=str(a.id),
            name=a.name,
            phase=a.phase_id,
            duration_days=_duration(a),
            depends_on=tuple(str(d) for d in a.depends_on),
            planned_start=a.planned_start,
            planned_end=a.planned_end,
            actual_start=a.actual_start,
            actual_end=a.actual_end,
            status=a.status,
            effort_hours=a.effort_hours,
            owner=a.owner,
        )
        for a in plan.activities
    ]


def scheduled_tasks(plan: Plan) -> list[schedule.Task]:
    """The tasks with each phase's gate between phases: work that starts a phase waits for the work that
    ends the phase before it, so a slip early in the plan reaches the critical path and the forecast."""
    tasks = tasks_of(plan)
    order = {p.phase_id: p.position for p in plan.phases}
    by_phase: dict[int, list[schedule.Task]] = {}
    for task in tasks:
        by_phase.setdefault(order.get(task.phase, 0), []).append(task)
    gated = []
    for task in tasks:
        position = order.get(task.phase, 0)
        same_phase = {t.id for t in by_phase.get(position, [])}
        previous = by_phase.get(position - 1, [])
        if previous and not any(d in same_phase for d in task.depends_on):
            needed = {d for t in previous for d in t.depends_on}
            ends = tuple(t.id for t in previous if t.id not in needed)
            task = replace(task, depends_on=tuple(dict.fromkeys((*task.depends_on, *ends))))
        gated.append(task)
    # A dependency drawn backwards across phases would make a loop with the gates: then plan without them.
    return gated if schedule.find_cycle(gated) is None else tasks


def _duration(activity: Activity) -> int:
    if activity.planned_start and activity.planned_end:
        return max((activity.planned_end - activity.planned_start).days, 0)
    return 0


@dataclass(frozen=True)
class ActivityChange:
    """Fields of an activity a caller may set; None leaves a field as it is."""

    phase_id: str | None = None
    name: str | None = None
    owner: str | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    effort_hours: float | None = None
    status: str | None = None
    depends_on: list[int] | None = None
    notes: str | None = None


def activity_view(activity: Activity) -> dict[str, Any]:
    """An activity as the doors and the audit log show it."""
    return {
        "id": activity.id,
        "phase": activity.phase_id,
        "position": activity.position,
        "name": activity.name,
        "owner": activity.owner,
        "planned_start": _iso(activity.planned_start),
        "planned_end": _iso(activity.planned_end),
        "actual_start": _iso(activity.actual_start),
        "actual_end": _iso(activity.actual_end),
        "effort_hours": activity.effort_hours,
        "status": activity.status,
        "depends_on": list(activity.depends_on),
        "notes": activity.notes,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _validate(plan: Plan, activity: Activity) -> None:
    problems = []
    if activity.phase_id not in {p.phase_id for p in plan.phases}:
        known = ", ".join(p.phase_id for p in plan.phases)
        problems.append(
            Problem(f"no phase '{activity.phase_id}' in this plan; phases: {known}", field="phase")
        )
    if activity.status not in STATUSES:
        problems.append(Problem(f"must be one of: {', '.join(STATUSES)}", field="status"))
    if not activity.name or not activity.name.strip():
        problems.append(Problem("must not be blank", field="name"))
    for start, end, label in (
        (activity.planned_start, activity.planned_end, "planned_end"),
        (activity.actual_start, activity.actual_end, "actual_end"),
    ):
        if start and end and end < start:
            problems.append(Problem(f"{end} is before the start {start}", field=label))
    if activity.effort_hours is not None and activity.effort_hours < 0:
        problems.append(Problem("must not be negative", field="effort_hours"))
    ids = {a.id for a in plan.activities}
    for dependency in activity.depends_on:
        if dependency not in ids:
            problems.append(Problem(f"no activity {dependency} in this plan", field="depends_on"))
        if dependency == activity.id:
            problems.append(Problem("an activity cannot depend on itself", field="depends_on"))
    if problems:
        raise InvalidInput(f"activity '{activity.name}' is not valid; nothing was written", problems)


def _check_no_cycle(plan: Plan) -> None:
    """Refuse a change that makes activities depend on each other in a loop, naming the loop."""
    cycle = schedule.find_cycle(tasks_of(plan))
    if cycle:
        names = {str(a.id): a.name for a in plan.activities}
        loop = " → ".join(f"{names.get(i, i)} (#{i})" for i in cycle)
        raise InvalidInput(
            "activities would depend on each other in a loop; nothing was written",
            [Problem(loop, field="depends_on")],
        )


def _apply_change(activity: Activity, change: ActivityChange) -> None:
    for field in ActivityChange.__dataclass_fields__:
        value = getattr(change, field)
        if value is not None:
            setattr(activity, field, value.strip() if isinstance(value, str) and field != "notes" else value)


def add_activity(session: Session, *, actor: Principal, usecase_id: str, change: ActivityChange) -> Activity:
    """Add an activity to a phase of the plan (at the end of that phase)."""
    _require_edit(session, actor, usecase_id)
    plan = get(session, usecase_id=usecase_id)
    if change.phase_id is None or change.name is None:
        raise InvalidInput("an activity needs a phase and a name", [Problem("required", field="phase")])
    activity = Activity(plan_id=plan.id, position=next_position(plan), status="not started", depends_on=[])
    _apply_change(activity, change)
    if activity.planned_start is None:
        phase = next((p for p in plan.phases if p.phase_id == activity.phase_id), None)
        if phase is not None:
            activity.planned_start, activity.planned_end = phase.planned_start, phase.planned_end
    plan.activities.append(activity)
    session.flush()
    _validate(plan, activity)
    _check_no_cycle(plan)
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "activity.add", "activity", str(activity.id), after=activity_view(activity), usecase_id=usecase_id
        ),
    )
    return activity


def next_position(plan: Plan) -> int:
    return max((a.position for a in plan.activities), default=-1) + 1


def get_activity(session: Session, *, activity_id: int) -> Activity:
    """One activity, or NotFound."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFound(f"no activity {activity_id}")
    return activity


def edit_activity(
    session: Session, *, actor: Principal, activity_id: int, change: ActivityChange
) -> Activity:
    """Change an activity's fields; a dependency loop is refused with the loop named."""
    activity = get_activity(session, activity_id=activity_id)
    plan = activity.plan
    _require_edit(session, actor, plan.usecase_id)
    before = activity_view(activity)
    _apply_change(activity, change)
    _validate(plan, activity)
    _check_no_cycle(plan)
    after = activity_view(activity)
    if after != before:
        session.flush()
        audit.record(
            session,
            actor=actor.name,
            change=Change("activity.edit", "activity", str(activity.id), before, after, plan.usecase_id),
        )
    return activity


def move_activity(session: Session, *, actor: Principal, activity_id: int, position: int) -> Activity:
    """Put an activity at a new place (0-based) in the plan's order."""
    activity = get_activity(session, activity_id=activity_id)
    plan = activity.plan
    _require_edit(session, actor, plan.usecase_id)
    ordered = sorted(plan.activities, key=lambda a: a.position)
    before = ordered.index(activity)
    ordered.remove(activity)
    ordered.insert(max(0, min(position, len(ordered))), activity)
    for index, item in enumerate(ordered):
        item.position = index
    # The plan's list is ordered by position when loaded; keep it so for whoever reads it next.
    plan.activities.sort(key=lambda a: a.position)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "activity.move",
            "activity",
            str(activity.id),
            {"position": before},
            {"position": activity.position},
            plan.usecase_id,
        ),
    )
    return activity


def delete_activity(session: Session, *, actor: Principal, activity_id: int) -> None:
    """Remove an activity; activities that depended on it no longer do."""
    activity = get_activity(session, activity_id=activity_id)
    plan = activity.plan
    _require_edit(session, actor, plan.usecase_id)
    for other in plan.activities:
        if activity.id in other.depends_on:
            other.depends_on = [d for d in other.depends_on if d != activity.id]
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "activity.delete",
            "activity",
            str(activity.id),
            before=activity_view(activity),
            usecase_id=plan.usecase_id,
        ),
    )
    plan.activities.remove(activity)
    session.flush()


def all_plans(session: Session, *, usecase_ids: Sequence[str] | None = None) -> Sequence[Plan]:
    """Every plan (or those of some use cases), by use case."""
    query = select(Plan).order_by(Plan.usecase_id)
    if usecase_ids:
        query = query.where(Plan.usecase_id.in_(list(usecase_ids)))
    return session.scalars(query).all()


def phase_view(phase: PlanPhase) -> dict[str, Any]:
    return {
        "id": phase.phase_id,
        "name": phase.name,
        "objective": phase.objective,
        "planned_start": phase.planned_start.isoformat(),
        "planned_end": phase.planned_end.isoformat(),
        "status": phase.status,
        "continuous": phase.continuous,
        "effort_share": phase.effort_share,
        "owner": phase.owner,
        "notes": phase.notes,
        "criteria_version": phase.criteria_version,
    }


def plan_report(plan: Plan, *, today: date) -> dict[str, Any]:
    """A plan with its phases, activities, critical path, and what is late or blocked."""
    tasks = scheduled_tasks(plan)
    critical: list[str] = []
    finish = None
    if tasks:
        result = schedule.critical_path_schedule(tasks, start=plan.start)
        critical, finish = result.critical_path, result.finish.isoformat()
    forecasts = {f.id: f for f in schedule.forecast(tasks, today=today)} if tasks else {}
    recommended = {p.phase_id: p.effort_share for p in plan.phases if p.effort_share is not None}
    effort = schedule.effort_share(tasks, recommended) if tasks else []
    activities = []
    for activity in plan.activities:
        seen = forecasts.get(str(activity.id))
        activities.append(
            {
                **activity_view(activity),
                "critical": str(activity.id) in critical,
                "forecast_end": seen.forecast_end.isoformat() if seen else None,
                "slippage_days": seen.slippage_days if seen else None,
                "overdue": bool(seen and seen.overdue),
            }
        )
    return {
        "usecase": plan.usecase_id,
        "playbook": plan.playbook_id,
        "start": plan.start.isoformat(),
        "finish": finish,
        "phases": [phase_view(p) for p in plan.phases],
        "activities": activities,
        "critical_path": [int(i) for i in critical],
        "late": [a["id"] for a in activities if a["overdue"] or (a["slippage_days"] or 0) > 0],
        "blocked": [a["id"] for a in activities if a["status"] == "blocked"],
        "effort": [
            {
                "phase": e.phase,
                "hours": e.hours,
                "share": e.share,
                "recommended_share": e.recommended_share,
                "difference": e.difference,
            }
            for e in effort
        ],
    }
