"""Rollout's pages: the review queue and its items, and a use case's rollout with its kill switch.

Rows come from the API's own views (``reviews.item_view``, ``service.rollout_view``,
``service.transition_view``, ``routes.record_view``) and every change goes through the same service
functions as the API (``reviews.take``, ``reviews.take_next``, ``reviews.decide``, ``service.kill``),
which check the caller's role; a page only hides the forms a caller could not send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.api import SessionDep
from phasegate.errors import Conflict, InvalidInput, PhasegateError, Problem
from phasegate.evaluation import registry
from phasegate.evaluation.models import ModelVersion
from phasegate.identity.roles import PERMISSIONS, Action, allowed
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.portfolio import service as portfolio_service
from phasegate.rollout import analysis_runs, reviews, routes, service, webhooks
from phasegate.rollout.analysis_runs import JUDGED_STAGES
from phasegate.rollout.models import InferenceRecord, ReviewItem, Rollout
from phasegate.store import now
from phasegate.web import auth
from phasegate.web.auth import PAGE_HEADERS, PagePrincipal
from phasegate.web.errors import is_htmx
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

ORDERS: dict[reviews.Order, str] = {"oldest": "Oldest first", "least_confident": "Least confident first"}
REASON_LABELS = {
    "incorrect": "Incorrect",
    "outdated": "Outdated",
    "missing_context": "Missing context",
    "conflicts_with_policy": "Conflicts with policy",
    "unsafe": "Unsafe",
}
RECORDS_SHOWN = 20
TRANSITIONS_SHOWN = 50
# The roles each change needs, as the pages name them to those who lack them.
NEEDS = {
    key: ", ".join(sorted(r.value for r in PERMISSIONS[action]))
    for key, action in (("review", Action.review_decide), ("kill", Action.rollout_kill))
}


# --- small formatting ---


def stamp(moment: datetime | None, *, seconds: bool = False) -> str:
    """A moment as people read it in a log: 2025-03-04 09:30 UTC."""
    if moment is None:
        return "—"
    when = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if seconds else f"{when:%Y-%m-%d %H:%M} UTC"


def span(seconds: float) -> str:
    """A length of time as people say it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def sla(due_at: datetime, moment: datetime, *, pending: bool = True) -> dict[str, Any]:
    """The review's SLA timer: due in so long, or overdue by so long."""
    due = due_at if due_at.tzinfo else due_at.replace(tzinfo=UTC)
    left = (due - moment).total_seconds()
    overdue = pending and left < 0
    text = f"overdue by {span(left)}" if overdue else (f"due in {span(left)}" if pending else "—")
    return {"overdue": overdue, "text": text, "due": stamp(due)}


def pretty(value: Any) -> str:
    """JSON as a reviewer reads and edits it: indented, and not escaped to ASCII."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def corrected_output(text: str) -> dict[str, Any]:
    """The reviewer's corrected output, parsed; InvalidInput naming line and column when not JSON."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "the corrected output is not valid JSON; nothing was saved",
            [Problem(f"line {exc.lineno}, column {exc.colno}: {exc.msg}", field="output")],
        ) from exc
    if not isinstance(value, dict):
        raise InvalidInput(
            "the corrected output must be a JSON object, like the proposed one; nothing was saved",
            [Problem(f"got a JSON {type(value).__name__}", field="output")],
        )
    return value


def choose_order(value: str | None) -> reviews.Order:
    return "least_confident" if value == "least_confident" else "oldest"


def queue_url(usecase_id: str | None, order: reviews.Order, **extra: str) -> str:
    query = {"usecase": usecase_id or "", "order": order if order != "oldest" else "", **extra}
    sent = urlencode({k: v for k, v in query.items() if v})
    return "/reviews" + (f"?{sent}" if sent else "")


def item_url(item_id: str, usecase_id: str | None, order: reviews.Order) -> str:
    return f"/reviews/{quote(item_id, safe='')}" + queue_url(usecase_id, order).removeprefix("/reviews")


