"""Rollout's commands: the gateway, stages and the kill switch, the inference log and the review queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from phasegate.commands import api
from phasegate.console import fail, out, print_json, table

rollout_app = typer.Typer(help="Stages, the kill switch and step analysis.", no_args_is_help=True)
gateway_app = typer.Typer(help="The gateway in front of a use case's model versions.", no_args_is_help=True)
review_app = typer.Typer(
    help="The review queue: approve, edit or reject what the model proposed.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
Opt = typer.Option


def _document(path: Path | None, what: str) -> Any:
    """A YAML or JSON file's content, for rules, criteria and policies."""
    if path is None:
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read the {what} in {path}: {exc}")


def _ladder(text: str) -> list[int]:
    try:
        return [int(step) for step in text.split(",")]
    except ValueError:
        fail(f"--ladder must be whole percentages separated by commas, such as 5,25,50,100; not '{text}'")


@rollout_app.command("set")
def rollout_set(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    stage: Annotated[str, Opt(help="off, shadow, supervised, segment, canary or full")],
    primary: Annotated[str | None, Opt(help="the version answering")] = None,
    candidate: Annotated[str | None, Opt(help="the version under trial")] = None,
    weight: Annotated[int | None, Opt(help="canary: the candidate's share, 0-100")] = None,
    ladder: Annotated[str | None, Opt(help="canary steps: 5,25,50,100")] = None,
    fallback_version: Annotated[str | None, Opt(help="the kill switch's fallback version")] = None,
    fallback_static: Annotated[str | None, Opt(help="the kill switch's static answer (JSON)")] = None,
    rules: Annotated[Path | None, Opt(help="segment rules (YAML list)")] = None,
    criteria: Annotated[Path | None, Opt(help="step analysis criteria (YAML list)")] = None,
    redaction: Annotated[Path | None, Opt(help="the inference log's redaction policy (YAML)")] = None,
    window: Annotated[int | None, Opt(help="seconds per analysis window")] = None,
    min_samples: Annotated[int | None, Opt(help="per arm, before a window can pass or fail")] = None,
    cost: Annotated[float | None, Opt(help="cost recorded per request")] = None,
    rate_limit: Annotated[int | None, Opt(help="requests a minute per caller, across replicas")] = None,
    budget: Annotated[float | None, Opt(help="the cost a calendar month may reach")] = None,
    cache: Annotated[int | None, Opt(help="seconds to answer identical requests from memory")] = None,
    retention: Annotated[int | None, Opt(help="days to keep inference records")] = None,
    override: Annotated[str | None, Opt(help="go past the gates, saying why (admin, program lead)")] = None,
) -> None:
    """Move a use case's traffic to a stage, as far as its gates allow."""
    fallback: dict[str, Any] | None = None
    if fallback_version:
        fallback = {"version": fallback_version}
    elif fallback_static:
        try:
            fallback = {"static": json.loads(fallback_static)}
        except ValueError:
            fallback = {"static": fallback_static}
    body = {
        "stage": stage,
        "primary": primary,
        "candidate": candidate,
        "weight": weight,
        "ladder": _ladder(ladder) if ladder else None,
        "fallback": fallback,
        "segment_rules": _document(rules, "rules"),
        "criteria": _document(criteria, "criteria"),
        "redaction": _document(redaction, "policy"),
        "window_seconds": window,
        "min_samples": min_samples,
        "cost_per_request": cost,
        "rate_limit_per_minute": rate_limit,
        "monthly_budget": budget,
        "cache_seconds": cache,
        "retention_days": retention,
        "override_reason": override,
    }
    with api(ctx) as client:
        result = client.put(f"/usecases/{usecase}/rollout", {k: v for k, v in body.items() if v is not None})
    weight_text = f" at {result['weight']} %" if result["stage"] == "canary" else ""
    out.print(f"{usecase}: {result['stage']}{weight_text}", markup=False)


@rollout_app.command("show")
def rollout_show(
    ctx: typer.Context, usecase: Annotated[str, typer.Argument(metavar="USECASE")], json_: JsonFlag = False
) -> None:
    """The stage, versions, switch and the transitions so far."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/rollout")
    if json_:
        print_json(result)
        return
    rollout = result["rollout"]
    if rollout is None:
        out.print(f"{usecase}: no rollout yet (traffic off)", markup=False)
    else:
        killed = f"  KILLED: {rollout['kill_reason']}" if rollout["killed"] else ""
        out.print(
            f"{usecase}: {rollout['stage']}  primary {rollout['primary_label']}  "
            f"candidate {rollout['candidate_label']}  "
            f"weight {rollout['weight']}{killed}",
            markup=False,
        )
        judged = rollout.get("last_window")
        if judged:
            out.print(
                f"last window ({judged['at'][:19]}, {judged['stage']} {judged['weight']}): "
                f"{judged['outcome']} — {judged['action']} (primary {judged['primary_requests']}, "
                f"candidate {judged['candidate_requests']}; {judged['min_samples']} needed per arm)",
                markup=False,
            )
    table(
        "Transitions",
        ["at", "from", "to", "reason", "by"],
        (
            (
                t["at"][:19],
                f"{t['from_stage']} {t['from_weight']}",
                f"{t['to_stage']} {t['to_weight']}",
                t["reason"],
                t["actor"],
            )
            for t in result["transitions"]
        ),
    )
    blocked = {s: p for s, p in result["allowed"].items() if p}
    for stage, problems in blocked.items():
        out.print(f"{stage}: not yet — {'; '.join(problems)}", markup=False)


@rollout_app.command("kill")
def rollout_kill(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    reason: Annotated[str, Opt(help="why traffic must stop")],
) -> None:
    """Send all of a use case's traffic to its fallback, on every gateway replica within a second."""
    with api(ctx) as client:
        client.post(f"/usecases/{usecase}/rollout/kill", {"reason": reason, "on": True})
    out.print(f"{usecase}: killed; traffic goes to the fallback", markup=False)


