"""The lifecycle's pages: a use case's phases, Gantt chart, activities and gate; the portfolio roadmap.

Every number comes from the same service functions as the API (``plans.plan_report``,
``gating.check``, ``roadmap.timeline``), so the pages and ``/api/v1`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from phasegate.api import SessionDep
from phasegate.errors import NotFound, PhasegateError
from phasegate.identity.roles import Action, allowed, parse_role
from phasegate.identity.service import Principal
from phasegate.lifecycle import activity_form, gates, gating, library, plans, playbooks, roadmap, routes
from phasegate.lifecycle import evidence as evidence_service
from phasegate.lifecycle.activity_form import ActivityForm
from phasegate.lifecycle.models import Activity, Evidence, Plan
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now
from phasegate.web import auth, charts
from phasegate.web.auth import PAGE_HEADERS, PagePrincipal
from phasegate.web.errors import is_htmx
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

# Okabe-Ito colours, as the other charts use; overdue is Paul Tol's red, which the today line shares.
ACTIVITY_COLOURS = {
    "completed": "#009E73",
    "in progress": "#0072B2",
    "not started": "#BBBBBB",
    "blocked": "#E69F00",
    "overdue": "#CC3311",
    "forecast past the plan": "#F4A582",
}
PHASE_WORDS = {"passed": "gate passed", "active": "current phase", "pending": "not started"}
# The roadmap's legend names a phase's status in words: under way, not "active".
PHASE_LEGEND = {"passed": "gate passed", "active": "under way", "pending": "not started"}
PHASE_COLOURS = {"gate passed": "#009E73", "under way": "#0072B2", "not started": "#BBBBBB"}
CRITICAL_OUTLINE = "#1f2933"
LATE_OUTLINE = "#CC3311"
STARTER_PLAYBOOK = "five-phase"
LABEL_CHARS = 48
EVIDENCE_SHOWN = 10
# Where a payload puts a metric's uncertainty beside it: the interval's ends, and the sample size.
INTERVAL_KEYS = (("ci_low", "ci_high"), ("lower", "upper"), ("low", "high"))
SAMPLE_KEYS = ("n", "sample_size", "samples", "rows", "row_count")
ESTIMATE_KEYS = ("value", "estimate", "mean", "point")


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; phasegate stores UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime | str | None) -> str:
    """A moment as people read it in a log: 2025-03-04 09:30 UTC."""
    if moment is None:
        return "—"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{_utc(when):%Y-%m-%d %H:%M} UTC"


def age(moment: datetime, at: datetime) -> str:
    """How long ago something happened, in the largest whole unit: 3 days ago, 5 hours ago."""
    seconds = max((at - _utc(moment)).total_seconds(), 0.0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def _plan_or_none(session: Session, usecase_id: str) -> Plan | None:
    try:
        return plans.get(session, usecase_id=usecase_id)
    except NotFound:
        return None  # the use case exists (checked before): it has no plan yet


# --- the use case's lifecycle page ---


def activity_rows(view: Mapping[str, Any], today: date) -> list[dict[str, Any]]:
    """The plan's activities as the table shows them: phase names, what they wait for, days late, place."""
    phase_names = {p["id"]: p["name"] for p in view["phases"]}
    names = {a["id"]: a["name"] for a in view["activities"]}
    last = len(view["activities"]) - 1
    rows = []
    for index, activity in enumerate(view["activities"]):
        planned_end = _day(activity["planned_end"])
        late = (today - planned_end).days if activity["overdue"] and planned_end else 0
        rows.append(
            {
                **activity,
                "phase_name": phase_names.get(activity["phase"], activity["phase"]),
                "after": [names.get(d, f"#{d}") for d in activity["depends_on"]],
                "days_late": late,
                "blocked": activity["status"] == "blocked",
                # The place in the plan's order, 0-based, as move_activity counts it; the arrows send ±1.
                "index": index,
                "first": index == 0,
                "last": index == last,
            }
        )
    return rows


