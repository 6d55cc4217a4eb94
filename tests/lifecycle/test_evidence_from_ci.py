"""A team's CI publishes evidence to the central server over real HTTP, with a token, as its CI would."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from phasegate.identity import service as identity_service
from phasegate.identity.service import local_operator
from phasegate.lifecycle import plans
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store
from tests.conftest import PHASEGATE, free_port


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[str]:
    """`phasegate serve` in its own process on loopback, over this test's store."""
    port = free_port()
    env = {**os.environ, "PHASEGATE_DATABASE_URL": store_url, "PHASEGATE_HOME": str(tmp_path / "server")}
    process = subprocess.Popen(
        [PHASEGATE, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded CI machine takes a while to import everything
        while True:
            try:
                if httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                ended = process.poll() is not None and process.stdout is not None
                output = process.stdout.read().decode() if ended and process.stdout else ""
                raise RuntimeError(f"phasegate serve did not answer on {url}: {output[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_ci_publishes_evidence_with_a_token_and_the_gate_reads_it(
    server: str, store: Store, tmp_path: Path
) -> None:
    operator = local_operator("setup")
    with store.transaction() as session:
        portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="claims", name="Claims"))
        plans.start(
            session,
            actor=operator,
            usecase_id="claims",
            playbook_id="ninety-day",
            start_on=date(2026, 1, 5),
        )
        identity_service.add_user(
            session,
            actor=operator,
            name="ci-bot",
            role="technical-owner",
            usecase_id="claims",
            password="a long ci password",
        )
        token = identity_service.create_token(session, actor=operator, name="ci-bot", label="ci")
    report = tmp_path / "audit.json"
    report.write_text(json.dumps({"gaps": {"blockers": 0}, "quality": {"completeness": 0.995}}))
    env = {
        **os.environ,
        "PHASEGATE_URL": server,
        "PHASEGATE_TOKEN": token,
        "PHASEGATE_HOME": str(tmp_path / "ci"),
    }
    env.pop("PHASEGATE_DATABASE_URL", None)
    published = subprocess.run(
        [
            PHASEGATE,
            "evidence",
            "add",
            "claims",
            "--kind",
            "data.audit",
            "--payload",
            str(report),
            "--producer",
            "ci:data-contracts",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert published.returncode == 0, published.stderr
    record = json.loads(published.stdout)
    assert record["published_by"] == "ci-bot" and record["producer"] == "ci:data-contracts"
    gate = subprocess.run(
        [PHASEGATE, "gate", "check", "claims", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert gate.returncode == 1  # the risk sign-off is still missing
    statuses = [c["status"] for c in json.loads(gate.stdout)["criteria"]]
    assert statuses == ["pass", "pass", "missing"]
    refused = subprocess.run(
        [PHASEGATE, "usecase", "delete", "claims"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    wrong = subprocess.run(
        [PHASEGATE, "usecase", "list"],
        env={**env, "PHASEGATE_TOKEN": "pg_wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr
