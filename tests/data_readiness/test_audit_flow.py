"""A data engineer's day through the CLI: catalog a source, profile it, check its contract as CI would,
audit it with a golden slice and labels, work the gap list, and see the gate read the audit."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasegate.cli import app
from tests.conftest import DATA

NOW = datetime.now(UTC)


def write_invoices(folder: Path, *, broken: bool) -> Path:
    """200 invoices; when broken, a few planted faults a contract and an audit must find."""
    path = folder / "invoices.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "invoice_id",
                "supplier_id",
                "received_at",
                "net_amount",
                "tax_amount",
                "total_amount",
                "currency",
                "label_status",
                "reviewer",
                "contact",
            ]
        )
        for n in range(200):
            net = 100 + n
            total = net * 1.2
            currency = "EUR"
            if broken and n == 7:
                total += 5  # total no longer net plus tax
            if broken and n == 9:
                currency = "eur"
            supplier = f"S{n % 5}" if not (broken and n == 11) else "S99"
            received = (NOW - timedelta(hours=n % 20)).strftime("%Y-%m-%d %H:%M:%S")
            contact = "someone@example.com" if broken and n % 50 == 0 else "accounts payable"
            out.writerow(
                [
                    f"INV-{n:08d}",
                    supplier,
                    received,
                    net,
                    round(net * 0.2, 2),
                    round(total, 2),
                    currency,
                    "verified",
                    "r1",
                    contact,
                ]
            )
    (folder / "suppliers.csv").write_text(
        "supplier_id,name\n" + "".join(f"S{i},Supplier {i}\n" for i in range(5))
    )
    return path


CONTRACT = """kind: DataContract
id: invoices
source: invoices
freshness: {column: received_at, max_lag: 26h}
columns:
  invoice_id:   {type: string, unique: true, not_null: true, pattern: "^INV-[0-9]{8}$"}
  supplier_id:  {type: string, not_null: true, references: suppliers.supplier_id}
  net_amount:   {type: decimal, min: 0, max: 1000000, max_null_rate: 0.01}
  total_amount: {type: decimal, min: 0, not_null: true}
  currency:     {type: string, allowed: [EUR, USD, GBP, SEK]}
  contact:      {type: string, classification: confidential}
rules:
  - name: total equals net plus tax
    expression: abs(total_amount - net_amount - tax_amount) <= 0.01
    max_failure_rate: 0