def _activity_span(row: Mapping[str, Any]) -> list[charts.Span]:
    start, end = _day(row["planned_start"]), _day(row["planned_end"])
    if start is None:
        return []
    end = end or start
    category = "overdue" if row["overdue"] else row["status"]
    flags = [
        f
        for f, on in (
            ("critical path", row["critical"]),
            ("blocked", row["blocked"]),
            (f"{_days(row['days_late'])} overdue", row["overdue"]),
        )
        if on
    ]
    slip = row["slippage_days"] or 0
    hover = (
        f"<b>{row['name']}</b><br>{row['phase_name']} · {row['owner'] or 'no owner'}<br>"
        f"planned {start} → {end} · {row['status']}"
        + (f"<br>forecast end {row['forecast_end']} ({slip:+d} days)" if slip else "")
        + (f"<br>{', '.join(flags)}" if flags else "")
    )
    key = str(row["id"])
    spans = [
        charts.Span(
            row=key,
            label=_short(row["name"]),
            start=start,
            end=end,
            category=category,
            hover=hover,
            outline=CRITICAL_OUTLINE if row["critical"] else None,
            hatched=row["blocked"],
        )
    ]
    forecast_end = _day(row["forecast_end"])
    if forecast_end is not None and forecast_end > end:
        spans.append(
            charts.Span(
                row=key,
                label=_short(row["name"]),
                start=end,
                end=forecast_end,
                category="forecast past the plan",
                hover=hover,
                hatched=row["blocked"],
            )
        )
    return spans


def gantt(rows: Sequence[Mapping[str, Any]], phases: Sequence[Mapping[str, Any]], today: date) -> str | None:
    """The activities on their planned dates, coloured by status, the critical path outlined."""
    spans = [span for row in rows for span in _activity_span(row)]
    if not spans:
        return None
    bands = [
        charts.Band(
            date.fromisoformat(p["planned_start"]), date.fromisoformat(p["planned_end"]), f"{i}. {p['name']}"
        )
        for i, p in enumerate(phases, start=1)
    ]
    return charts.timeline_chart(spans, colours=ACTIVITY_COLOURS, today=today, bands=bands)