def may(session: Session, principal: Principal, action: Action, usecase_id: str | None) -> bool:
    """Whether the caller may take an action, on a use case or globally, as the services will judge it."""
    if usecase_id is None:
        return allowed(action, principal.roles_on(None))
    return allowed(action, portfolio_service.roles_of(session, principal, usecase_id))


def _usecase(session: Session, usecase_id: str) -> dict[str, Any]:
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    return {"id": usecase.id, "name": usecase.name, "url": f"/usecases/{usecase.id}"}


# --- the queue ---


def item_row(item: ReviewItem, moment: datetime, viewer: str) -> dict[str, Any]:
    """An item (as ``reviews.item_view`` has it) with its SLA timer, age and reservation, for the queue."""
    view = reviews.item_view(item, at=moment)
    until = item.reserved_until if view["reserved_by"] else None
    return {
        **view,
        "sla": sla(item.due_at, moment, pending=item.status == "pending"),
        "waiting": span((moment - _aware(item.created_at)).total_seconds()),
        "mine": view["reserved_by"] == viewer,
        "reserved_left": span((_aware(until) - moment).total_seconds()) if until else None,
        "reserved_until_text": stamp(until, seconds=True) if until else None,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _queue_context(
    session: Session, principal: Principal, usecase_id: str | None, order: reviews.Order
) -> dict[str, Any]:
    moment = now()
    found = reviews.queue(session, usecase_id=usecase_id, order=order)
    workload = reviews.workload(session, usecase_id=usecase_id)
    return {
        "nav": "reviews",
        "usecase": _usecase(session, usecase_id) if usecase_id else None,
        "order": order,
        "orders": [
            {"value": value, "label": label, "url": queue_url(usecase_id, value), "current": value == order}
            for value, label in ORDERS.items()
        ],
        "items": [
            {**item_row(i, moment, principal.name), "url": item_url(i.id, usecase_id, order)} for i in found
        ],
        "workload": workload,
        "reviewers": sorted(workload["decided_last_day"].items(), key=lambda pair: (-pair[1], pair[0] or "")),
        "here": queue_url(usecase_id, order),
        "all_url": queue_url(None, order),
        "may_review": may(session, principal, Action.review_decide, usecase_id),
        "needs": NEEDS,
        "filter_usecase": usecase_id or "",
    }


@router.get("/reviews")
def queue_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    usecase: str | None = None,
    order: str | None = None,
    empty: bool = False,
) -> Response:
    """The review queue, oldest or least confident first: SLA timers, reservations and the workload."""
    usecase_id = usecase or None
    principal.require(Action.read, usecase_id)
    context = _queue_context(session, principal, usecase_id, choose_order(order))
    context["empty"] = empty
    # The order links and the periodic refresh swap the queue only; a history restore wants the page.
    name = "rollout/_queue.html" if is_htmx(request) else "rollout/queue.html"
    return templates.TemplateResponse(request, name, context, headers=PAGE_HEADERS)


def take_following(
    session: Session,
    principal: Principal,
    *,
    usecase_id: str | None,
    order: reviews.Order,
    after: str | None = None,
) -> ReviewItem | None:
    """Reserve the next item nobody else holds; after an item, the next one past it in queue order.

    ``reviews.take_next`` starts at the head of the queue, which is the item being skipped when the
    reviewer holds it; skipping goes on from it instead, wrapping round, as the replay review does.
    """
    if after is None:
        return reviews.take_next(session, actor=principal, usecase_id=usecase_id, order=order)
    if usecase_id is not None:
        service.require(session, principal, Action.review_decide, usecase_id)
    else:
        principal.require(Action.review_decide)
    found = [i.id for i in reviews.queue(session, usecase_id=usecase_id, order=order, limit=200)]
    start = found.index(after) + 1 if after in found else 0
    for item_id in [*found[start:], *found[:start]]:
        if item_id == after:
            continue
        try:
            return reviews.take(session, actor=principal, item_id=item_id)
        except Conflict:
            continue
    return None


