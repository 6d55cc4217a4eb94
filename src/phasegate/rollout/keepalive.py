"""Plain-HTTP model calls over kept-alive connections: the gateway's own client for `http://` versions.

The gateway's latency budget is 1 ms at p50, and the upstream call is the largest part of its own work.
aiohttp spent about 0.24 ms of CPU on a loopback call here; this pool, on the httptools parser uvicorn
already uses, spends about 0.09 ms, because it does only what the gateway needs: POST a JSON body over
HTTP/1.1 and read a Content-Length or chunked reply, on connections kept open between calls. Anything
else (https, credentials in the URL) stays with aiohttp, which the gateway keeps for those.

Failures are Python's own: `TimeoutError` when the deadline passes (the connection is then closed, as
its reply may still come), `ConnectionError` when the model cannot be reached, closes the connection
before answering, or answers what is not HTTP, and `ReplyTooLarge` past the size bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

MAX_REPLY_BYTES = 16 * 1024 * 1024


class ReplyTooLarge(ConnectionError):
    """The model's reply is over the pool's size bound."""


@dataclass(frozen=True)
class Target:
    """Where a URL's requests go, and the head every request to it starts with."""

    host: str
    port: int
    head: bytes  # up to the Content-Length value

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


def target_of(url: str) -> Target | None:
    """The target of a plain `http://` URL without credentials; None for anything this pool leaves alone."""
    parts = urlsplit(url)
    if (
        parts.scheme != "http"
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
    ):
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: phasegate-gateway\r\n"
        "Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: "
    )
    return Target(parts.hostname, port, head.encode("latin-1"))


class _Connection(asyncio.Protocol):
    """One kept-alive connection: a request at a time, its reply parsed as it arrives."""

    def __init__(self, max_reply_bytes: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.max_reply_bytes = max_reply_bytes
        self.reusable = False
        self.closed = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's, though they behave as one
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self._fail(ConnectionError("the model sent data nobody asked for"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"the model's reply is not HTTP/1.1: {error}"))
            return
        if self.size > self.max_reply_bytes:
            self._fail(ReplyTooLarge(f"the model's reply is over {self.max_reply_bytes:,} bytes"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("the model closed the connection before answering"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.chunks, self.size = [], 0

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= self.max_reply_bytes:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.size > self.max_reply_bytes:
            return  # data_received fails the call
        waiter, self.waiter = self.waiter, None
        self.reusable = self.parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    # the pool's side

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.reusable = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()


class KeepAlivePool:
    """Connections to plain-HTTP models, opened on demand and kept for the next call.

    At most `limit` calls are under way at once (the rest wait their turn, inside their deadline), and at
    most `limit` idle connections are kept per model.
    """

    def __init__(self, *, timeout_s: float, limit: int = 200, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        self.timeout_s = timeout_s
        self.limit = limit
        self.max_reply_bytes = max_reply_bytes
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._targets: dict[str, Target | None] = {}
        self._slots = asyncio.Semaphore(limit)
        self.opened = 0  # connections opened in all, which tells whether keep-alive works

    def target(self, url: str) -> Target | None:
        """The URL's target, parsed once; None when this pool does not serve the URL."""
        try:
            return self._targets[url]
        except KeyError:
            found = self._targets[url] = target_of(url)
            return found

    async def post(self, target: Target, body: bytes) -> tuple[int, bytes]:
        """POST the JSON `body`; the reply's status and body, within the pool's deadline."""
        request = b"%s%d\r\n\r\n%s" % (target.head, len(body), body)
        async with asyncio.timeout(self.timeout_s), self._slots:
            connection = self._take(target) or await self._open(target)
            try:
                status, reply = await connection.send(request)
            except BaseException:
                connection.close()  # a late reply must not answer the next caller
                raise
            if connection.reusable and not connection.closed:
                self._give_back(target, connection)
            else:
                connection.close()
            return status, reply

    def _take(self, target: Target) -> _Connection | None:
        idle = self._idle.get(target.address)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def _give_back(self, target: Target, connection: _Connection) -> None:
        idle = self._idle.setdefault(target.address, [])
        if len(idle) < self.limit:
            idle.append(connection)
        else:
            connection.close()

    async def _open(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self.max_reply_bytes), target.host, target.port
        )
        self.opened += 1
        return connection

    def close(self) -> None:
        """Close every idle connection; calls under way finish on theirs."""
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
