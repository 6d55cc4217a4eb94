"""Use cases as code through the CLI: apply, export, re-apply unchanged; errors with file and line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from phasegate.cli import app
from tests.conftest import DATA


def test_the_shared_example_applies_exports_and_reapplies_unchanged(cli: CliRunner, tmp_path: Path) -> None:
    first = cli.invoke(app, ["apply", "-f", str(DATA / "usecase-invoice-extraction.yaml")])
    assert first.exit_code == 0, first.output
    assert "invoice-extraction: created" in first.output
    exported = cli.invoke(app, ["export", "usecase", "invoice-extraction"])
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "exported.yaml"
    path.write_text(exported.stdout)
    again = cli.invoke(app, ["apply", "-f", str(path)])
    assert "invoice-extraction: unchanged" in again.output
    audit = json.loads(cli.invoke(app, ["audit", "log", "--json"]).stdout)
    assert [e["action"] for e in audit] == ["usecase.create"]


def test_apply_of_a_folder_writes_all_or_nothing(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: UseCase\nid: good-one\nname: Good\n")
    (tmp_path / "b.yaml").write_text("kind: UseCase\nid: bad-one\nname: Bad\nscores:\n  process_clarity: 7\n")
    result = cli.invoke(app, ["apply", "-f", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'b.yaml'}:5" in result.output and "scores.process_clarity" in result.output
    assert "nothing was written" in result.output
    listed = json.loads(cli.invoke(app, ["usecase", "list", "--json"]).stdout)
    assert listed == []


def test_unknown_fields_and_wrong_types_name_file_line_and_field(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "uc.yaml"
    path.write_text("kind: UseCase\nid: x\nname: X\nroi:\n  volume_per_month: lots\ncolour: blue\n")
    result = cli.invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 1
    assert f"{path}:5 field 'roi.volume_per_month'" in result.output
    assert f"{path}:6 field 'colour': unknown field" in result.output


def test_a_yaml_syntax_error_names_the_line(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: UseCase\nid: x\nname: [unclosed\n")
    result = cli.invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 1 and "broken.yaml" in result.output


def test_list_show_rank_and_roi_speak_json(cli: CliRunner) -> None:
    cli.invoke(app, ["apply", "-f", str(DATA / "usecase-invoice-extraction.yaml")])
    shown = json.loads(cli.invoke(app, ["usecase", "show", "invoice-extraction", "--json"]).stdout)
    assert shown["risk"]["tier"] == "medium"
    ranked = json.loads(cli.invoke(app, ["portfolio", "rank", "--json"]).stdout)
    assert ranked[0]["id"] == "invoice-extraction" and ranked[0]["rank"] == 1 and ranked[0]["score"] == 400
    roi = json.loads(cli.invoke(app, ["roi", "invoice-extraction", "--json"]).stdout)
    assert roi["value"]["monthly_value"] == 120540
    human = cli.invoke(app, ["usecase", "show", "invoice-extraction"])
    assert "risk tier: medium" in human.output and "payback 1.6 months" in human.output


def test_a_missing_use_case_exits_non_zero_with_its_name(cli: CliRunner) -> None:
    result = cli.invoke(app, ["usecase", "show", "ghost"])
    assert result.exit_code == 1 and "ghost" in result.output


def test_as_a_registered_user_their_roles_apply(cli: CliRunner) -> None:
    added = cli.invoke(app, ["user", "add", "vic", "--role", "viewer"])
    assert added.exit_code == 0 and "password (shown once)" in added.output
    refused = cli.invoke(app, ["--as", "vic", "apply", "-f", str(DATA / "usecase-invoice-extraction.yaml")])
    assert refused.exit_code == 1 and "HTTP 403" in refused.output
    audit = json.loads(cli.invoke(app, ["audit", "log", "--json"]).stdout)
    assert audit[0]["action"] == "user.add" and audit[0]["actor"].startswith("os:")


def test_user_add_reads_a_password_from_stdin_and_never_prompts(cli: CliRunner) -> None:
    result = cli.invoke(
        app, ["user", "add", "pat", "--role", "risk", "--password-stdin"], input="long enough pw\n"
    )
    assert result.exit_code == 0, result.output
    assert "password (shown once)" not in result.output
    short = cli.invoke(app, ["user", "add", "sam", "--role", "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    bad_role = cli.invoke(app, ["user", "add", "al", "--role", "wizard"])
    assert bad_role.exit_code == 1 and "unknown role 'wizard'" in bad_role.output


def test_token_create_prints_a_token_the_api_accepts(cli: CliRunner) -> None:
    cli.invoke(app, ["user", "add", "ops", "--role", "admin"])
    token = cli.invoke(app, ["token", "create", "ops"]).stdout.strip()
    assert token.startswith("pg_") and len(token) > 30
