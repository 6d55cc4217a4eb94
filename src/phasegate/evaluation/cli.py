"""Evaluation's commands: model versions and cards, evaluation runs, load tests and replay suites."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from phasegate.commands import api
from phasegate.console import err, fail, out, print_json, table
from phasegate.errors import PhasegateError

model_app = typer.Typer(help="Model versions and their cards.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate model versions: intervals, segments, baselines.", no_args_is_help=True)
replay_app = typer.Typer(help="Replay suites against LLM and retrieval apps.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
Opt = typer.Option


def _pairs(values: list[str] | None, what: str) -> dict[str, Any]:
    """KEY=VALUE options as a mapping; values that read as JSON (numbers, true) are taken as such."""
    found: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--{what} '{item}' is not KEY=VALUE")
        try:
            found[key] = json.loads(value)
        except ValueError:
            found[key] = value
    return found


@model_app.command("register")
def model_register(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    name: Annotated[str, Opt(help="the model's name")],
    version: Annotated[str, Opt(help="a semantic version: 1.2.0")],
    kind: Annotated[str, Opt(help="python, http, openai or predictions")],
    uri: Annotated[str | None, Opt(help="a joblib/pickle file, or the endpoint's URL")] = None,
    trust: Annotated[
        bool, Opt("--trust", help="allow loading this pickle (it runs code when loaded)")
    ] = False,
    training_data: Annotated[str | None, Opt(help="the data source it was trained on")] = None,
    param: Annotated[list[str] | None, Opt(help="KEY=VALUE parameter (repeatable)")] = None,
    tag: Annotated[list[str] | None, Opt(help="KEY=VALUE tag (repeatable)")] = None,
) -> None:
    """Register a model version of a use case."""
    if uri and kind == "python" and "://" not in uri:
        uri = str(Path(uri).expanduser().resolve())
    body = {
        "name": name,
        "version": version,
        "kind": kind,
        "uri": uri,
        "trusted": trust,
        "training_data": training_data,
        "parameters": _pairs(param, "param"),
        "tags": _pairs(tag, "tag"),
    }
    with api(ctx) as client:
        result = client.post(f"/usecases/{usecase}/models", {k: v for k, v in body.items() if v is not None})
    out.print(f"registered {result['name']} {result['version']} ({result['id']}) for {usecase}", markup=False)


@model_app.command("import-mlflow")
def model_import(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    tracking_uri: Annotated[str, Opt(help="file:///path/mlruns or http://host:5000")],
    model_uri: Annotated[str, Opt(help="models:/NAME/VERSION or runs:/RUN_ID/PATH")],
    name: Annotated[str | None, Opt()] = None,
    version: Annotated[str | None, Opt(help="a semantic version; MAJOR.0.0 from MLflow's number")] = None,
) -> None:
    """Register a version from MLflow with its metrics, parameters and tags (needs phasegate[mlflow])."""
    body = {"tracking_uri": tracking_uri, "model_uri": model_uri, "name": name, "version": version}
    with api(ctx) as client:
        result = client.post(
            f"/usecases/{usecase}/models/mlflow", {k: v for k, v in body.items() if v is not None}
        )
    out.print(
        f"imported {result['name']} {result['version']} ({result['id']}): "
        f"{len(result['metrics'])} metrics, {len(result['parameters'])} parameters",
        markup=False,
    )


@model_app.command("list")
def model_list(
    ctx: typer.Context, usecase: Annotated[str, typer.Argument(metavar="USECASE")], json_: JsonFlag = False
) -> None:
    """A use case's model versions, newest first."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/models")
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["id", "name", "version", "kind", "status", "training data", "registered"],
        (
            (
                v["id"],
                v["name"],
                v["version"],
                v["kind"],
                v["status"],
                v["training_data"],
                v["created_at"][:10],
            )
            for v in result["data"]
        ),
    )


