"""The login form and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from phasegate.api import SessionDep
from phasegate.errors import NotAuthenticated
from phasegate.web import auth
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

# Deliberately the same whichever of the two was wrong, so user names cannot be probed.
WRONG_CREDENTIALS = "Wrong user name or password."


@router.get("/login")
def login_form(request: Request, next_url: Annotated[str | None, Query(alias="next")] = None) -> Response:
    """The login form; the session (and its CSRF token) starts here."""
    if auth.current_user_name(request) is not None:
        return RedirectResponse(auth.safe_next(next_url), status_code=status.HTTP_303_SEE_OTHER)
    context = {"next": auth.safe_next(next_url), "name": "", "error": None}
    return templates.TemplateResponse(request, "login.html", context, headers=auth.PAGE_HEADERS)


@router.post("/login", dependencies=[auth.CsrfChecked])
def login(request: Request, session: SessionDep, name: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "",
          next_url: Annotated[str, Form(alias="next")] = "/") -> Response:
    """Check the user name and password; back to the form with 401 when they do not match."""
    try:
        auth.log_in(request, session, name=name.strip(), password=password)
    except NotAuthenticated:
        context = {"next": auth.safe_next(next_url), "name": name.strip(), "error": WRONG_CREDENTIALS}
        return templates.TemplateResponse(request, "login.html", context, headers=auth.PAGE_HEADERS,
                                          status_code=status.HTTP_401_UNAUTHORIZED)
    return RedirectResponse(auth.safe_next(next_url), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout", dependencies=[auth.CsrfChecked])
def logout(request: Request) -> Response:
    """End the session and go back to the login form."""
    auth.log_out(request)
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