"""


@pytest.fixture
def catalogued(cli: CliRunner, tmp_path: Path) -> Path:
    write_invoices(tmp_path, broken=True)
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    assert cli.invoke(app, ["apply", "-f", str(DATA / "usecase-invoice-extraction.yaml")]).exit_code == 0
    for name in ("invoices", "suppliers"):
        usecase = ["--usecase", "invoice-extraction"] if name == "invoices" else []
        result = cli.invoke(
            app,
            [
                "data",
                "source",
                "add",
                name,
                "--location",
                str(tmp_path / f"{name}.csv"),
                "--owner",
                "dev.patel",
                "--classification",
                "internal",
                *usecase,
            ],
        )
        assert result.exit_code == 0, result.output
    return tmp_path


def test_profile_keeps_a_snapshot_with_counts_and_types(cli: CliRunner, catalogued: Path) -> None:
    result = cli.invoke(app, ["data", "profile", "invoices", "--label", "baseline", "--json"])
    assert result.exit_code == 0, result.output
    snapshot = json.loads(result.stdout)
    assert snapshot["label"] == "baseline" and snapshot["rows"] == 200
    columns = {c["name"]: c for c in snapshot["profile"]["columns"]}
    assert columns["net_amount"]["mean"] == pytest.approx(199.5)
    assert columns["invoice_id"]["distinct"] == 200


def test_a_failing_contract_exits_non_zero_naming_each_check(cli: CliRunner, catalogued: Path) -> None:
    result = cli.invoke(app, ["data", "check", "-f", str(catalogued / "contract.yaml"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {r["check"] for r in report["results"] if r["status"] == "fail"}
    assert any("currency" in c for c in failed) and any("supplier_id" in c for c in failed)
    assert any("total equals net plus tax" in c for c in failed)
    passed = {r["check"] for r in report["results"] if r["status"] == "pass"}
    assert any("invoice_id" in c and "unique" in c for c in passed)


def test_a_clean_file_passes_the_same_contract_in_ci(
    cli: CliRunner, catalogued: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    write_invoices(clean, broken=False)
    result = cli.invoke(
        app,
        ["data", "check", "-f", str(catalogued / "contract.yaml"), "--location", str(clean / "invoices.csv")],
    )
    assert result.exit_code == 0, result.output
    assert "0 failed, 0 could not run" in result.output


def test_a_check_that_cannot_run_is_an_error_never_a_pass(cli: CliRunner, catalogued: Path) -> None:
    broken = catalogued / "broken.yaml"
    broken.write_text(
        CONTRACT.replace("  currency:", "  currencyy:").replace(
            "abs(total_amount - net_amount - tax_amount) <= 0.01", "total_amount >>> 3"
        )
    )
    result = cli.invoke(app, ["data", "check", "-f", str(broken), "--json"])
    assert result.exit_code == 1
    errors = [r for r in json.loads(result.stdout)["results"] if r["status"] == "error"]
    assert any("currencyy" in (r["error"] or "") for r in errors)
    assert any("rule" in r["check"] for r in errors)


def test_an_unreadable_location_is_named(cli: CliRunner, catalogued: Path) -> None:
    result = cli.invoke(
        app,
        [
            "data",
            "check",
            "-f",
            str(catalogued / "contract.yaml"),
            "--location",
            str(catalogued / "missing.csv"),
        ],
    )
    assert result.exit_code == 1 and "missing.csv" in result.output


def test_an_audit_finds_gaps_publishes_evidence_and_a_fix_resolves_them(
    cli: CliRunner, catalogued: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    golden = tmp_path / "golden.csv"
    golden.write_text("invoice_id,total_amount\nINV-00000001,121.2\nINV-00000002,999\n")
    result = cli.invoke(
        app,
        [
            "data",
            "audit",
            "invoices",
            "--contract",
            str(catalogued / "contract.yaml"),
            "--golden",
            str(golden),
            "--key",
            "invoice_id",
            "--report",
            str(report),
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output  # failed checks: the audit says so in its exit code
    audit = json.loads(result.stdout)
    summary = audit["summary"]
    assert summary["rows"] == 200 and summary["checks"]["failed"] >= 3
    assert summary["gaps"]["blockers"] + summary["gaps"]["degraders"] >= 3
    assert summary["quality"]["accuracy"] == pytest.approx(0.5)
    assert "email" in summary["pii"]
    assert report.read_text().startswith("<!doctype html>") and "Plotly" in report.read_text()

    evidence = json.loads(cli.invoke(app, ["evidence", "list", "invoice-extraction", "--json"]).stdout)
    assert evidence[0]["kind"] == "data.audit" and evidence[0]["payload"]["gaps"] == summary["gaps"]
    gaps = json.loads(cli.invoke(app, ["data", "gaps", "--json"]).stdout)
    assert gaps and all(g["owner"] == "dev.patel" for g in gaps)
    assert gaps[0]["severity"] == "blocker" or all(g["severity"] == "degrader" for g in gaps)

    write_invoices(catalogued, broken=False)
    again = cli.invoke(
        app, ["data", "audit", "invoices", "--contract", str(catalogued / "contract.yaml"), "--json"]
    )
    assert json.loads(again.stdout)["summary"]["checks"]["failed"] == 0
    still_open = json.loads(cli.invoke(app, ["data", "gaps", "--json"]).stdout)
    resolved = json.loads(cli.invoke(app, ["data", "gaps", "--status", "resolved", "--json"]).stdout)
    assert len(resolved) >= 3 and len(still_open) < len(gaps)


def test_the_declared_lineage_is_listed(cli: CliRunner, catalogued: Path) -> None:
    lineage = json.loads(cli.invoke(app, ["data", "lineage", "--json"]).stdout)
    assert {
        "upstream": "source:invoices",
        "downstream": "usecase:invoice-extraction",
        "transformation": "",
        "recorded_by": "declared",
    } in lineage


def test_a_source_yaml_applies_with_its_lineage(cli: CliRunner, tmp_path: Path) -> None:
    write_invoices(tmp_path, broken=False)
    (tmp_path / "source.yaml").write_text(
        "kind: DataSource\nid: invoices_2026\nlocation: invoices.csv\nowner: dev.patel\n"
        "lineage:\n  - {upstream: 'dataset:erp_raw', transformation: dbt model invoices}\n"
    )
    applied = cli.invoke(app, ["apply", "-f", str(tmp_path / "source.yaml")])
    assert applied.exit_code == 0, applied.output
    shown = json.loads(cli.invoke(app, ["data", "source", "show", "invoices_2026", "--json"]).stdout)
    assert shown["location"] == str(tmp_path / "invoices.csv")
    lineage = json.loads(cli.invoke(app, ["data", "lineage", "--json"]).stdout)
    assert lineage[0]["upstream"] == "dataset:erp_raw"
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: DataSource\nid: Bad Id\nlocation: x.csv\n")
    refused = cli.invoke(app, ["apply", "-f", str(bad)])
    assert refused.exit_code == 1 and f"{bad}:2 field 'id'" in refused.output
