"""The gateway's overhead: one loopback model called directly and through the gateway, at 300 requests/s.

Target (the issue): with the inference log on, at most 1 ms added at p50 and 5 ms at p99 over calling
the same model directly. DESIGN.md puts a bare FastAPI passthrough at about 1 ms added at p50 on this
hardware, so that passthrough is measured too, as the floor the gateway's real work sits on.

Each server is uvicorn in a process of its own: the model (`benchmarks._upstream:model`), the gateway
as `phasegate gateway serve` runs it (SQLite store, stage `full`, default redaction, journal on), and
the passthrough. This process sends the load with the open-loop tester, so a stall shows in the
percentiles. The machine has two cores shared with other work, so the contenders take turns of a few
seconds (the order rotating each turn, the servers left to go idle in between) instead of one long run
each: drift in the background load then falls on all of them alike. The CPU time each process spends in
a contender's turns is printed per request too; it is less at the mercy of the neighbours than latency.
After the run the store is read back: every answered request must have its record, redacted.

`PHASEGATE_BENCH_GATEWAY_RPS`, `PHASEGATE_BENCH_GATEWAY_SECONDS` (measured seconds per contender) and
`PHASEGATE_BENCH_GATEWAY_WORKERS` (uvicorn workers of the gateway and the passthrough, 1 by default)
change the rate, the length and the replicas.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from benchmarks._upstream import MODEL_URL_VARIABLE
from phasegate.evaluation import registry
from phasegate.evaluation.loadtest import UNMEASURED, Latency, LoadPlan, Sample, percentiles, run_load_test
from phasegate.evaluation.schemas import ModelVersionSpec
from phasegate.identity import service as identity_service
from phasegate.identity.service import local_operator
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.rollout import service as rollout_service
from phasegate.rollout.models import InferenceRecord
from phasegate.rollout.service import StageChange
from phasegate.store import Store, upgrade

RPS = 300
RPS_VARIABLE = "PHASEGATE_BENCH_GATEWAY_RPS"
SECONDS = 20.0  # measured, per contender
SECONDS_VARIABLE = "PHASEGATE_BENCH_GATEWAY_SECONDS"
ROUND_S = 5.0
WARMUP_S = 3.0
# A request 200 times over the p99 budget has failed; giving up sooner also keeps an overloaded server's
# backlog, and the tester's own connection pool, from growing for minutes.
TIMEOUT_S = 1.0
WORKERS_VARIABLE = "PHASEGATE_BENCH_GATEWAY_WORKERS"
TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0
USECASE = "bench-claims"
PAYLOADS = 200
SEED = 20240601
STARTUP_S = 60.0
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Contender:
    """One way of reaching the model, and what its turns measured."""

    name: str
    url: str
    payloads: list[dict[str, Any]]
    headers: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    cpu_s: Counter[str] = field(default_factory=Counter)  # CPU seconds each process spent in its turns
    warmed: int = 0  # requests answered during the warm-up
    stopped: int | None = None  # the turns it had when over half of one turn's requests failed

    @property
    def latency(self) -> Latency:
        return percentiles([s.latency_s * 1000 for s in self.samples if s.error not in UNMEASURED])

    @property
    def rate(self) -> float:
        return len(self.samples) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def late_ms(self) -> float:
        """The p99 of how late the tester sent this contender's requests."""
        return percentiles([s.start_lag_s * 1000 for s in self.samples]).p99_ms or 0.0

    def cpu_ms(self, process: str) -> float:
        """CPU milliseconds a request of this contender cost that process."""
        return self.cpu_s[process] * 1000 / len(self.samples) if self.samples else 0.0


