"""The lifecycle's commands: playbooks, plans and activities, the roadmap, evidence and gates."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from phasegate import documents
from phasegate.commands import api
from phasegate.console import fail, out, print_json, table
from phasegate.lifecycle import evidence as evidence_service
from phasegate.portfolio import cli as portfolio_cli

playbook_app = typer.Typer(help="Playbooks: phases, activities and gates.", no_args_is_help=True)
plan_app = typer.Typer(help="A use case's plan through a playbook.", no_args_is_help=True)
activity_app = typer.Typer(help="Activities of a plan.", no_args_is_help=True)
roadmap_app = typer.Typer(help="All plans on one timeline, and as an Excel workbook.", no_args_is_help=True)
evidence_app = typer.Typer(help="Evidence that gates read.", no_args_is_help=True)
gate_app = typer.Typer(help="The gate at the end of a phase.", no_args_is_help=True)
phase_app = typer.Typer(help="Phase changes.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
UseCase = Annotated[str, typer.Argument(metavar="USECASE")]


@playbook_app.command("list")
def playbook_list(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """The built-in playbooks and the organisation's own."""
    with api(ctx) as client:
        result = client.get("/playbooks")
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["id", "name", "source", "phases"],
        ((p["id"], p["name"], p["source"], " → ".join(p["phases"])) for p in result["data"]),
    )


@playbook_app.command("show")
def playbook_show(
    ctx: typer.Context, playbook_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonFlag = False
) -> None:
    """A playbook's phases with objectives, durations, effort shares, activities and gate criteria."""
    with api(ctx) as client:
        result = client.get(f"/playbooks/{playbook_id}")
    if json_:
        print_json(result)
        return
    out.print(f"[bold]{result['name']}[/bold] ({result['id']})")
    for phase in result["phases"]:
        share = f", {phase['effort_share']:.0%} of effort" if phase.get("effort_share") is not None else ""
        out.print(f"\n{phase['name']} ({phase['id']}): {phase['days']} days{share}", markup=False)
        if phase.get("objective"):
            out.print(f"  objective: {phase['objective']}", markup=False)
        for activity in phase.get("activities", []):
            out.print(f"  - {activity if isinstance(activity, str) else activity['name']}", markup=False)
        for criterion in phase.get("gate", {}).get("criteria", []):
            out.print(f"  gate: {json.dumps(criterion)}", markup=False)