@model_app.command("show")
def model_show(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    version: Annotated[str, typer.Argument(metavar="VERSION")],
    json_: JsonFlag = False,
) -> None:
    """A version with its evaluations."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/models/{version}")
    if json_:
        print_json(result)
        return
    out.print(f"{result['name']} {result['version']}  [{result['status']}]  {result['kind']}", markup=False)
    out.print(f"uri: {result['uri'] or '-'}   trusted: {result['trusted']}", markup=False)
    table(
        "Evaluations",
        ["run", "data", "rows", "metrics", "created"],
        (
            (
                r["id"],
                r["data"],
                r["rows"],
                ", ".join(
                    f"{k} {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                    for k, m in list(r["metrics"].items())[:4]
                ),
                r["created_at"][:16],
            )
            for r in result["evaluations"]
        ),
    )


@model_app.command("status")
def model_status(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    version: Annotated[str, typer.Argument(metavar="VERSION")],
    status: Annotated[str, Opt(help="approved, rejected, retired or candidate")],
    reason: Annotated[str | None, Opt()] = None,
) -> None:
    """Approve, reject or retire a version."""
    with api(ctx) as client:
        result = client.post(
            f"/usecases/{usecase}/models/{version}/status", {"status": status, "reason": reason}
        )
    out.print(f"{result['name']} {result['version']}: {result['status']}", markup=False)


@model_app.command("card")
def model_card(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    version: Annotated[str, typer.Argument(metavar="VERSION")],
    output: Annotated[Path | None, Opt("--output", "-o", help="write the Markdown here")] = None,
    section: Annotated[str | None, Opt(help="a section to write over the generated text")] = None,
    text: Annotated[str | None, Opt(help="the section's text ('' gives it back to the generator)")] = None,
) -> None:
    """The model card as Markdown; with --section and --text, edit one section first."""
    with api(ctx) as client:
        if section is not None:
            if text is None:
                fail("--section needs --text")
            client.put(f"/usecases/{usecase}/models/{version}/card", {"sections": {section: text}})
        card = client.get(f"/usecases/{usecase}/models/{version}/card")
    if output is not None:
        output.write_text(card["markdown"], encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(card["markdown"])


def _interval(metric: dict[str, Any]) -> str:
    return f"{metric['value']:.4f}  [{metric['ci_low']:.4f}, {metric['ci_high']:.4f}]"


def _print_run(run: dict[str, Any]) -> None:
    out.print(
        f"evaluation {run['id']}: {run['task']} on {run['data']}, {run['rows']:,} records", markup=False
    )
    table(
        "Metrics (95 % bootstrap interval)",
        ["metric", "value", "interval", "n"],
        (
            (name, f"{m['value']:.4f}", f"{m['ci_low']:.4f} to {m['ci_high']:.4f}", m.get("n"))
            for name, m in run["metrics"].items()
        ),
    )
    comparison = run.get("comparison")
    if comparison:
        out.print(f"against {comparison['against']}: {comparison['summary']}", markup=False)
    fairness = run.get("fairness")
    if fairness:
        at = fairness.get("max_disparity_at") or {}
        largest = fairness.get("max_disparity")
        where = f" ({at['measure']} by {at['attribute']})" if at else ""
        shown = "none to judge" if largest is None else f"{largest:.3f}{where}"
        out.print(f"largest disparity between segments: {shown}", markup=False)
        for attribute, detail in fairness.get("attributes", {}).items():
            gaps = ", ".join(
                f"{measure} {gap['difference']['value']:.3f} (ratio {gap['ratio']['value']:.2f})"
                for measure, gap in detail.get("disparities", {}).items()
            )
            out.print(f"  {attribute}: {gaps or 'fewer than two groups to compare'}", markup=False)
            small = [g for g, v in detail.get("groups", {}).items() if v.get("too_small")]
            if small:
                out.print(f"  {attribute}: too few records to judge {', '.join(small)}", markup=False)
    out.print(f"evidence: {', '.join(run['evidence'])}", markup=False)


@eval_app.command("run")
def eval_run(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    model: Annotated[str, Opt(help="the version: 1.2.0, NAME@1.2.0 or its id")],
    data: Annotated[str, Opt(help="a data source in the catalog")],
    label: Annotated[str, Opt(help="the column with the true outcome")],
    prediction: Annotated[str | None, Opt(help="a column of predicted labels")] = None,
    score: Annotated[str | None, Opt(help="a column of scores or probabilities")] = None,
    segments: Annotated[str | None, Opt(help="columns to analyse fairness by: sex,race")] = None,
    baseline: Annotated[str | None, Opt(help="a previous version to compare with")] = None,
    baseline_prediction: Annotated[str | None, Opt(help="a column of a heuristic's predictions")] = None,
    positive: Annotated[str | None, Opt(help="the positive class")] = None,
    threshold: Annotated[float, Opt(help="score at or above which a record is positive")] = 0.5,
    task: Annotated[str | None, Opt(help="classification, regression or ranking")] = None,
    query: Annotated[str | None, Opt(help="ranking: the query column")] = None,
    k: Annotated[int, Opt(help="ranking: cut-off for @k metrics")] = 10,
    resamples: Annotated[int, Opt(help="bootstrap resamples")] = 1000,
    seed: Annotated[int, Opt()] = 0,
    json_: JsonFlag = False,
) -> None:
    """Score a version on labelled data with bootstrap intervals; publishes evaluation evidence."""
    body = {
        "model": model,
        "data": data,
        "label": label,
        "prediction": prediction,
        "score": score,
        "segments": [s.strip() for s in segments.split(",") if s.strip()] if segments else [],
        "baseline": baseline,
        "baseline_prediction": baseline_prediction,
        "positive": positive,
        "threshold": threshold,
        "task": task,
        "query": query,
        "k": k,
        "resamples": resamples,
        "seed": seed,
    }
    with api(ctx) as client, err.status("evaluating", spinner="dots"):
        run = client.post(
            f"/usecases/{usecase}/evaluations", {k_: v for k_, v in body.items() if v is not None}
        )
    if json_:
        print_json(run)
    else:
        _print_run(run)


@eval_app.command("list")
def eval_list(
    ctx: typer.Context, usecase: Annotated[str, typer.Argument(metavar="USECASE")], json_: JsonFlag = False
) -> None:
    """A use case's evaluation runs, newest first."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/evaluations")
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["run", "model", "data", "rows", "precision", "recall", "max disparity", "created"],
        (
            (
                r["id"],
                r["model_version"],
                r["data"],
                r["rows"],
                _interval(r["metrics"]["precision"]) if "precision" in r["metrics"] else "",
                _interval(r["metrics"]["recall"]) if "recall" in r["metrics"] else "",
                "" if r["max_disparity"] is None else f"{r['max_disparity']:.3f}",
                r["created_at"][:16],
            )
            for r in result["data"]
        ),
    )


