"""Gateway replicas as real processes sharing PostgreSQL: the kill switch lands on both within a second,
and a replica killed with SIGKILL under load loses no request it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from phasegate.evaluation import registry
from phasegate.evaluation.schemas import ModelVersionSpec
from phasegate.identity import service as identity_service
from phasegate.identity.service import local_operator
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.rollout import service
from phasegate.rollout.models import InferenceRecord
from phasegate.store import Store
from tests.conftest import _empty_postgres, free_port
from tests.evaluation.replay_app import serve

pytestmark = pytest.mark.timing

OPERATOR = local_operator("test")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        return {"predictions": ["ok" for _ in body["instances"]]}

    with serve(app) as url:
        yield f"{url}/predict"


@pytest.fixture
def shared_store(postgres_database: str, upstream: str) -> Iterator[tuple[Store, str, str]]:
    """The run's PostgreSQL, emptied, with a use case at stage full and an admin's token."""
    _empty_postgres(postgres_database)
    store = Store(postgres_database)
    with store.transaction() as session:
        portfolio_service.create(session, actor=OPERATOR, spec=UseCaseSpec(id="claims", name="Claims"))
        registry.register(
            session,
            actor=OPERATOR,
            usecase_id="claims",
            spec=ModelVersionSpec(name="m", version="1.0.0", kind="http", uri=upstream),
        )
        change = service.StageChange(
            stage="full", primary="1.0.0", fallback={"static": "manual"}, override_reason="test"
        )
        service.set_stage(session, actor=OPERATOR, usecase_id="claims", change=change)
        identity_service.add_user(
            session, actor=OPERATOR, name="root", role="admin", password="correct horse battery"
        )
        token = identity_service.create_token(session, actor=OPERATOR, name="root")
    yield store, postgres_database, token
    store.dispose()


def start_replica(home: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """A gateway replica process, as `phasegate gateway serve` runs one; waits until it answers."""
    port = free_port()
    env = {
        **os.environ,
        "PHASEGATE_HOME": str(home),
        "PHASEGATE_DATABASE_URL": database_url,
        # Replicas share the secret, so keyed hashes in the log agree across them.
        "PHASEGATE_SECRET_KEY": "a-secret-shared-by-every-replica-of-this-test",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "phasegate.rollout.gateway:create_from_settings",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/gateway/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the gateway replica did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_kill_switch_lands_on_two_replicas_within_a_second(
    shared_store: tuple[Store, str, str], tmp_path: Path
) -> None:
    store, database_url, token = shared_store
    headers = {"Authorization": f"Bearer {token}"}
    replicas = [start_replica(tmp_path / "home", database_url) for _ in range(2)]
    try:
        for _, url in replicas:
            answer = httpx.post(
                f"{url}/gateway/v1/claims/predict", json={"input": {}}, headers=headers
            ).json()
            assert answer["route"] == "primary" and answer["output"] == "ok"
        with store.transaction() as session:
            service.kill(session, actor=OPERATOR, usecase_id="claims", reason="wrong answers")
        pulled = time.monotonic()
        landed: dict[str, float] = {}
        while len(landed) < 2 and time.monotonic() - pulled < 5:
            for _, url in replicas:
                if url not in landed:
                    answer = httpx.post(
                        f"{url}/gateway/v1/claims/predict", json={"input": {}}, headers=headers
                    )
                    if answer.json()["route"] == "fallback":
                        assert answer.json()["output"] == "manual"
                        landed[url] = time.monotonic() - pulled
        assert len(landed) == 2, "the kill switch never reached every replica"
        assert max(landed.values()) < 1.0, landed
    finally:
        for process, _ in replicas:
            stop(process)


def test_a_replica_killed_under_load_loses_no_acknowledged_request(
    shared_store: tuple[Store, str, str], tmp_path: Path
) -> None:
    store, database_url, token = shared_store
    headers = {"Authorization": f"Bearer {token}"}
    home = tmp_path / "home"
    victim, url = start_replica(home, database_url)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop_sending = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop_sending.is_set():
                try:
                    answer = client.post(
                        f"{url}/gateway/v1/claims/predict", json={"input": {"n": 1}}, headers=headers
                    )
                except httpx.HTTPError:
                    return  # the replica is gone
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append(answer.json()["request_id"])

    senders = [threading.Thread(target=send) for _ in range(6)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    stop_sending.set()
    for sender in senders:
        sender.join(timeout=10)
    assert len(acknowledged) >= 300
    # The next replica to start on this host ships what the dead one left in its journal.
    successor, _ = start_replica(home, database_url)
    try:
        wanted = set(acknowledged)
        deadline = time.monotonic() + 30
        while True:
            with store.session() as session:
                stored = set(
                    session.scalars(select(InferenceRecord.id).where(InferenceRecord.id.in_(wanted)))
                )
            if stored == wanted or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert wanted - stored == set(), f"{len(wanted - stored)} acknowledged requests were lost"
    finally:
        stop(successor)
