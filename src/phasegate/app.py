"""The application: composes each part's routes and pages over one store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from phasegate import __version__, kinds
from phasegate.api import API_PREFIX, install_error_handlers
from phasegate.data import routes as data_routes
from phasegate.evaluation import routes as evaluation_routes
from phasegate.identity import routes as identity_routes
from phasegate.identity.service import Principal
from phasegate.lifecycle import routes as lifecycle_routes
from phasegate.portfolio import routes as portfolio_routes
from phasegate.rollout import routes as rollout_routes
from phasegate.settings import Settings, get_settings
from phasegate.store import Store


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    local_principal: Principal | None = None,
    web: bool = True,
    gateway: bool = False,
) -> FastAPI:
    """The API (and, unless told otherwise, the web pages) over the configured store."""
    settings = settings or get_settings()
    lifespan = None
    if gateway:
        from phasegate.rollout import gateway as gateway_

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with gateway_.running(app, app.state.store, settings, gateway_.POLL_INTERVAL_S):
                yield

    app = FastAPI(
        lifespan=lifespan,
        title="phasegate",
        version=__version__,
        description="AI use cases from pilot to production, through gates decided on evidence.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store or Store(settings.store_url)
    app.state.local_principal = local_principal
    install_error_handlers(app)
    app.include_router(identity_routes.router, prefix=API_PREFIX)
    app.include_router(portfolio_routes.router, prefix=API_PREFIX)
    app.include_router(lifecycle_routes.router, prefix=API_PREFIX)
    app.include_router(data_routes.router, prefix=API_PREFIX)
    app.include_router(evaluation_routes.router, prefix=API_PREFIX)
    app.include_router(rollout_routes.router, prefix=API_PREFIX)
    app.include_router(kinds.router, prefix=API_PREFIX)
    if gateway:
        app.include_router(gateway_.router)
    if web:
        from phasegate.web import mount_web

        mount_web(app, settings)
    return app


def create_app_with_gateway() -> FastAPI:
    """The API, the web UI and a gateway replica in one process: `phasegate serve --gateway`."""
    return create_app(gateway=True)