@portfolio_cli.export.command("playbook")
def export_playbook(ctx: typer.Context, playbook_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Print a playbook as YAML that `phasegate apply -f` takes back."""
    with api(ctx) as client:
        result = client.get(f"/playbooks/{playbook_id}")
    sys.stdout.write(documents.dump(result))


@plan_app.command("start")
def plan_start(
    ctx: typer.Context,
    usecase: UseCase,
    playbook: Annotated[str, typer.Option()],
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    json_: JsonFlag = False,
) -> None:
    """Plan a use case through a playbook; phases and activities get dates, the first gate is frozen."""
    with api(ctx) as client:
        result = client.post(
            f"/usecases/{usecase}/plan", {"playbook": playbook, "start": _date(start, "--start")}
        )
    if json_:
        print_json(result)
        return
    out.print(f"{usecase}: planned on {playbook} from {result['start']} to {result['finish']}", markup=False)


def _date(text: str, option: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        fail(f"{option}: '{text}' is not a date; write YYYY-MM-DD")


@plan_app.command("show")
def plan_show(ctx: typer.Context, usecase: UseCase, json_: JsonFlag = False) -> None:
    """Phases, activities, the critical path, and what is late or blocked."""
    with api(ctx) as client:
        plan = client.get(f"/usecases/{usecase}/plan")
    if json_:
        print_json(plan)
        return
    out.print(f"[bold]{usecase}[/bold] on {plan['playbook']}: {plan['start']} → {plan['finish']}")
    table(
        "phases",
        ["phase", "status", "start", "end", "gate version"],
        (
            (p["name"], p["status"], p["planned_start"], p["planned_end"], p["criteria_version"])
            for p in plan["phases"]
        ),
    )
    table(
        "activities",
        ["#", "phase", "activity", "owner", "start", "end", "status", "after", "flags"],
        (
            (
                a["id"],
                a["phase"],
                a["name"],
                a["owner"],
                a["planned_start"],
                a["planned_end"],
                a["status"],
                ",".join(map(str, a["depends_on"])),
                _flags(a),
            )
            for a in plan["activities"]
        ),
    )
    names = {a["id"]: a["name"] for a in plan["activities"]}
    out.print(
        "critical path: " + " → ".join(names.get(i, str(i)) for i in plan["critical_path"]), markup=False
    )
    late = [a for a in plan["activities"] if a["id"] in plan["late"]]
    out.print(
        f"late: {len(late)}"
        + "".join(
            f"\n  #{a['id']} {a['name']}: forecast {a['forecast_end']} ({a['slippage_days']:+d} days)"
            for a in late
        ),
        markup=False,
    )


def _flags(activity: dict[str, Any]) -> str:
    flags = []
    if activity["critical"]:
        flags.append("critical")
    if activity["overdue"]:
        flags.append("overdue")
    if activity["status"] == "blocked":
        flags.append("blocked")
    return " ".join(flags)


def _activity_body(
    phase: str | None,
    name: str | None,
    owner: str | None,
    start: str | None,
    end: str | None,
    actual_start: str | None,
    actual_end: str | None,
    effort: float | None,
    status: str | None,
    depends_on: str | None,
    notes: str | None,
) -> dict[str, Any]:
    body = {
        "phase": phase,
        "name": name,
        "owner": owner,
        "planned_start": _date(start, "--start") if start else None,
        "planned_end": _date(end, "--end") if end else None,
        "actual_start": _date(actual_start, "--actual-start") if actual_start else None,
        "actual_end": _date(actual_end, "--actual-end") if actual_end else None,
        "effort_hours": effort,
        "status": status,
        "notes": notes,
        "depends_on": None
        if depends_on is None
        else [int(x) for x in depends_on.replace(";", ",").split(",") if x.strip()],
    }
    return {k: v for k, v in body.items() if v is not None}


Opt = typer.Option


@activity_app.command("add")
def activity_add(
    ctx: typer.Context,
    usecase: UseCase,
    phase: Annotated[str, Opt()],
    name: Annotated[str, Opt()],
    owner: Annotated[str | None, Opt()] = None,
    start: Annotated[str | None, Opt()] = None,
    end: Annotated[str | None, Opt()] = None,
    effort: Annotated[float | None, Opt(help="hours")] = None,
    depends_on: Annotated[str | None, Opt(help="activity ids, comma-separated")] = None,
    notes: Annotated[str | None, Opt()] = None,
) -> None:
    """Add an activity to a phase of a use case's plan."""
    body = _activity_body(phase, name, owner, start, end, None, None, effort, None, depends_on, notes)
    with api(ctx) as client:
        result = client.post(f"/usecases/{usecase}/activities", body)
    out.print(f"activity {result['id']} added to {result['phase']}", markup=False)


@activity_app.command("edit")
def activity_edit(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(metavar="ID")],
    phase: Annotated[str | None, Opt()] = None,
    name: Annotated[str | None, Opt()] = None,
    owner: Annotated[str | None, Opt()] = None,
    start: Annotated[str | None, Opt()] = None,
    end: Annotated[str | None, Opt()] = None,
    actual_start: Annotated[str | None, Opt()] = None,
    actual_end: Annotated[str | None, Opt()] = None,
    effort: Annotated[float | None, Opt(help="hours")] = None,
    status: Annotated[str | None, Opt(help="not started, in progress, completed, blocked")] = None,
    depends_on: Annotated[str | None, Opt(help="activity ids, comma-separated ('' for none)")] = None,
    notes: Annotated[str | None, Opt()] = None,
) -> None:
    """Change an activity; a dependency loop is refused with the loop named."""
    body = _activity_body(
        phase, name, owner, start, end, actual_start, actual_end, effort, status, depends_on, notes
    )
    with api(ctx) as client:
        result = client.patch(f"/activities/{activity_id}", body)
    out.print(
        f"activity {result['id']}: {result['status']}, {result['planned_start']} → {result['planned_end']}",
        markup=False,
    )


