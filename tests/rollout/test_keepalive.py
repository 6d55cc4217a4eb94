"""The gateway's keep-alive pool against real sockets on loopback: servers written to misbehave on cue.

Each test runs on asyncio's own loop and on uvloop's (which `phasegate gateway serve` uses), since their
transports differ.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from phasegate.rollout.keepalive import KeepAlivePool, ReplyTooLarge, Target, target_of

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    def runner(test: Coroutine[Any, Any, None]) -> None:
        if request.param == "uvloop":
            uvloop.run(test)
        else:
            asyncio.run(test)

    return runner


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body, or empty bytes once the client has closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b"", b""
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


def reply(body: bytes, *, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        extra,
        body,
    )


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A well-behaved keep-alive model: answers each request with what it was sent."""
    while True:
        head, body = await read_request(reader)
        if not head:
            break
        writer.write(reply(json.dumps({"got": json.loads(body), "head": head.decode()}).encode()))
        await writer.drain()
    writer.close()


async def serving(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/predict?v=2"


def target(pool: KeepAlivePool, url: str) -> Target:
    found = pool.target(url)
    assert found is not None
    return found


def test_calls_share_one_connection_and_send_a_proper_request(run: Callable[..., None]) -> None:
    async def test() -> None:
        server, url = await serving(echo)
        pool = KeepAlivePool(timeout_s=5)
        for n in range(5):
            status, raw = await pool.post(target(pool, url), json.dumps({"n": n}).encode())
            answer = json.loads(raw)
            assert (status, answer["got"]) == (200, {"n": n})
        assert pool.opened == 1
        head = answer["head"]
        assert head.startswith("POST /predict?v=2 HTTP/1.1\r\n")
        assert f"Host: {url.split('/')[2]}\r\n" in head and "Content-Type: application/json\r\n" in head
        pool.close()
        server.close()

    run(test())


def test_concurrent_calls_each_get_their_own_answer_within_the_limit(run: Callable[..., None]) -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            if not head:
                break
            await asyncio.sleep(0.01)
            writer.write(reply(body))
        writer.close()

    async def test() -> None:
        server, url = await serving(slow_echo)
        pool = KeepAlivePool(timeout_s=5, limit=8)

        async def call(n: int) -> Any:
            return json.loads((await pool.post(target(pool, url), json.dumps({"n": n}).encode()))[1])

        answers = await asyncio.gather(*(call(n) for n in range(60)))
        assert answers == [{"n": n} for n in range(60)]
        assert pool.opened <= 8
        pool.close()
        server.close()

    run(test())


def test_chunked_replies_and_error_statuses_come_back_whole(run: Callable[..., None]) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b'{"predic', b'tions": ', b'["x"]}'):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.write(b"0\r\n\r\n")
        await read_request(reader)
        writer.close()

    async def test() -> None:
        server, url = await serving(chunked)
        pool = KeepAlivePool(timeout_s=5)
        assert await pool.post(target(pool, url), b"{}") == (503, b'{"predictions": ["x"]}')
        pool.close()
        server.close()

    run(test())


def test_a_connection_the_model_closes_is_not_used_again(run: Callable[..., None]) -> None:
    async def one_answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)
        writer.write(reply(body, extra=b"Connection: close\r\n"))
        await writer.drain()
        writer.close()

    async def idle_closer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)
        writer.write(reply(body))  # keep-alive promised, then closed while idle, as uvicorn does after 5 s
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.close()

    async def test() -> None:
        for handler in (one_answer_each, idle_closer):
            server, url = await serving(handler)
            pool = KeepAlivePool(timeout_s=5)
            for n in range(3):
                assert (await pool.post(target(pool, url), b"[%d]" % n))[1] == b"[%d]" % n
                await asyncio.sleep(0.1)
            assert pool.opened == 3
            pool.close()
            server.close()

    run(test())


def test_a_model_that_never_answers_times_out_and_its_late_reply_reaches_nobody(
    run: Callable[..., None],
) -> None:
    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(0.5)
        writer.write(reply(b'"late"'))
        await writer.drain()
        await read_request(reader)
        writer.close()

    async def test() -> None:
        slow, slow_url = await serving(late)
        pool = KeepAlivePool(timeout_s=0.2)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TimeoutError):
            await pool.post(target(pool, slow_url), b"{}")
        assert loop.time() - began < 0.45
        await asyncio.sleep(0.5)  # the late reply arrives at a connection the pool has closed
        good, good_url = await serving(echo)
        status, raw = await pool.post(target(pool, good_url), b'{"fresh": true}')
        assert (status, json.loads(raw)["got"]) == (200, {"fresh": True})
        pool.close()
        slow.close()
        good.close()

    run(test())


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (b"SMTP ready\r\n\r\n", ConnectionError, "not HTTP/1.1"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut', ConnectionError, "closed the connection"),
        (b"", ConnectionError, "closed the connection"),
        (reply(b"x" * 5000), ReplyTooLarge, "over 1,000 bytes"),
    ],
    ids=["not-http", "cut-short", "closed-at-once", "too-large"],
)
def test_broken_replies_are_connection_errors_naming_what_went_wrong(
    run: Callable[..., None], answer: bytes, error: type[Exception], words: str
) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def test() -> None:
        server, url = await serving(broken)
        pool = KeepAlivePool(timeout_s=5, max_reply_bytes=1000)
        with pytest.raises(error, match=words):
            await pool.post(target(pool, url), b"{}")
        assert not pool._idle.get(target(pool, url).address)  # nothing broken goes back to the pool
        pool.close()
        server.close()

    run(test())


def test_a_port_nobody_listens_on_is_a_connection_error(run: Callable[..., None]) -> None:
    async def test() -> None:
        server, url = await serving(echo)
        server.close()
        await server.wait_closed()
        pool = KeepAlivePool(timeout_s=5)
        with pytest.raises(ConnectionError):
            await pool.post(target(pool, url), b"{}")

    run(test())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://models.internal/v1/predict",
            ("models.internal", 80, b"POST /v1/predict HTTP/1.1\r\nHost: models.internal\r\n"),
        ),
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080, b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")),
        ("http://[::1]:9000/p?a=1&b=2", ("::1", 9000, b"POST /p?a=1&b=2 HTTP/1.1\r\nHost: [::1]:9000\r\n")),
        ("https://api.example.com/v1", None),
        ("http://user:secret@models.internal/predict", None),
        ("http://models.internal:notaport/predict", None),
        ("ftp://models.internal/predict", None),
    ],
)
def test_only_plain_http_urls_without_credentials_are_taken(
    url: str, expected: tuple[Any, ...] | None
) -> None:
    found = target_of(url)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.host, found.port) == expected[:2]
        assert found.head.startswith(expected[2])
        assert found.head.endswith(b"Content-Length: ")