@rollout_app.command("revive")
def rollout_revive(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    reason: Annotated[str, Opt()] = "",
) -> None:
    """Lift the kill switch."""
    with api(ctx) as client:
        result = client.post(f"/usecases/{usecase}/rollout/kill", {"reason": reason, "on": False})
    out.print(f"{usecase}: back to {result['stage']}", markup=False)


@rollout_app.command("analyse")
def rollout_analyse(
    ctx: typer.Context, usecase: Annotated[str, typer.Argument(metavar="USECASE")], json_: JsonFlag = False
) -> None:
    """Judge the current window now: pass steps up, fail rolls back, too little data holds."""
    with api(ctx) as client:
        result = client.post(f"/usecases/{usecase}/rollout/analyse", {})
    if json_:
        print_json(result)
        return
    out.print(f"{usecase}: {result['outcome']} — {result['action']}", markup=False)
    for item in result.get("criteria", []):
        out.print(f"  {item['outcome']}: {item['reason']}", markup=False)


@rollout_app.command("log")
def rollout_log(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    limit: Annotated[int, Opt()] = 20,
    json_: JsonFlag = False,
) -> None:
    """The inference log, newest first, as redacted."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/inferences", limit=limit)
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["at", "id", "caller", "arm", "status", "ms", "reason"],
        (
            (r["at"][:19], r["id"], r["caller"], r["arm"], r["status"], f"{r['latency_ms']:.1f}", r["reason"])
            for r in result["data"]
        ),
    )


@gateway_app.command("serve")
def gateway_serve(
    host: Annotated[str, Opt()] = "127.0.0.1",
    port: Annotated[int, Opt()] = 8100,
    workers: Annotated[int, Opt(help="processes; each is a replica sharing the store")] = 1,
) -> None:
    """Serve the gateway: POST /gateway/v1/{usecase}/predict."""
    import uvicorn

    out.print(f"phasegate gateway on http://{host}:{port}/gateway/v1/", markup=False)
    uvicorn.run(
        "phasegate.rollout.gateway:create_from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    usecase: Annotated[str | None, Opt()] = None,
    least_confident: Annotated[bool, Opt("--least-confident", help="least confident first")] = False,
    json_: JsonFlag = False,
) -> None:
    """Pending items, oldest (or least confident) first, and the queue's workload."""
    order = "least_confident" if least_confident else "oldest"
    with api(ctx) as client:
        result = client.get("/reviews", usecase=usecase, order=order)
    if json_:
        print_json(result)
        return
    table(
        None,
        ["id", "use case", "confidence", "due", "reserved by", "proposed"],
        (
            (
                i["id"],
                i["usecase"],
                i["confidence"],
                ("OVERDUE " if i["overdue"] else "") + i["due_at"][:16],
                i["reserved_by"],
                json.dumps(i["proposed"])[:60],
            )
            for i in result["data"]
        ),
    )
    work = result["workload"]
    out.print(
        f"pending {work['pending']}, overdue {work['overdue']}, reserved {work['reserved']}", markup=False
    )


@review_app.command("take")
def review_take(
    ctx: typer.Context,
    item: Annotated[
        str | None, typer.Argument(metavar="ITEM", help="an item id; the next one if left out")
    ] = None,
    usecase: Annotated[str | None, Opt()] = None,
    json_: JsonFlag = False,
) -> None:
    """Reserve an item (or the next one) for a few minutes."""
    with api(ctx) as client:
        taken = (
            client.post(f"/reviews/{item}/take", {})
            if item
            else client.post("/reviews/next" + (f"?usecase={usecase}" if usecase else ""), {})["item"]
        )
    if taken is None:
        out.print("the queue is empty", markup=False)
        return
    if json_:
        print_json(taken)
        return
    out.print(f"{taken['id']} reserved until {taken['reserved_until']}", markup=False)
    out.print(f"input:    {json.dumps(taken['input'])}", markup=False)
    out.print(f"proposed: {json.dumps(taken['proposed'])}  (confidence {taken['confidence']})", markup=False)


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(metavar="ITEM")],
    decision: Annotated[str, Opt(help="approve, edit or reject")],
    reason: Annotated[
        str | None, Opt(help="incorrect, outdated, missing_context, conflicts_with_policy, unsafe")
    ] = None,
    output: Annotated[str | None, Opt(help="the corrected output (JSON), for edit")] = None,
    note: Annotated[str | None, Opt()] = None,
) -> None:
    """Approve, edit or reject an item you hold."""
    body: dict[str, Any] = {"decision": decision, "reason_code": reason, "note": note}
    if output is not None:
        try:
            body["output"] = json.loads(output)
        except ValueError as exc:
            fail(f"--output is not JSON: {exc}")
    with api(ctx) as client:
        result = client.post(f"/reviews/{item}/decision", body)
    out.print(f"{item}: {result['status']}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the rollout commands to the root command."""
    app.add_typer(rollout_app, name="rollout")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(review_app, name="review")
