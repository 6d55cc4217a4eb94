"""The one client every CLI command speaks through: the REST API, in-process or on a server.

Locally the CLI runs the application in-process as the local operator (or as ``--as NAME``);
with ``PHASEGATE_URL`` and ``PHASEGATE_TOKEN`` set it talks to that server with the token's
roles. Either way the same routes, checks and audit entries apply.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx
from sqlalchemy import inspect

from phasegate.errors import Problem
from phasegate.settings import Settings
from phasegate.store import Store


@dataclass
class ApiError(Exception):
    """An error answer from the API, with the problems it named."""

    status: int
    detail: str
    problems: list[Problem]

    def __str__(self) -> str:
        lines = [self.detail] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class Client:
    """Thin calls on the REST API that raise ApiError for any error answer."""

    def __init__(self, http: httpx.Client, *, where: str) -> None:
        self.http = http
        self.where = where

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, "/api/v1" + path, **kwargs)
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)

    def patch(self, path: str, json: Any = None) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def close(self) -> None:
        self.http.close()


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text or response.reason_phrase, [])
    detail = body.get("detail")
    problems = [Problem(**p) for p in body.get("problems", [])]
    if isinstance(detail, list):  # FastAPI's own request validation errors
        problems = [
            Problem(d.get("msg", ""), field=".".join(str(x) for x in d.get("loc", [])[1:]) or None)
            for d in detail
        ]
        detail = "the request is not valid"
    return ApiError(response.status_code, str(detail), problems)


class InProcessTransport(httpx.BaseTransport):
    """Calls an ASGI application in this process, from synchronous code, through a blocking portal."""

    def __init__(self, app: Any) -> None:
        self._transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_context.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._handle, request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        # The body must be read on the portal's event loop, where the application wrote it.
        content = await request.aread()
        request = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await self._transport.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def close(self) -> None:
        self._portal_context.__exit__(None, None, None)


class StoreNotReady(Exception):
    """The local store has not been created yet."""


def connect(settings: Settings, *, as_user: str | None = None) -> Client:
    """A client on the remote server if one is configured, else on the local store in-process."""
    if settings.url:
        if not settings.token:
            raise StoreNotReady(
                "PHASEGATE_URL is set but PHASEGATE_TOKEN is not: create one with "
                "'phasegate token create NAME' on the server"
            )
        http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            timeout=120,
            headers={"Authorization": f"Bearer {settings.token}"},
        )
        return Client(http, where=settings.url)
    from phasegate.app import create_app
    from phasegate.identity import service as identity_service

    store = Store(settings.store_url)
    if not inspect(store.engine).has_table("alembic_version"):
        store.dispose()
        raise StoreNotReady(f"no phasegate store at {_safe(settings.store_url)}: run 'phasegate init' first")
    if as_user:
        with store.session() as session:
            principal = identity_service.principal_of(identity_service.get_user(session, name=as_user))
    else:
        principal = identity_service.local_operator(getpass.getuser())
    app = create_app(settings, store=store, local_principal=principal, web=False)
    http = httpx.Client(transport=InProcessTransport(app), base_url="http://phasegate.local", timeout=None)
    return Client(http, where="local store")


def _safe(url: str) -> str:
    """A store URL without its password, fit for a message."""
    try:
        return httpx.URL(url).copy_with(password=None).__str__() if "@" in url else url
    except Exception:
        return url.split("@")[-1]
