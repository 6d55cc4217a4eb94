"""Who is looking at a page: the signed session, login and logout, and the CSRF token of every form.

The session cookie (Starlette's SessionMiddleware, signed with ``Settings.session_secret()``)
holds two things: the user's name once logged in, and a random CSRF token created on the
first page. Every POST of the web pages must send that token back, as the ``csrf_token``
form field or the ``X-CSRF-Token`` header HTMX adds from ``hx-headers``.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from phasegate.api import SessionDep
from phasegate.errors import NotFound
from phasegate.identity import service as identity_service
from phasegate.identity.service import Principal

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
USER_KEY = "user"
CSRF_KEY = "csrf"
# Pages behind the login are not kept by browsers or proxies, so logging out leaves nothing to go back to.
PAGE_HEADERS = {"Cache-Control": "no-store"}


class LoginRequired(Exception):
    """The page needs a logged-in user; the handler sends the browser to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfRejected(Exception):
    """A POST without the session's CSRF token: refused before it does anything."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created the first time a page asks for it."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def current_user_name(request: Request) -> str | None:
    """The name of the logged-in user, if any."""
    name = request.session.get(USER_KEY)
    return name if isinstance(name, str) else None


async def verify_csrf(request: Request) -> None:
    """Refuse a POST whose CSRF token is missing or is not this session's."""
    expected = request.session.get(CSRF_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form: FormData = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not isinstance(expected, str) or not expected:
        raise CsrfRejected("your session has no form token (cookies may be blocked, or the session expired)")
    if not sent:
        raise CsrfRejected("the form was sent without its security token")
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("the form's security token does not match your session")


CsrfChecked = Depends(verify_csrf)


def page_principal(request: Request, session: SessionDep) -> Principal:
    """The logged-in user as a principal; anyone else is sent to the login form."""
    name = current_user_name(request)
    if name is not None:
        try:
            user = identity_service.get_user(session, name=name)
        except NotFound:
            user = None
        if user is not None and user.active:
            return identity_service.principal_of(user)
        # The user was removed or deactivated since logging in: the session no longer counts.
        request.session.pop(USER_KEY, None)
    raise LoginRequired(_here(request))


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_url(next_url: str) -> str:
    """The login form, coming back to ``next_url`` afterwards."""
    if next_url in ("", "/"):
        return "/login"
    return "/login?" + urlencode({"next": next_url})


def safe_next(next_url: str | None) -> str:
    """Where to go after logging in: a path on this site only, never another host."""
    if not next_url:
        return "/"
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return "/"
    return next_url


def log_in(request: Request, session: SessionDep, *, name: str, password: str) -> None:
    """Check the password and start a fresh session for the user; NotAuthenticated on any failure."""
    user = identity_service.authenticate_password(session, name=name, password=password)
    # A new session on login, so a token planted before it (session fixation) is worth nothing.
    request.session.clear()
    request.session[USER_KEY] = user.name
    csrf_token(request)


def log_out(request: Request) -> None:
    """End the session."""
    request.session.clear()

