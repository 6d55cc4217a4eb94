"""The append-only audit log: every mutation, who, when, before and after, chained by SHA-256."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.identity import chain
from phasegate.identity.models import AuditEntry, AuditHead, audit_payload
from phasegate.store import now


@dataclass(frozen=True)
class Change:
    """One mutation to record: what was done to which thing, and its state before and after."""

    action: str
    target_type: str
    target_id: str
    before: Any = None
    after: Any = None
    usecase_id: str | None = None


def record(session: Session, *, actor: str, change: Change) -> AuditEntry:
    """Append one entry in the caller's transaction, so the change and its record commit together."""
    return record_many(session, actor=actor, changes=[change])[0]


def record_many(session: Session, *, actor: str, changes: Sequence[Change]) -> list[AuditEntry]:
    """Append entries for a batch of changes under one lock of the chain's head."""
    if not changes:
        return []
    head = _lock_head(session)
    at = now().isoformat(timespec="microseconds")
    written = []
    for change in changes:
        entry = AuditEntry(
            seq=head.seq + 1,
            at=at,
            actor=actor,
            action=change.action,
            target_type=change.target_type,
            target_id=change.target_id,
            usecase_id=change.usecase_id,
            before=None if change.before is None else chain.canonical(chain.redact(change.before)),
            after=None if change.after is None else chain.canonical(chain.redact(change.after)),
            prev_hash=head.hash,
        )
        entry.hash = chain.entry_hash(audit_payload(entry))
        head.seq, head.hash = entry.seq, entry.hash
        written.append(entry)
    session.add_all(written)
    session.flush()
    return written


def _lock_head(session: Session) -> AuditHead:
    # FOR UPDATE serialises writers on PostgreSQL; SQLite holds one writer at a time anyway.
    head = session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=chain.GENESIS)
        session.add(head)
        session.flush()
    return head


def entries(
    session: Session,
    *,
    usecase_id: str | None = None,
    actor: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    """The newest entries first, filtered by use case and actor."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if usecase_id:
        query = query.where(AuditEntry.usecase_id == usecase_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    return session.scalars(query.limit(limit).offset(offset)).all()


def verify(session: Session) -> chain.Verification:
    """Check the whole chain against the stored hashes and head."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    head = session.get(AuditHead, 1)
    return chain.verify(
        (audit_payload(r) for r in rows),
        (r.hash for r in rows),
        None if head is None else (head.seq, head.hash),
    )
