"""What every API route shares: the store session, the caller, and errors as JSON problems."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phasegate.errors import NotAuthenticated, PhasegateError
from phasegate.identity import service as identity_service
from phasegate.identity.service import Principal
from phasegate.settings import Settings
from phasegate.store import Store

API_PREFIX = "/api/v1"
GATEWAY_PREFIX = "/gateway/v1"  # the gateway's own API, served by replicas and by `serve --gateway`
_bearer = HTTPBearer(auto_error=False, description="an API token from `phasegate token create`")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    """A session per request; a route that changes anything commits before it answers."""
    with store.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer token (or the local operator when the CLI runs in-process)."""
    local: Principal | None = getattr(request.app.state, "local_principal", None)
    if local is not None:
        return local
    if credentials is None:
        raise NotAuthenticated("an API token is needed: send 'Authorization: Bearer <token>'")
    user = identity_service.authenticate_token(session, credentials.credentials)
    return identity_service.principal_of(user)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def error_body(error: PhasegateError) -> dict[str, object]:
    return {"detail": error.message, "problems": [p.as_dict() for p in error.problems]}


def install_error_handlers(app: FastAPI) -> None:
    """Every phasegate error answers with its status and the problems it names."""

    @app.exception_handler(IntegrityError)
    async def _still_referenced(request: Request, error: IntegrityError) -> JSONResponse:
        # The store refused: a record others depend on (evidence is kept forever) or a duplicate.
        body = {
            "detail": "the store refused the change: the record is referred to by others or already "
            "exists (a use case with evidence cannot be deleted; retire it instead)",
            "problems": [],
        }
        return JSONResponse(body, status_code=409)

    @app.exception_handler(PhasegateError)
    async def _phasegate_error(request: Request, error: PhasegateError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return JSONResponse(error_body(error), status_code=error.status_code, headers=headers)
