"""The rollout and review commands, run in-process as the local operator against the test store."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasegate.cli import app as cli_app
from phasegate.evaluation import registry
from phasegate.evaluation.schemas import ModelVersionSpec
from phasegate.identity.service import local_operator
from phasegate.lifecycle import plans
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store

OPERATOR = local_operator("test")


@pytest.fixture
def claims(store: Store) -> None:
    """Claims triage with two HTTP versions and a five-phase plan whose pilot gate has no evidence yet."""
    with store.transaction() as session:
        portfolio_service.create(session, actor=OPERATOR, spec=UseCaseSpec(id="claims", name="Claims"))
        for version in ("1.0.0", "2.0.0"):
            spec = ModelVersionSpec(name="triage", version=version, kind="http", uri="http://127.0.0.1:9/p")
            registry.register(session, actor=OPERATOR, usecase_id="claims", spec=spec)
        plans.start(
            session, actor=OPERATOR, usecase_id="claims", playbook_id="five-phase", start_on=date.today()
        )


def run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(cli_app, list(args))
    return result.exit_code, result.output


def test_a_rollout_is_set_shown_with_version_names_and_refused_past_the_gates(
    cli: CliRunner, claims: None
) -> None:
    code, output = run(
        cli, "rollout", "set", "claims", "--stage", "shadow", "--primary", "1.0.0", "--candidate", "2.0.0"
    )
    assert (code, output.strip()) == (0, "claims: shadow")
    code, output = run(cli, "rollout", "show", "claims")
    assert code == 0
    assert "claims: shadow  primary triage 1.0.0  candidate triage 2.0.0  weight 0" in output
    assert "supervised: not yet — the gate of 'Pilot build and validation'" in output

    code, output = run(cli, "rollout", "set", "claims", "--stage", "supervised")
    assert code == 1 and "the gates do not allow 'supervised' yet" in output
    code, output = run(
        cli, "rollout", "set", "claims", "--stage", "supervised", "--override", "pilot by hand"
    )
    assert (code, output.strip()) == (0, "claims: supervised")
    code, output = run(cli, "rollout", "show", "claims", "--json")
    shown = json.loads(output)
    assert [t["reason"] for t in shown["transitions"]] == ["override: pilot by hand", "set by hand"]


def test_the_analysis_settings_reach_the_rollout(cli: CliRunner, claims: None, tmp_path: Path) -> None:
    criteria = tmp_path / "criteria.yaml"
    criteria.write_text("- error_rate <= 0.05\n- p95_latency_ms <= control + 50\n")
    code, output = run(
        cli,
        "rollout",
        "set",
        "claims",
        "--stage",
        "canary",
        "--primary",
        "1.0.0",
        "--candidate",
        "2.0.0",
        "--window",
        "30",
        "--min-samples",
        "7",
        "--criteria",
        str(criteria),
        "--ladder",
        "10,50,100",
        "--override",
        "trial",
    )
    assert (code, output.strip()) == (0, "claims: canary at 10 %")
    rollout = json.loads(run(cli, "rollout", "show", "claims", "--json")[1])["rollout"]
    assert (rollout["window_seconds"], rollout["min_samples"], rollout["ladder"]) == (30, 7, [10, 50, 100])
    assert rollout["criteria"] == ["error_rate <= 0.05", "p95_latency_ms <= control + 50"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ladder", "5,half,100"], "--ladder must be whole percentages"),
        (["--window", "3"], "window_seconds"),
        (["--stage", "everywhere"], "is not a stage"),
    ],
)
def test_bad_settings_are_refused_with_the_reason_and_nothing_changes(
    cli: CliRunner, claims: None, args: list[str], words: str
) -> None:
    base = ["rollout", "set", "claims", "--stage", "shadow", "--primary", "1.0.0", "--candidate", "2.0.0"]
    assert run(cli, *base)[0] == 0
    arguments = base + args if "--stage" not in args else [*base[:3], *args, *base[5:]]
    code, output = run(cli, *arguments)
    assert code != 0 and words in output
    shown = json.loads(run(cli, "rollout", "show", "claims", "--json")[1])
    assert shown["rollout"]["window_seconds"] == 600 and len(shown["transitions"]) == 1


def test_the_kill_switch_and_the_empty_log_and_queue(cli: CliRunner, claims: None) -> None:
    run(cli, "rollout", "set", "claims", "--stage", "shadow", "--primary", "1.0.0", "--candidate", "2.0.0")
    code, output = run(cli, "rollout", "kill", "claims", "--reason", "wrong totals")
    assert (code, output.strip()) == (0, "claims: killed; traffic goes to the fallback")
    assert "KILLED: wrong totals" in run(cli, "rollout", "show", "claims")[1]
    code, output = run(cli, "rollout", "revive", "claims")
    assert (code, output.strip()) == (0, "claims: back to shadow")
    assert run(cli, "rollout", "log", "claims", "--json") == (0, "[]\n")
    code, output = run(cli, "review", "list", "--usecase", "claims")
    assert code == 0
