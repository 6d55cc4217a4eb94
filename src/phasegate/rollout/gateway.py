"""The gateway: routes each request by its use case's stage, calls the version, logs it, holds it for review.

The hot path reads no database. Routing state (stages, versions, redaction policies) lives in memory
and is reloaded when the store's reload counter changes; a poller reads that one row every
``poll_interval_s`` (0.2 s by default), so a kill switch lands on every replica within a second.
Callers' tokens are checked against the store once and then cached for a minute.

Every request is written to an append-only local journal (group-committed and fsync'ed; the response
waits for the write, or for the fsync too with ``PHASEGATE_JOURNAL_ACKNOWLEDGE=fsync``) before its
response leaves, and the journal ships records to the store in batches: a replica killed mid-flight
loses nothing it acknowledged. Inputs and outputs are redacted by the rollout's policy
(emails, phone numbers and payment cards masked by default) before they reach the journal; a held
item keeps a clear copy for its reviewer in the review queue until it is decided.

Routes: ``POST /gateway/v1/{usecase}/predict`` (``{"input": {...}, "key": "...", "webhook": "..."}``),
``GET /gateway/v1/{usecase}/results/{request_id}``, ``POST /gateway/v1/{usecase}/feedback``
(``{"request_id": ..., "outcome": ...}``) and ``GET /gateway/v1/health``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import inspect
import json
import logging
import os
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from phasegate import outbound
from phasegate.api import GATEWAY_PREFIX, install_error_handlers
from phasegate.errors import InvalidInput, NotAuthenticated, NotFound, PhasegateError, Problem
from phasegate.evaluation.models import ModelVersion
from phasegate.evaluation.registry import file_sha256, local_path
from phasegate.identity import service as identity_service
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.rollout import analysis_runs, keepalive, redaction, resilience, routing, service, usage
from phasegate.rollout import journal as journal_
from phasegate.rollout.models import InferenceRecord, ReviewItem, Rollout
from phasegate.settings import Settings, get_settings
from phasegate.store import Store

PREFIX = GATEWAY_PREFIX
POLL_INTERVAL_S = 0.2
TOKEN_TTL_S = 60.0
PURGE_EVERY_S = 3600.0  # retention rules are applied hourly
ANALYSIS_EVERY_S = 5.0  # how often a replica looks for analysis windows that have ended
USAGE_SYNC_WITHOUT_LIMITS_S = 5.0  # how often counts are shared while no use case has a limit or budget
UPSTREAM_TIMEOUT_S = 10.0
UPSTREAM_MAX_REPLY_BYTES = keepalive.MAX_REPLY_BYTES
SWITCH_INTERVAL_S = 0.0005
RETRY = resilience.RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.2)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upstream:
    """What the gateway needs to call a version, read once per reload."""

    id: str
    label: str
    kind: str
    uri: str | None
    trusted: bool
    artifact_sha256: str | None
    parameters: dict[str, Any]


@dataclass
class Snapshot:
    """Everything the hot path reads, replaced whole on reload so a request sees one consistent view."""

    counter: int = -1
    states: dict[str, routing.RoutingState] = field(default_factory=dict)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    policies: dict[str, redaction.RedactionPolicy] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    sla_minutes: dict[str, int] = field(default_factory=dict)
    limits: dict[str, tuple[int | None, float | None, int]] = field(
        default_factory=dict
    )  # rate, budget, cache


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any]
    key: str | None = Field(None, description="the caller's sticky key for canary assignment")
    webhook: str | None = Field(None, description="where to POST a held answer once it is released")


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str
    outcome: Any


class Gateway:
    """One replica's state: the snapshot, the journal, the upstream clients, breakers and caches."""

    def __init__(self, store: Store, settings: Settings, *, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.store = store
        self.settings = settings
        self.poll_interval_s = poll_interval_s
        self.snapshot = Snapshot()
        self.tokens: dict[str, tuple[Principal, float]] = {}
        self.breakers: dict[str, resilience.CircuitBreaker] = {}
        self.models: dict[str, Any] = {}
        self.client: aiohttp.ClientSession | None = None  # https and other URLs the pool leaves alone
        self.pool: keepalive.KeepAlivePool | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._shadows: set[asyncio.Task[None]] = set()
        self._request_ids = _request_ids()
        self.usage = usage.UsageTracker()
        self.cache: dict[str, tuple[float, Any, float | None]] = {}
        # Hashed fields must not be reversible by someone holding only the log: a keyed hash, the key
        # derived from the installation's secret.
        self.hash_key = hashlib.sha256(b"phasegate redaction:" + settings.session_secret().encode()).digest()
        folder = settings.home / "journal" / f"{os.getpid()}-{secrets.token_hex(3)}"
        self.recover_orphans(folder.parent)
        # No lingering for a group: an fsync here takes ~0.2 ms, and records that arrive while one runs
        # share the next anyway; waiting for company only added to the gateway's latency.
        self.journal = journal_.Journal(
            folder,
            ship=self.ship,
            group_commit_window_s=0.0,
            acknowledge=settings.journal_acknowledge,
        )

    # --- the routing state, reloaded when the store says it changed ---

    def reload(self) -> bool:
        """Read the counter; when it moved, read every rollout and the versions they name."""
        with self.store.session() as session:
            current = service.counter(session)
            if current == self.snapshot.counter:
                return False
            self.snapshot = self._read(session, current)
        self._warm(self.snapshot)
        return True

    def _warm(self, snapshot: Snapshot) -> None:
        """Load in-process models now, off the request path, so no caller waits for a pickle to load."""
        for upstream in snapshot.upstreams.values():
            if upstream.kind == "python" and upstream.id not in self.models:
                try:
                    self._python_model(upstream)
                except UpstreamError:
                    log.warning("%s cannot be loaded; requests to it will say why", upstream.label)

    def _read(self, session: Session, current: int) -> Snapshot:
        fresh = Snapshot(counter=current)
        for rollout in session.scalars(select(Rollout)):
            try:
                self._read_one(session, fresh, rollout, current)
            except (ValueError, PhasegateError):
                # One bad row must not take every use case's routing down: that use case keeps its old state.
                log.exception(
                    "the rollout of %s cannot be loaded; keeping its previous state", rollout.usecase_id
                )
                if rollout.usecase_id in self.snapshot.states:
                    fresh.states[rollout.usecase_id] = self.snapshot.states[rollout.usecase_id]
        return fresh

    def _read_one(self, session: Session, fresh: Snapshot, rollout: Rollout, current: int) -> None:
        """One rollout into the snapshot, with the versions it names."""
        wanted = {
            rollout.primary_version_id,
            rollout.candidate_version_id,
            rollout.fallback.get("version"),
        }
        for version_id in wanted - {None}:
            version = session.get(ModelVersion, version_id)
            if version is not None:
                fresh.upstreams[version.id] = Upstream(
                    version.id,
                    f"{version.name}@{version.version}",
                    version.kind,
                    version.uri,
                    version.trusted,
                    version.artifact_sha256,
                    dict(version.parameters),
                )
        fresh.states[rollout.usecase_id] = routing.RoutingState(
            usecase_id=rollout.usecase_id,
            stage=rollout.stage,  # type: ignore[arg-type]
            primary=rollout.primary_version_id,
            candidate=rollout.candidate_version_id,
            weight=rollout.weight,
            salt=rollout.salt,
            killed=rollout.killed,
            fallback=routing.Fallback.from_dict(rollout.fallback),
            segment_rules=tuple(routing.parse_rules(rollout.segment_rules)),
            counter=current,
            names={v: fresh.upstreams[v].label for v in wanted if v in fresh.upstreams},
        )
        fresh.policies[rollout.usecase_id] = redaction.parse_policy(
            rollout.redaction or None, hash_key=self.hash_key
        )
        fresh.costs[rollout.usecase_id] = rollout.cost_per_request
        fresh.sla_minutes[rollout.usecase_id] = rollout.review_sla_minutes
        fresh.limits[rollout.usecase_id] = (
            rollout.rate_limit_per_minute,
            rollout.monthly_budget,
            rollout.cache_seconds,
        )

    def start(self) -> None:
        self.reload()
        self._poller = threading.Thread(target=self._poll, name="gateway-poller", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        next_analysis = time.monotonic() + ANALYSIS_EVERY_S
        next_purge = time.monotonic() + PURGE_EVERY_S
        next_usage = 0.0
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.reload()
                # Limits and budgets need every replica's counts at each poll; without any, the counts
                # only need to be in the store by the time one is set.
                if self.limits_in_force() or time.monotonic() >= next_usage:
                    next_usage = time.monotonic() + USAGE_SYNC_WITHOUT_LIMITS_S
                    self.sync_usage()
            except Exception:  # a store hiccup must not stop the poller; the old state stays in force
                log.exception("reloading the routing state failed; keeping the previous one")
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_S
                try:
                    with self.store.transaction() as session:
                        service.purge_expired(session)
                except Exception:
                    log.exception("purging expired inference records failed")
            if time.monotonic() >= next_analysis:
                next_analysis = time.monotonic() + ANALYSIS_EVERY_S
                self.analyse_due()

    def limits_in_force(self) -> bool:
        """Whether any use case has a rate limit or a monthly budget."""
        limits = self.snapshot.limits.values()
        return any(limit is not None or budget is not None for limit, budget, _ in limits)

    def sync_usage(self) -> None:
        """Share this replica's request counts and read everyone's, for limits and budgets."""
        with self.store.session() as session:
            self.usage.sync(session, at=datetime.now(UTC))

    def analyse_due(self) -> list[dict[str, Any]]:
        """Judge every window that has ended; a window another replica claimed first is left to it."""
        outcomes = []
        try:
            with self.store.session() as session:
                due = analysis_runs.due(session)
            for usecase_id in due:
                with self.store.transaction() as session:
                    outcomes.append(
                        analysis_runs.analyse_window(
                            session, usecase_id=usecase_id, actor=analysis_runs.ANALYST.name
                        )
                    )
        except Exception:  # the analysis must not stop the poller; the next round tries again
            log.exception("step analysis failed")
        return outcomes

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        self.journal.close(timeout=10)

    # --- callers ---

    def cached_principal(self, authorization: str) -> Principal | None:
        """The caller from the token cache, without touching the store; None when not cached."""
        token = _bearer(authorization)
        cached = self.tokens.get(identity_service.hash_token(token))
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def principal(self, authorization: str) -> Principal:
        """The caller an `Authorization: Bearer` header names, from the cache or the store."""
        cached = self.cached_principal(authorization)
        if cached is not None:
            return cached
        token = _bearer(authorization)
        with self.store.session() as session:
            found = identity_service.principal_of(identity_service.authenticate_token(session, token))
        self.tokens[identity_service.hash_token(token)] = (found, time.monotonic() + TOKEN_TTL_S)
        return found

    # --- the request path ---

    async def predict(self, usecase_id: str, body: PredictBody, caller: Principal) -> dict[str, Any]:
        if body.webhook is not None:
            outbound.check(body.webhook, self.settings.outbound_hosts, field="webhook")
        snapshot = self.snapshot
        state = snapshot.states.get(usecase_id)
        if state is None:
            raise NotFound(f"'{usecase_id}' has no rollout: `phasegate rollout set {usecase_id} --stage ...`")
        caller.require(Action.gateway_call, usecase_id)
        rate_limit, budget, cache_seconds = snapshot.limits.get(usecase_id, (None, None, 0))
        moment = datetime.now(UTC)
        self.usage.check(usecase_id, caller.name, limit=rate_limit, budget=budget, at=moment)
        request_id = next(self._request_ids)
        started = time.perf_counter()
        chosen = routing.route(state, body.key)
        output: Any = None
        confidence: float | None = None
        error: str | None = None
        cached = ""
        cacheable = cache_seconds > 0 and chosen.version is not None and not chosen.hold_for_review
        cache_key = _cache_key(chosen.version, body.input) if cacheable else ""
        if chosen.target == "fallback" and chosen.version is None:
            output = state.fallback.static
        elif cacheable and (hit := self.cache.get(cache_key)) is not None and hit[0] > time.monotonic():
            output, confidence, cached = hit[1], hit[2], "; answered from the cache"
        elif chosen.version is not None:
            try:
                output, confidence = await self.call(snapshot.upstreams.get(chosen.version), body.input)
            except UpstreamError as exc:
                error = str(exc)
            else:
                if cacheable:
                    self.cache[cache_key] = (time.monotonic() + cache_seconds, output, confidence)
        cost = snapshot.costs.get(usecase_id, 0.0) if chosen.version is not None and not cached else 0.0
        self.usage.add(usecase_id, caller.name, cost, at=moment)
        hold, why = routing.after_model(state, body.input, confidence)
        hold = hold and error is None and chosen.version is not None
        latency_ms = (time.perf_counter() - started) * 1000
        policy = snapshot.policies.get(usecase_id) or redaction.DEFAULT_POLICY
        status = "error" if error else ("pending_review" if hold else "answered")
        record = {
            "type": "inference",
            "id": request_id,
            "usecase_id": usecase_id,
            "at": datetime.now(UTC).isoformat(),
            "caller": caller.name,
            "version_id": chosen.version,
            "arm": chosen.target,
            "stage": state.stage if not state.killed else "killed",
            "reason": f"{chosen.reason}; {why}{cached}",
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "cost": cost,
            "output_type": type(output).__name__ if output is not None else None,
            "confidence": confidence,
            "input": redaction.redact(body.input, policy),
            "output": redaction.redact(_as_object(output), policy),
            "error": error,
        }
        if hold:
            due = datetime.now(UTC) + timedelta(minutes=snapshot.sla_minutes.get(usecase_id, 60))
            await self.journal.append_async(record)
            await self.journal.append_async(
                {
                    "type": "review",
                    "id": request_id,
                    "usecase_id": usecase_id,
                    "version_id": chosen.version,
                    "input": body.input,
                    "proposed": _as_object(output),
                    "confidence": confidence,
                    "reason": why,
                    "webhook_url": body.webhook,
                    "due_at": due.isoformat(),
                }
            )
        else:
            await self.journal.append_async(record)
        if chosen.shadow_candidate and state.candidate and error is None:
            task = asyncio.get_running_loop().create_task(
                self.shadow(
                    request_id,
                    usecase_id,
                    snapshot.upstreams.get(state.candidate),
                    body.input,
                    output,
                    policy,
                )
            )
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
        answer: dict[str, Any] = {
            "request_id": request_id,
            "status": status,
            "route": chosen.target,
            "reason": record["reason"],
            "version": snapshot.upstreams[chosen.version].label
            if chosen.version in snapshot.upstreams
            else None,
        }
        if status == "answered":
            answer |= {"output": output, "confidence": confidence}
        elif status == "pending_review":
            answer["result_url"] = f"{PREFIX}/{usecase_id}/results/{request_id}"
        else:
            answer["error"] = error
        return answer

    async def shadow(
        self,
        request_id: str,
        usecase_id: str,
        upstream: Upstream | None,
        inputs: dict[str, Any],
        primary_output: Any,
        policy: redaction.RedactionPolicy,
    ) -> None:
        """Run the candidate on the same input off the request path; log its output and agreement."""
        started = time.perf_counter()
        try:
            output, confidence = await self.call(upstream, inputs)
            error = None
        except UpstreamError as exc:
            output, confidence, error = None, None, str(exc)
        shadow = {
            "version_id": upstream.id if upstream else None,
            "output": redaction.redact(_as_object(output), policy),
            "confidence": confidence,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "agreed": error is None and output == primary_output,
            "error": error,
        }
        with suppress(journal_.JournalError):
            await self.journal.append_async(
                {"type": "shadow", "id": request_id, "usecase_id": usecase_id, "shadow": shadow}
            )

    async def call(self, upstream: Upstream | None, inputs: dict[str, Any]) -> tuple[Any, float | None]:
        """The version's output and confidence, through its breaker, with bounded retries."""
        if upstream is None:
            raise UpstreamError("the version is not registered any more")
        breaker = self.breakers.setdefault(
            upstream.id, resilience.CircuitBreaker(failure_threshold=5, reset_after_s=10.0)
        )
        if not breaker.allow():
            raise UpstreamError(f"{upstream.label}: circuit open after repeated failures")
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._call_once(upstream, inputs)
            except UpstreamError as exc:
                if RETRY.should_retry(attempt, exc.kind):
                    await asyncio.sleep(RETRY.delays()[attempt - 1])  # drawn only when a retry is due
                    continue
                breaker.record(False)
                raise
            breaker.record(True)
            return result

    async def _call_once(self, upstream: Upstream, inputs: dict[str, Any]) -> tuple[Any, float | None]:
        if upstream.kind == "python":
            return await asyncio.to_thread(self._python, upstream, inputs)
        if upstream.kind not in ("http", "openai") or not upstream.uri:
            raise UpstreamError(f"{upstream.label} is a {upstream.kind} version: the gateway cannot call it")
        if upstream.kind == "http":
            body: dict[str, Any] = {"instances": [inputs]}
            url = upstream.uri
        else:
            template = str(upstream.parameters.get("prompt", "{input}"))
            try:
                prompt = (
                    template.format(**inputs) if "{input}" not in template else template.format(input=inputs)
                )
            except (KeyError, IndexError, ValueError) as exc:
                raise UpstreamError(
                    f"the prompt needs {exc}, which the input lacks", kind="client_error"
                ) from exc
            body = {
                "model": upstream.parameters.get("model", upstream.label),
                "temperature": 0,
                "messages": [{"role": "user", "content": prompt}],
            }
            url = upstream.uri.rstrip("/") + "/chat/completions"
        try:
            status, raw = await self._post(url, json.dumps(body).encode())
        except TimeoutError as exc:
            raise UpstreamError(
                f"{upstream.label}: no answer within {UPSTREAM_TIMEOUT_S:g} s", kind="timeout"
            ) from exc
        except keepalive.ReplyTooLarge as exc:  # asking again would bring the same reply
            raise UpstreamError(f"{upstream.label}: {exc}", kind="client_error") from exc
        except (OSError, aiohttp.ClientError) as exc:
            raise UpstreamError(f"{upstream.label}: {_failure(exc)}", kind="connection") from exc
        if status >= 400:
            kind = resilience.error_kind(status) or "client_error"
            raise UpstreamError(f"{upstream.label}: HTTP {status}", kind=kind)
        try:
            reply = json.loads(raw)
            if upstream.kind == "http":
                scores = reply.get("scores")
                return reply["predictions"][0], (float(scores[0]) if scores else None)
            return str(reply["choices"][0]["message"]["content"]).strip(), None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise UpstreamError(
                f"{upstream.label}: the answer does not follow its protocol", kind="client_error"
            ) from exc

    async def _post(self, url: str, body: bytes) -> tuple[int, bytes]:
        """POST JSON to a version: plain HTTP through the keep-alive pool, anything else through aiohttp."""
        assert self.pool is not None and self.client is not None
        target = self.pool.target(url)
        if target is not None:
            return await self.pool.post(target, body)
        headers = {"Content-Type": "application/json"}
        async with self.client.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()

    def _python_model(self, upstream: Upstream) -> Any:
        model = self.models.get(upstream.id)
        if model is None:
            path = local_path(upstream.uri)
            if not upstream.trusted or path is None or not path.is_file():
                raise UpstreamError(f"{upstream.label} is not a trusted model file here", kind="client_error")
            if upstream.artifact_sha256 and file_sha256(path) != upstream.artifact_sha256:
                raise UpstreamError(
                    f"{upstream.label}: the file changed since it was registered", kind="client_error"
                )
            import joblib

            model = self.models.setdefault(upstream.id, joblib.load(path))
        return model

    def _python(self, upstream: Upstream, inputs: dict[str, Any]) -> tuple[Any, float | None]:
        model = self._python_model(upstream)
        import pandas as pd

        frame = pd.DataFrame([inputs])
        try:
            label = model.predict(frame)[0]
            confidence = (
                float(model.predict_proba(frame)[0].max()) if hasattr(model, "predict_proba") else None
            )
        except Exception as exc:  # a model raises whatever its library raises on bad input
            raise UpstreamError(
                f"{upstream.label} failed on this input: {type(exc).__name__}", kind="client_error"
            ) from exc
        item = getattr(label, "item", None)
        return (item() if callable(item) else label), confidence

    # --- shipping the journal to the store ---

    def ship(self, batch: list[dict[str, Any]]) -> None:
        """Write a batch of journal records in one transaction; ids make a repeated batch harmless."""
        with self.store.transaction() as session:
            store_records(session, batch)

    def recover_orphans(self, root: Path) -> None:
        """Ship what replicas that died left in their journals, then remove those journals."""
        if not root.is_dir():
            return
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                orphan = journal_.Journal(folder, ship=self.ship)
            except journal_.JournalError:
                continue  # a live replica holds it
            orphan.close(timeout=30)
            if orphan.stats().pending == 0:
                shutil.rmtree(folder, ignore_errors=True)


def _bearer(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("an API token is needed: send 'Authorization: Bearer <token>'")
    return token


class UpstreamError(Exception):
    """A version could not answer; ``kind`` decides whether a retry may help."""

    def __init__(self, message: str, *, kind: resilience.ErrorKind = "client_error") -> None:
        super().__init__(message)
        self.kind = kind


def _request_ids() -> Iterator[str]:
    """Unguessable request ids (64 random bits: they name results a caller may fetch), drawn from one
    read of the system's random source per 512 ids rather than a system call each; used on the event loop."""
    while True:
        block = os.urandom(4096).hex()
        for start in range(0, len(block), 16):
            yield "rq-" + block[start : start + 16]


def _failure(error: BaseException) -> str:
    """Why a call failed, in a few words: the exception's own text, or its name when it has none."""
    text = str(error).strip()
    return text if text and len(text) <= 200 else type(error).__name__


def _cache_key(version: str | None, inputs: dict[str, Any]) -> str:
    """Identical requests to the same version share a key; the input itself is not kept in the key."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{version}\n{canonical}".encode()).hexdigest()


def _as_object(value: Any) -> Any:
    """An output as the log stores it: JSON objects as they are, anything else under "value"."""
    if value is None or isinstance(value, dict):
        return value
    return {"value": value}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def store_records(session: Session, batch: list[dict[str, Any]]) -> None:
    """Journal records into the store: inferences and review items inserted once, updates applied."""
    inserts = [r for r in batch if r["type"] == "inference"]
    if inserts:
        rows = [{k: (_moment(v) if k == "at" else v) for k, v in r.items() if k != "type"} for r in inserts]
        _insert_ignoring_duplicates(session, InferenceRecord, rows)
    reviews = [r for r in batch if r["type"] == "review"]
    if reviews:
        rows = [
            {
                **{k: v for k, v in r.items() if k != "type"},
                "due_at": _moment(r["due_at"]),
                "status": "pending",
            }
            for r in reviews
        ]
        _insert_ignoring_duplicates(session, ReviewItem, rows)
    session.flush()
    for r in batch:
        if r["type"] == "shadow":
            record = session.get(InferenceRecord, r["id"])
            if record is not None:
                record.shadow = r["shadow"]
        elif r["type"] == "feedback":
            record = session.get(InferenceRecord, r["id"])
            if record is not None:
                record.label = {"outcome": r["outcome"]}
                record.label_source = "feedback"
                record.labelled_at = _moment(r["at"])


def _insert_ignoring_duplicates(session: Session, table: type[Any], rows: list[dict[str, Any]]) -> None:
    """One executemany of a statement compiled once: a multi-row VALUES would be compiled anew for every
    batch size, which cost the shipper (and, through the GIL, the request path) ten times as much."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(table.__table__).on_conflict_do_nothing(index_elements=["id"])
        session.connection().execute(statement, rows)
    else:  # pragma: no cover - the stores phasegate supports are above
        existing = set(session.scalars(select(table.id).where(table.id.in_([r["id"] for r in rows]))))
        session.add_all(table(**r) for r in rows if r["id"] not in existing)


router = APIRouter(prefix=PREFIX, tags=["gateway"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _predict_body(raw: bytes) -> PredictBody:
    """The body parsed and checked in one pass of pydantic's JSON parser; errors answer 422 like FastAPI's."""
    try:
        return PredictBody.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from exc


# The body is read by hand rather than declared, so pydantic parses and checks it in one pass instead of
# FastAPI's JSON parse, then validation; the schema still appears in the API docs.
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictBody.model_json_schema()}},
    }
}


@router.post("/{usecase_id}/predict", openapi_extra=_PREDICT_BODY)
async def predict(usecase_id: str, request: Request) -> Response:
    """Answer with the output, the version, a request id and the route taken (or a pending id)."""
    authorization = request.headers.get("authorization", "")
    status, body = await answer(_gateway(request), usecase_id, await request.body(), authorization)
    return Response(body, status_code=status, media_type="application/json")


async def answer(gateway: Gateway, usecase_id: str, raw: bytes, authorization: str) -> tuple[int, bytes]:
    """A predict request's status and JSON body, whichever door it came through."""
    body = _predict_body(raw)
    # A cached token is checked inline: a thread hop costs more than the check itself.
    caller = gateway.cached_principal(authorization)
    if caller is None:
        caller = await asyncio.to_thread(gateway.principal, authorization)
    result = await gateway.predict(usecase_id, body, caller)
    code = {"answered": 200, "pending_review": 202}.get(result["status"], 502)
    return code, json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@router.get("/{usecase_id}/results/{request_id}")
def result(usecase_id: str, request_id: str, request: Request) -> dict[str, Any]:
    """A held request's state: pending, or released with the reviewer's decision."""
    gateway = _gateway(request)
    caller = gateway.principal(request.headers.get("authorization", ""))
    caller.require(Action.gateway_call, usecase_id)
    with gateway.store.session() as session:
        item = session.get(ReviewItem, request_id)
        if item is None or item.usecase_id != usecase_id:
            raise NotFound(f"no held request '{request_id}' for '{usecase_id}' (yet)")
        if item.status == "pending":
            return {"request_id": request_id, "status": "pending_review", "due_at": item.due_at.isoformat()}
        return {
            "request_id": request_id,
            "status": item.status,
            "output": item.released,
            "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        }


@router.post("/{usecase_id}/feedback")
async def feedback(usecase_id: str, body: FeedbackBody, request: Request) -> dict[str, Any]:
    """Attach a delayed outcome to a request; journaled like the request itself."""
    gateway = _gateway(request)
    caller = await asyncio.to_thread(gateway.principal, request.headers.get("authorization", ""))
    caller.require(Action.gateway_call, usecase_id)
    if not body.request_id.startswith("rq-"):
        raise InvalidInput("not a request id", [Problem("request ids start with 'rq-'", field="request_id")])
    await gateway.journal.append_async(
        {
            "type": "feedback",
            "id": body.request_id,
            "usecase_id": usecase_id,
            "outcome": body.outcome,
            "at": datetime.now(UTC).isoformat(),
        }
    )
    return {"request_id": body.request_id, "accepted": True}


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """This replica's view: the reload counter and each use case's stage."""
    snapshot = _gateway(request).snapshot
    return {
        "counter": snapshot.counter,
        "usecases": {k: ("killed" if s.killed else s.stage) for k, s in snapshot.states.items()},
    }


@asynccontextmanager
async def running(
    app: FastAPI, store: Store, settings: Settings, poll_interval_s: float
) -> AsyncIterator[None]:
    """Start a replica for the app's lifetime: the poller, the journal and the upstream client."""
    gateway = Gateway(store, settings, poll_interval_s=poll_interval_s)
    # Plain-HTTP versions through the keep-alive pool (a third of aiohttp's CPU time per call), the rest
    # through aiohttp (a third of httpx's).
    gateway.pool = keepalive.KeepAlivePool(
        timeout_s=UPSTREAM_TIMEOUT_S, limit=200, max_reply_bytes=UPSTREAM_MAX_REPLY_BYTES
    )
    gateway.client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, limit_per_host=200),
        timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S),
    )
    gateway.start()
    app.state.gateway = gateway
    latency_tuning()
    try:
        yield
    finally:
        gateway.pool.close()
        await gateway.client.close()
        await asyncio.to_thread(gateway.stop)


