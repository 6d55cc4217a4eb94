"""The web UI: server-rendered pages over the same service layer as the API."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from phasegate.settings import Settings

SESSION_COOKIE = "phasegate_session"
# A working day and a bit: long enough not to interrupt a day's work, short enough that a
# cookie left on a shared machine stops working overnight.
SESSION_MAX_AGE = 12 * 60 * 60


def mount_web(app: FastAPI, settings: Settings) -> None:
    """Add the web pages, their session middleware and static files to the application."""
    from phasegate.data import web as data_web
    from phasegate.evaluation import web as evaluation_web
    from phasegate.lifecycle import web as lifecycle_web
    from phasegate.portfolio import web as portfolio_web
    from phasegate.rollout import web as rollout_web
    from phasegate.web import errors, login, static_files

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        # Served on loopback over plain HTTP by default; behind TLS the cookie would be marked secure.
        https_only=False,
    )
    errors.install_page_error_handlers(app)
    app.include_router(static_files.router)
    app.mount("/static", static_files.static_app(), name="static")
    app.include_router(login.router)
    app.include_router(portfolio_web.router)
    app.include_router(lifecycle_web.router)
    app.include_router(data_web.router)
    app.include_router(evaluation_web.router)
    app.include_router(rollout_web.router)