def review_scope(
    session: Session, principal: Principal, usecase_id: str | None, item: ReviewItem
) -> str | None:
    """The queue to go on in: the one asked for, or the item's when the role is held on its use case only."""
    if usecase_id is not None or may(session, principal, Action.review_decide, None):
        return usecase_id
    return item.usecase_id


def _go_on(item: ReviewItem | None, usecase_id: str | None, order: reviews.Order) -> Response:
    target = item_url(item.id, usecase_id, order) if item else queue_url(usecase_id, order, empty="1")
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/reviews/next", dependencies=[auth.CsrfChecked])
def next_item(
    session: SessionDep,
    principal: PagePrincipal,
    usecase: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "",
    skip: Annotated[str, Form()] = "",
) -> Response:
    """Reserve the next item nobody else holds and open it; back to the queue when none is left."""
    usecase_id, chosen = usecase or None, choose_order(order)
    item = take_following(session, principal, usecase_id=usecase_id, order=chosen, after=skip or None)
    session.commit()
    return _go_on(item, usecase_id, chosen)


# --- one item ---


def _item_context(
    session: Session,
    principal: Principal,
    item: ReviewItem,
    usecase_id: str | None,
    order: reviews.Order,
    **shown: Any,
) -> dict[str, Any]:
    moment = now()
    row = item_row(item, moment, principal.name)
    may_review = may(session, principal, Action.review_decide, item.usecase_id)
    if item.status != "pending":
        state = "decided"
    elif row["mine"]:
        state = "mine"
    else:
        state = "held" if row["reserved_by"] else "free"
    # A pending item's clear input is there for those who decide it; once decided, only the
    # redacted copy is left, which anyone who reads the use case may see.
    clear = may_review or item.status != "pending"
    record = session.get(InferenceRecord, item.id)
    context = {
        "nav": "reviews",
        "usecase": _usecase(session, item.usecase_id),
        "item": row,
        "state": state,
        "may_review": may_review,
        "clear": clear,
        "input_json": pretty(item.input) if clear else None,
        "proposed_json": pretty(item.proposed) if clear else None,
        "released_json": pretty(item.released) if item.status != "pending" else None,
        "record": routes.record_view(record) if record is not None and not clear else None,
        "reserved_until_iso": item.reserved_until.isoformat()
        if row["reserved_by"] and item.reserved_until
        else None,
        "reason_codes": [(code, REASON_LABELS.get(code, code)) for code in reviews.REASON_CODES],
        "reason_label": REASON_LABELS.get(item.reason_code or "", item.reason_code),
        "decided_at": stamp(item.decided_at),
        "needs": NEEDS,
        "filter_usecase": usecase_id or "",
        "next_usecase": (review_scope(session, principal, usecase_id, item) or "") if may_review else "",
        "order": order,
        "back": queue_url(usecase_id, order),
        "action": f"/reviews/{item.id}",
        "message": None,
        "problems": [],
        "output_text": pretty(item.proposed) if clear else "",
        "chosen_reason": "",
        "note": "",
    }
    context.update(shown)
    return context


def _item_page(
    request: Request,
    session: Session,
    principal: Principal,
    item: ReviewItem,
    usecase_id: str | None,
    order: reviews.Order,
    *,
    status_code: int = status.HTTP_200_OK,
    **shown: Any,
) -> Response:
    context = _item_context(session, principal, item, usecase_id, order, **shown)
    return templates.TemplateResponse(
        request, "rollout/item.html", context, status_code=status_code, headers=PAGE_HEADERS
    )


@router.get("/reviews/{item_id}")
def item_page(
    item_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    usecase: str | None = None,
    order: str | None = None,
) -> Response:
    """An item: the input and proposed output, why it was held, its reservation and the decision forms."""
    item = reviews.get(session, item_id=item_id)
    principal.require(Action.read, item.usecase_id)
    return _item_page(request, session, principal, item, usecase or None, choose_order(order))


