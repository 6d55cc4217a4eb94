"""Stages as far as the gates allow, the gateway's routing and logging, and the review queue, on both stores.

The gateway runs in-process (its own FastAPI app with its lifespan: poller, journal) over the test's
store; the model behind it is a real HTTP server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from phasegate.cli import app as cli_app
from phasegate.rollout.gateway import create_gateway_app
from phasegate.rollout.models import InferenceRecord
from phasegate.settings import Settings
from phasegate.store import Store
from tests.conftest import Users, free_port
from tests.evaluation.replay_app import serve
from tests.web.conftest import log_in

EMAIL = "dana.whitfield@example.com"


@pytest.fixture(scope="module")
def model_server() -> Iterator[dict[str, str]]:
    """Two versions of a model over HTTP: v1 answers 'low', v2 'high'; /broken always fails."""
    app = FastAPI()

    @app.post("/v1")
    def v1(body: dict[str, Any]) -> dict[str, Any]:
        return {"predictions": ["low" for _ in body["instances"]], "scores": [0.9 for _ in body["instances"]]}

    @app.post("/v2")
    def v2(body: dict[str, Any]) -> dict[str, Any]:
        amounts = [float(r.get("amount", 0)) for r in body["instances"]]
        return {
            "predictions": ["high" for _ in amounts],
            "scores": [0.95 if a < 1000 else 0.55 for a in amounts],
        }

    @app.post("/broken")
    def broken(body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the model fell over")

    with serve(app) as url:
        yield {"v1": f"{url}/v1", "v2": f"{url}/v2", "broken": f"{url}/broken"}


def setup(client: TestClient, admin: dict[str, str], urls: dict[str, str], *, plan: bool = False) -> None:
    assert (
        client.post("/api/v1/usecases", json={"id": "claims", "name": "Claims"}, headers=admin).status_code
        == 201
    )
    for version, url in (("1.0.0", urls["v1"]), ("2.0.0", urls["v2"])):
        body = {"name": "claims-model", "version": version, "kind": "http", "uri": url}
        assert client.post("/api/v1/usecases/claims/models", json=body, headers=admin).status_code == 201
    if plan:
        start = {"playbook": "five-phase", "start": date.today().isoformat()}
        assert client.post("/api/v1/usecases/claims/plan", json=start, headers=admin).status_code == 201


def set_stage(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.put("/api/v1/usecases/claims/rollout", json=body, headers=headers)


@pytest.fixture
def gateway(store: Store, settings: Settings) -> Iterator[TestClient]:
    app = create_gateway_app(settings, store=store, poll_interval_s=0.05)
    with TestClient(app) as client:
        yield client


def wait_for_stage(gateway: TestClient, expected: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.get("/gateway/v1/health").json()["usecases"].get("claims") == expected:
            return
        time.sleep(0.02)
    raise AssertionError(f"the gateway never saw stage {expected}")


def wait_for_reload(gateway: TestClient, seen: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while gateway.get("/gateway/v1/health").json()["counter"] == seen:
        assert time.monotonic() < deadline, "the gateway never reloaded"
        time.sleep(0.02)


# Version 2.0.0 as the candidate for a quarter of the keys, past the gates by an admin's override.
CANARY: dict[str, Any] = {
    "stage": "canary",
    "primary": "1.0.0",
    "candidate": "2.0.0",
    "weight": 25,
    "override_reason": "test",
}


def keyed_traffic(gateway: TestClient, headers: dict[str, str], count: int) -> None:
    """`count` requests with keys k0, k1, ..., then wait until the log has shipped them all."""
    for i in range(count):
        gateway.post("/gateway/v1/claims/predict", json={"input": {}, "key": f"k{i}"}, headers=headers)
    gateway.app.state.gateway.journal.flush()  # type: ignore[attr-defined]


def test_stages_go_only_as_far_as_the_gates_allow(
    app_client: TestClient, admin: dict[str, str], users: Users, model_server: dict[str, str]
) -> None:
    setup(app_client, admin, model_server, plan=True)
    lead = users.headers("lead", "program-lead")
    engineer = users.headers("eng", "technical-owner")
    shadow = set_stage(app_client, engineer, stage="shadow", primary="1.0.0", candidate="2.0.0")
    assert shadow.status_code == 200, shadow.text
    refused = set_stage(app_client, engineer, stage="canary")
    assert refused.status_code == 403
    assert "has not passed" in refused.json()["detail"] and "not approved" in refused.json()["detail"]
    # Only a lead may go past the gates, and only with a reason, which the audit log keeps.
    assert set_stage(app_client, engineer, stage="canary", override_reason="trial").status_code == 403
    forced = set_stage(app_client, lead, stage="canary", override_reason="pilot data reviewed by hand")
    assert forced.status_code == 200 and forced.json()["weight"] == 5
    entries = app_client.get("/api/v1/audit", params={"usecase": "claims"}, headers=admin).json()["data"]
    assert any(e["action"] == "rollout.override" for e in entries)
    shown = app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()
    assert [t["to_stage"] for t in shown["transitions"]] == ["canary", "shadow"]
    bad = set_stage(app_client, lead, stage="canary", weight=150, override_reason="x")
    assert bad.status_code == 422 and "weight" in bad.text


def test_canary_shares_are_sticky_and_near_the_weight(
    app_client: TestClient, admin: dict[str, str], gateway: TestClient, model_server: dict[str, str]
) -> None:
    setup(app_client, admin, model_server)
    body = dict(CANARY)
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "canary")
    arms = {}
    # 2,000 keys: the share's standard error at 25 % is about 1 point, so ±3.5 points is 3.6 of them.
    for i in range(2000):
        answer = gateway.post(
            "/gateway/v1/claims/predict", json={"input": {"amount": i}, "key": f"customer-{i}"}, headers=admin
        )
        assert answer.status_code == 200, answer.text
        arms[i] = answer.json()["route"]
        assert answer.json()["output"] == ("high" if arms[i] == "candidate" else "low")
    share = sum(1 for a in arms.values() if a == "candidate") / len(arms)
    assert 0.215 <= share <= 0.285, share
    for i in (1, 7, 42, 99):  # the same key meets the same version again
        again = gateway.post(
            "/gateway/v1/claims/predict", json={"input": {"amount": 1}, "key": f"customer-{i}"}, headers=admin
        )
        assert again.json()["route"] == arms[i]


def test_the_kill_switch_sends_traffic_to_the_fallback_and_back(
    app_client: TestClient, admin: dict[str, str], gateway: TestClient, model_server: dict[str, str]
) -> None:
    setup(app_client, admin, model_server)
    body = {
        "stage": "full",
        "primary": "2.0.0",
        "fallback": {"static": {"decision": "manual"}},
        "override_reason": "test",
    }
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "full")
    assert (
        gateway.post("/gateway/v1/claims/predict", json={"input": {}}, headers=admin).json()["output"]
        == "high"
    )
    assert (
        app_client.post(
            "/api/v1/usecases/claims/rollout/kill", json={"reason": ""}, headers=admin
        ).status_code
        == 422
    )
    killed = app_client.post(
        "/api/v1/usecases/claims/rollout/kill", json={"reason": "bad answers"}, headers=admin
    )
    assert killed.status_code == 200
    wait_for_stage(gateway, "killed", timeout=1.0)
    answer = gateway.post("/gateway/v1/claims/predict", json={"input": {}}, headers=admin).json()
    assert answer["route"] == "fallback" and answer["output"] == {"decision": "manual"}
    app_client.post("/api/v1/usecases/claims/rollout/kill", json={"on": False}, headers=admin)
    wait_for_stage(gateway, "full", timeout=1.0)


def test_an_email_in_the_input_never_reaches_the_log_in_clear(
    app_client: TestClient,
    admin: dict[str, str],
    gateway: TestClient,
    model_server: dict[str, str],
    store: Store,
    settings: Settings,
) -> None:
    setup(app_client, admin, model_server)
    body = {"stage": "full", "primary": "1.0.0", "override_reason": "test"}
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "full")
    answer = gateway.post(
        "/gateway/v1/claims/predict",
        json={"input": {"note": f"customer {EMAIL} called", "contact": {"email": EMAIL}}},
        headers=admin,
    ).json()
    gateway.app.state.gateway.journal.flush()  # type: ignore[attr-defined]
    with store.session() as session:
        record = session.get(InferenceRecord, answer["request_id"])
        assert record is not None
        assert EMAIL not in str(record.input) and "example.com" in str(record.input)
    logged = app_client.get("/api/v1/usecases/claims/inferences", headers=admin).text
    assert EMAIL not in logged
    journal = Path(settings.home) / "journal"
    assert all(EMAIL.encode() not in f.read_bytes() for f in journal.rglob("*") if f.is_file())


def test_supervised_outputs_wait_for_a_reviewer_who_holds_the_item(
    app_client: TestClient,
    admin: dict[str, str],
    users: Users,
    gateway: TestClient,
    model_server: dict[str, str],
) -> None:
    setup(app_client, admin, model_server)
    body = {"stage": "supervised", "primary": "2.0.0", "override_reason": "test"}
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "supervised")
    held = gateway.post("/gateway/v1/claims/predict", json={"input": {"amount": 5}}, headers=admin)
    assert held.status_code == 202 and "output" not in held.json()
    request_id = held.json()["request_id"]
    gateway.app.state.gateway.journal.flush()  # type: ignore[attr-defined]
    pending = gateway.get(f"/gateway/v1/claims/results/{request_id}", headers=admin).json()
    assert pending["status"] == "pending_review"
    ana, ben = users.headers("ana", "reviewer"), users.headers("ben", "reviewer")
    viewer = users.headers("vic", "viewer")
    queue = app_client.get("/api/v1/reviews", params={"usecase": "claims"}, headers=ana).json()
    assert [i["id"] for i in queue["data"]] == [request_id] and queue["data"][0]["proposed"] == {
        "value": "high"
    }
    assert app_client.post(f"/api/v1/reviews/{request_id}/take", headers=viewer).status_code == 403
    assert app_client.post(f"/api/v1/reviews/{request_id}/take", headers=ana).status_code == 200
    assert app_client.post(f"/api/v1/reviews/{request_id}/take", headers=ben).status_code == 409
    decision = {"decision": "edit", "output": {"value": "low"}}
    missing_reason = app_client.post(f"/api/v1/reviews/{request_id}/decision", json=decision, headers=ana)
    assert missing_reason.status_code == 422 and "reason_code" in missing_reason.text
    decision["reason_code"] = "incorrect"
    assert (
        app_client.post(f"/api/v1/reviews/{request_id}/decision", json=decision, headers=ben).status_code
        == 409
    )
    assert (
        app_client.post(f"/api/v1/reviews/{request_id}/decision", json=decision, headers=ana).status_code
        == 200
    )
    released = gateway.get(f"/gateway/v1/claims/results/{request_id}", headers=admin).json()
    assert released == {**released, "status": "edited", "output": {"value": "low"}}
    log = app_client.get("/api/v1/usecases/claims/inferences", headers=admin).json()["data"]
    assert log[0]["label"]["overridden"] is True and log[0]["label_source"] == "review"


def test_canary_analysis_steps_up_on_good_data_and_rolls_back_a_failing_candidate(
    app_client: TestClient,
    admin: dict[str, str],
    gateway: TestClient,
    model_server: dict[str, str],
    store: Store,
) -> None:
    setup(app_client, admin, model_server)
    criteria = ["error_rate <= 0.10"]  # 0 errors in ~60 bounds the rate below 0.10, not below 0.05
    body = CANARY | {"weight": 50, "criteria": criteria, "ladder": [5, 25, 50, 100], "min_samples": 30}
    started = set_stage(app_client, admin, **body)
    assert started.status_code == 200, started.text
    wait_for_stage(gateway, "canary")
    keyed_traffic(gateway, admin, 120)
    stepped = app_client.post("/api/v1/usecases/claims/rollout/analyse", headers=admin).json()
    assert stepped["outcome"] == "pass", [r["reason"] for r in stepped["results"]]
    assert app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()["rollout"]["weight"] == 100
    evidence = app_client.get(
        "/api/v1/usecases/claims/evidence", params={"kind": "rollout.canary"}, headers=admin
    ).json()["data"]
    assert evidence[0]["payload"]["weight"] == 50
    # A candidate that fails every request is sent back to shadow at once.
    broken = {"name": "claims-model", "version": "3.0.0", "kind": "http", "uri": model_server["broken"]}
    assert app_client.post("/api/v1/usecases/claims/models", json=broken, headers=admin).status_code == 201
    body |= {"candidate": "3.0.0", "weight": 50}
    seen = gateway.get("/gateway/v1/health").json()["counter"]
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_reload(gateway, seen)
    keyed_traffic(gateway, admin, 120)
    failed = app_client.post("/api/v1/usecases/claims/rollout/analyse", headers=admin).json()
    assert failed["outcome"] == "fail", failed
    rollout = app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()["rollout"]
    assert (rollout["stage"], rollout["weight"]) == ("shadow", 0)
    with store.session() as session:
        errors = session.scalars(select(InferenceRecord).where(InferenceRecord.status == "error")).all()
        assert errors and all(r.arm == "candidate" for r in errors)


def test_a_replica_judges_an_ended_window_on_its_own_and_only_once(
    app_client: TestClient,
    admin: dict[str, str],
    gateway: TestClient,
    model_server: dict[str, str],
    store: Store,
) -> None:
    from datetime import UTC, datetime, timedelta

    from phasegate.rollout.models import Rollout

    setup(app_client, admin, model_server)
    body = CANARY | {"window_seconds": 60, "criteria": ["error_rate <= 0.10"], "min_samples": 20}
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "canary")
    keyed_traffic(gateway, admin, 200)
    replica = gateway.app.state.gateway  # type: ignore[attr-defined]
    assert replica.analyse_due() == []  # the window has a minute to run
    with store.transaction() as session:
        rollout = session.get(Rollout, "claims")
        assert rollout is not None
        rollout.window_started_at = datetime.now(UTC) - timedelta(minutes=2)
    [outcome] = replica.analyse_due()
    assert outcome["outcome"] == "pass" and "25 % to 50 %" in outcome["action"]
    assert replica.analyse_due() == []  # the next window has just begun
    history = app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()["transitions"]
    assert history[0]["actor"] == "gateway:analysis" and history[0]["to_weight"] == 50


def test_rate_limits_budgets_and_the_cache(
    app_client: TestClient, admin: dict[str, str], gateway: TestClient, model_server: dict[str, str]
) -> None:
    setup(app_client, admin, model_server)
    body = {"stage": "full", "primary": "1.0.0", "rate_limit_per_minute": 4, "override_reason": "test"}
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "full")
    codes = [
        gateway.post("/gateway/v1/claims/predict", json={"input": {"n": i}}, headers=admin).status_code
        for i in range(6)
    ]
    assert codes == [200, 200, 200, 200, 429, 429]
    seen = gateway.get("/gateway/v1/health").json()["counter"]
    body = {
        "stage": "full",
        "rate_limit_per_minute": 1000,
        "cost_per_request": 0.25,
        "monthly_budget": 1.0,
        "cache_seconds": 60,
    }
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_reload(gateway, seen)
    first = gateway.post("/gateway/v1/claims/predict", json={"input": {"same": 1}}, headers=admin).json()
    again = gateway.post("/gateway/v1/claims/predict", json={"input": {"same": 1}}, headers=admin).json()
    assert "from the cache" not in first["reason"] and "answered from the cache" in again["reason"]
    assert again["output"] == first["output"]
    # A cached answer costs nothing; three more calls spend the budget of 1.00 at 0.25 each.
    spent = [
        gateway.post("/gateway/v1/claims/predict", json={"input": {"n": i}}, headers=admin).status_code
        for i in range(10, 15)
    ]
    assert spent == [200, 200, 200, 429, 429]
    refused = gateway.post("/gateway/v1/claims/predict", json={"input": {"n": 99}}, headers=admin)
    assert "monthly budget" in refused.json()["detail"]


def test_usage_is_shared_across_replicas_through_the_store(store: Store) -> None:
    from datetime import UTC, datetime

    from phasegate.errors import TooManyRequests
    from phasegate.rollout.usage import UsageTracker

    at = datetime.now(UTC)
    first, second = UsageTracker(), UsageTracker()
    for _ in range(3):
        first.add("claims", "svc", 0.0, at=at)
        second.add("claims", "svc", 0.0, at=at)
    first.check("claims", "svc", limit=5, budget=None, at=at)  # each replica alone has counted 3
    with store.session() as session:
        first.sync(session, at=at)
        second.sync(session, at=at)
        first.sync(session, at=at)
    with pytest.raises(TooManyRequests, match="made 6 requests"):
        first.check("claims", "svc", limit=5, budget=None, at=at)
    second.check("claims", "other-caller", limit=5, budget=None, at=at)


def test_retention_purges_old_inference_records(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    from phasegate.identity.service import local_operator
    from phasegate.portfolio import service as portfolio_service
    from phasegate.portfolio.schemas import UseCaseSpec
    from phasegate.rollout import service as rollout_service
    from phasegate.rollout.gateway import store_records

    operator = local_operator("test")
    now = datetime.now(UTC)
    with store.transaction() as session:
        portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="claims", name="Claims"))
        change = rollout_service.StageChange(stage="off", retention_days=30)
        rollout_service.set_stage(session, actor=operator, usecase_id="claims", change=change)
        base = {
            "type": "inference",
            "usecase_id": "claims",
            "caller": "svc",
            "version_id": None,
            "arm": "none",
            "stage": "off",
            "reason": "r",
            "status": "answered",
            "latency_ms": 1.0,
            "cost": 0.0,
            "output_type": None,
            "confidence": None,
            "input": {},
            "output": None,
            "error": None,
        }
        store_records(
            session,
            [
                {**base, "id": "rq-old", "at": (now - timedelta(days=31)).isoformat()},
                {**base, "id": "rq-new", "at": (now - timedelta(days=29)).isoformat()},
            ],
        )
    with store.transaction() as session:
        assert rollout_service.purge_expired(session) == 1
    with store.session() as session:
        assert session.get(InferenceRecord, "rq-old") is None
        assert session.get(InferenceRecord, "rq-new") is not None


def test_the_gateway_can_run_inside_phasegate_serve(
    store: Store, settings: Settings, admin: dict[str, str], model_server: dict[str, str]
) -> None:
    from phasegate.app import create_app

    with TestClient(create_app(settings, store=store, gateway=True)) as both:
        setup(both, admin, model_server)
        body = {"stage": "full", "primary": "1.0.0", "override_reason": "test"}
        assert set_stage(both, admin, **body).status_code == 200
        wait_for_stage(both, "full")
        answer = both.post("/gateway/v1/claims/predict", json={"input": {}}, headers=admin)
        assert answer.status_code == 200 and answer.json()["output"] == "low"
        assert answer.json()["reason"].startswith("full: primary claims-model@1.0.0 answers")


def test_a_reviewer_by_owner_field_alone_is_told_the_queue_is_empty_not_forbidden(
    app_client: TestClient, admin: dict[str, str], users: Users
) -> None:
    """A use case's domain reviewer with no global reviewing role may ask for the next item."""
    nora = users.headers("nora", "viewer")
    stranger = users.headers("sam", "viewer")
    usecase = {"id": "loans", "name": "Loans", "owners": {"domain_reviewer": "nora"}}
    assert app_client.post("/api/v1/usecases", json=usecase, headers=admin).status_code == 201
    assert app_client.post("/api/v1/reviews/next", headers=nora).json() == {"item": None}
    refused = app_client.post("/api/v1/reviews/next", headers=stranger)
    assert refused.status_code == 403


