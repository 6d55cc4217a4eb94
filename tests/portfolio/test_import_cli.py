"""Bulk import through the CLI and API, as a program lead brings an existing inventory in."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import Workbook
from typer.testing import CliRunner

from phasegate.cli import app
from tests.conftest import DATA

FOREIGN = (
    "Use Case Title;Dept;Owner Email;Monthly Volume\n"
    "Réclamations fournisseurs;Finance;hélène@example.com;1200\n"
)


def foreign_csv(tmp_path: Path) -> Path:
    path = tmp_path / "inventaire.csv"
    path.write_bytes(FOREIGN.encode("latin-1"))
    return path


MAPPING = [
    "--map",
    "name=Use Case Title",
    "--map",
    "business_unit=Dept",
    "--map",
    "owners.use_case=Owner Email",
    "--map",
    "roi.volume_per_month=Monthly Volume",
]


def test_a_csv_with_foreign_headers_imports_with_a_mapping(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["usecase", "import", str(foreign_csv(tmp_path)), *MAPPING])
    assert result.exit_code == 0, result.output
    assert "detected" in result.output and "1 were created" in result.output
    shown = json.loads(cli.invoke(app, ["usecase", "show", "reclamations-fournisseurs", "--json"]).stdout)
    assert shown["name"] == "Réclamations fournisseurs"
    assert shown["document"]["owners"]["use_case"] == "hélène@example.com"
    assert shown["document"]["roi"]["volume_per_month"] == 1200


def test_a_dry_run_reports_row_by_row_and_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text("id,name,status\nok-one,Fine,active\nbad-one,Broken,sleeping\n")
    result = cli.invoke(app, ["usecase", "import", str(path), "--dry-run", "--json"])
    assert result.exit_code == 1  # a rejected row fails the command, dry run or not
    report = json.loads(result.stdout)
    assert [(r["row"], r["outcome"]) for r in report["rows"]] == [(2, "create"), (3, "reject")]
    assert report["rows"][1]["problems"][0]["field"] == "status"
    assert json.loads(cli.invoke(app, ["usecase", "list", "--json"]).stdout) == []


def test_the_named_encoding_wins_over_detection(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app, ["usecase", "import", str(foreign_csv(tmp_path)), *MAPPING, "--encoding", "latin-1", "--json"]
    )
    report = json.loads(result.stdout)
    assert report["encoding"] == "latin-1" and report["encoding_detected"] is False


def test_a_mapping_to_a_missing_column_names_it(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["usecase", "import", str(foreign_csv(tmp_path)), "--map", "name=Title"])
    assert result.exit_code == 1 and "Title" in result.output and "Use Case Title" in result.output


def test_a_map_file_and_an_xlsx_sheet(cli: CliRunner, tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Inventory")
    sheet.append(["Title", "Unit"])
    sheet.append(["Contract review assistant", "Legal"])
    book.save(tmp_path / "inventory.xlsx")
    (tmp_path / "map.yaml").write_text("name: Title\nbusiness_unit: Unit\n")
    result = cli.invoke(
        app,
        [
            "usecase",
            "import",
            str(tmp_path / "inventory.xlsx"),
            "--sheet",
            "Inventory",
            "--map-file",
            str(tmp_path / "map.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(cli.invoke(app, ["usecase", "list", "--json"]).stdout)
    assert [(u["id"], u["business_unit"]) for u in listed] == [("contract-review-assistant", "Legal")]
    wrong = cli.invoke(app, ["usecase", "import", str(tmp_path / "inventory.xlsx"), "--sheet", "Nope"])
    assert wrong.exit_code == 1 and "Inventory" in wrong.output


def test_the_federal_inventory_imports_whole_and_reimport_adds_none(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    data = (DATA / "us-federal-ai-inventory-2025.csv").read_bytes()

    def upload() -> dict[str, object]:
        response = app_client.post(
            "/api/v1/usecases/import",
            headers=admin,
            data={"preset": "us-federal-2025"},
            files={"file": ("omb.csv", data)},
        )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    first = upload()
    assert first["counts"] == {"create": 3611, "update": 0, "unchanged": 0, "reject": 0}
    second = upload()
    assert second["counts"] == {"create": 0, "update": 0, "unchanged": 3611, "reject": 0}
    listed = app_client.get("/api/v1/usecases", params={"limit": 10000}, headers=admin).json()
    assert listed["count"] == 3611
    high = app_client.get(
        "/api/v1/usecases", params={"risk_tier": "high", "limit": 10000}, headers=admin
    ).json()
    one = app_client.get(f"/api/v1/usecases/{listed['data'][0]['id']}", headers=admin).json()
    assert one["document"]["attributes"]  # source fields without a home are kept
    assert high["count"] >= 0
