"""Evidence: the one currency between parts. Producers publish here; gates read from here.

A record is immutable: its SHA-256 covers the kind, the use case, the producer, the inputs'
fingerprints, the payload and any attachment, and the store refuses UPDATE and DELETE on it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phasegate.errors import InvalidInput, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.chain import canonical
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle.models import Evidence
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now

KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_ATTACHMENT = 20 * 1024 * 1024


def fingerprint(data: bytes) -> str:
    """The SHA-256 of some bytes, as inputs are fingerprinted."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest(record: Evidence) -> str:
    """The SHA-256 an evidence record carries: every field that says what was observed."""
    body = {
        "id": record.id,
        "kind": record.kind,
        "usecase": record.usecase_id,
        "producer": record.producer,
        "inputs": record.inputs,
        "payload": record.payload,
        "url": record.url,
        "attachment": None if record.attachment is None else fingerprint(record.attachment),
        "created_at": record.created_at.isoformat(),
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def publish(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    kind: str,
    producer: str,
    payload: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
    url: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> Evidence:
    """Record one piece of evidence for a use case; the publishing API every producer calls."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.evidence_publish, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    problems = []
    if not KIND.match(kind):
        problems.append(Problem("must be dotted lower-case words, like data.audit", field="kind"))
    if attachment is not None and len(attachment[1]) > MAX_ATTACHMENT:
        problems.append(Problem(f"larger than {MAX_ATTACHMENT // (1024 * 1024)} MiB", field="attachment"))
    if problems:
        raise InvalidInput("the evidence is not valid; nothing was written", problems)
    record = Evidence(
        id="ev-" + secrets.token_hex(8),
        usecase_id=usecase_id,
        kind=kind,
        producer=producer,
        published_by=actor.name,
        inputs=dict(inputs or {}),
        payload=dict(payload),
        url=url,
        attachment_name=attachment[0] if attachment else None,
        attachment=attachment[1] if attachment else None,
        created_at=now(),
    )
    record.sha256 = digest(record)
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "evidence.publish", "evidence", record.id, after=summary(record), usecase_id=usecase_id
        ),
    )
    return record


def summary(record: Evidence) -> dict[str, Any]:
    """An evidence record as the doors show it (the attachment by name and fingerprint only)."""
    return {
        "id": record.id,
        "usecase": record.usecase_id,
        "kind": record.kind,
        "producer": record.producer,
        "published_by": record.published_by,
        "inputs": record.inputs,
        "payload": record.payload,
        "url": record.url,
        "attachment": None
        if record.attachment is None
        else {
            "name": record.attachment_name,
            "sha256": fingerprint(record.attachment),
            "bytes": len(record.attachment),
        },
        "sha256": record.sha256,
        "intact": digest(record) == record.sha256,
        "created_at": record.created_at.isoformat(),
    }


def get(session: Session, *, evidence_id: str) -> Evidence:
    """One evidence record, or NotFound."""
    record = session.get(Evidence, evidence_id)
    if record is None:
        raise NotFound(f"no evidence '{evidence_id}'")
    return record


def get_all(session: Session, *, usecase_id: str, kind: str | None = None) -> Sequence[Evidence]:
    """A use case's evidence, newest first, optionally of one kind."""
    query = select(Evidence).where(Evidence.usecase_id == usecase_id)
    if kind:
        query = query.where(Evidence.kind == kind)
    return session.scalars(query.order_by(Evidence.created_at.desc(), Evidence.id)).all()


def newest_of_kinds(session: Session, *, usecase_id: str, kinds: Sequence[str]) -> list[tuple[Evidence, int]]:
    """The newest record of each kind the use case has any of, with how many of that kind, in kinds' order."""
    counts = dict(
        session.execute(
            select(Evidence.kind, func.count())
            .where(Evidence.usecase_id == usecase_id, Evidence.kind.in_(kinds))
            .group_by(Evidence.kind)
        ).all()
    )
    newest = (
        select(Evidence)
        .where(Evidence.usecase_id == usecase_id)
        .order_by(Evidence.created_at.desc(), Evidence.id)
        .limit(1)
    )
    return [
        (session.scalars(newest.where(Evidence.kind == kind)).one(), counts[kind])
        for kind in kinds
        if counts.get(kind)
    ]