def phase_band(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The phases in order, each with its length in days (the band's proportions) and its state in words."""
    band = []
    for phase in view["phases"]:
        start, end = date.fromisoformat(phase["planned_start"]), date.fromisoformat(phase["planned_end"])
        band.append(
            {**phase, "days": max((end - start).days, 1), "state": PHASE_WORDS.get(phase["status"], "")}
        )
    return band


def effort_rows(view: Mapping[str, Any]) -> dict[str, Any]:
    """Each phase's share of the planned hours beside the playbook's recommended share."""
    names = {p["id"]: p["name"] for p in view["phases"]}
    rows = [{**e, "name": names.get(e["phase"], e["phase"])} for e in view["effort"]]
    return {"rows": rows, "hours": sum(e["hours"] for e in rows)}


def uncertainty(payload: Mapping[str, Any], metric: str) -> str | None:
    """The interval and sample size the evidence gives beside a metric, as written: CI 0.87–0.94, n = 500."""
    parent_path = metric.rpartition(".")[0]
    parent = gates.metric_at(payload, parent_path) if parent_path else payload
    if not isinstance(parent, Mapping):
        return None
    parts = []
    leaf = metric.rpartition(".")[2]
    estimate = next((k for k in ESTIMATE_KEYS if k in parent and k != leaf), None)
    for low, high in INTERVAL_KEYS:
        if low in parent and high in parent:
            if estimate is not None:
                parts.append(f"{estimate} {playbooks.shown(parent[estimate])}")
            level = parent.get("confidence") or parent.get("level")
            label = f"{playbooks.shown(level)} CI" if level is not None else "CI"
            parts.append(f"{label} {playbooks.shown(parent[low])}–{playbooks.shown(parent[high])}")
            break
    # The sample size may sit beside the metric or higher up (an audit's row count).
    node: Any = parent
    path = parent_path
    while isinstance(node, Mapping):
        sample = next((k for k in SAMPLE_KEYS if k in node and not isinstance(node[k], Mapping)), None)
        if sample is not None:
            parts.append(f"n = {node[sample]:,}" if isinstance(node[sample], int) else f"n = {node[sample]}")
            break
        if not path:
            break
        path = path.rpartition(".")[0]
        node = gates.metric_at(payload, path) if path else payload
    return ", ".join(parts) or None


def _role_name(text: str) -> str:
    """A role as the criteria name it (``risk-owner``), however the playbook spelled it (``risk``)."""
    try:
        return parse_role(text).value
    except ValueError:
        return text


def _observed(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Mapping | list | tuple):
        return "(not a value)"
    return playbooks.shown(value)


def _criterion(
    result: Mapping[str, Any], spec: playbooks.CriterionSpec, evidence: Mapping[str, Evidence], at: datetime
) -> dict[str, Any]:
    record = evidence.get(result["evidence_id"] or "")
    if spec.require is not None:
        threshold = f"{spec.require.op} {playbooks.shown(spec.require.value)}"
    elif spec.kind == "presence":
        threshold = f"≤ {spec.max_age_days} days old" if spec.max_age_days else "present"
    else:
        threshold = f"sign-off by {result['threshold']}"
    observed = _observed(result["observed"])
    if spec.kind == "presence" and result["observed"] is not None:
        observed = f"{observed} days old"
    return {
        **result,
        "description": spec.description,
        "metric": spec.require.metric if spec.require is not None else None,
        "observed_text": observed,
        "threshold_text": threshold,
        "uncertainty": uncertainty(record.payload, spec.require.metric)
        if record is not None and spec.require is not None
        else None,
        "evidence": None
        if record is None
        else {
            "id": record.id,
            "kind": record.kind,
            "producer": record.producer,
            "age": age(record.created_at, at),
            "at": _stamp(record.created_at),
        },
    }


def gate_panel(session: Session, usecase_id: str, at: datetime) -> dict[str, Any]:
    """The current phase's gate: each criterion's verdict with its evidence, the frozen version, sign-offs."""
    report = gating.check(session, usecase_id=usecase_id, at=at)
    view = report.view()
    specs = playbooks.parse_criteria(report.phase.criteria)
    records = evidence_service.get_all(session, usecase_id=usecase_id)
    by_id = {r.id: r for r in records}
    criteria = [_criterion(r, s, by_id, at) for r, s in zip(view["criteria"], specs, strict=True)]
    sha = view["criteria_sha256"]
    return {
        **view,
        "criteria": criteria,
        "sha_short": sha[:12] if sha else None,
        "frozen_text": _stamp(view["frozen_at"]),
        "approvals": [
            {**a, "role": _role_name(a["role"]), "at_text": _stamp(a["at"])} for a in view["approvals"]
        ],
        "decisions": [{**d, "at_text": _stamp(d["at"])} for d in view["decisions"]],
        "evidence": [
            {
                "id": r.id,
                "kind": r.kind,
                "producer": r.producer,
                "published_by": r.published_by,
                "age": age(r.created_at, at),
                "at": _stamp(r.created_at),
                "sha_short": r.sha256[:12],
            }
            for r in records[:EVIDENCE_SHOWN]
        ],
        "evidence_total": len(records),
    }


def _row_context(
    usecase_id: str, row: Mapping[str, Any], *, message: str | None = None, saved: bool = False
) -> dict[str, Any]:
    return {
        "usecase_id": usecase_id,
        "a": row,
        "statuses": plans.STATUSES,
        "message": message,
        "saved": saved,
    }


def _add_form(view: Mapping[str, Any]) -> ActivityForm:
    """The add form as it first shows: in the current phase."""
    phases = view["phases"]
    current = next((p["id"] for p in phases if p["status"] == "active"), phases[0]["id"] if phases else "")
    return ActivityForm(phase=current)


def _plan_context(session: Session, usecase_id: str, today: date) -> dict[str, Any]:
    """What the activities section shows: the plan's activities in order and its forms, nothing said yet."""
    view = plans.plan_report(plans.get(session, usecase_id=usecase_id), today=today)
    return {
        "plan": view,
        "rows": activity_rows(view, today),
        "statuses": plans.STATUSES,
        "usecase_id": usecase_id,
        "add": _add_form(view),
        "add_refusal": None,
        "add_open": False,
        "notice": None,
        "alert": None,
        "editing": None,
        "oob": False,
    }


def _schedule_context(context: Mapping[str, Any], today: date) -> dict[str, Any]:
    """What the phase band, the Gantt chart and the effort table show of the same plan."""
    view, rows = context["plan"], context["rows"]
    return {
        "phases": phase_band(view),
        "late": [r for r in rows if r["overdue"] or (r["slippage_days"] or 0) > 0],
        "blocked": [r for r in rows if r["blocked"]],
        "gantt": gantt(rows, view["phases"], today),
        "effort": effort_rows(view),
    }


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    usecase_id: str,
    *,
    editing: int | None = None,
    advance_error: PhasegateError | None = None,
    advanced: str | None = None,
    status_code: int = 200,
) -> Response:
    """The lifecycle page; ``editing`` opens that activity's row as a form (editing without JavaScript)."""
    principal.require(Action.read, usecase_id)
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    at = now()
    today = at.date()
    context: dict[str, Any] = {"nav": "portfolio", "usecase": usecase, "today": today, "plan": None}
    plan = _plan_or_none(session, usecase_id)
    if plan is None:
        context["playbooks"] = [
            {"id": spec.id, "name": spec.name, "phases": len(spec.phases), "source": source}
            for spec, source in library.list_playbooks(session)
        ]
        context["start_command"] = (
            f"phasegate plan start {usecase_id} --playbook {STARTER_PLAYBOOK} --start {today.isoformat()}"
        )
        return templates.TemplateResponse(request, "lifecycle/plan.html", context, headers=PAGE_HEADERS)
    context.update(_plan_context(session, usecase_id, today))
    context.update(_schedule_context(context, today))
    context["gate"] = gate_panel(session, usecase_id, at)
    roles = portfolio_service.roles_of(session, principal, usecase_id)
    context.update(
        may_advance=allowed(Action.phase_advance, roles),
        may_override=allowed(Action.phase_override, roles),
        advance_error=advance_error,
        advanced=advanced,
    )
    if editing is not None:
        row = next(r for r in context["rows"] if r["id"] == editing)
        context.update(editing=editing, edit_form=ActivityForm.of(row))
    return templates.TemplateResponse(
        request, "lifecycle/plan.html", context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.get("/usecases/{usecase_id}/lifecycle")
def lifecycle_page(
    usecase_id: str, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """A use case's phases, Gantt chart, activities (editable in place), effort and gate."""
    return _page(request, session, principal, usecase_id, advanced=request.query_params.get("advanced"))


@router.post("/usecases/{usecase_id}/lifecycle/advance", dependencies=[auth.CsrfChecked])
def advance_phase(
    usecase_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    """Advance to the next phase when the gate passed, or (admin, program lead) over it with a reason."""
    try:
        following = gating.advance(
            session, actor=principal, usecase_id=usecase_id, override_reason=override_reason.strip() or None
        )
        session.commit()
    except PhasegateError as error:
        session.rollback()
        return _page(
            request, session, principal, usecase_id, advance_error=error, status_code=error.status_code
        )
    return RedirectResponse(
        f"/usecases/{usecase_id}/lifecycle?advanced={following.phase_id}#gate",
        status_code=status.HTTP_303_SEE_OTHER,
    )


def _row_of(session: Session, usecase_id: str, activity_id: int) -> dict[str, Any]:
    today = now().date()
    view = plans.plan_report(plans.get(session, usecase_id=usecase_id), today=today)
    return next(r for r in activity_rows(view, today) if r["id"] == activity_id)


def _activity_in(session: Session, usecase_id: str, activity_id: int) -> Activity:
    """The activity, if it is one of this use case's plan: a page never reaches into another plan."""
    activity = plans.get_activity(session, activity_id=activity_id)
    if activity.plan.usecase_id != usecase_id:
        raise NotFound(f"no activity {activity_id} in the plan of '{usecase_id}'")
    return activity


def _back(usecase_id: str, activity_id: int | None = None) -> Response:
    """Back to the page after a plain form post, at the activity (or the table) it changed."""
    anchor = f"activity-{activity_id}" if activity_id is not None else "activities"
    return RedirectResponse(
        f"/usecases/{usecase_id}/lifecycle#{anchor}", status_code=status.HTTP_303_SEE_OTHER
    )


def _activities(
    request: Request,
    session: Session,
    usecase_id: str,
    *,
    status_code: int = status.HTTP_200_OK,
    changed: bool = False,
    **shown: Any,
) -> Response:
    """The activities section; after a change, the Gantt chart and effort table too, swapped out of band."""
    today = now().date()
    context = _plan_context(session, usecase_id, today)
    if changed:
        context.update(_schedule_context(context, today), oob=True)
    context.update(shown)
    return templates.TemplateResponse(
        request, "lifecycle/_activities.html", context, status_code=status_code, headers=PAGE_HEADERS
    )


def _edit_row(
    request: Request,
    session: Session,
    usecase_id: str,
    activity_id: int,
    *,
    form: ActivityForm | None = None,
    refusal: activity_form.Refusal | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    context = _plan_context(session, usecase_id, now().date())
    row = next(r for r in context["rows"] if r["id"] == activity_id)
    context.update(a=row, form=form or ActivityForm.of(row), refusal=refusal)
    return templates.TemplateResponse(
        request, "lifecycle/_activity_edit_row.html", context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.post("/usecases/{usecase_id}/lifecycle/activities", dependencies=[auth.CsrfChecked])
def add_activity(
    usecase_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[ActivityForm, Form()],
) -> Response:
    """Add an activity; HTMX gets the activities back (or the form and its refusal), a plain post the page."""
    principal.require(Action.read, usecase_id)
    try:
        activity = plans.add_activity(session, actor=principal, usecase_id=usecase_id, change=form.change())
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        refusal = activity_form.refusal(error)
        return _activities(
            request,
            session,
            usecase_id,
            status_code=error.status_code,
            add=form,
            add_refusal=refusal,
            add_open=True,
        )
    if not is_htmx(request):
        return _back(usecase_id, activity.id)
    return _activities(
        request, session, usecase_id, changed=True, add_open=True, notice=f"Added “{activity.name}”."
    )


@router.get("/usecases/{usecase_id}/lifecycle/activities/{activity_id}")
def activity_row(
    usecase_id: str, activity_id: int, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """One activity's row as the table shows it (what Cancel puts back); without HTMX, the page at it."""
    principal.require(Action.read, usecase_id)
    _activity_in(session, usecase_id, activity_id)
    if not is_htmx(request):
        return _back(usecase_id, activity_id)
    context = _row_context(usecase_id, _row_of(session, usecase_id, activity_id))
    headers = {**PAGE_HEADERS, "Vary": "HX-Request"}
    return templates.TemplateResponse(request, "lifecycle/_activity_row.html", context, headers=headers)


@router.get("/usecases/{usecase_id}/lifecycle/activities/{activity_id}/edit")
def edit_activity_form(
    usecase_id: str, activity_id: int, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """The activity's row as a form; without HTMX, the whole page with that row open for editing."""
    principal.require(Action.read, usecase_id)
    _activity_in(session, usecase_id, activity_id)
    if not is_htmx(request):
        return _page(request, session, principal, usecase_id, editing=activity_id)
    response = _edit_row(request, session, usecase_id, activity_id)
    response.headers["Vary"] = "HX-Request"
    return response


@router.post("/usecases/{usecase_id}/lifecycle/activities/{activity_id}", dependencies=[auth.CsrfChecked])
def save_activity(
    usecase_id: str,
    activity_id: int,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[ActivityForm, Form()],
) -> Response:
    """Save the edit form; HTMX gets the row (and the chart) back, or the form with the refusal in it."""
    principal.require(Action.read, usecase_id)
    _activity_in(session, usecase_id, activity_id)
    try:
        plans.edit_activity(session, actor=principal, activity_id=activity_id, change=form.change())
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        refusal = activity_form.refusal(error)
        return _edit_row(
            request,
            session,
            usecase_id,
            activity_id,
            form=form,
            refusal=refusal,
            status_code=error.status_code,
        )
    if not is_htmx(request):
        return _back(usecase_id, activity_id)
    today = now().date()
    context = _plan_context(session, usecase_id, today)
    context.update(_schedule_context(context, today), oob=True)
    row = next(r for r in context["rows"] if r["id"] == activity_id)
    context.update(_row_context(usecase_id, row, saved=True))
    return templates.TemplateResponse(
        request, "lifecycle/_activity_saved.html", context, headers=PAGE_HEADERS
    )


@router.post(
    "/usecases/{usecase_id}/lifecycle/activities/{activity_id}/move", dependencies=[auth.CsrfChecked]
)
def move_activity(
    usecase_id: str,
    activity_id: int,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    position: Annotated[int, Form()],
) -> Response:
    """Put an activity at a place in the plan's order (the row's arrows send its place ±1)."""
    principal.require(Action.read, usecase_id)
    name = _activity_in(session, usecase_id, activity_id).name
    try:
        moved = plans.move_activity(session, actor=principal, activity_id=activity_id, position=position)
        place = moved.position + 1
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        return _activities(
            request, session, usecase_id, status_code=error.status_code, alert=f"Not moved: {error.message}"
        )
    if not is_htmx(request):
        return _back(usecase_id, activity_id)
    notice = f"Moved “{name}” to place {place}."
    return _activities(request, session, usecase_id, changed=True, notice=notice)


@router.post(
    "/usecases/{usecase_id}/lifecycle/activities/{activity_id}/delete", dependencies=[auth.CsrfChecked]
)
def delete_activity(
    usecase_id: str, activity_id: int, request: Request, session: SessionDep, principal: PagePrincipal
) -> Response:
    """Delete an activity (what waited for it no longer does); HTMX gets the activities back."""
    principal.require(Action.read, usecase_id)
    name = _activity_in(session, usecase_id, activity_id).name
    try:
        plans.delete_activity(session, actor=principal, activity_id=activity_id)
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        return _activities(
            request, session, usecase_id, status_code=error.status_code, alert=f"Not deleted: {error.message}"
        )
    if not is_htmx(request):
        return _back(usecase_id)
    return _activities(request, session, usecase_id, changed=True, notice=f"Deleted “{name}”.")


@router.post(
    "/usecases/{usecase_id}/lifecycle/activities/{activity_id}/status", dependencies=[auth.CsrfChecked]
)
def set_activity_status(
    usecase_id: str,
    activity_id: int,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    new_status: Annotated[str, Form(alias="status")] = "",
) -> Response:
    """Change one activity's status; HTMX gets the row back, a plain form post goes back to the page."""
    _activity_in(session, usecase_id, activity_id)
    try:
        plans.edit_activity(
            session, actor=principal, activity_id=activity_id, change=plans.ActivityChange(status=new_status)
        )
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        # The row stays as stored, with the refusal written in it; the status code says what happened.
        context = _row_context(usecase_id, _row_of(session, usecase_id, activity_id), message=error.message)
        return templates.TemplateResponse(
            request,
            "lifecycle/_activity_row.html",
            context,
            status_code=error.status_code,
            headers=PAGE_HEADERS,
        )
    if not is_htmx(request):
        return _back(usecase_id, activity_id)
    context = _row_context(usecase_id, _row_of(session, usecase_id, activity_id), saved=True)
    return templates.TemplateResponse(request, "lifecycle/_activity_row.html", context, headers=PAGE_HEADERS)


# --- the portfolio roadmap ---


@dataclass(frozen=True)
class RoadmapQuery:
    """What the roadmap page was asked for: an owner and a business unit, either may be absent."""

    owner: str | None
    business_unit: str | None

    @property
    def filters(self) -> roadmap.RoadmapFilters:
        return roadmap.RoadmapFilters(owner=self.owner, business_unit=self.business_unit)

    @property
    def filtered(self) -> bool:
        return bool(self.owner or self.business_unit)

    def url(self, path: str = "/roadmap") -> str:
        """This query at a path, empty filters left out."""
        kept = {k: v for k, v in (("owner", self.owner), ("business_unit", self.business_unit)) if v}
        return path + (f"?{urlencode(kept)}" if kept else "")


def _phase_span(item: Mapping[str, Any], phase: Mapping[str, Any], today: date) -> charts.Span:
    start, end = date.fromisoformat(phase["planned_start"]), date.fromisoformat(phase["planned_end"])
    late = phase["status"] == "active" and end < today
    hover = (
        f"<b>{item['name']}</b> ({item['usecase']})<br>{phase['name']}: {start} → {end}<br>"
        f"{PHASE_WORDS.get(phase['status'], phase['status'])}"
        + (f", {_days((today - end).days)} past its planned end" if late else "")
    )
    return charts.Span(
        row=f"{item['usecase']}:{phase['id']}",
        label=_short(f"{item['usecase']} · {phase['name']}"),
        start=start,
        end=end,
        category=PHASE_LEGEND.get(phase["status"], phase["status"]),
        hover=hover,
        url=f"/usecases/{item['usecase']}/lifecycle",
        outline=LATE_OUTLINE if late else None,
    )


def roadmap_chart(items: Sequence[Mapping[str, Any]], today: date) -> str | None:
    """Every planned use case's phases on one timeline, coloured by the phase's status."""
    spans = [_phase_span(item, phase, today) for item in items for phase in item["phases"]]
    if not spans:
        return None
    return charts.timeline_chart(spans, colours=PHASE_COLOURS, today=today)


def trouble(items: Sequence[Mapping[str, Any]], today: date) -> list[dict[str, Any]]:
    """Overdue and blocked activities across the roadmap, the latest first."""
    found = []
    for item in items:
        phase_names = {p["id"]: p["name"] for p in item["phases"]}
        for activity in item["activities"]:
            if not (activity["overdue"] or activity["blocked"]):
                continue
            planned_end = _day(activity["planned_end"])
            late = (today - planned_end).days if activity["overdue"] and planned_end else 0
            found.append(
                {
                    **activity,
                    "usecase": item["usecase"],
                    "usecase_name": item["name"],
                    "phase_name": phase_names.get(activity["phase"], activity["phase"]),
                    "days_late": late,
                    "url": f"/usecases/{item['usecase']}/lifecycle#activity-{activity['id']}",
                }
            )
    return sorted(found, key=lambda a: (-a["days_late"], a["usecase"], a["position"]))


def plan_summaries(items: Sequence[Mapping[str, Any]], today: date) -> list[dict[str, Any]]:
    """One line per planned use case: where it is, when it ends, and how much is late or blocked."""
    summaries = []
    for item in items:
        current = next((p for p in item["phases"] if p["id"] == item["current_phase"]), None)
        summaries.append(
            {
                "usecase": item["usecase"],
                "name": item["name"],
                "business_unit": item["business_unit"],
                "owner": item["owner"],
                "current": current["name"] if current else "—",
                "start": item["phases"][0]["planned_start"] if item["phases"] else None,
                "end": item["phases"][-1]["planned_end"] if item["phases"] else None,
                "overdue": sum(1 for a in item["activities"] if a["overdue"]),
                "blocked": sum(1 for a in item["activities"] if a["blocked"]),
                "url": f"/usecases/{item['usecase']}/lifecycle",
            }
        )
    return summaries


def _choices(items: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    owners = {o for item in items for o in [item["owner"], *(a["owner"] for a in item["activities"])] if o}
    units = {item["business_unit"] for item in items if item["business_unit"]}
    return sorted(owners, key=str.casefold), sorted(units, key=str.casefold)


@router.get("/roadmap")
def roadmap_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    owner: Annotated[str | None, Query()] = None,
    business_unit: Annotated[str | None, Query()] = None,
) -> Response:
    """Every planned use case on one timeline, filtered by owner and business unit, with what is late."""
    principal.require(Action.read)
    # An empty select sends "": that means no filter, as an absent parameter does.
    query = RoadmapQuery(owner=owner or None, business_unit=business_unit or None)
    today = now().date()
    everything = roadmap.timeline(session, filters=roadmap.RoadmapFilters(), today=today)
    items = roadmap.timeline(session, filters=query.filters, today=today) if query.filtered else everything
    owners, units = _choices(everything)
    context = {
        "nav": "roadmap",
        "query": query,
        "today": today,
        "plans": plan_summaries(items, today),
        "total": len(everything),
        "chart": roadmap_chart(items, today),
        "trouble": trouble(items, today),
        "owners": owners,
        "business_units": units,
        "xlsx_url": query.url("/roadmap.xlsx"),
    }
    partial = is_htmx(request)
    headers = {**PAGE_HEADERS, "Vary": "HX-Request"}
    if partial:
        headers["HX-Push-Url"] = query.url()
    name = "lifecycle/_roadmap.html" if partial else "lifecycle/roadmap.html"
    return templates.TemplateResponse(request, name, context, headers=headers)


@router.get("/roadmap.xlsx")
def roadmap_workbook(
    session: SessionDep,
    principal: PagePrincipal,
    owner: Annotated[str | None, Query()] = None,
    business_unit: Annotated[str | None, Query()] = None,
) -> Response:
    """The roadmap, with the page's filters, as the Excel workbook the API exports."""
    principal.require(Action.read)
    query = RoadmapQuery(owner=owner or None, business_unit=business_unit or None)
    data = roadmap.export_workbook(session, filters=query.filters)
    headers = {**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="roadmap.xlsx"'}
    return Response(content=data, media_type=routes.XLSX, headers=headers)
