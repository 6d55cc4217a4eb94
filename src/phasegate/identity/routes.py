"""Identity's REST routes: users, roles, tokens and the audit log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field

from phasegate.api import CurrentPrincipal, SessionDep
from phasegate.identity import audit
from phasegate.identity import service as identity_service
from phasegate.identity.models import AuditEntry, User
from phasegate.identity.roles import Action

router = APIRouter(tags=["identity"])


class UserCreate(BaseModel):
    name: str
    role: str
    usecase: str | None = None
    password: str | None = Field(None, description="left out: one is generated and returned once")


class RoleGrantCreate(BaseModel):
    role: str
    usecase: str | None = None


def user_public(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "active": user.active,
        "roles": [{"role": g.role, "usecase": g.usecase_id} for g in user.grants],
    }


@router.get("/me")
def read_me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the token belongs to, and its roles."""
    return {
        "name": principal.name,
        "roles": sorted(r.value for r in principal.global_roles),
        "usecase_roles": {k: sorted(r.value for r in v) for k, v in principal.usecase_roles.items()},
    }


@router.get("/users")
def list_users(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Every user and their roles."""
    principal.require(Action.user_manage)
    users = identity_service.list_users(session)
    return {"data": [user_public(u) for u in users], "count": len(users)}


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Create a user with one role; a generated password is returned once."""
    user, generated = identity_service.add_user(
        session,
        actor=principal,
        name=body.name,
        role=body.role,
        usecase_id=body.usecase,
        password=body.password,
    )
    session.commit()
    return {"user": user_public(user), "generated_password": generated}


@router.post("/users/{name}/roles")
def grant_role(
    name: str, body: RoleGrantCreate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Give a user another role, globally or on one use case."""
    user = identity_service.grant_role(
        session, actor=principal, name=name, role=body.role, usecase_id=body.usecase
    )
    session.commit()
    return user_public(user)


class PasswordChange(BaseModel):
    password: str | None = Field(None, description="left out: one is generated and returned once")


@router.post("/users/{name}/password")
def change_password(
    name: str, body: PasswordChange, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Set a user's password; a generated one is returned once."""
    generated = identity_service.set_password(session, actor=principal, name=name, password=body.password)
    session.commit()
    return {"user": name, "generated_password": generated}


@router.post("/users/{name}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    name: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    label: Annotated[str, Body(embed=True)] = "cli",
) -> dict[str, Any]:
    """A new API token, shown once; only its hash is stored."""
    token = identity_service.create_token(session, actor=principal, name=name, label=label)
    session.commit()
    return {"user": name, "token": token}


def entry_public(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": f"{entry.target_type}:{entry.target_id}",
        "usecase": entry.usecase_id,
        "before": json.loads(entry.before) if entry.before else None,
        "after": json.loads(entry.after) if entry.after else None,
        "hash": entry.hash,
    }


@router.get("/audit")
def read_audit_log(
    session: SessionDep,
    principal: CurrentPrincipal,
    usecase: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Audit entries, newest first, by use case or actor."""
    principal.require(Action.audit_read, usecase)
    rows = audit.entries(session, usecase_id=usecase, actor=actor, limit=limit, offset=offset)
    return {"data": [entry_public(e) for e in rows], "count": len(rows)}


@router.get("/audit/verify")
def verify_audit_log(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Recompute the hash chain; name the first entry that was changed, removed or reordered."""
    principal.require(Action.audit_read)
    result = audit.verify(session)
    broken = None if result.broken is None else {"seq": result.broken.seq, "reason": result.broken.reason}
    return {"ok": result.ok, "entries": result.entries, "broken": broken}
