"""Load tests of a model's HTTP endpoint: an open-loop run at a constant arrival rate, summarised.

Open loop: request i is due i / rps seconds after the start whether or not the earlier ones have
been answered, as independent users arrive. Its latency is counted from that due time, not from
when it was actually sent, so a stalled service (or a late tester) shows in the percentiles. A
closed-loop tester waits for each answer before sending the next request, so during a stall it
sends almost nothing and the stall hides in a handful of samples: "coordinated omission" (Gil
Tene, "How NOT to Measure Latency", 2015; the reason wrk2 exists).

The maths (the schedule, percentiles, histogram and rates) is pure and kept apart from the
sending, so it is tested without a network; `run` does the sending with one aiohttp session.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np

from phasegate.errors import InvalidInput, Problem
from phasegate.identity.chain import canonical

# Error kinds. An HTTP answer outside 2xx and 3xx is an error named for its status, "http_503";
# wrk draws the same line, and redirects are not followed, so a 3xx is the service's answer.
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_ERROR = "connection_error"  # reset, closed without an answer, DNS, TLS
INVALID_RESPONSE = "invalid_response"  # an answer that is not HTTP
# A failed connection never reached the service, so it has no latency to describe.
UNMEASURED = frozenset({CONNECTION_REFUSED, CONNECTION_ERROR})

PERCENTILES = (50, 95, 99)

# Little's law: requests in flight = arrival rate × time in the system, at most rps × timeout.
# A pool that large never makes a request queue for a connection inside the tester; the cap
# keeps a long timeout at a high rate within the common limit of 1024 open files.
MAX_CONNECTIONS = 500

# Histogram edges are the R10 preferred numbers (ISO 3: ten log-spaced steps a decade, rounded
# to readable values) in milliseconds, on one fixed grid so the histograms of two runs line up.
_R10_HUNDREDTHS = (100, 125, 160, 200, 250, 315, 400, 500, 630, 800)

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class LoadPlan:
    """How hard and how long to push: requests a second, for how long, and when to give up on one."""

    rps: float
    duration_s: float
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        problems = [
            Problem(f"is {value}; it must be a number above 0", field=name)
            for name, value in (
                ("rps", self.rps),
                ("duration_s", self.duration_s),
                ("timeout_s", self.timeout_s),
            )
            if not (math.isfinite(value) and value > 0)
        ]
        if problems:
            raise InvalidInput("the load plan cannot be run", problems)

    @property
    def requests(self) -> int:
        """How many requests the plan sends."""
        return len(scheduled_times(self.rps, self.duration_s))


@dataclass(frozen=True)
class Sample:
    """One request: when it was due, how it ended, and how long after its due time it ended."""

    scheduled_s: float  # due time, in seconds from the start of the run
    latency_s: float  # from the due time (not the send time) to the answer, the error or the timeout
    error: str | None = None  # None when it succeeded, else its kind: "timeout", "http_500", ...
    start_lag_s: float = 0.0  # how long after its due time the tester actually sent it

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency_s) and self.latency_s >= 0):
            raise InvalidInput(
                "a sample cannot end before it is due", [Problem(f"is {self.latency_s}", field="latency_s")]
            )

    @property
    def finished_s(self) -> float:
        """When it ended, in seconds from the start of the run."""
        return self.scheduled_s + self.latency_s


@dataclass(frozen=True)
class Latency:
    """Percentiles of latency in milliseconds; None when no request was measured."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    measured: int  # how many requests the figures describe


@dataclass(frozen=True)
class Histogram:
    """Counts of latencies in bins [edges[i], edges[i + 1]) milliseconds."""

    edges_ms: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class PayloadSource:
    """What was sent: the file it came from, how many bodies, and a fingerprint of them."""

    file: str | None
    count: int
    fingerprint: str  # SHA-256 of the bodies' canonical JSON, so reformatting the file keeps it