def claims(count: int = PAYLOADS, seed: int = SEED) -> list[dict[str, Any]]:
    """Claim-like inputs with an email, a phone number and free text, so redaction has real work."""
    rng = random.Random(seed)
    words = ["damaged", "parcel", "late", "delivery", "refund", "wrong", "size", "missing", "invoice"]
    return [
        {
            "claim_id": f"CL-{i:06d}",
            "amount": round(rng.uniform(10, 2500), 2),
            "currency": "EUR",
            "channel": rng.choice(["web", "phone", "email"]),
            "customer": {
                "id": f"C{rng.randrange(10**6):06d}",
                "email": f"customer{i}@example.com",
                "phone": f"+44 20 7946 {rng.randrange(10**4):04d}",
            },
            "description": " ".join(rng.choices(words, k=12)),
            "items": [
                {
                    "sku": f"SKU-{rng.randrange(10**5):05d}",
                    "qty": rng.randrange(1, 4),
                    "price": rng.randrange(500),
                }
                for _ in range(3)
            ],
        }
        for i in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process, its threads and its children (uvicorn's workers), from /proc.

    This process by default, without its children: the servers are its children.
    """
    if pid is None:
        return time.process_time()
    proc = Path(f"/proc/{pid}")
    try:
        fields = (proc / "stat").read_text().rpartition(")")[2].split()
        children = [int(c) for task in proc.glob("task/*/children") for c in task.read_text().split()]
    except FileNotFoundError:
        return 0.0  # it ended between listing and reading
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


@contextmanager
def served(
    name: str, argv: list[str], env: dict[str, str], ready: str, logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once `ready` answers; stopped with SIGTERM, so the gateway ships its journal."""
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{(logs / f'{name}.log').read_text()[-3000:]}")
            try:
                if httpx.get(ready, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def uvicorn(app: str, port: int, *, factory: bool = False, workers: int = 1) -> list[str]:
    """uvicorn as `phasegate gateway serve` runs it: default loop and HTTP parser, no access log."""
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    return argv + ["--log-level", "warning", "--workers", str(workers)] + (["--factory"] if factory else [])


def prepare(url: str, model_url: str) -> str:
    """A new store with the use case, an admin, and the model at stage `full`; the admin's API token."""
    upgrade(url)
    store = Store(url)
    operator = local_operator("benchmark")
    try:
        with store.transaction() as session:
            portfolio_service.create(
                session, actor=operator, spec=UseCaseSpec(id=USECASE, name="Claims triage (benchmark)")
            )
            identity_service.add_user(session, actor=operator, name="bench-admin", role="admin")
            token = identity_service.create_token(session, actor=operator, name="bench-admin")
            spec = ModelVersionSpec(name="claims-model", version="1.0.0", kind="http", uri=model_url)
            registry.register(session, actor=operator, usecase_id=USECASE, spec=spec)
            # No plan and no approved version, so the gates refuse `full`: an admin's override, as in a trial.
            change = StageChange(stage="full", primary="1.0.0", override_reason="benchmark")
            rollout_service.set_stage(session, actor=operator, usecase_id=USECASE, change=change)
    finally:
        store.dispose()
    return token


def gateway_ready(base: str) -> str:
    """The gateway's health URL."""
    return f"{base}/gateway/v1/health"


def wait_for_stage(base: str, stage: str = "full") -> None:
    """Wait until the gateway has loaded the use case's rollout at that stage."""
    deadline = time.monotonic() + STARTUP_S
    while httpx.get(gateway_ready(base)).json()["usecases"].get(USECASE) != stage:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway never loaded stage {stage} of {USECASE}")
        time.sleep(0.1)


def settle(pids: dict[str, int | None], *, idle: float = 0.2, most_s: float = 15.0) -> None:
    """Wait until the servers are near idle, so one turn's backlog (after an overload) does not slow the next.

    A server keeps working on requests its caller gave up on; `idle` is the share of a core they may still
    use together.
    """
    servers = [pid for pid in pids.values() if pid is not None]
    deadline = time.monotonic() + most_s
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in servers)
        time.sleep(0.3)
        if sum(cpu_seconds(pid) for pid in servers) - before <= idle * 0.3:
            return


def rounds(contenders: Sequence[Contender], rps: float, seconds: float, pids: dict[str, int | None]) -> None:
    """A warm-up each, then turns of `ROUND_S` until each has `seconds` measured, the order rotating.

    `pids` names the processes whose CPU time is charged to the contender whose turn it is (None: this one).
    """
    warmup = LoadPlan(rps, WARMUP_S, TIMEOUT_S)
    for contender in contenders:
        contender.warmed = run_load_test(
            contender.url, warmup, contender.payloads, headers=contender.headers
        ).succeeded
    count = max(1, round(seconds / ROUND_S))
    plan = LoadPlan(rps, seconds / count, TIMEOUT_S)
    for turn in range(count):
        first = turn % len(contenders)
        for contender in [*contenders[first:], *contenders[:first]]:
            if contender.stopped is not None:
                continue
            settle(pids)
            began, cpu = datetime.now(UTC), {name: cpu_seconds(pid) for name, pid in pids.items()}
            result = run_load_test(contender.url, plan, contender.payloads, headers=contender.headers)
            contender.cpu_s.update({name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()})
            contender.windows.append((began, datetime.now(UTC)))
            contender.samples += result.samples
            contender.errors.update(result.errors)
            contender.elapsed_s += result.elapsed_s
            if sum(result.errors.values()) > result.requests / 2:
                # Overloaded: more turns would only measure the collapse, for minutes.
                contender.stopped = len(contender.windows)


@dataclass(frozen=True)
class LogCheck:
    """What reached the store: records in all, those of the measured turns, any email left in clear."""

    records: int
    measured: int
    in_clear: int
    model_call: Latency  # the gateway's own timing of routing and the model call, from the records


def check_log(url: str, gateway: Contender, emails: set[str], expected: int) -> LogCheck:
    """Wait for the journal to ship `expected` records, then read them back."""
    store = Store(url)
    try:
        deadline = time.monotonic() + 30
        while True:
            with store.session() as session:
                count = session.scalar(select(func.count()).select_from(InferenceRecord)) or 0
            if count >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with store.session() as session:
            rows = session.execute(
                select(InferenceRecord.at, InferenceRecord.latency_ms, InferenceRecord.input)
            ).all()
    finally:
        store.dispose()
    measured = [r for r in rows if any(start <= r.at <= end for start, end in gateway.windows)]
    clear = sum(1 for r in rows if (r.input or {}).get("customer", {}).get("email") in emails)
    return LogCheck(len(rows), len(measured), clear, percentiles([r.latency_ms for r in measured]))


def verdict(added: float, target: float, judged: bool) -> str:
    if not judged:
        return "not judged: requests failed"
    return "MET" if added <= target else "MISS"


def cell(ms: float | None) -> str:
    return f"{ms or 0:>9.2f}" if (ms or 0) < 1000 else f"{ms:>9,.0f}"


# The processes a request of each contender passes through, besides the tester.
PATHS = {"direct": ("model",), "gateway": ("gateway", "model"), "passthrough": ("passthrough", "model")}


def report(
    contenders: Sequence[Contender],
    plan: LoadPlan,
    workers: int,
    log: LogCheck,
    answered: int,
    loads: tuple[float, float],
) -> None:
    """The table, the overhead against the targets, the CPU each request cost, and what reached the store."""
    turns = max(len(c.windows) for c in contenders)
    replicas = f", {workers} workers each for the gateway and the passthrough" if workers > 1 else ""
    print(
        f"gateway: a loopback model directly and through the gateway, {plan.rps:g} req/s, "
        f"{plan.duration_s:g} s each in {turns} interleaved turns after {WARMUP_S:g} s of warm-up{replicas} "
        f"({os.cpu_count()} cores, load average {loads[0]:.1f} before, {loads[1]:.1f} after)"
    )
    heads = ("p50", "p95", "p99", "max", "late p99")
    print(
        f"  {'path':<12}{'requests':>9}{'errors':>8}{'rate/s':>8}"
        + "".join(f"{h:>9}" for h in heads)
        + "  ms   CPU ms a request"
    )
    for c in contenders:
        lat, errors = c.latency, sum(c.errors.values())
        cpu = ", ".join(f"{p} {c.cpu_ms(p):.2f}" for p in (*PATHS[c.name], "tester"))
        print(
            f"  {c.name:<12}{len(c.samples):>9,}{errors:>8}{c.rate:>8.1f}"
            + "".join(cell(v) for v in (lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.max_ms, c.late_ms))
            + f"   {cpu}"
            + (f"  errors: {dict(c.errors)}" if errors else "")
            + (
                f"; stopped after {c.stopped} of {turns} turns, overloaded"
                if (c.stopped or turns) < turns
                else ""
            )
        )
    print("  (late: how long after its due time the tester sent a request; it counts in the latency)")
    if any(c.late_ms > TARGET_P50_MS for c in contenders):
        print(
            f"  the tester fell over {TARGET_P50_MS:g} ms behind its schedule: the figures include its delay"
        )
    direct = contenders[0]
    for c in contenders[1:]:
        judged = not direct.errors and not c.errors
        p50 = (c.latency.p50_ms or 0) - (direct.latency.p50_ms or 0)
        p99 = (c.latency.p99_ms or 0) - (direct.latency.p99_ms or 0)
        targets = (
            f" (targets ≤ {TARGET_P50_MS:g} ms: {verdict(p50, TARGET_P50_MS, judged)}, "
            f"≤ {TARGET_P99_MS:g} ms: {verdict(p99, TARGET_P99_MS, judged)})"
            if c.name == "gateway"
            else ""
        )
        print(f"  added by the {c.name}: p50 {p50:+,.2f} ms, p99 {p99:+,.2f} ms{targets}")
    gateway, passthrough = contenders[1], contenders[2]
    if not gateway.errors and not passthrough.errors:
        # The gateway's own work, apart from the floor any Python HTTP hop has on this machine at the time.
        p50 = (gateway.latency.p50_ms or 0) - (passthrough.latency.p50_ms or 0)
        p99 = (gateway.latency.p99_ms or 0) - (passthrough.latency.p99_ms or 0)
        print(f"  the gateway over the bare passthrough: p50 {p50:+,.2f} ms, p99 {p99:+,.2f} ms")
    call = log.model_call
    missing = f"{answered - log.records:,} MISSING" if log.records < answered else "none missing"
    print(
        f"  inference log: {log.records:,} records in the store for {answered:,} gateway requests answered "
        f"in time, warm-up included ({missing}); {log.measured:,} from the measured turns; "
        f"emails in clear: {log.in_clear}"
    )
    print(
        "  the gateway's own timing of routing + the model call (the records' latency_ms): "
        f"p50 {call.p50_ms or 0:.2f} ms, p99 {call.p99_ms or 0:.2f} ms"
    )


def main() -> None:
    """Measure the model directly, through the gateway and through a bare passthrough; print the overhead."""
    seconds = float(os.environ.get(SECONDS_VARIABLE, SECONDS))
    rps = float(os.environ.get(RPS_VARIABLE, RPS))
    workers = int(os.environ.get(WORKERS_VARIABLE, 1))
    before = os.getloadavg()[0]
    inputs = claims()
    folder = Path(tempfile.mkdtemp(prefix="phasegate-bench-gateway-"))
    home = folder / "home"
    url = f"sqlite:///{home / 'phasegate.db'}"
    port = {name: free_port() for name in PATHS["passthrough"] + PATHS["gateway"]}
    base = {name: f"http://127.0.0.1:{number}" for name, number in port.items()}
    model_url = f"{base['model']}/predict"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEGATE_")}
    phasegate = str(Path(sys.executable).with_name("phasegate"))
    try:
        with ExitStack() as servers:
            model = servers.enter_context(
                served(
                    "model",
                    uvicorn("benchmarks._upstream:model", port["model"]),
                    env,
                    base["model"] + "/health",
                    folder,
                )
            )
            token = prepare(url, model_url)
            gateway = servers.enter_context(
                served(
                    "gateway",
                    [
                        phasegate,
                        "gateway",
                        "serve",
                        "--port",
                        str(port["gateway"]),
                        "--workers",
                        str(workers),
                    ],
                    env | {"PHASEGATE_HOME": str(home), "PHASEGATE_DATABASE_URL": url},
                    gateway_ready(base["gateway"]),
                    folder,
                )
            )
            wait_for_stage(base["gateway"])
            passthrough = servers.enter_context(
                served(
                    "passthrough",
                    uvicorn(
                        "benchmarks._upstream:passthrough", port["passthrough"], factory=True, workers=workers
                    ),
                    env | {MODEL_URL_VARIABLE: model_url},
                    base["passthrough"] + "/health",
                    folder,
                )
            )
            bodies = [{"input": i} for i in inputs]
            contenders = [
                Contender("direct", model_url, [{"instances": [i]} for i in inputs]),
                Contender(
                    "gateway",
                    f"{base['gateway']}/gateway/v1/{USECASE}/predict",
                    bodies,
                    {"Authorization": f"Bearer {token}"},
                ),
                Contender("passthrough", f"{base['passthrough']}/predict", bodies),
            ]
            pids = {
                "model": model.pid,
                "gateway": gateway.pid,
                "passthrough": passthrough.pid,
                "tester": None,
            }
            rounds(contenders, rps, seconds, pids)
            after = os.getloadavg()[0]
            through = contenders[1]
            answered = through.warmed + len(through.samples) - sum(through.errors.values())
            log = check_log(url, through, {i["customer"]["email"] for i in inputs}, answered)
        report(contenders, LoadPlan(rps, seconds), workers, log, answered, (before, after))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
