"""`phasegate demo load`: a portfolio to explore, and an admin to explore it with."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from typing import Annotated, Any

import typer
import yaml

from phasegate.client import ApiError, Client
from phasegate.commands import api
from phasegate.console import err, out
from phasegate.demo import evaluation
from phasegate.settings import get_settings

demo = typer.Typer(help="The demo portfolio.", no_args_is_help=True)

ADMIN = "admin"


def _text(name: str) -> bytes:
    return resources.files("phasegate.demo").joinpath(name).read_bytes()


def load_portfolio(client: Client) -> tuple[int, int]:
    """Apply the demo use cases and import the federal slice; returns how many of each."""
    documents = list(yaml.safe_load_all(_text("usecases.yaml")))
    client.post("/apply", {"documents": documents})
    result = client.request(
        "POST",
        "/usecases/import",
        data={"preset": "us-federal-2025"},
        files={"file": ("federal-slice.csv", _text("federal-slice.csv"))},
    )
    counts = result["counts"]
    return len(documents), counts["create"] + counts["update"] + counts["unchanged"]


# Plans under way, relative to today so the demo always shows work in progress, late work included.
PLANS = (
    ("invoice-extraction", "five-phase", -75),
    ("support-ticket-triage", "four-phase", -40),
    ("it-incident-summaries", "ninety-day", -20),
    ("hr-policy-assistant", "four-phase", -10),
    ("expense-anomaly-detection", "five-phase", 14),
    ("income-prescreen", "five-phase", -45),
)


def load_plans(client: Client) -> int:
    """Start the demo plans that are not started yet, and give the invoice use case a data audit."""
    started = 0
    for usecase, playbook, offset in PLANS:
        try:
            plan = client.post(
                f"/usecases/{usecase}/plan", {"playbook": playbook, "start": _days_from_today(offset)}
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
            continue
        started += 1
        _progress(client, plan)
    if not client.get("/usecases/invoice-extraction/evidence", kind="data.audit")["data"]:
        payload = {"gaps": {"blockers": 0, "degraders": 2}, "quality": {"completeness": 0.991}}
        client.request(
            "POST",
            "/usecases/invoice-extraction/evidence",
            data={"kind": "data.audit", "producer": "demo", "payload": json.dumps(payload)},
        )
    return started


def _progress(client: Client, plan: dict[str, Any]) -> None:
    """Finish what was due more than a week ago but the last of it, which waits blocked: some work is late."""
    today = date.today()
    due = [a for a in plan["activities"] if date.fromisoformat(a["planned_end"]) < today - timedelta(days=7)]
    for activity in due[:-1]:
        done = {
            "status": "completed",
            "actual_start": activity["planned_start"],
            "actual_end": activity["planned_end"],
        }
        client.patch(f"/activities/{activity['id']}", done)
    if due:
        client.patch(
            f"/activities/{due[-1]['id']}", {"status": "blocked", "notes": "waiting for data access"}
        )


def _days_from_today(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def ensure_admin(client: Client, name: str) -> tuple[str, str]:
    """An admin with a fresh generated password and a new token, created if missing."""
    try:
        created = client.post("/users", {"name": name, "role": "admin"})
        password = created["generated_password"]
    except ApiError as exc:
        if exc.status != 409:
            raise
        password = client.post(f"/users/{name}/password", {})["generated_password"]
    token = client.post(f"/users/{name}/tokens", {"label": "demo"})["token"]
    return password, token


@demo.command("load")
def load(
    ctx: typer.Context, admin: Annotated[str, typer.Option(help="the admin user to create")] = ADMIN
) -> None:
    """Load the demo portfolio and print an admin's login and API token (shown once)."""
    with api(ctx) as client:
        usecases, federal = load_portfolio(client)
        load_plans(client)
        with err.status("training and evaluating the demo model on UCI Adult", spinner="dots"):
            run = evaluation.load_evaluation(client, get_settings().home)
        password, token = ensure_admin(client, admin)
    out.print(f"demo portfolio: {usecases} use cases, and {federal} from the 2025 federal AI inventory")
    if run is not None:
        precision = run["metrics"]["precision"]
        out.print(
            f"demo evaluation of income-prescreen: precision {precision['value']:.3f} "
            f"(95 % interval {precision['ci_low']:.3f} to {precision['ci_high']:.3f}), "
            f"largest disparity between segments {run['max_disparity'] or 0:.3f}",
            markup=False,
        )
    out.print(f"web login:  {admin} / {password}", markup=False)
    out.print(f"API token:  {token}", markup=False)
    out.print(
        "(the password and token are shown once; run `phasegate demo load` again for new ones)", markup=False
    )


def register(app: typer.Typer) -> None:
    """Add the demo commands to the root command."""
    app.add_typer(demo, name="demo")