@dataclass(frozen=True)
class LoadTestResult:
    """What a load test measured; `to_dict` is the payload of `evaluation.load` evidence."""

    plan: LoadPlan
    requests: int
    succeeded: int
    errors: Mapping[str, int]
    latency: Latency
    histogram: Histogram
    achieved_rps: float | None
    elapsed_s: float
    max_start_lag_ms: float
    samples: tuple[Sample, ...]
    url: str | None = None
    payloads: PayloadSource | None = None

    @property
    def error_rate(self) -> float:
        """The share of requests that did not succeed."""
        return (self.requests - self.succeeded) / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values; gates read it by paths such as `latency.p95_ms`."""
        latency = self.latency
        return {
            "url": self.url,
            "requested_rps": self.plan.rps,
            "achieved_rps": _round(self.achieved_rps),
            "duration_s": self.plan.duration_s,
            "elapsed_s": _round(self.elapsed_s),
            "timeout_s": self.plan.timeout_s,
            "requests": self.requests,
            "succeeded": self.succeeded,
            "error_rate": self.error_rate,
            "errors": dict(sorted(self.errors.items())),
            "latency": {
                "p50_ms": _round(latency.p50_ms),
                "p95_ms": _round(latency.p95_ms),
                "p99_ms": _round(latency.p99_ms),
                "max_ms": _round(latency.max_ms),
                "mean_ms": _round(latency.mean_ms),
                "measured": latency.measured,
            },
            "histogram": {"edges_ms": list(self.histogram.edges_ms), "counts": list(self.histogram.counts)},
            "max_start_lag_ms": _round(self.max_start_lag_ms),
            "payloads": None
            if self.payloads is None
            else {
                "file": self.payloads.file,
                "count": self.payloads.count,
                "fingerprint": self.payloads.fingerprint,
            },
        }


def _round(value: float | None) -> float | None:
    # Microseconds are below what a loopback request can resolve; more digits are noise.
    return None if value is None else round(value, 3)


# The pure part: schedule and summary.


def scheduled_times(rps: float, duration_s: float) -> list[float]:
    """When each request is due, in seconds from the start: i / rps for every i with i / rps < duration."""
    count = math.ceil(rps * duration_s)
    # rps × duration is rounded, so settle the count on the offsets themselves.
    while count > 1 and (count - 1) / rps >= duration_s:
        count -= 1
    while count / rps < duration_s:
        count += 1
    return [i / rps for i in range(max(count, 1))]


def percentiles(values_ms: Sequence[float]) -> Latency:
    """p50, p95, p99, max and mean of latencies by nearest rank.

    Nearest rank (Hyndman & Fan type 1, numpy's "inverted_cdf"): the p-th percentile is the
    smallest observed latency that at least p % of requests did not exceed, so every figure
    is a latency some request really had, and none is interpolated below what was seen.
    """
    if not values_ms:
        return Latency(None, None, None, None, None, 0)
    values = np.asarray(values_ms, dtype=float)
    p50, p95, p99 = (float(v) for v in np.percentile(values, PERCENTILES, method="inverted_cdf"))
    return Latency(p50, p95, p99, float(values.max()), float(values.mean()), len(values))


def histogram_edges(up_to_ms: float) -> list[float]:
    """The fixed grid 0, 1, 1.25, 1.6, … ms up to and including the first edge above `up_to_ms`."""
    edges = [0.0]
    decade = 1
    while edges[-1] <= up_to_ms:
        edges.extend(h * decade / 100 for h in _R10_HUNDREDTHS)
        decade *= 10
    return edges[: next(i for i, e in enumerate(edges) if e > up_to_ms) + 1]


def histogram(values_ms: Sequence[float]) -> Histogram:
    """Latencies binned on the log-spaced grid, from the bin of the fastest to that of the slowest."""
    if not values_ms:
        return Histogram((), ())
    edges = histogram_edges(max(values_ms))
    counts = np.histogram(np.asarray(values_ms, dtype=float), bins=edges)[0]
    filled = np.flatnonzero(counts)
    first, last = int(filled[0]), int(filled[-1])
    return Histogram(tuple(edges[first : last + 2]), tuple(int(c) for c in counts[first : last + 1]))


def summarise(samples: Sequence[Sample], plan: LoadPlan) -> LoadTestResult:
    """The load test's figures from its samples.

    Latency covers every request that got an answer (any status, as wrk counts them) or timed
    out, a timeout counted at the time it waited: a lower bound on its latency, so a service
    that times out cannot look fast. Achieved rate = requests completed (answered, failed or
    timed out) / seconds from the first due time to the last completion; it falls short of the
    requested rate when the service or the tester falls behind, and in a short run by about
    one request's latency over the duration.
    """
    errors = Counter(s.error for s in samples if s.error is not None)
    measured_ms = [s.latency_s * 1000 for s in samples if s.error not in UNMEASURED]
    elapsed = max((s.finished_s for s in samples), default=0.0) - min(
        (s.scheduled_s for s in samples), default=0.0
    )
    return LoadTestResult(
        plan=plan,
        requests=len(samples),
        succeeded=len(samples) - errors.total(),
        errors=dict(errors),
        latency=percentiles(measured_ms),
        histogram=histogram(measured_ms),
        achieved_rps=_rate(len(samples), elapsed),
        elapsed_s=elapsed,
        max_start_lag_ms=max((s.start_lag_s * 1000 for s in samples), default=0.0),
        samples=tuple(samples),
    )


def _rate(count: int, seconds: float) -> float | None:
    # None rather than infinity when no time passed, so the payload stays valid JSON.
    rate = count / seconds if seconds > 0 else math.inf
    return rate if math.isfinite(rate) else None


# Payloads: the bodies to send, read from a file.


class PayloadError(InvalidInput, ValueError):
    """A payloads file that cannot be sent; the problem names the file and the line."""

    def __init__(self, file: Path, message: str, line: int | None = None) -> None:
        self.file, self.line = str(file), line
        super().__init__("the payloads cannot be read", [Problem(message, file=str(file), line=line)])


def read_payloads(path: Path | str) -> list[dict[str, Any]]:
    """The request bodies in a file: JSON lines (one object a line, blank lines skipped) or one JSON array.

    Each body must be a JSON object: that is what model endpoints take, and it keeps a JSON
    array file from being mistaken for a single line holding a list.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PayloadError(path, f"cannot be read: {exc}") from exc
    if text.lstrip().startswith("["):
        bodies = _json_array(path, text)
    else:
        bodies = [
            _json_line(path, number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()
        ]
    if not bodies:
        raise PayloadError(path, "holds no payloads; a load test needs at least one request body")
    return bodies


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PayloadError(path, f"not JSON: {exc.msg} (column {exc.colno})", number) from exc
    if not isinstance(body, dict):
        raise PayloadError(path, f"expected a JSON object, found {_json_type(body)}", number)
    return body


def _json_array(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(path, f"not JSON: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    if not isinstance(items, list):
        raise PayloadError(path, f"expected a JSON array of objects, found {_json_type(items)}", 1)
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            # json keeps no positions of values, so the item is named by its place in the array.
            raise PayloadError(
                path, f"item {index} of the array: expected a JSON object, found {_json_type(item)}"
            )
    return items


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(type(value), "a number")


def describe_payloads(payloads: Sequence[Mapping[str, Any]], file: str | None = None) -> PayloadSource:
    """Where the bodies came from, how many, and their fingerprint."""
    digest = hashlib.sha256(canonical(list(payloads)).encode()).hexdigest()
    return PayloadSource(file=file, count=len(payloads), fingerprint="sha256:" + digest)


# The sending: one event loop, one client, one task per request started at its due time.


def connections_for(plan: LoadPlan) -> int:
    """The connection pool size: enough for every request the plan can have in flight, capped."""
    return max(1, min(MAX_CONNECTIONS, math.ceil(plan.rps * plan.timeout_s)))


async def run(
    url: str,
    plan: LoadPlan,
    payloads: Sequence[Mapping[str, Any]],
    *,
    headers: Mapping[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
    payloads_file: str | None = None,
) -> LoadTestResult:
    """POST the payloads round-robin to the URL as JSON, each request at its due time, and summarise.

    A request is started as its own task when due; when the loop is late it starts at once, and
    its latency still counts from its due time. `on_progress(done, total)` is called as each ends.
    """
    _check_url(url)
    if not payloads:
        raise InvalidInput(
            "there are no payloads to send", [Problem("needs at least one body", field="payloads")]
        )
    offsets = scheduled_times(plan.rps, plan.duration_s)
    samples: list[Sample] = []

    async def send(client: aiohttp.ClientSession, offset: float, body: Mapping[str, Any], due: float) -> None:
        samples.append(await _send(client, url, body, offset=offset, due=due, timeout_s=plan.timeout_s))
        if on_progress is not None:
            on_progress(len(samples), len(offsets))

    size = connections_for(plan)
    # aiohttp rather than httpx: a third of the CPU time per request, so the tester is not what
    # saturates first when it shares a machine with what it measures.
    connector = aiohttp.TCPConnector(limit=size, limit_per_host=size)
    async with (
        _collector_out_of_the_way(),
        aiohttp.ClientSession(connector=connector, headers=dict(headers or {})) as client,
        asyncio.TaskGroup() as requests,  # on leaving, waits for the requests in flight
    ):
        start = time.perf_counter()
        for i, offset in enumerate(offsets):
            due = start + offset
            while (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            requests.create_task(send(client, offset, payloads[i % len(payloads)], due))
    samples.sort(key=lambda s: s.scheduled_s)
    result = summarise(samples, plan)
    return replace(result, url=_without_credentials(url), payloads=describe_payloads(payloads, payloads_file))


@asynccontextmanager
async def _collector_out_of_the_way() -> AsyncIterator[None]:
    """Keep what the process held before the run out of the garbage collector's full passes during it.

    A full collection walks every object in the process; in a benchmark holding earlier runs' samples it
    stopped the tester for 25-200 ms, and every request due meanwhile was reported that much slower.
    Frozen objects are only set aside (`gc.freeze`), and handed back when the run ends.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_load_test(
    url: str,
    plan: LoadPlan,
    payloads: Sequence[Mapping[str, Any]],
    *,
    headers: Mapping[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
    payloads_file: str | None = None,
) -> LoadTestResult:
    """`run` on an event loop of its own, for the CLI and other synchronous callers."""
    return asyncio.run(
        run(url, plan, payloads, headers=headers, on_progress=on_progress, payloads_file=payloads_file)
    )


async def _send(
    client: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    *,
    offset: float,
    due: float,
    timeout_s: float,
) -> Sample:
    sent = time.perf_counter()
    error: str | None
    try:
        # The deadline covers the whole request, waiting for a pooled connection included.
        async with asyncio.timeout(timeout_s), client.post(url, json=body) as response:
            await response.read()
        error = None if response.status < 400 else f"http_{response.status}"
    except TimeoutError:
        error = TIMEOUT
    except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError):
        error = INVALID_RESPONSE
    except aiohttp.ClientError as exc:
        error = CONNECTION_REFUSED if _refused(exc) else CONNECTION_ERROR
    return Sample(
        scheduled_s=offset, latency_s=time.perf_counter() - due, error=error, start_lag_s=max(0.0, sent - due)
    )


def _refused(exc: BaseException) -> bool:
    # The client wraps the socket's error (aiohttp keeps it as `os_error`), so look through
    # causes, contexts and groups for the ConnectionRefusedError underneath.
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, BaseException):
            pending.append(os_error)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    return False


def _without_credentials(url: str) -> str:
    # The URL goes into evidence, which is kept for good: a password in it must not be.
    return str(httpx.URL(url).copy_with(userinfo=b""))


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput("the URL cannot be load tested", [Problem(str(exc), field="url")]) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(
            "the URL cannot be load tested",
            [Problem(f"'{url}' is not an http:// or https:// URL", field="url")],
        )
