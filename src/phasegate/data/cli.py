"""Data readiness's commands: the catalog, profiles, contract checks in CI, audits, gaps and lineage."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from phasegate import documents
from phasegate.client import ApiError, Client
from phasegate.commands import api
from phasegate.console import err, fail, out, print_json, table
from phasegate.errors import InvalidInput, Problem

if TYPE_CHECKING:
    from phasegate.data import contracts

data_app = typer.Typer(
    help="Data readiness: catalog, profiles, contracts, audits, gaps, lineage.", no_args_is_help=True
)
source_app = typer.Typer(help="The source catalog.", no_args_is_help=True)
data_app.add_typer(source_app, name="source")

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]
Opt = typer.Option


@source_app.command("add")
def source_add(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument(metavar="NAME")],
    location: Annotated[str, Opt(help="a file or folder, duckdb:F#t, sqlite:F#t, postgresql://...#t")],
    owner: Annotated[str | None, Opt()] = None,
    system: Annotated[str | None, Opt()] = None,
    classification: Annotated[str | None, Opt(help="public, internal, confidential, restricted")] = None,
    freshness: Annotated[str | None, Opt(help="freshness target: 26h, 3d ...")] = None,
    usecase: Annotated[list[str] | None, Opt(help="a use case relying on it (repeatable)")] = None,
    encoding: Annotated[str | None, Opt(help="text encoding of CSV files")] = None,
) -> None:
    """Add a data source to the catalog (or replace the entry of that name)."""
    if "://" not in location and ":" not in location.split("/")[0]:
        location = str(Path(location).expanduser().resolve())
    body = {
        "id": source_id,
        "location": location,
        "owner": owner,
        "system": system,
        "classification": classification,
        "freshness_target": freshness,
        "usecases": usecase or [],
        "encoding": encoding,
    }
    with api(ctx) as client:
        result = client.post("/data/sources", {k: v for k, v in body.items() if v not in (None, [])})
    out.print(f"data source {source_id}: {result['outcome']}", markup=False)


@source_app.command("list")
def source_list(
    ctx: typer.Context, usecase: Annotated[str | None, Opt()] = None, json_: JsonFlag = False
) -> None:
    """The catalog."""
    with api(ctx) as client:
        result = client.get("/data/sources", usecase=usecase)
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["id", "owner", "classification", "location", "use cases"],
        (
            (
                s["id"],
                s["owner"],
                s["classification"],
                s["location"],
                ", ".join(s["document"].get("usecases", [])),
            )
            for s in result["data"]
        ),
    )


@source_app.command("show")
def source_show(
    ctx: typer.Context, source_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonFlag = False
) -> None:
    """A catalog entry with its audits, snapshots and open gaps."""
    with api(ctx) as client:
        result = client.get(f"/data/sources/{source_id}")
    if json_:
        print_json(result)
        return
    doc = result["document"]
    out.print(f"[bold]{result['name']}[/bold] ({result['id']}) at {result['location']}")
    for key in (
        "system",
        "owner",
        "access",
        "update_frequency",
        "volume",
        "classification",
        "freshness_target",
    ):
        if doc.get(key):
            out.print(f"  {key.replace('_', ' ')}: {doc[key]}", markup=False)
    if doc.get("usecases"):
        out.print("  relied on by: " + ", ".join(doc["usecases"]), markup=False)
    for audit in result["audits"][:3]:
        s = audit["summary"]
        out.print(
            f"  audit {audit['id']} {audit['created_at'][:16]}: {s['checks']['failed']} failed checks, "
            f"{s['gaps']['blockers']} blockers, {s['gaps']['degraders']} degraders",
            markup=False,
        )
    for gap in result["gaps"]:
        out.print(f"  ! {gap['severity']}: {gap['title']}", markup=False)


@data_app.command("profile")
def profile(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument(metavar="SOURCE")],
    engine: Annotated[str | None, Opt(help="duckdb, sqlite, postgres or spark")] = None,
    label: Annotated[str | None, Opt(help="the snapshot's name (default: today's date)")] = None,
    json_: JsonFlag = False,
) -> None:
    """Profile a source in one pass through its engine, kept as a baseline snapshot."""
    with api(ctx) as client:
        result = client.post(f"/data/sources/{source_id}/profile", {"engine": engine, "label": label})
    if json_:
        print_json(result)
        return
    prof = result["profile"]
    exact = "exact" if prof["exact"] else "distinct counts and quantiles approximate"
    if prof.get("sample"):
        share = prof["sample"]
        rows = share * prof["rows"]
        exact += (
            f"; histograms, quantiles, top values and shapes from a {share:.1%} sample (~{rows:,.0f} rows)"
        )
    out.print(
        f"{source_id}: {prof['rows']:,} rows, snapshot {result['id']} ({result['label']}), {exact}",
        markup=False,
    )
    table(
        None,
        ["column", "type", "nulls", "distinct", "min", "max", "mean", "top"],
        (
            (
                c["name"],
                c["type"],
                c["nulls"],
                c["distinct"],
                _short(c.get("min")),
                _short(c.get("max")),
                "" if c.get("mean") is None else f"{c['mean']:.4g}",
                ", ".join(str(v[0]) for v in (c.get("top_values") or [])[:3]),
            )
            for c in prof["columns"]
        ),
    )


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 24 else text[:23] + "…"


@data_app.command("check")
def check(
    ctx: typer.Context,
    file: Annotated[Path, Opt("-f", "--file", exists=True, dir_okay=False, help="a DataContract YAML")],
    engine: Annotated[str | None, Opt(help="duckdb, sqlite, postgres or spark")] = None,
    location: Annotated[str | None, Opt(help="check this data instead of the catalog's location")] = None,
    json_: JsonFlag = False,
) -> None:
    """Check a contract where this command runs (a team's CI): exit 1 if any check fails or cannot run."""
    from phasegate.data import checking, engines  # the engines load only for the commands that scan data

    contract = _load_contract(file)
    with api(ctx) as client:
        source = client.get(f"/data/sources/{contract.source}")
        baseline = _baseline(client, contract)
        referenced = {ref.split(".", 1)[0] for ref in _references(contract)}
        others = {sid: _source_or_none(client, sid) for sid in referenced}
    where = engines.parse_location(location or source["location"])
    try:
        chosen = engines.connect(
            engines.check_engine(engine) if engine else where.default_engine, location=where
        )
        data = chosen.table(where, encoding=source["document"].get("encoding"))
    except InvalidInput as exc:
        fail(str(exc))

    def resolve(reference: str) -> Any:
        sid = reference.split(".", 1)[0]
        other = others.get(sid)
        if other is None:
            raise InvalidInput(f"no data source '{sid}' in the catalog")
        return chosen.table(
            engines.parse_location(other["location"]),
            name=f"ref_{sid}",
            encoding=other["document"].get("encoding"),
        )

    report = checking.run_contract(
        contract, data, engine=chosen.name, resolve_reference=resolve, baseline=baseline
    )
    if json_:
        print_json(report.as_dict())
    else:
        table(
            f"contract {contract.id} on {where} ({chosen.name}, {report.rows} rows)",
            ["check", "status", "observed", "limit", "examples or cause"],
            (
                (
                    r.check,
                    r.status.upper(),
                    _short(r.observed),
                    _short(r.limit),
                    r.error or "; ".join(json.dumps(e, default=str) for e in r.examples[:2]),
                )
                for r in report.results
            ),
        )
        c = report.counts
        out.print(f"{c['pass']} passed, {c['fail']} failed, {c['error']} could not run", markup=False)
    if not report.passed:
        raise typer.Exit(1)


def _load_contract(file: Path) -> contracts.ContractSpec:
    from phasegate.data import contracts

    try:
        loaded = [d for d in documents.load(file) if d.data.get("kind") == "DataContract"]
    except InvalidInput as exc:
        fail(str(exc))
    if not loaded:
        fail(f"{file}: no document with kind: DataContract")
    try:
        return contracts.parse_contract(loaded[0].data, file=str(file))
    except InvalidInput as exc:
        for problem in loaded[0].locate(exc.problems):
            err.print(f"  - {problem}", markup=False)
        fail(f"{file}: the contract is not valid")


def _references(contract: contracts.ContractSpec) -> list[str]:
    return [rule.references for rule in contract.columns.values() if rule.references]


def _source_or_none(client: Client, source_id: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.get(f"/data/sources/{source_id}")
        return found
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _baseline(client: Client, contract: contracts.ContractSpec) -> dict[str, Any] | None:
    if contract.distribution is None:
        return None
    try:
        snapshot = client.get(f"/data/sources/{contract.source}/snapshots/{contract.distribution.baseline}")
        profile: dict[str, Any] = snapshot["profile"]
        return profile
    except ApiError as exc:
        if exc.status == 404:
            return None  # the distribution check then reports the missing baseline as an error
        raise


@data_app.command("audit")
def audit(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument(metavar="SOURCE")],
    contract: Annotated[Path | None, Opt(exists=True, dir_okay=False, help="a DataContract YAML")] = None,
    golden: Annotated[str | None, Opt(help="verified records (a location) for accuracy")] = None,
    key: Annotated[str | None, Opt(help="the column joining the golden slice")] = None,
    label: Annotated[str | None, Opt(help="the label column, for label consistency")] = None,
    label_key: Annotated[str | None, Opt(help="the record key for label consistency")] = None,
    rater: Annotated[str | None, Opt(help="the column naming who labelled")] = None,
    engine: Annotated[str | None, Opt()] = None,
    report: Annotated[Path | None, Opt(help="write the HTML report here (opens offline)")] = None,
    json_: JsonFlag = False,
) -> None:
    """Audit a source: profile, contract, quality, labels, PII and gaps; publishes data.audit evidence."""
    body: dict[str, Any] = {
        "golden": _absolute(golden),
        "key": key,
        "label": label,
        "label_key": label_key,
        "rater": rater,
        "engine": engine,
    }
    if contract is not None:
        body["contract"] = _load_contract(contract).document()
    with api(ctx) as client:
        job = client.post(f"/data/sources/{source_id}/audits", body)
        job = _follow(client, job, quiet=json_)
        if job["status"] != "done":
            error = job["error"] or {}
            for problem in error.get("problems", []):
                err.print(f"  - {Problem(**problem)}", markup=False)
            fail(f"the audit of {source_id} failed: {error.get('detail')}")
        result = client.get(f"/data/audits/{job['result']}")
        if report is not None:
            page = client.http.get(f"/api/v1/data/audits/{job['result']}/report", params={"offline": "true"})
            report.write_text(page.text)
    summary = result["summary"]
    if json_:
        print_json(result)
    else:
        quality = ", ".join(f"{k} {'—' if v is None else f'{v:.3f}'}" for k, v in summary["quality"].items())
        out.print(f"audit {result['id']} of {source_id}: {summary['rows']:,} rows; {quality}", markup=False)
        out.print(
            f"checks: {summary['checks']['passed']} passed, {summary['checks']['failed']} failed, "
            f"{summary['checks']['errors']} could not run; gaps: {summary['gaps']['blockers']} blockers, "
            f"{summary['gaps']['degraders']} degraders",
            markup=False,
        )
        for gap in result["details"]["gaps"]:
            out.print(f"  ! {gap['severity']}: {gap['title']}", markup=False)
        if report is not None:
            out.print(f"report: {report}", markup=False)
    if summary["gaps"]["blockers"] or summary["checks"]["failed"] or summary["checks"]["errors"]:
        raise typer.Exit(1)


def _absolute(location: str | None) -> str | None:
    if location is None or "://" in location or ":" in location.split("/")[0]:
        return location
    return str(Path(location).expanduser().resolve())


def _follow(client: Client, job: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    """Poll a job to its end, with a progress bar for people."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=quiet or not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("auditing", total=job["total"])
        while job["status"] == "running":
            bar.update(task, completed=job["done"], description=f"auditing: {job['stage']}")
            time.sleep(0.2)
            job = client.get(f"/data/jobs/{job['id']}")
        bar.update(task, completed=job["total"])
    return job


@data_app.command("gaps")
def gaps(
    ctx: typer.Context,
    source: Annotated[str | None, Opt()] = None,
    status: Annotated[str, Opt(help="open, resolved or all")] = "open",
    severity: Annotated[str | None, Opt(help="blocker or degrader")] = None,
    owner: Annotated[str | None, Opt()] = None,
    json_: JsonFlag = False,
) -> None:
    """The foundation gap list, blockers first."""
    with api(ctx) as client:
        result = client.get("/data/gaps", source=source, status=status, severity=severity, owner=owner)
    if json_:
        print_json(result["data"])
        return
    table(
        f"{result['count']} gaps",
        ["#", "source", "rank", "gap", "owner", "status", "since"],
        (
            (g["id"], g["source"], g["severity"], g["title"], g["owner"], g["status"], g["first_seen"][:10])
            for g in result["data"]
        ),
    )


@data_app.command("lineage")
def lineage(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Lineage edges: where each source's data comes from and which use cases rely on it."""
    with api(ctx) as client:
        result = client.get("/data/lineage")
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["from", "via", "to", "recorded"],
        ((e["upstream"], e["transformation"], e["downstream"], e["recorded_by"]) for e in result["data"]),
    )


def register(app: typer.Typer) -> None:
    """Add the data commands to the root command."""
    app.add_typer(data_app, name="data")