def test_a_version_nobody_answers_for_is_an_error_then_an_open_circuit(
    app_client: TestClient, admin: dict[str, str], gateway: TestClient, model_server: dict[str, str]
) -> None:
    gone = f"http://127.0.0.1:{free_port()}/predict"  # nothing listens there
    setup(app_client, admin, {"v1": gone, "v2": model_server["v2"]})
    started = set_stage(app_client, admin, stage="full", primary="1.0.0", override_reason="test")
    assert started.status_code == 200, started.text
    wait_for_stage(gateway, "full")
    answers = [
        gateway.post("/gateway/v1/claims/predict", json={"input": {}}, headers=admin) for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [502] * 6
    first, last = answers[0].json(), answers[-1].json()
    assert first["status"] == "error" and first["error"].startswith("claims-model@1.0.0: ")
    assert "refused" in first["error"].lower() or "connect" in first["error"].lower(), first["error"]
    assert "circuit open" in last["error"]


@pytest.mark.timing  # counts polls in wall-clock time: run alone, not beside the other worker
def test_without_limits_counts_are_shared_less_often_yet_reach_the_store(
    app_client: TestClient,
    admin: dict[str, str],
    model_server: dict[str, str],
    store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phasegate.rollout import gateway as gateway_module
    from phasegate.rollout.models import UsageCount

    monkeypatch.setattr(gateway_module, "USAGE_SYNC_WITHOUT_LIMITS_S", 0.5)
    synced: list[float] = []
    sync = gateway_module.Gateway.sync_usage

    def counted(replica: gateway_module.Gateway) -> None:
        synced.append(time.monotonic())
        sync(replica)

    monkeypatch.setattr(gateway_module.Gateway, "sync_usage", counted)
    setup(app_client, admin, model_server)
    assert set_stage(app_client, admin, stage="full", primary="1.0.0", override_reason="t").status_code == 200
    with TestClient(create_gateway_app(settings, store=store, poll_interval_s=0.05)) as gateway:
        replica = gateway.app.state.gateway  # type: ignore[attr-defined]
        wait_for_stage(gateway, "full")
        assert not replica.limits_in_force()
        for i in range(3):
            gateway.post("/gateway/v1/claims/predict", json={"input": {"n": i}}, headers=admin)
        synced.clear()
        time.sleep(1.6)  # 32 polls of 0.05 s: a sync every 0.5 s only
        assert 2 <= len(synced) <= 5
        with store.session() as session:
            assert sum(session.scalars(select(UsageCount.requests))) == 3
        body = {"stage": "full", "rate_limit_per_minute": 100}
        seen = gateway.get("/gateway/v1/health").json()["counter"]
        assert set_stage(app_client, admin, **body).status_code == 200
        wait_for_reload(gateway, seen)
        assert replica.limits_in_force()
        synced.clear()
        time.sleep(0.5)
        assert len(synced) >= 5  # a limit in force: every poll


def test_the_standalone_replicas_fast_path_answers_exactly_as_the_documented_route(
    store: Store, settings: Settings, users: Users, admin: dict[str, str], model_server: dict[str, str]
) -> None:
    """`phasegate gateway serve` answers predict ahead of FastAPI's stack; `phasegate serve --gateway`
    through the documented route. Good and bad requests must get the same status, headers and body."""
    from phasegate.app import create_app

    viewer = users.headers("vic", "viewer")
    requests: list[tuple[str, dict[str, Any]]] = [
        ("claims", {"json": {"input": {"amount": 12}, "key": "k1"}, "headers": admin}),
        ("claims", {"json": {"input": {"email": "jo@example.com"}}, "headers": admin}),
        ("claims", {"json": {"input": {}}}),  # no token
        ("claims", {"json": {"input": {}}, "headers": {"Authorization": "Bearer not-a-token"}}),
        ("claims", {"json": {"input": {}}, "headers": viewer}),  # any role may call
        ("claims", {"content": b"{not json", "headers": admin}),
        ("claims", {"json": {"input": "not an object"}, "headers": admin}),
        ("nowhere", {"json": {"input": {}}, "headers": admin}),
    ]
    with TestClient(create_app(settings, store=store, gateway=True)) as both:
        setup(both, admin, model_server)
        body = {"stage": "full", "primary": "1.0.0", "override_reason": "test"}
        assert set_stage(both, admin, **body).status_code == 200
        wait_for_stage(both, "full")
        routed = [both.post(f"/gateway/v1/{u}/predict", **kwargs) for u, kwargs in requests]
    with TestClient(create_gateway_app(settings, store=store, poll_interval_s=0.05)) as replica:
        wait_for_stage(replica, "full")
        fast = [replica.post(f"/gateway/v1/{u}/predict", **kwargs) for u, kwargs in requests]

    def comparable(response: Any) -> tuple[Any, ...]:
        body = response.json()
        if isinstance(body, dict):
            body.pop("request_id", None)  # new for every request
        return (
            response.status_code,
            response.headers.get("content-type"),
            response.headers.get("www-authenticate"),
            body,
        )

    assert [r.status_code for r in fast] == [200, 200, 401, 401, 200, 422, 422, 404]
    assert [comparable(r) for r in fast] == [comparable(r) for r in routed]


def test_a_held_window_leaves_its_outcome_on_the_rollout_the_page_and_the_cli(
    app_client: TestClient,
    admin: dict[str, str],
    gateway: TestClient,
    model_server: dict[str, str],
    users: Users,
    cli: CliRunner,
) -> None:
    """Too little data holds the canary and changes nothing else; the rollout keeps what the window saw."""
    setup(app_client, admin, model_server)
    body = CANARY | {"criteria": ["error_rate <= 0.10"], "min_samples": 50}
    assert set_stage(app_client, admin, **body).status_code == 200
    wait_for_stage(gateway, "canary")
    keyed_traffic(gateway, admin, 40)
    held = app_client.post("/api/v1/usecases/claims/rollout/analyse", headers=admin).json()
    assert held["outcome"] == "inconclusive", held
    shown = app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()
    rollout, judged = shown["rollout"], shown["rollout"]["last_window"]
    assert (rollout["stage"], rollout["weight"]) == ("canary", 25)  # held: nothing moved
    assert shown["transitions"][0]["actor"] != "gateway:analysis"  # and no transition says so
    assert judged["outcome"] == "inconclusive" and judged["action"].startswith("held at 25 %")
    assert (judged["stage"], judged["weight"], judged["min_samples"]) == ("canary", 25, 50)
    assert judged["primary_requests"] + judged["candidate_requests"] == 40
    assert 0 < judged["candidate_requests"] < 40
    users.token("lee", "program-lead", password="correct horse battery")
    assert log_in(app_client, "lee", "correct horse battery").status_code == 303
    page = app_client.get("/usecases/claims/rollout").text
    assert 'id="last-window" data-outcome="inconclusive"' in page and "held at 25 %" in page
    printed = cli.invoke(cli_app, ["rollout", "show", "claims"])
    assert printed.exit_code == 0 and "last window" in printed.output and "held at 25 %" in printed.output
    # Routing it anew forgets the old window: it judged traffic sent elsewhere.
    moved = set_stage(app_client, admin, **body | {"weight": 50})
    assert moved.status_code == 200, moved.text
    after = app_client.get("/api/v1/usecases/claims/rollout", headers=admin).json()["rollout"]
    assert after["weight"] == 50 and after["last_window"] is None


def test_a_reply_over_the_size_bound_is_refused_once_not_retried(
    app_client: TestClient,
    admin: dict[str, str],
    store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phasegate.rollout import gateway as gateway_module

    calls: list[int] = []
    app = FastAPI()

    @app.post("/big")
    def big(body: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"predictions": ["x" * 5000]}

    monkeypatch.setattr(gateway_module, "UPSTREAM_MAX_REPLY_BYTES", 1000)
    with serve(app) as url:
        setup(app_client, admin, {"v1": f"{url}/big", "v2": f"{url}/big"})
        full = set_stage(app_client, admin, stage="full", primary="1.0.0", override_reason="t")
        assert full.status_code == 200, full.text
        with TestClient(create_gateway_app(settings, store=store, poll_interval_s=0.05)) as gateway:
            wait_for_stage(gateway, "full")
            answer = gateway.post("/gateway/v1/claims/predict", json={"input": {}}, headers=admin)
    assert answer.status_code == 502
    assert answer.json()["error"] == "claims-model@1.0.0: the model's reply is over 1,000 bytes"
    assert len(calls) == 1  # a client error: the same request would bring the same reply
