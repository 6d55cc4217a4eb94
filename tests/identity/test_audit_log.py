"""The audit log in the store: every mutation recorded, tampering found by `phasegate audit verify`."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from phasegate.cli import app as cli_app
from phasegate.store import Store


def _mutate(app_client: TestClient, admin: dict[str, str]) -> None:
    for n in range(3):
        response = app_client.post(
            "/api/v1/usecases", json={"id": f"uc-{n}", "name": f"Use case {n}"}, headers=admin
        )
        assert response.status_code == 201
    app_client.patch("/api/v1/usecases/uc-1", json={"status": "active"}, headers=admin)
    app_client.delete("/api/v1/usecases/uc-2", headers=admin)


def test_every_mutation_is_recorded_with_before_and_after(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    _mutate(app_client, admin)
    entries = app_client.get("/api/v1/audit", params={"usecase": "uc-1"}, headers=admin).json()["data"]
    update = next(e for e in entries if e["action"] == "usecase.update")
    assert update["actor"] == "root"
    assert update["before"]["status"] == "proposed" and update["after"]["status"] == "active"
    deleted = app_client.get("/api/v1/audit", params={"usecase": "uc-2"}, headers=admin).json()["data"]
    assert deleted[0]["action"] == "usecase.delete" and deleted[0]["before"]["name"] == "Use case 2"


def test_secrets_never_reach_the_audit_log(
    app_client: TestClient, admin: dict[str, str], store: Store
) -> None:
    created = app_client.post(
        "/api/v1/users",
        json={"name": "kim", "role": "viewer", "password": "a very secret one"},
        headers=admin,
    ).json()
    token = app_client.post("/api/v1/users/kim/tokens", json={}, headers=admin).json()["token"]
    assert created["generated_password"] is None
    with store.engine.connect() as connection:
        dump = " ".join(str(row) for row in connection.execute(text("SELECT * FROM audit_log")))
    assert "a very secret one" not in dump and token not in dump


def test_verify_passes_on_an_untouched_log(
    app_client: TestClient, admin: dict[str, str], cli: CliRunner
) -> None:
    _mutate(app_client, admin)
    result = cli.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_verify_names_a_changed_entry(
    app_client: TestClient, admin: dict[str, str], store: Store, cli: CliRunner
) -> None:
    _mutate(app_client, admin)
    with store.engine.begin() as connection:
        seq = connection.execute(
            text("SELECT seq FROM audit_log WHERE action = 'usecase.update'")
        ).scalar_one()
        forged = json.dumps({"status": "retired"})
        connection.execute(text("UPDATE audit_log SET after = :a WHERE seq = :s"), {"a": forged, "s": seq})
    result = cli.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"entry {seq}" in result.output and "changed" in result.output


def test_verify_names_a_removed_entry(
    app_client: TestClient, admin: dict[str, str], store: Store, cli: CliRunner
) -> None:
    _mutate(app_client, admin)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    result = cli.invoke(cli_app, ["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["broken"]["seq"] == 3


def test_verify_notices_entries_cut_from_the_end(
    app_client: TestClient, admin: dict[str, str], store: Store, cli: CliRunner
) -> None:
    _mutate(app_client, admin)
    with store.engine.begin() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        connection.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": last})
    result = cli.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1 and "removed from the end" in result.output


def test_audit_log_filters_by_actor(app_client: TestClient, admin: dict[str, str], cli: CliRunner) -> None:
    _mutate(app_client, admin)
    result = cli.invoke(cli_app, ["audit", "log", "--actor", "root", "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert entries and {e["actor"] for e in entries} == {"root"}
