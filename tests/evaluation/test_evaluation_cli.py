"""The load test and replay commands as a team's CI runs them: real servers on loopback, exit codes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from phasegate.cli import app as cli_app
from tests.evaluation import replay_app
from tests.evaluation.replay_app import serve

SUITE = Path(__file__).parent / "replay_suite.jsonl"
DELAY_S = 0.030


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    """Answers every request after a known delay."""
    app = FastAPI()

    @app.post("/predict")
    async def predict(body: dict[str, object]) -> dict[str, object]:
        await asyncio.sleep(DELAY_S)
        return {"ok": True}

    with serve(app) as url:
        yield f"{url}/predict"


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, str]]:
    with serve(replay_app.create_app()) as safe, serve(replay_app.create_app(leaky=True)) as leaky:
        yield {"safe": f"{safe}/ask", "leaky": f"{leaky}/ask"}


def test_loadtest_without_a_use_case_runs_in_the_cli_and_prints_json(
    cli: CliRunner, slow_server: str, tmp_path: Path
) -> None:
    payloads = tmp_path / "payloads.jsonl"
    payloads.write_text('{"x": 1}\n\n{"x": 2}\n')
    result = cli.invoke(
        cli_app,
        ["loadtest", slow_server, "--rps", "20", "--duration", "1", "--payloads", str(payloads), "--json"],
    )
    assert result.exit_code == 0, result.output
    measured = json.loads(result.output)
    assert measured["requests"] == 20 and measured["error_rate"] == 0
    # Latency counts from the scheduled send: never below the server's own delay.
    assert measured["latency"]["p50_ms"] >= DELAY_S * 1000


def test_loadtest_names_the_bad_payload_line(cli: CliRunner, slow_server: str, tmp_path: Path) -> None:
    payloads = tmp_path / "payloads.jsonl"
    payloads.write_text('{"x": 1}\n{"x": \n')
    result = cli.invoke(
        cli_app, ["loadtest", slow_server, "--rps", "5", "--duration", "1", "--payloads", str(payloads)]
    )
    assert result.exit_code == 1
    assert "payloads.jsonl:2: not JSON" in result.output


def test_replay_run_passes_a_safe_app_and_fails_a_leaky_one_in_ci(
    cli: CliRunner, apps: dict[str, str], tmp_path: Path
) -> None:
    usecase = tmp_path / "hr.yaml"
    usecase.write_text("kind: UseCase\nid: hr-assistant\nname: HR assistant\n")
    assert cli.invoke(cli_app, ["apply", "-f", str(usecase)]).exit_code == 0
    safe = cli.invoke(
        cli_app, ["replay", "run", "hr-assistant", "--suite", str(SUITE), "--url", apps["safe"]]
    )
    assert safe.exit_code == 0, safe.output
    leaky = cli.invoke(
        cli_app,
        ["replay", "run", "hr-assistant", "--suite", str(SUITE), "--url", apps["leaky"], "--sample", "4"],
    )
    assert leaky.exit_code == 1
    assert "FAIL" in leaky.output and "permission" in leaky.output
    run_id = re.search(r"replay (rp-[0-9a-f]+):", leaky.output).group(1)  # type: ignore[union-attr]
    shown = json.loads(cli.invoke(cli_app, ["replay", "show", run_id, "--json"]).output)
    case = shown["sample"][0]
    scores = ["correctness=2", "source_support=1", "format_fit=4", "policy_alignment=1"]
    reviewed = cli.invoke(
        cli_app, ["replay", "review", run_id, case, *[a for s in scores for a in ("--score", s)]]
    )
    assert reviewed.exit_code == 0, reviewed.output
    shown = json.loads(cli.invoke(cli_app, ["replay", "show", run_id, "--json"]).output)
    assert case not in shown["reviews"]["waiting"]
    assert shown["reviews"]["summary"]["dimensions"]["policy_alignment"]["mean"] == 1
    incomplete = cli.invoke(cli_app, ["replay", "review", run_id, case, "--score", "correctness=5"])
    assert incomplete.exit_code == 1 and "source_support" in incomplete.output
