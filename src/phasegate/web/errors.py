"""Errors on the pages answer as pages; errors under the APIs keep answering as JSON problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from phasegate.api import API_PREFIX, GATEWAY_PREFIX
from phasegate.errors import PhasegateError
from phasegate.web import auth
from phasegate.web.templating import templates

Handler = Callable[[Request, Exception], Awaitable[Response]]

TITLES = {
    status.HTTP_400_BAD_REQUEST: "That request could not be understood",
    status.HTTP_401_UNAUTHORIZED: "Please log in",
    status.HTTP_403_FORBIDDEN: "Not allowed",
    status.HTTP_404_NOT_FOUND: "Not found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "Not allowed here",
    status.HTTP_409_CONFLICT: "Conflict",
    status.HTTP_422_UNPROCESSABLE_CONTENT: "Some input is not valid",
}


def is_page(request: Request) -> bool:
    """Whether the request is for a page rather than the API or the gateway's API."""
    path = request.url.path
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in (API_PREFIX, GATEWAY_PREFIX))


def is_htmx(request: Request) -> bool:
    """Whether HTMX sent the request to swap part of a page (a history restore wants the whole page)."""
    return "HX-Request" in request.headers and "HX-History-Restore-Request" not in request.headers


def error_page(request: Request, status_code: int, message: str,
               problems: list[str] | None = None) -> Response:
    """The error page, with the status and a message the reader can act on."""
    context = {"title": TITLES.get(status_code, "Something went wrong"), "message": message,
               "problems": problems or [], "status_code": status_code}
    return templates.TemplateResponse(request, "error.html", context, status_code=status_code)


def install_page_error_handlers(app: FastAPI) -> None:
    """Login redirects, CSRF refusals and phasegate errors on pages render HTML; the API is left as it was."""
    api_error: Handler | None = app.exception_handlers.get(PhasegateError)  # type: ignore[assignment]

    @app.exception_handler(auth.LoginRequired)
    async def _login_required(request: Request, error: auth.LoginRequired) -> Response:
        target = auth.login_url(error.next_url)
        if is_htmx(request):
            # A redirect would be followed inside the XHR and the login form swapped into the page.
            return Response(status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)

    @app.exception_handler(auth.CsrfRejected)
    async def _csrf_rejected(request: Request, error: auth.CsrfRejected) -> Response:
        message = f"This form was refused: {error.reason}. Reload the page and send it again."
        return error_page(request, status.HTTP_403_FORBIDDEN, message)

    @app.exception_handler(PhasegateError)
    async def _phasegate_error(request: Request, error: PhasegateError) -> Response:
        if not is_page(request) and api_error is not None:
            return await api_error(request, error)
        return error_page(request, error.status_code, error.message, [str(p) for p in error.problems])

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if is_page(request) and "text/html" in request.headers.get("accept", ""):
            return error_page(request, error.status_code, str(error.detail))
        return await http_exception_handler(request, error)
