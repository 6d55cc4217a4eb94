"""Plans, activities, playbooks and the roadmap through the CLI, as a program lead works with them."""

from __future__ import annotations

import io
import json
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from phasegate.cli import app
from tests.conftest import DATA


def planned(cli: CliRunner, playbook: str = "ninety-day") -> dict[str, object]:
    cli.invoke(app, ["apply", "-f", str(DATA / "usecase-invoice-extraction.yaml")])
    result = cli.invoke(
        app,
        ["plan", "start", "invoice-extraction", "--playbook", playbook, "--start", "2026-01-05", "--json"],
    )
    assert result.exit_code == 0, result.output
    plan: dict[str, object] = json.loads(result.stdout)
    return plan


def test_the_four_built_in_playbooks_and_the_shared_example_apply(cli: CliRunner) -> None:
    listed = json.loads(cli.invoke(app, ["playbook", "list", "--json"]).stdout)
    assert {p["id"] for p in listed} >= {"four-phase", "five-phase", "six-phase", "ninety-day"}
    applied = cli.invoke(app, ["apply", "-f", str(DATA / "playbook-ninety-day.yaml")])
    assert applied.exit_code == 0, applied.output
    assert "Playbook ninety-day: created" in applied.output
    listed = json.loads(cli.invoke(app, ["playbook", "list", "--json"]).stdout)
    assert next(p for p in listed if p["id"] == "ninety-day")["source"] == "custom"
    shown = cli.invoke(app, ["playbook", "show", "five-phase"])
    assert shown.exit_code == 0 and "effort" in shown.output


def test_an_exported_playbook_applies_back_unchanged(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["apply", "-f", str(DATA / "playbook-ninety-day.yaml")])
    exported = cli.invoke(app, ["export", "playbook", "ninety-day"])
    (tmp_path / "p.yaml").write_text(exported.stdout)
    again = cli.invoke(app, ["apply", "-f", str(tmp_path / "p.yaml")])
    assert "Playbook ninety-day: unchanged" in again.output


def test_plan_show_prints_phases_the_critical_path_and_what_is_late(cli: CliRunner) -> None:
    plan = planned(cli)
    activities = plan["activities"]
    assert isinstance(activities, list) and len(activities) >= 6
    shown = cli.invoke(app, ["plan", "show", "invoice-extraction"])
    assert shown.exit_code == 0, shown.output
    assert "critical path:" in shown.output and "late:" in shown.output
    first = activities[0]["id"]
    cli.invoke(
        app, ["activity", "edit", str(first), "--status", "in progress", "--actual-start", "2026-01-05"]
    )
    data = json.loads(cli.invoke(app, ["plan", "show", "invoice-extraction", "--json"]).stdout)
    assert data["critical_path"] and set(data["critical_path"]) <= {a["id"] for a in data["activities"]}
    # Planned in early 2026 and never finished: by now it is overdue.
    assert first in data["late"]


def test_a_dependency_loop_is_refused_with_the_loop_named_and_nothing_written(cli: CliRunner) -> None:
    plan = planned(cli)
    activities = plan["activities"]
    assert isinstance(activities, list)
    a, b = activities[0]["id"], activities[1]["id"]
    assert cli.invoke(app, ["activity", "edit", str(b), "--depends-on", str(a)]).exit_code == 0
    loop = cli.invoke(app, ["activity", "edit", str(a), "--depends-on", str(b)])
    assert loop.exit_code == 1
    assert "loop" in loop.output and f"#{a}" in loop.output and f"#{b}" in loop.output
    after = json.loads(cli.invoke(app, ["plan", "show", "invoice-extraction", "--json"]).stdout)
    assert next(x for x in after["activities"] if x["id"] == a)["depends_on"] == []


def test_activities_are_added_reordered_and_deleted(cli: CliRunner) -> None:
    planned(cli)
    added = cli.invoke(
        app,
        [
            "activity",
            "add",
            "invoice-extraction",
            "--phase",
            "build",
            "--name",
            "Red-team the prompts",
            "--owner",
            "dev.patel",
            "--effort",
            "16",
        ],
    )
    assert added.exit_code == 0, added.output
    new_id = int(added.output.split()[1])
    assert cli.invoke(app, ["activity", "move", str(new_id), "--position", "0"]).exit_code == 0
    plan = json.loads(cli.invoke(app, ["plan", "show", "invoice-extraction", "--json"]).stdout)
    assert plan["activities"][0]["id"] == new_id
    assert cli.invoke(app, ["activity", "delete", str(new_id)]).exit_code == 0
    bad_phase = cli.invoke(
        app, ["activity", "add", "invoice-extraction", "--phase", "nowhere", "--name", "x"]
    )
    assert bad_phase.exit_code == 1 and "no phase 'nowhere'" in bad_phase.output
    bad_status = cli.invoke(
        app, ["activity", "edit", str(plan["activities"][1]["id"]), "--status", "done-ish"]
    )
    assert bad_status.exit_code == 1 and "not started, in progress, completed, blocked" in bad_status.output