@router.post("/reviews/{item_id}/take", dependencies=[auth.CsrfChecked])
def take_item(
    item_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    usecase: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "",
) -> Response:
    """Reserve an item for a few minutes; when another reviewer holds it, the page says who and until when."""
    usecase_id, chosen = usecase or None, choose_order(order)
    try:
        item = reviews.take(session, actor=principal, item_id=item_id)
        session.commit()
    except Conflict as error:
        session.rollback()
        item = reviews.get(session, item_id=item_id)
        return _item_page(
            request,
            session,
            principal,
            item,
            usecase_id,
            chosen,
            status_code=error.status_code,
            message=error.message,
        )
    return RedirectResponse(item_url(item.id, usecase_id, chosen), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/reviews/{item_id}/decision", dependencies=[auth.CsrfChecked])
def decide_item(
    item_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    decision: Annotated[str, Form()] = "",
    output: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    usecase: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "",
) -> Response:
    """Approve, edit or reject an item you hold, then take the next one (or go back to an empty queue)."""
    usecase_id, chosen = usecase or None, choose_order(order)
    item = reviews.get(session, item_id=item_id)
    # Refuse those who may not decide before reading what they sent: a 422 would tell them about the item.
    service.require(session, principal, Action.review_decide, item.usecase_id)
    try:
        reviews.decide(
            session,
            actor=principal,
            item_id=item.id,
            decision=decision,
            output=corrected_output(output) if decision == "edit" else None,
            reason_code=(reason_code or None) if decision != "approve" else None,
            note=note.strip() or None,
        )
        session.commit()
    except (InvalidInput, Conflict) as error:
        session.rollback()
        return _item_page(
            request,
            session,
            principal,
            reviews.get(session, item_id=item_id),
            usecase_id,
            chosen,
            status_code=error.status_code,
            message=error.message,
            problems=[p.message for p in error.problems],
            output_text=output,
            chosen_reason=reason_code,
            note=note,
        )
    webhooks.notify(item, allowed=request.app.state.settings.outbound_hosts)
    scope = review_scope(session, principal, usecase_id, item)
    following = take_following(session, principal, usecase_id=scope, order=chosen)
    session.commit()
    return _go_on(following, scope, chosen)


# --- a use case's rollout ---


def _version_label(session: Session, version_id: str | None) -> dict[str, Any] | None:
    if version_id is None:
        return None
    version = session.get(ModelVersion, version_id)
    if version is None:
        return {"id": version_id, "label": version_id, "url": None}
    return {
        "id": version.id,
        "label": version.label,
        "url": f"/usecases/{version.usecase_id}/models/{version.id}",
    }


def transition_row(view: Mapping[str, Any]) -> dict[str, Any]:
    """A transition (as ``service.transition_view`` has it) with its verdict's criteria, for a table."""
    verdict = view.get("verdict") or None
    return {
        **view,
        "at": stamp(datetime.fromisoformat(view["at"])),
        "verdict": None
        if verdict is None
        else {
            "outcome": verdict.get("outcome"),
            "reason": verdict.get("reason"),
            "results": [r for r in verdict.get("results") or [] if isinstance(r, Mapping)],
        },
    }


def latest_records(session: Session, usecase_id: str) -> list[dict[str, Any]]:
    """The newest inference records, as the log keeps them: redacted by the rollout's policy."""
    found = session.scalars(
        select(InferenceRecord)
        .where(InferenceRecord.usecase_id == usecase_id)
        .order_by(InferenceRecord.at.desc())
        .limit(RECORDS_SHOWN)
    ).all()
    return [
        {
            **routes.record_view(r),
            "at": stamp(r.at, seconds=True),
            "input_json": pretty(r.input),
            "output_json": pretty(r.output),
        }
        for r in found
    ]


def _live_context(session: Session, principal: Principal, usecase_id: str) -> dict[str, Any]:
    """What the kill switch changes: the state, the switch and the transitions."""
    rollout = service.get(session, usecase_id=usecase_id)
    view = service.rollout_view(rollout) if rollout else None
    return {
        "usecase": _usecase(session, usecase_id),
        "rollout": None
        if view is None or rollout is None
        else {
            **view,
            "updated_at": stamp(rollout.updated_at),
            "last_window": last_window(rollout),
            "primary_version": _version_label(session, view["primary"]),
            "candidate_version": _version_label(session, view["candidate"]),
        },
        "transitions": [
            transition_row(service.transition_view(t))
            for t in service.history(session, usecase_id=usecase_id)[:TRANSITIONS_SHOWN]
        ],
        "may_kill": may(session, principal, Action.rollout_kill, usecase_id),
        "needs": NEEDS,
        "message": None,
        "saved": None,
        "reason": "",
    }


def last_window(rollout: Rollout) -> dict[str, Any] | None:
    """The newest judged window as the page shows it, its time in the page's own format."""
    if not rollout.last_window:
        return None
    judged = dict(rollout.last_window)
    judged["at"] = stamp(datetime.fromisoformat(judged["at"]), seconds=True)
    return judged


ROLLOUT_EVIDENCE = ("rollout.shadow", "rollout.supervised", "rollout.canary")


def rollout_evidence(session: Session, usecase_id: str) -> list[dict[str, Any]]:
    """The newest evidence of each rollout kind, as the gates read it, with how many there are."""
    return [
        {
            "kind": newest.kind,
            "count": count,
            "at": stamp(newest.created_at),
            "payload": {k: v for k, v in (newest.payload or {}).items() if not isinstance(v, dict | list)},
        }
        for newest, count in evidence_service.newest_of_kinds(
            session, usecase_id=usecase_id, kinds=ROLLOUT_EVIDENCE
        )
    ]


def current_window(session: Session, rollout: Rollout | None) -> dict[str, Any] | None:
    """The analysis window under way: when it ends, and each arm's requests so far against the minimum."""
    if rollout is None or rollout.window_started_at is None or rollout.stage not in JUDGED_STAGES:
        return None
    started = _aware(rollout.window_started_at)
    counts = analysis_runs.requests_so_far(session, rollout)
    return {
        "started": stamp(started, seconds=True),
        "ends": stamp(started + timedelta(seconds=rollout.window_seconds), seconds=True),
        "seconds": rollout.window_seconds,
        "min_samples": rollout.min_samples,
        "arms": [{"arm": arm, "requests": counts.get(arm, 0)} for arm in ("primary", "candidate")],
    }


def _page_context(session: Session, principal: Principal, usecase_id: str) -> dict[str, Any]:
    context = _live_context(session, principal, usecase_id)
    current = context["rollout"]["stage"] if context["rollout"] else "off"
    context.update(
        nav="portfolio",
        gates=[
            {
                "stage": stage,
                "problems": service.gate_problems(session, usecase_id=usecase_id, stage=stage),
                "current": stage == current,
            }
            for stage in service.STAGES
        ],
        records=latest_records(session, usecase_id),
        workload=reviews.workload(session, usecase_id=usecase_id),
        reviews_url=queue_url(usecase_id, "oldest"),
        may_move=may(session, principal, Action.rollout_manage, usecase_id),
        may_override=may(session, principal, Action.phase_override, usecase_id),
        versions=[
            {"id": v.id, "label": v.label, "version": v.version, "status": v.status}
            for v in registry.list_versions(session, usecase_id=usecase_id)
        ],
        stages=service.STAGES,
        evidence=rollout_evidence(session, usecase_id),
        window=current_window(session, service.get(session, usecase_id=usecase_id)),
        move=None,
        move_error=None,
    )
    return context


@router.get("/usecases/{usecase_id}/rollout")
def rollout_page(
    usecase_id: str, request: Request, session: SessionDep, principal: PagePrincipal, moved: str = ""
) -> Response:
    """The rollout: stage, versions, kill switch, transitions, what the gates allow, the newest records."""
    principal.require(Action.read, usecase_id)
    context = _page_context(session, principal, usecase_id)
    context["moved"] = moved if moved in service.STAGES else None
    return templates.TemplateResponse(request, "rollout/rollout.html", context, headers=PAGE_HEADERS)


def _whole_number(text: str, field_name: str, problems: list[Problem]) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        problems.append(Problem(f"'{text}' is not a whole number", field=field_name))
        return None


class MoveForm(BaseModel):
    """The "Move traffic" form as typed: shown again as it was when the move is refused."""

    stage: str
    primary: str = ""
    candidate: str = ""
    weight: str = ""
    window_seconds: str = ""
    min_samples: str = ""
    criteria: str = ""
    override_reason: str = ""

    def change(self) -> service.StageChange:
        """What the form asks of the service; blanks leave a setting as it is; every bad number named."""
        problems: list[Problem] = []
        weight = _whole_number(self.weight, "weight", problems)
        window_seconds = _whole_number(self.window_seconds, "window_seconds", problems)
        min_samples = _whole_number(self.min_samples, "min_samples", problems)
        if problems:
            raise InvalidInput("the rollout is not valid; nothing changed", problems)
        lines: list[dict[str, Any] | str] = [
            line.strip() for line in self.criteria.splitlines() if line.strip()
        ]
        return service.StageChange(
            stage=self.stage.strip(),
            primary=self.primary.strip() or None,
            candidate=self.candidate.strip() or None,
            criteria=lines or None,
            weight=weight,
            window_seconds=window_seconds,
            min_samples=min_samples,
            override_reason=self.override_reason.strip() or None,
        )


@router.post("/usecases/{usecase_id}/rollout/stage", dependencies=[auth.CsrfChecked])
def move_traffic(
    usecase_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[MoveForm, Form()],
) -> Response:
    """Set the stage as far as the gates allow (or further, with a lead's reason); back to the page."""
    try:
        change = form.change()
        service.set_stage(session, actor=principal, usecase_id=usecase_id, change=change)
        session.commit()
    except PhasegateError as error:
        session.rollback()
        context = _page_context(session, principal, usecase_id)
        context.update(move=form.model_dump(), move_error=error, moved=None)
        return templates.TemplateResponse(
            request, "rollout/rollout.html", context, status_code=error.status_code, headers=PAGE_HEADERS
        )
    return RedirectResponse(
        f"/usecases/{usecase_id}/rollout?moved={change.stage}#traffic", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/usecases/{usecase_id}/rollout/kill", dependencies=[auth.CsrfChecked])
def kill_switch(
    usecase_id: str,
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    reason: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "1",
) -> Response:
    """Pull the kill switch with a reason (on=0 revives); HTMX gets the state and transitions back."""
    pulled = on != "0"
    try:
        service.kill(session, actor=principal, usecase_id=usecase_id, reason=reason.strip(), on=pulled)
        session.commit()
    except PhasegateError as error:
        session.rollback()
        if not is_htmx(request):
            raise
        context = {
            **_live_context(session, principal, usecase_id),
            "message": error.message,
            "reason": reason,
        }
        return templates.TemplateResponse(
            request, "rollout/_live.html", context, status_code=error.status_code, headers=PAGE_HEADERS
        )
    if not is_htmx(request):
        return RedirectResponse(f"/usecases/{usecase_id}/rollout#live", status_code=status.HTTP_303_SEE_OTHER)
    context = {**_live_context(session, principal, usecase_id), "saved": "killed" if pulled else "revived"}
    return templates.TemplateResponse(request, "rollout/_live.html", context, headers=PAGE_HEADERS)
