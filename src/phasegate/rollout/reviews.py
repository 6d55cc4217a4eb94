"""The review queue: model outputs held for a person, reserved by one reviewer at a time, decided.

Items come oldest first, or least confident first. Taking an item reserves it for a few minutes, by a
conditional update, so two reviewers never hold the same item; a reservation that lapses returns the
item to the queue. A decision becomes the label of the inference record (for evaluation and
monitoring), releases the answer to the caller, and drops the clear copy of the input: from then on
only the redacted record remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action, allowed
from phasegate.identity.service import Principal
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.models import UseCase
from phasegate.rollout import service
from phasegate.rollout.models import InferenceRecord, ReviewItem
from phasegate.store import now

RESERVATION = timedelta(minutes=5)
DECISIONS = ("approve", "edit", "reject")
REASON_CODES = ("incorrect", "outdated", "missing_context", "conflicts_with_policy", "unsafe")
Order = Literal["oldest", "least_confident"]


def item_view(item: ReviewItem, *, at: datetime | None = None, content: bool = True) -> dict[str, Any]:
    """An item as the doors show it; without content, a pending item's clear input and output stay out."""
    moment = at or now()
    hidden = not content and item.status == "pending"
    return {
        "id": item.id,
        "usecase": item.usecase_id,
        "version": item.version_id,
        "input": None if hidden else item.input,
        "proposed": None if hidden else item.proposed,
        "confidence": item.confidence,
        "reason": item.reason,
        "status": item.status,
        "reserved_by": item.reserved_by if _reserved(item, moment) else None,
        "reserved_until": item.reserved_until.isoformat()
        if _reserved(item, moment) and item.reserved_until
        else None,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "reason_code": item.reason_code,
        "note": item.note,
        "released": item.released,
        "due_at": item.due_at.isoformat(),
        "overdue": item.status == "pending" and _aware(item.due_at) < moment,
        "created_at": item.created_at.isoformat(),
    }


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _reserved(item: ReviewItem, moment: datetime) -> bool:
    return item.reserved_until is not None and _aware(item.reserved_until) > moment


def queue(
    session: Session, *, usecase_id: str | None = None, order: Order = "oldest", limit: int = 50
) -> Sequence[ReviewItem]:
    """Pending items, oldest or least confident first."""
    query = select(ReviewItem).where(ReviewItem.status == "pending")
    if usecase_id is not None:
        query = query.where(ReviewItem.usecase_id == usecase_id)
    if order == "least_confident":
        # Items without a confidence come first: nothing says the model was sure of them.
        query = query.order_by(
            ReviewItem.confidence.is_not(None), ReviewItem.confidence, ReviewItem.created_at
        )
    else:
        query = query.order_by(ReviewItem.created_at, ReviewItem.id)
    return session.scalars(query.limit(limit)).all()


def get(session: Session, *, item_id: str) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"no review item '{item_id}'")
    return item


def take(session: Session, *, actor: Principal, item_id: str) -> ReviewItem:
    """Reserve an item for this reviewer, unless someone else holds it."""
    item = get(session, item_id=item_id)
    service.require(session, actor, Action.review_decide, item.usecase_id)
    if item.status != "pending":
        raise Conflict(f"review item '{item_id}' was already {item.status} by {item.decided_by}")
    moment = now()
    claimed = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.status == "pending",
            or_(
                ReviewItem.reserved_until.is_(None),
                ReviewItem.reserved_until < moment,
                ReviewItem.reserved_by == actor.name,
            ),
        )
        .values(reserved_by=actor.name, reserved_until=moment + RESERVATION)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.refresh(item)
        raise Conflict(
            f"review item '{item_id}' is reserved by {item.reserved_by} until {item.reserved_until}"
        )
    session.refresh(item)
    return item


def take_next(
    session: Session, *, actor: Principal, usecase_id: str | None = None, order: Order = "oldest"
) -> ReviewItem | None:
    """Reserve the first pending item nobody else holds, or None when the queue is empty."""
    if usecase_id is not None:
        service.require(session, actor, Action.review_decide, usecase_id)
    seen = refused = 0
    for item in queue(session, usecase_id=usecase_id, order=order, limit=200):
        seen += 1
        try:
            return take(session, actor=actor, item_id=item.id)
        except Conflict:  # held by someone else
            continue
        except Forbidden:  # a use case this reviewer has no role on
            refused += 1
    if (
        usecase_id is None
        and refused == seen
        and not actor.usecase_roles
        and not _reviews_anywhere(session, actor)
    ):
        # Nothing here was theirs to take: say whether they may review at all, rather than "empty".
        actor.require(Action.review_decide)
    return None