def test_the_roadmap_round_trips_through_excel_with_hand_edits(cli: CliRunner, tmp_path: Path) -> None:
    planned(cli)
    first = tmp_path / "roadmap.xlsx"
    assert cli.invoke(app, ["roadmap", "export", "--xlsx", str(first)]).exit_code == 0
    book = load_workbook(first)
    assert book.sheetnames == ["Roadmap", "Activities", "Roadmap with Activities"]
    unchanged = json.loads(cli.invoke(app, ["roadmap", "import", str(first), "--json"]).stdout)
    assert unchanged["counts"]["create"] == 0 and unchanged["counts"]["update"] == 0

    sheet = book["Activities"]
    headers = [c.value for c in sheet[1]]
    status, name = headers.index("Status") + 1, headers.index("Activity") + 1
    sheet.cell(row=2, column=status, value="Completed")
    sheet.cell(row=3, column=name, value=f"  {sheet.cell(row=3, column=name).value}  ")
    new_row = sheet.max_row + 1
    template = [c.value for c in sheet[2]]
    for column, value in enumerate(template, start=1):
        sheet.cell(row=new_row, column=column, value=value)
    sheet.cell(row=new_row, column=headers.index("ID") + 1).value = None  # value=None would keep the id
    sheet.cell(row=new_row, column=name, value="Pen test the API")
    sheet.cell(row=new_row, column=headers.index("Planned end") + 1, value="2026-02-20")
    edited = tmp_path / "edited.xlsx"
    book.save(edited)

    dry = json.loads(cli.invoke(app, ["roadmap", "import", str(edited), "--dry-run", "--json"]).stdout)
    assert dry["counts"] == {"create": 1, "update": 1, "unchanged": dry["counts"]["unchanged"]}
    applied = cli.invoke(app, ["roadmap", "import", str(edited)])
    assert applied.exit_code == 0, applied.output
    second = tmp_path / "again.xlsx"
    cli.invoke(app, ["roadmap", "export", "--xlsx", str(second)])
    third = tmp_path / "third.xlsx"
    cli.invoke(app, ["roadmap", "import", str(second)])
    cli.invoke(app, ["roadmap", "export", "--xlsx", str(third)])
    assert _cells(second) == _cells(third)
    rows = [r for r in load_workbook(second)["Activities"].iter_rows(values_only=True)]
    assert any(r[headers.index("Activity")] == "Pen test the API" for r in rows)
    assert rows[1][headers.index("Status")] == "completed"


def _cells(path: Path) -> list[list[object]]:
    book = load_workbook(io.BytesIO(path.read_bytes()))
    return [[c for c in row] for sheet in book for row in sheet.iter_rows(values_only=True)]


def test_a_bad_workbook_names_sheet_row_and_column_and_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    planned(cli)
    path = tmp_path / "roadmap.xlsx"
    cli.invoke(app, ["roadmap", "export", "--xlsx", str(path)])
    book = load_workbook(path)
    sheet = book["Activities"]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=4, column=headers.index("Planned end") + 1, value="31/02/2026")
    sheet.cell(row=2, column=headers.index("Status") + 1, value="completed")
    book.save(path)
    result = cli.invoke(app, ["roadmap", "import", str(path)])
    assert result.exit_code == 1
    assert (
        "Activities row 4, column 'Planned end'" in result.output and "nothing was written" in result.output
    )
    plan = json.loads(cli.invoke(app, ["plan", "show", "invoice-extraction", "--json"]).stdout)
    assert plan["activities"][0]["status"] == "not started"


def test_gate_check_exits_non_zero_until_the_gate_passes(cli: CliRunner, tmp_path: Path) -> None:
    planned(cli)
    failing = cli.invoke(app, ["gate", "check", "invoice-extraction"])
    assert failing.exit_code == 1 and "MISSING" in failing.output
    added = cli.invoke(
        app,
        [
            "evidence",
            "add",
            "invoice-extraction",
            "--kind",
            "data.audit",
            "--metric",
            "gaps.blockers=0",
            "--metric",
            "quality.completeness=0.995",
        ],
    )
    assert added.exit_code == 0, added.output
    cli.invoke(app, ["user", "add", "k.osei", "--role", "viewer"])
    # k.osei is the invoice use case's risk owner by name: the owner field grants the role.
    signed = cli.invoke(
        app,
        ["--as", "k.osei", "approve", "invoice-extraction", "--criterion", "3", "--reason", "DPIA reviewed"],
    )
    assert signed.exit_code == 0, signed.output
    report = cli.invoke(app, ["gate", "check", "invoice-extraction", "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["passed"] is True
    advanced = cli.invoke(app, ["phase", "advance", "invoice-extraction"])
    assert advanced.exit_code == 0 and "Build and validate" in advanced.output


def test_evidence_add_keeps_a_file_with_its_fingerprint(cli: CliRunner, tmp_path: Path) -> None:
    planned(cli)
    report = tmp_path / "audit.html"
    report.write_text("<h1>audit</h1>")
    added = json.loads(
        cli.invoke(
            app,
            [
                "evidence",
                "add",
                "invoice-extraction",
                "--kind",
                "data.audit",
                "--file",
                str(report),
                "--json",
            ],
        ).stdout
    )
    assert added["attachment"]["name"] == "audit.html" and added["inputs"]["audit.html"].startswith("sha256:")
    bad = cli.invoke(app, ["evidence", "add", "invoice-extraction", "--kind", "Not A Kind"])
    assert bad.exit_code == 1 and "kind" in bad.output