def latency_tuning() -> None:
    """Process settings for a steady p99, applied once a replica has started.

    - What was allocated at start-up (the app, SQLAlchemy, scikit-learn) is moved out of the garbage
      collector's sight (`gc.freeze`): full collections over it paused the event loop for up to 100 ms.
    - The journal's and the poller's threads give the interpreter back after 0.5 ms instead of 5 ms
      (`sys.setswitchinterval`), so a request waits less while they ship a batch or reload.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


_PREDICT_PATH = re.compile(re.escape(PREFIX) + r"/([^/]+)/predict")
_JSON_HEADERS = [(b"content-type", b"application/json")]


class GatewayApp(FastAPI):
    """A replica's application: predict requests are answered ahead of FastAPI's middleware and routing.

    They are nearly all a replica serves, and FastAPI's stack around them (middleware, routing, request
    and response objects) cost about 40 us of a request's 1 ms budget. Everything else, and every
    error of a predict request, goes through FastAPI as usual, so errors answer as the documented
    route's do.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _PREDICT_PATH.fullmatch(scope["path"])
            if found is not None:
                await self._predict(found.group(1), scope, receive, send)  # ASGI paths come decoded
                return
        await super().__call__(scope, receive, send)

    async def _predict(self, usecase_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        try:
            status, body = await answer(self.state.gateway, usecase_id, raw, authorization)
        except Exception as error:
            handler = next(
                (self.exception_handlers[k] for k in type(error).__mro__ if k in self.exception_handlers),
                None,
            )
            if handler is None:
                raise
            outcome = handler(Request(scope), error)
            response = await outcome if inspect.isawaitable(outcome) else outcome
            await response(scope, receive, send)
            return
        headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_gateway_app(
    settings: Settings | None = None, *, store: Store | None = None, poll_interval_s: float = POLL_INTERVAL_S
) -> FastAPI:
    """A gateway replica as an application of its own."""
    settings = settings or get_settings()
    store = store or Store(settings.store_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(app, store, settings, poll_interval_s):
            yield

    app = GatewayApp(
        title="phasegate gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    install_error_handlers(app)
    app.include_router(router)
    return app


def create_from_settings() -> FastAPI:
    """The factory `phasegate gateway serve` hands to uvicorn (one per worker process)."""
    return create_gateway_app()