def _reviews_anywhere(session: Session, actor: Principal) -> bool:
    """Whether an owner field of some use case makes the caller one who may decide its items."""
    return any(
        allowed(Action.review_decide, portfolio_service.ownership_roles(usecase, actor))
        for usecase in session.scalars(select(UseCase))
    )


def can_decide(session: Session, *, actor: Principal, usecase_id: str) -> bool:
    """Whether the caller may see a held item's clear content and decide it."""
    try:
        service.require(session, actor, Action.review_decide, usecase_id)
    except Forbidden:
        return False
    return True


def release(session: Session, *, actor: Principal, item_id: str) -> ReviewItem:
    """Give back an item this reviewer holds, so the next reviewer can take it at once."""
    item = get(session, item_id=item_id)
    service.require(session, actor, Action.review_decide, item.usecase_id)
    if item.reserved_by == actor.name and item.status == "pending":
        item.reserved_by, item.reserved_until = None, None
    return item


def decide(
    session: Session,
    *,
    actor: Principal,
    item_id: str,
    decision: str,
    output: dict[str, Any] | None = None,
    reason_code: str | None = None,
    note: str | None = None,
) -> ReviewItem:
    """Approve, edit or reject an item this reviewer holds; the decision labels the inference record."""
    item = get(session, item_id=item_id)
    service.require(session, actor, Action.review_decide, item.usecase_id)
    problems = []
    if decision not in DECISIONS:
        problems.append(Problem(f"must be one of {', '.join(DECISIONS)}", field="decision"))
    if reason_code is not None and reason_code not in REASON_CODES:
        problems.append(Problem(f"must be one of {', '.join(REASON_CODES)}", field="reason_code"))
    elif decision in ("edit", "reject") and reason_code is None:
        problems.append(Problem(f"say why: one of {', '.join(REASON_CODES)}", field="reason_code"))
    if decision == "edit" and output is None:
        problems.append(Problem("an edit needs the corrected output", field="output"))
    if problems:
        raise InvalidInput("the review decision is not valid; nothing changed", problems)
    if item.status != "pending":
        raise Conflict(f"review item '{item_id}' was already {item.status} by {item.decided_by}")
    if not (_reserved(item, now()) and item.reserved_by == actor.name):
        holder = f"{item.reserved_by}'s" if _reserved(item, now()) else "nobody's"
        raise Conflict(f"take review item '{item_id}' first: it is {holder} to decide")
    released = {"approve": item.proposed, "edit": output, "reject": None}[decision]
    item.status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[decision]
    item.decided_by, item.decided_at = actor.name, now()
    item.reason_code, item.note, item.released = reason_code, note, released
    record = session.get(InferenceRecord, item.id)
    if record is not None:
        record.label = {"decision": decision, "reason_code": reason_code, "overridden": decision != "approve"}
        record.label_source = "review"
        record.labelled_at = item.decided_at
        # The clear copy was there for the reviewer; the log keeps only the redacted one.
        item.input, item.proposed = record.input, record.output
        if decision == "edit":
            item.released = output
    else:
        # No redacted copy to keep: the clear one goes all the same.
        item.input, item.proposed = None, None
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "review.decide",
            "review_item",
            item.id,
            usecase_id=item.usecase_id,
            after={"decision": decision, "reason_code": reason_code},
        ),
    )
    return item


def workload(session: Session, *, usecase_id: str | None = None) -> dict[str, Any]:
    """Pending, overdue and reserved items, and each reviewer's decisions in the last day."""
    moment = now()
    base = select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "pending")
    if usecase_id is not None:
        base = base.where(ReviewItem.usecase_id == usecase_id)
    pending = session.scalar(base) or 0
    overdue = session.scalar(base.where(ReviewItem.due_at < moment)) or 0
    reserved = session.scalar(base.where(ReviewItem.reserved_until > moment)) or 0
    decided = select(ReviewItem.decided_by, func.count()).where(
        and_(ReviewItem.decided_at.is_not(None), ReviewItem.decided_at > moment - timedelta(days=1))
    )
    if usecase_id is not None:
        decided = decided.where(ReviewItem.usecase_id == usecase_id)
    by_reviewer = {name: count for name, count in session.execute(decided.group_by(ReviewItem.decided_by))}
    return {"pending": pending, "overdue": overdue, "reserved": reserved, "decided_last_day": by_reviewer}
