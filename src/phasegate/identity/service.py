"""Users, role grants and tokens; who the caller is and whether they may act."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound, Problem
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.models import ApiToken, RoleGrant, User
from phasegate.identity.roles import Action, Role, allowed, parse_role
from phasegate.store import now

_hasher = PasswordHasher()
TOKEN_PREFIX = "pg_"


@dataclass(frozen=True)
class Principal:
    """The caller: a name for the audit log, global roles and roles per use case."""

    name: str
    global_roles: frozenset[Role] = frozenset()
    usecase_roles: dict[str, frozenset[Role]] = field(default_factory=dict)
    user_id: int | None = None

    def roles_on(self, usecase_id: str | None, extra: set[Role] | None = None) -> set[Role]:
        """Global roles, plus those granted on this use case, plus any the caller derives (ownership)."""
        roles = set(self.global_roles) | (extra or set())
        if usecase_id is not None:
            roles |= self.usecase_roles.get(usecase_id, frozenset())
        return roles

    def require(self, action: Action, usecase_id: str | None = None, extra: set[Role] | None = None) -> None:
        """Refuse with 403, naming the roles that would do, unless a role permits the action."""
        if not allowed(action, self.roles_on(usecase_id, extra)):
            from phasegate.identity.roles import PERMISSIONS

            needed = ", ".join(sorted(r.value for r in PERMISSIONS[action]))
            where = f" on use case '{usecase_id}'" if usecase_id else ""
            raise Forbidden(f"{self.name} may not {action.value}{where}; it needs one of: {needed}")


@cache
def _dummy_hash() -> str:
    # Made on first use: hashing takes a noticeable moment, and most processes never need it.
    return _hasher.hash("not a password anyone has")


def principal_of(user: User) -> Principal:
    """The principal a stored user acts as."""
    global_roles: set[Role] = set()
    scoped: dict[str, set[Role]] = {}
    for grant in user.grants:
        role = Role(grant.role)
        if grant.usecase_id is None:
            global_roles.add(role)
        else:
            scoped.setdefault(grant.usecase_id, set()).add(role)
    return Principal(
        name=user.name,
        global_roles=frozenset(global_roles),
        usecase_roles={k: frozenset(v) for k, v in scoped.items()},
        user_id=user.id,
    )


def local_operator(os_user: str) -> Principal:
    """Whoever runs the CLI on the store's own machine: an admin, recorded by OS user name."""
    return Principal(name=f"os:{os_user}", global_roles=frozenset({Role.admin}))


def get_user(session: Session, *, name: str) -> User:
    """The user of that name, or NotFound."""
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user named '{name}'")
    return user


def list_users(session: Session) -> Sequence[User]:
    """Every user, by name."""
    return session.scalars(select(User).order_by(User.name)).all()


def _user_view(user: User) -> dict[str, object]:
    return {
        "name": user.name,
        "active": user.active,
        "roles": sorted(f"{g.role}@{g.usecase_id}" if g.usecase_id else g.role for g in user.grants),
    }


def validate_password(password: str) -> None:
    """Refuse passwords too short to resist guessing."""
    if len(password) < 10:
        raise InvalidInput(
            "password too short", [Problem("must be at least 10 characters", field="password")]
        )


def add_user(
    session: Session,
    *,
    actor: Principal,
    name: str,
    role: str,
    usecase_id: str | None = None,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Create a user with one role; returns the user and the generated password, if one was made."""
    actor.require(Action.user_manage)
    name = name.strip()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise InvalidInput("bad user name", [Problem("1-80 characters without spaces", field="name")])
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise InvalidInput("bad role", [Problem(str(exc), field="role")]) from exc
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise Conflict(f"a user named '{name}' already exists; grant it a role instead")
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(15)
    validate_password(password)
    user = User(name=name, password_hash=_hasher.hash(password))
    user.grants.append(RoleGrant(role=parsed.value, usecase_id=usecase_id))
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change("user.add", "user", name, after=_user_view(user), usecase_id=usecase_id),
    )
    return user, generated


def grant_role(
    session: Session, *, actor: Principal, name: str, role: str, usecase_id: str | None = None
) -> User:
    """Give an existing user another role, globally or on one use case."""
    actor.require(Action.user_manage)
    user = get_user(session, name=name)
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise InvalidInput("bad role", [Problem(str(exc), field="role")]) from exc
    before = _user_view(user)
    if not any(g.role == parsed.value and g.usecase_id == usecase_id for g in user.grants):
        user.grants.append(RoleGrant(role=parsed.value, usecase_id=usecase_id))
        session.flush()
        audit.record(
            session,
            actor=actor.name,
            change=Change("user.grant", "user", name, before, _user_view(user), usecase_id),
        )
    return user


def authenticate_password(session: Session, *, name: str, password: str) -> User:
    """The user whose password this is; one vague error for every failure, so names can't be probed."""
    user = session.scalars(select(User).where(User.name == name)).first()
    failure = NotAuthenticated("wrong user name or password")
    if user is None or not user.active or user.password_hash is None:
        # Spend the same time as a real check, so response times do not tell which names exist.
        with suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
        raise failure
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise failure from exc
    return user


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256: enough for 256-bit random secrets, and fast to look up."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, actor: Principal, name: str, label: str = "cli") -> str:
    """A new API token for a user, returned once; only its hash is kept."""
    if actor.name != name:
        actor.require(Action.user_manage)
    user = get_user(session, name=name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=label, token_hash=hash_token(token), prefix=token[:10])
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "token.create",
            "token",
            f"{name}:{row.id}",
            after={"user": name, "label": label, "prefix": row.prefix},
        ),
    )
    return token


def authenticate_token(session: Session, token: str) -> User:
    """The active user holding this token."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None or not row.user.active:
        raise NotAuthenticated("invalid or revoked API token")
    return row.user


def revoke_tokens(session: Session, *, actor: Principal, name: str) -> int:
    """Revoke every token of a user; returns how many."""
    if actor.name != name:
        actor.require(Action.user_manage)
    user = get_user(session, name=name)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now()
    if rows:
        audit.record(
            session,
            actor=actor.name,
            change=Change("token.revoke", "user", name, after={"revoked": len(rows)}),
        )
    return len(rows)


def set_password(session: Session, *, actor: Principal, name: str, password: str | None = None) -> str | None:
    """Set a user's password (their own, or anyone's for an admin); returns the generated one, if made."""
    if actor.name != name:
        actor.require(Action.user_manage)
    user = get_user(session, name=name)
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(15)
    validate_password(password)
    user.password_hash = _hasher.hash(password)
    audit.record(
        session, actor=actor.name, change=Change("user.password", "user", name, after={"password": "changed"})
    )
    return generated
