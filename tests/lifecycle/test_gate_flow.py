"""A use case moves only when its gate passes on evidence: the spine of phasegate, end to end over the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from phasegate.identity.service import local_operator
from phasegate.lifecycle import evidence
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store
from tests.conftest import Users

GOOD_AUDIT = '{"gaps": {"blockers": 0}, "quality": {"completeness": 0.99}}'


def start(app_client: TestClient, admin: dict[str, str], playbook: str = "ninety-day") -> dict[str, object]:
    app_client.post("/api/v1/usecases", json={"id": "claims", "name": "Claims triage"}, headers=admin)
    response = app_client.post(
        "/api/v1/usecases/claims/plan", json={"playbook": playbook, "start": "2026-01-05"}, headers=admin
    )
    assert response.status_code == 201, response.text
    plan: dict[str, object] = response.json()
    return plan


def test_starting_a_plan_dates_phases_and_freezes_the_first_gate(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    plan = start(app_client, admin)
    phases = plan["phases"]
    assert isinstance(phases, list)
    assert [(p["id"], p["planned_start"], p["planned_end"], p["status"]) for p in phases] == [
        ("discover", "2026-01-05", "2026-02-04", "active"),
        ("build", "2026-02-04", "2026-03-06", "pending"),
        ("productionize", "2026-03-06", "2026-04-05", "pending"),
    ]
    gate = app_client.get("/api/v1/usecases/claims/gate", headers=admin).json()
    assert gate["criteria_version"] == 1 and len(gate["criteria_sha256"]) == 64
    assert [c["status"] for c in gate["criteria"]] == ["missing", "missing", "missing"]
    usecase = app_client.get("/api/v1/usecases/claims", headers=admin).json()
    assert usecase["current_phase"] == "discover"


def test_the_gate_blocks_advance_until_evidence_and_approval_satisfy_it(
    app_client: TestClient, admin: dict[str, str], users: Users
) -> None:
    start(app_client, admin)
    refused = app_client.post("/api/v1/usecases/claims/phase/advance", json={}, headers=admin)
    assert refused.status_code == 409 and "has not passed" in refused.json()["detail"]

    published = app_client.post(
        "/api/v1/usecases/claims/evidence", data={"kind": "data.audit", "payload": GOOD_AUDIT}, headers=admin
    )
    assert published.status_code == 201
    gate = app_client.get("/api/v1/usecases/claims/gate", headers=admin).json()
    assert [c["status"] for c in gate["criteria"]] == ["pass", "pass", "missing"]
    assert (
        gate["criteria"][1]["observed"] == 0.99
        and gate["criteria"][1]["evidence_id"] == published.json()["id"]
    )

    # The criterion names the risk owner: an admin cannot sign in their place.
    by_admin = app_client.post(
        "/api/v1/usecases/claims/gate/approvals", json={"criterion": 3, "reason": "ok"}, headers=admin
    )
    assert by_admin.status_code == 403 and "risk-owner" in by_admin.json()["detail"]
    risk = users.headers("k.osei", "risk-owner", usecase="claims")
    signed = app_client.post(
        "/api/v1/usecases/claims/gate/approvals", json={"criterion": 3, "reason": "DPIA done"}, headers=risk
    )
    assert signed.status_code == 201 and signed.json()["passed"] is True

    advanced = app_client.post("/api/v1/usecases/claims/phase/advance", json={}, headers=admin)
    assert advanced.status_code == 200 and advanced.json()["phase"]["id"] == "build"
    next_gate = app_client.get("/api/v1/usecases/claims/gate", headers=admin).json()
    assert next_gate["phase"] == "build" and next_gate["criteria_version"] == 1
    log = app_client.get("/api/v1/audit", params={"usecase": "claims"}, headers=admin).json()["data"]
    actions = [e["action"] for e in log]
    assert {"gate.advance", "gate.approve", "evidence.publish", "gate.freeze"} <= set(actions)


def test_stale_evidence_fails_the_freshness_criterion(app_client: TestClient, admin: dict[str, str]) -> None:
    start(app_client, admin)
    app_client.post(
        "/api/v1/usecases/claims/evidence", data={"kind": "data.audit", "payload": GOOD_AUDIT}, headers=admin
    )
    import datetime as dt

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    from phasegate.lifecycle import gating

    store = app_client.app.state.store  # type: ignore[attr-defined]
    with store.session() as session:
        report = gating.check(session, usecase_id="claims", at=later)
    fresh = report.result.results[0]
    assert fresh.status == "fail" and "20.0 days old, older than the 14-day limit" in fresh.reason


def test_override_needs_a_lead_and_a_reason_and_is_audited(
    app_client: TestClient, admin: dict[str, str], users: Users
) -> None:
    start(app_client, admin)
    owner = users.headers("maria", "use-case-owner", usecase="claims")
    refused = app_client.post(
        "/api/v1/usecases/claims/phase/advance", json={"override_reason": "we are in a hurry"}, headers=owner
    )
    assert refused.status_code == 403
    blank = app_client.post(
        "/api/v1/usecases/claims/phase/advance", json={"override_reason": " "}, headers=admin
    )
    assert blank.status_code == 422
    lead = users.headers("pat", "program-lead")
    forced = app_client.post(
        "/api/v1/usecases/claims/phase/advance",
        json={"override_reason": "board decision 2026-02"},
        headers=lead,
    )
    assert forced.status_code == 200
    entries = app_client.get(
        "/api/v1/audit", params={"usecase": "claims", "actor": "pat"}, headers=admin
    ).json()
    override = next(e for e in entries["data"] if e["action"] == "gate.override")
    assert override["after"]["reason"] == "board decision 2026-02" and override["after"]["passed"] is False


def test_changing_criteria_makes_a_new_version_and_voids_earlier_sign_offs(
    app_client: TestClient, admin: dict[str, str], users: Users
) -> None:
    start(app_client, admin)
    risk = users.headers("k.osei", "risk-owner")
    app_client.post(
        "/api/v1/usecases/claims/gate/approvals", json={"criterion": 3, "reason": "ok"}, headers=risk
    )
    before = app_client.get("/api/v1/usecases/claims/gate", headers=admin).json()
    assert before["criteria"][2]["status"] == "pass"
    criteria = [
        {"evidence": "data.audit", "require": {"metric": "gaps.blockers", "op": "==", "value": 0}},
        {"approval": "risk"},
    ]
    changed = app_client.put(
        "/api/v1/usecases/claims/gate/criteria", json={"criteria": criteria}, headers=admin
    )
    assert changed.status_code == 200
    after = changed.json()
    assert after["criteria_version"] == 2 and after["criteria_sha256"] != before["criteria_sha256"]
    assert after["criteria"][1]["status"] == "missing"  # the old sign-off was for version 1
    log = app_client.get("/api/v1/audit", params={"usecase": "claims"}, headers=admin).json()["data"]
    entry = next(e for e in log if e["action"] == "gate.criteria")
    assert entry["before"]["version"] == 1 and entry["after"]["version"] == 2


def test_bad_criteria_are_refused_with_the_field_named(app_client: TestClient, admin: dict[str, str]) -> None:
    start(app_client, admin)
    bad = [{"evidence": "data.audit", "require": {"metric": "x", "op": "=~", "value": 1}}]
    response = app_client.put("/api/v1/usecases/claims/gate/criteria", json={"criteria": bad}, headers=admin)
    assert response.status_code == 422
    assert any("op" in (p.get("field") or "") for p in response.json()["problems"])


def test_evidence_is_immutable_in_the_store(app_client: TestClient, admin: dict[str, str]) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    start(app_client, admin)
    record = app_client.post(
        "/api/v1/usecases/claims/evidence", data={"kind": "data.audit", "payload": GOOD_AUDIT}, headers=admin
    ).json()
    store = app_client.app.state.store  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError), store.engine.begin() as connection:
        connection.execute(text("UPDATE evidence SET payload = '{}' WHERE id = :i"), {"i": record["id"]})
    with pytest.raises(DBAPIError), store.engine.begin() as connection:
        connection.execute(text("DELETE FROM evidence WHERE id = :i"), {"i": record["id"]})
    shown = app_client.get(f"/api/v1/evidence/{record['id']}", headers=admin).json()
    assert shown["intact"] is True and shown["payload"]["quality"]["completeness"] == 0.99
    deleted = app_client.delete("/api/v1/usecases/claims", headers=admin)
    assert deleted.status_code == 409 and "retire" in deleted.json()["detail"]


def test_a_decision_records_what_the_gate_showed(app_client: TestClient, admin: dict[str, str]) -> None:
    start(app_client, admin)
    decided = app_client.post(
        "/api/v1/usecases/claims/gate/decisions",
        json={"decision": "no-go", "reason": "no data audit yet"},
        headers=admin,
    )
    assert decided.status_code == 201 and decided.json()["passed"] is False
    wrong = app_client.post(
        "/api/v1/usecases/claims/gate/decisions", json={"decision": "maybe", "reason": "x"}, headers=admin
    )
    assert wrong.status_code == 422
    gate = app_client.get("/api/v1/usecases/claims/gate", headers=admin).json()
    assert gate["decisions"][0]["decision"] == "no-go"


def test_the_newest_record_of_each_kind_comes_with_its_count_in_the_order_asked(store: Store) -> None:
    operator = local_operator("test")
    with store.transaction() as session:
        portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="claims", name="Claims"))
        for kind, weight in (("rollout.canary", 5), ("rollout.shadow", 0), ("rollout.canary", 25)):
            evidence.publish(
                session,
                actor=operator,
                usecase_id="claims",
                kind=kind,
                producer="t",
                payload={"weight": weight},
            )
    with store.transaction() as session:
        found = evidence.newest_of_kinds(
            session, usecase_id="claims", kinds=["rollout.supervised", "rollout.canary", "rollout.shadow"]
        )
        assert [(e.kind, e.payload["weight"], n) for e, n in found] == [
            ("rollout.canary", 25, 2),
            ("rollout.shadow", 0, 1),
        ]