@activity_app.command("move")
def activity_move(
    ctx: typer.Context,
    activity_id: Annotated[int, typer.Argument(metavar="ID")],
    position: Annotated[int, Opt(min=0, help="0-based place in the plan")],
) -> None:
    """Reorder: put an activity at a new place in its plan."""
    with api(ctx) as client:
        client.post(f"/activities/{activity_id}/move", {"position": position})
    out.print(f"activity {activity_id} moved to {position}")


@activity_app.command("delete")
def activity_delete(ctx: typer.Context, activity_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Remove an activity."""
    with api(ctx) as client:
        client.delete(f"/activities/{activity_id}")
    out.print(f"activity {activity_id} deleted")


@roadmap_app.command("show")
def roadmap_show(
    ctx: typer.Context,
    owner: Annotated[str | None, Opt()] = None,
    unit: Annotated[str | None, Opt(help="business unit")] = None,
    json_: JsonFlag = False,
) -> None:
    """Every plan on one timeline; overdue and blocked activities surfaced."""
    with api(ctx) as client:
        result = client.get("/roadmap", owner=owner, business_unit=unit)
    if json_:
        print_json(result["data"])
        return
    for item in result["data"]:
        current = next((p for p in item["phases"] if p["id"] == item["current_phase"]), None)
        at = f"{current['name']} until {current['planned_end']}" if current else "-"
        out.print(f"[bold]{item['usecase']}[/bold] {item['name']}: {at}")
        for activity in item["activities"]:
            if activity["overdue"] or activity["blocked"]:
                flag = "blocked" if activity["blocked"] else f"overdue since {activity['planned_end']}"
                out.print(
                    f"  ! #{activity['id']} {activity['name']} ({activity['owner']}): {flag}", markup=False
                )


@roadmap_app.command("export")
def roadmap_export(
    ctx: typer.Context,
    xlsx: Annotated[Path, Opt("--xlsx", help="the workbook to write")],
    usecase: Annotated[list[str] | None, Opt(help="only these use cases (repeatable)")] = None,
    owner: Annotated[str | None, Opt()] = None,
    unit: Annotated[str | None, Opt(help="business unit")] = None,
) -> None:
    """Write the roadmap to an Excel workbook (Roadmap, Activities, Roadmap with Activities)."""
    with api(ctx) as client:
        response = client.http.get(
            "/api/v1/roadmap.xlsx", params={"usecase": usecase or [], "owner": owner, "business_unit": unit}
        )
        if response.status_code >= 400:
            fail(f"{response.json().get('detail')} (HTTP {response.status_code})")
    xlsx.write_bytes(response.content)
    out.print(f"wrote {xlsx}", markup=False)


@roadmap_app.command("import")
def roadmap_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    dry_run: Annotated[bool, Opt(help="report what would change; write nothing")] = False,
    json_: JsonFlag = False,
) -> None:
    """Apply a roadmap workbook edited by hand: a row-by-row report; any problem and nothing is written."""
    with api(ctx) as client:
        result = client.request(
            "POST",
            "/roadmap/import",
            files={"file": (file.name, file.read_bytes())},
            data={"dry_run": str(dry_run).lower()},
        )
    if json_:
        print_json(result)
        return
    changed = [r for r in result["rows"] if r["outcome"] != "unchanged"]
    table(
        "changes" + (" (dry run)" if dry_run else ""),
        ["sheet", "row", "what", "outcome"],
        ((r["sheet"], r["row"], r["target"], r["outcome"]) for r in changed),
    )
    c = result["counts"]
    out.print(f"{c['create']} created, {c['update']} updated, {c['unchanged']} unchanged", markup=False)


def _metrics(pairs: list[str]) -> dict[str, Any]:
    """``a.b=1`` pairs as a nested payload; values read as JSON where they can be (numbers, true)."""
    payload: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            fail(f"--metric '{pair}': write NAME=VALUE, e.g. metrics.precision.ci_low=0.91")
        name, text = pair.split("=", 1)
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        node = payload
        keys = name.strip().split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return payload


@evidence_app.command("add")
def evidence_add(
    ctx: typer.Context,
    usecase: UseCase,
    kind: Annotated[str, Opt(help="e.g. data.audit")],
    file: Annotated[Path | None, Opt(exists=True, dir_okay=False, help="a file to keep with it")] = None,
    url: Annotated[str | None, Opt(help="where the evidence lives")] = None,
    metric: Annotated[list[str] | None, Opt(help="NAME=VALUE, repeatable; dotted names nest")] = None,
    payload: Annotated[Path | None, Opt(exists=True, dir_okay=False, help="a JSON payload file")] = None,
    producer: Annotated[str, Opt(help="what produced it")] = "manual",
    json_: JsonFlag = False,
) -> None:
    """Publish evidence for a use case; from a team's CI set PHASEGATE_URL and PHASEGATE_TOKEN."""
    body: dict[str, Any] = {}
    if payload is not None:
        try:
            body = json.loads(payload.read_text())
        except json.JSONDecodeError as exc:
            fail(f"{payload}: not valid JSON ({exc.msg}, line {exc.lineno})")
    body.update(_metrics(metric or []))
    form = {"kind": kind, "producer": producer, "payload": json.dumps(body)}
    files = None
    if file is not None:
        data = file.read_bytes()
        form["inputs"] = json.dumps({file.name: evidence_service.fingerprint(data)})
        files = {"attachment": (file.name, data)}
    if url:
        form["url"] = url
    with api(ctx) as client:
        result = client.request("POST", f"/usecases/{usecase}/evidence", data=form, files=files)
    if json_:
        print_json(result)
    else:
        out.print(f"{result['id']} {result['kind']} sha256:{result['sha256']}", markup=False)


@evidence_app.command("list")
def evidence_list(
    ctx: typer.Context, usecase: UseCase, kind: Annotated[str | None, Opt()] = None, json_: JsonFlag = False
) -> None:
    """A use case's evidence, newest first."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/evidence", kind=kind)
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["id", "kind", "when", "producer", "by", "payload"],
        (
            (
                e["id"],
                e["kind"],
                e["created_at"][:19],
                e["producer"],
                e["published_by"],
                json.dumps(e["payload"])[:60],
            )
            for e in result["data"]
        ),
    )


@evidence_app.command("show")
def evidence_show(ctx: typer.Context, evidence_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """One evidence record, and whether its SHA-256 still matches."""
    with api(ctx) as client:
        print_json(client.get(f"/evidence/{evidence_id}"))


@gate_app.command("check")
def gate_check(
    ctx: typer.Context, usecase: UseCase, phase: Annotated[str | None, Opt()] = None, json_: JsonFlag = False
) -> None:
    """Every criterion as pass, fail or missing with its evidence and value; exit 1 unless all pass."""
    with api(ctx) as client:
        report = client.get(f"/usecases/{usecase}/gate", phase=phase)
    if json_:
        print_json(report)
    else:
        out.print(
            f"gate of {report['phase_name']} ({report['phase']}), criteria v{report['criteria_version']} "
            f"sha256:{(report['criteria_sha256'] or '')[:12]}",
            markup=False,
        )
        table(
            None,
            ["#", "criterion", "status", "observed", "evidence", "why"],
            (
                (
                    r["index"],
                    r["label"],
                    r["status"].upper(),
                    "" if r["observed"] is None else r["observed"],
                    r["evidence_id"],
                    r["reason"],
                )
                for r in report["criteria"]
            ),
        )
        out.print("PASSED" if report["passed"] else "NOT PASSED", markup=False)
    if not report["passed"]:
        raise typer.Exit(1)


@gate_app.command("decide")
def gate_decide(
    ctx: typer.Context,
    usecase: UseCase,
    decision: Annotated[str, Opt(help="go, no-go or conditional")],
    reason: Annotated[str, Opt()],
) -> None:
    """Record a go, no-go or conditional decision at the current gate."""
    with api(ctx) as client:
        result = client.post(f"/usecases/{usecase}/gate/decisions", {"decision": decision, "reason": reason})
    out.print(f"{usecase}: {result['decision']} at {result['phase']} by {result['by']}", markup=False)


@gate_app.command("criteria")
def gate_criteria(
    ctx: typer.Context,
    usecase: UseCase,
    file: Annotated[
        Path,
        Opt(
            "-f", "--file", exists=True, dir_okay=False, help="YAML: a list of criteria (or criteria: [...])"
        ),
    ],
    phase: Annotated[str | None, Opt()] = None,
) -> None:
    """Replace a gate's criteria: a new, audited version; earlier sign-offs stop counting."""
    try:
        loaded = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        fail(f"{file}: {exc}")
    criteria = loaded.get("criteria") if isinstance(loaded, dict) else loaded
    if not isinstance(criteria, list):
        fail(f"{file}: expected a list of criteria")
    with api(ctx) as client:
        report = client.put(f"/usecases/{usecase}/gate/criteria", {"criteria": criteria, "phase": phase})
    out.print(f"gate of {report['phase']} is now version {report['criteria_version']}", markup=False)


def approve(
    ctx: typer.Context,
    usecase: UseCase,
    criterion: Annotated[int, Opt(help="the criterion's number")],
    reason: Annotated[str, Opt()],
    reject: Annotated[bool, Opt(help="refuse instead")] = False,
    phase: Annotated[str | None, Opt()] = None,
) -> None:
    """Sign off (or --reject) a gate criterion as the role it names."""
    with api(ctx) as client:
        report = client.post(
            f"/usecases/{usecase}/gate/approvals",
            {"criterion": criterion, "approve": not reject, "reason": reason, "phase": phase},
        )
    verdict = next(r for r in report["criteria"] if r["index"] == criterion)
    out.print(f"criterion {criterion} ({verdict['label']}): {verdict['status']}", markup=False)


@phase_app.command("advance")
def phase_advance(
    ctx: typer.Context,
    usecase: UseCase,
    override: Annotated[bool, Opt(help="advance although the gate has not passed")] = False,
    reason: Annotated[str | None, Opt(help="why, required with --override")] = None,
) -> None:
    """Move to the next phase; refused unless the gate passed, or an admin or program lead overrides."""
    if override and not reason:
        fail("--override needs --reason")
    with api(ctx) as client:
        result = client.post(
            f"/usecases/{usecase}/phase/advance", {"override_reason": reason if override else None}
        )
    out.print(f"{usecase} is now in {result['phase']['name']} ({result['phase']['id']})", markup=False)


def register(app: typer.Typer) -> None:
    """Add the lifecycle's commands to the root command."""
    app.add_typer(playbook_app, name="playbook")
    app.add_typer(plan_app, name="plan")
    app.add_typer(activity_app, name="activity")
    app.add_typer(roadmap_app, name="roadmap")
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(gate_app, name="gate")
    app.add_typer(phase_app, name="phase")
    app.command("approve")(approve)
