"""The playbook library: the built-ins, and an organisation's own, which shadow a built-in of the same id."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.errors import NotFound
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import playbooks
from phasegate.lifecycle.models import Playbook
from phasegate.lifecycle.playbooks import PlaybookSpec
from phasegate.store import now


def get_playbook(session: Session, *, playbook_id: str) -> PlaybookSpec:
    """The organisation's playbook of this id, else the built-in one, else NotFound listing the ids."""
    stored = session.get(Playbook, playbook_id)
    if stored is not None:
        return playbooks.parse_playbook(stored.document)
    builtin = playbooks.builtin_playbooks()
    if playbook_id in builtin:
        return builtin[playbook_id]
    known = ", ".join(sorted(set(builtin) | {p.id for p in session.scalars(select(Playbook))}))
    raise NotFound(f"no playbook '{playbook_id}'; playbooks: {known}")


def list_playbooks(session: Session) -> list[tuple[PlaybookSpec, Literal["built-in", "custom"]]]:
    """Every playbook a plan can use, built-ins first, each with where it comes from."""
    found: dict[str, tuple[PlaybookSpec, Literal["built-in", "custom"]]] = {
        key: (spec, "built-in") for key, spec in playbooks.builtin_playbooks().items()
    }
    for stored in session.scalars(select(Playbook).order_by(Playbook.id)):
        found[stored.id] = (playbooks.parse_playbook(stored.document), "custom")
    return list(found.values())


def apply_playbook(
    session: Session, *, actor: Principal, spec: PlaybookSpec
) -> Literal["created", "updated", "unchanged"]:
    """Store an organisation's playbook; plans already started keep the copy they were made from."""
    actor.require(Action.playbook_manage)
    document = spec.document()
    stored = session.get(Playbook, spec.id)
    if stored is not None and stored.document == document:
        return "unchanged"
    before = None if stored is None else stored.document
    if stored is None:
        session.add(Playbook(id=spec.id, name=spec.name, document=document))
    else:
        stored.name, stored.document = spec.name, document
        stored.revision += 1
        stored.updated_at = now()
    session.flush()
    audit.record(
        session, actor=actor.name, change=Change("playbook.apply", "playbook", spec.id, before, document)
    )
    return "created" if before is None else "updated"