@eval_app.command("show")
def eval_show(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(metavar="RUN")], json_: JsonFlag = False
) -> None:
    """One evaluation run in full."""
    with api(ctx) as client:
        run = client.get(f"/evaluations/{run_id}")
    if json_:
        print_json(run)
    else:
        _print_run(run)


@eval_app.command("threshold")
def eval_threshold(
    ctx: typer.Context, usecase: Annotated[str, typer.Argument(metavar="USECASE")], json_: JsonFlag = False
) -> None:
    """The minimum precision and recall at which the use case's ROI still holds."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase}/evaluation-threshold")
    if json_:
        print_json(result)
        return
    if not result["available"]:
        fail(f"no ROI-derived threshold for {usecase}: {result['reason']}")
    out.print(result.get("explanation", ""), markup=False)
    out.print(f"suggested gate criterion: {json.dumps(result['criterion'])}", markup=False)


def loadtest(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL")],
    rps: Annotated[float, Opt(help="requests a second, at a constant arrival rate")],
    duration: Annotated[float, Opt(help="seconds")],
    payloads: Annotated[Path, Opt(help="JSON lines (or a JSON array) of request bodies, sent round-robin")],
    usecase: Annotated[str | None, Opt(help="publish evaluation.load evidence for this use case")] = None,
    timeout: Annotated[float, Opt(help="seconds before a request counts as a timeout")] = 10.0,
    json_: JsonFlag = False,
) -> None:
    """Open-loop load test: latency from each request's scheduled send time, no coordinated omission."""
    from phasegate.evaluation import loadtest as engine

    try:
        bodies = engine.read_payloads(payloads)
        plan = engine.LoadPlan(rps=rps, duration_s=duration, timeout_s=timeout)
    except PhasegateError as exc:
        fail(str(exc))
    if usecase is not None:
        body = {
            "url": url,
            "rps": rps,
            "duration": duration,
            "payloads": bodies,
            "payloads_name": payloads.name,
            "timeout": timeout,
        }
        with api(ctx) as client, err.status(f"load testing {url} for {duration:g} s", spinner="dots"):
            result = client.post(f"/usecases/{usecase}/loadtests", body)["result"]
    else:
        columns = (
            TextColumn("load"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task("load", total=plan.requests)
            try:
                measured = engine.run_load_test(
                    url,
                    plan,
                    bodies,
                    payloads_file=payloads.name,
                    on_progress=lambda done, total: bar.update(task, completed=done),
                )
            except PhasegateError as exc:
                fail(str(exc))
        result = measured.to_dict()
    if json_:
        print_json(result)
        return
    latency = result["latency"]
    out.print(
        f"{result['requests']} requests at {result['requested_rps']:g}/s requested, "
        f"{result['achieved_rps']:.1f}/s achieved; error rate {result['error_rate']:.2%}",
        markup=False,
    )
    out.print(
        "latency ms  p50 {p50_ms}  p95 {p95_ms}  p99 {p99_ms}  max {max_ms}".format(**latency), markup=False
    )
    for kind, count in sorted(result["errors"].items()):
        out.print(f"  {kind}: {count}", markup=False)


@replay_app.command("run")
def replay_run(
    ctx: typer.Context,
    usecase: Annotated[str, typer.Argument(metavar="USECASE")],
    suite: Annotated[Path, Opt(help="the suite: JSON lines")],
    url: Annotated[str, Opt(help="the app's endpoint")],
    probes: Annotated[bool, Opt(help="also run the shipped injection and exfiltration probes")] = True,
    sample: Annotated[int, Opt(help="cases sent to human rubric review")] = 20,
    json_: JsonFlag = False,
) -> None:
    """Replay a suite against an app; exits 1 when a case fails or a probe is not resisted."""
    try:
        text = suite.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {suite}: {exc}")
    body = {"url": url, "suite": text, "suite_name": suite.name, "probes": probes, "sample": sample}
    with api(ctx) as client, err.status("replaying", spinner="dots"):
        run = client.post(f"/usecases/{usecase}/replays", body)
    result = run["result"]
    if json_:
        print_json(run)
    else:
        out.print(
            f"replay {run['id']}: {result['passed']}/{result['cases']} cases passed; probes resisted "
            f"{result['probes']['resisted']}/{result['probes']['total']}; "
            f"{len(run['sample'])} cases wait for rubric review",
            markup=False,
        )
        for failure in result["failures"]:
            out.print(f"  FAIL {failure['case']} {failure['check']}: {failure['reason']}", markup=False)
    if result["passed"] < result["cases"] or result["probes"]["resisted"] < result["probes"]["total"]:
        raise typer.Exit(1)


@replay_app.command("show")
def replay_show(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(metavar="RUN")], json_: JsonFlag = False
) -> None:
    """A replay run: every case's checks and the rubric reviews so far."""
    with api(ctx) as client:
        run = client.get(f"/replays/{run_id}")
    if json_:
        print_json(run)
        return
    table(
        f"Replay {run['id']} of {run['suite']} {run['suite_version'] or ''}",
        ["case", "expected", "behaviour", "passed", "failed checks"],
        (
            (
                o["case"],
                o["expected"],
                o["behaviour"],
                "yes" if o["passed"] else "NO",
                ", ".join(c["name"] for c in o["checks"] if c["status"] == "failed"),
            )
            for o in run["outcomes"]
        ),
    )
    out.print(f"waiting for review: {', '.join(run['reviews']['waiting']) or 'none'}", markup=False)


@replay_app.command("review")
def replay_review(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    case: Annotated[str, typer.Argument(metavar="CASE")],
    score: Annotated[
        list[str], Opt(help="DIMENSION=1..5 (correctness, source_support, format_fit, policy_alignment)")
    ],
    note: Annotated[str | None, Opt()] = None,
) -> None:
    """Score a sampled case on the rubric."""
    scores = _pairs(score, "score")
    with api(ctx) as client:
        summary = client.put(f"/replays/{run_id}/reviews/{case}", {"scores": scores, "note": note})
    out.print(f"reviewed {case}; {len(summary['waiting'])} cases still wait", markup=False)


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the root command."""
    app.add_typer(model_app, name="model")
    app.add_typer(eval_app, name="eval")
    app.add_typer(replay_app, name="replay")
    app.command("loadtest")(loadtest)
