"""The portfolio's commands: use cases, ranking, ROI, apply and export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from phasegate import documents
from phasegate.commands import api
from phasegate.console import err, out, print_json, table
from phasegate.errors import Problem
from phasegate.portfolio.schemas import UseCaseSpec

usecases = typer.Typer(help="Use cases and their definitions of done.", no_args_is_help=True)
portfolio = typer.Typer(help="The portfolio as a whole.", no_args_is_help=True)
export = typer.Typer(help="Print documents as YAML that `apply` takes back.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


@usecases.command("list")
def usecase_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option()] = None,
    unit: Annotated[str | None, typer.Option(help="business unit")] = None,
    risk_tier: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    json_: JsonFlag = False,
) -> None:
    """Use cases, filtered by status, business unit, risk tier or owner."""
    with api(ctx) as client:
        result = client.get(
            "/usecases", status=status, business_unit=unit, risk_tier=risk_tier, owner=owner, limit=10000
        )
    if json_:
        print_json(result["data"])
        return
    table(
        f"{result['count']} use cases",
        ["id", "name", "status", "unit", "risk", "owner"],
        (
            (u["id"], u["name"], u["status"], u["business_unit"], u["risk_tier"], u["owner"])
            for u in result["data"]
        ),
    )


@usecases.command("show")
def usecase_show(
    ctx: typer.Context, usecase_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonFlag = False
) -> None:
    """The one-pager: definition of done, owners, KPIs, ROI, risk tier and what is missing."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase_id}")
    if json_:
        print_json(result)
        return
    doc = result["document"]
    out.print(f"[bold]{result['name']}[/bold] ({result['id']}) - {result['status']}")
    for label, key in (
        ("unit", "business_unit"),
        ("workflow", "workflow"),
        ("outcome", "outcome_class"),
        ("users", "user_group"),
        ("boundary", "task_boundary"),
    ):
        if doc.get(key):
            out.print(f"  {label}: {doc[key]}", markup=False)
    owners = doc.get("owners", {})
    out.print("  owners: " + ", ".join(f"{k}={v}" for k, v in owners.items()) if owners else "  owners: none")
    primary = doc.get("kpis", {}).get("primary")
    if primary:
        out.print(
            f"  KPI: {primary['name']} {_number(primary.get('baseline'))} -> "
            f"{_number(primary.get('target'))} "
            f"{primary.get('unit') or ''} ({primary['direction']} is better)",
            markup=False,
        )
    risk = result["risk"]
    out.print(
        f"  risk tier: {risk['tier'] or 'unknown'} ({'; '.join(risk['reasons'] or risk['missing'])})",
        markup=False,
    )
    _print_roi(result["roi"])
    done = result["completeness"]
    out.print(f"  definition of done: {done['filled']}/{done['total']} complete", markup=False)
    if done["missing"]:
        out.print("  missing: " + ", ".join(done["missing"]), markup=False)


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:,g}"


def _print_roi(roi: dict[str, Any]) -> None:
    value = roi["value"]
    if value is None:
        out.print("  ROI: needs " + ", ".join(roi["missing"]), markup=False)
        return
    payback = value["payback_months"]
    out.print(
        f"  ROI: {value['net_monthly_value']:,.0f} net a month; payback "
        + (f"{payback:.1f} months" if payback is not None else "never"),
        markup=False,
    )


@usecases.command("import")
def usecase_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a CSV or XLSX inventory")],
    map_: Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN, repeatable")] = None,
    map_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML or JSON mapping field: column")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="a known inventory layout, e.g. us-federal-2025")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="the file's text encoding; detected if left out")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="the XLSX sheet to read")] = None,
    dry_run: Annotated[bool, typer.Option(help="report what would happen; write nothing")] = False,
    json_: JsonFlag = False,
) -> None:
    """Import use cases from an inventory; re-importing the same file updates, never duplicates."""
    files: dict[str, Any] = {"file": (file.name, file.read_bytes())}
    if map_file is not None:
        files["map_file"] = (map_file.name, map_file.read_bytes())
    form: dict[str, Any] = {"dry_run": str(dry_run).lower()}
    for key, value in (("preset", preset), ("encoding", encoding), ("sheet", sheet)):
        if value:
            form[key] = value
    if map_:
        form["map"] = map_
    with api(ctx) as client:
        result = client.request("POST", "/usecases/import", files=files, data=form)
    rejected = [r for r in result["rows"] if r["outcome"] == "reject"]
    if json_:
        print_json(result)
    else:
        verb = "would be" if dry_run else "were"
        c = result["counts"]
        if result.get("encoding"):
            how = " (detected; name another with --encoding)" if result["encoding_detected"] else ""
            out.print(f"read {result['file']} as {result['encoding']}{how}", markup=False)
        for note in result["notes"]:
            out.print(f"note: {note}", markup=False)
        if dry_run:
            table(
                "dry run: row by row",
                ["row", "id", "outcome", "why"],
                (
                    (r["row"], r["id"], r["outcome"], "; ".join(_problem_text(p) for p in r["problems"]))
                    for r in result["rows"]
                ),
            )
        out.print(
            f"{c['create']} {verb} created, {c['update']} updated, {c['unchanged']} unchanged, "
            f"{c['reject']} rejected",
            markup=False,
        )
        if not dry_run:
            for r in rejected:
                err.print(
                    f"  row {r['row']}: " + "; ".join(_problem_text(p) for p in r["problems"]), markup=False
                )
    if rejected:
        raise typer.Exit(1)


def _problem_text(problem: dict[str, Any]) -> str:
    return str(Problem(**problem))


@usecases.command("delete")
def usecase_delete(ctx: typer.Context, usecase_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Remove a use case (its last document stays in the audit log)."""
    with api(ctx) as client:
        client.delete(f"/usecases/{usecase_id}")
    out.print(f"deleted {usecase_id}")


@portfolio.command("rank")
def portfolio_rank(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="product, weighted, value-feasibility-risk, ...")] = "product",
    status: Annotated[str | None, typer.Option()] = None,
    unit: Annotated[str | None, typer.Option(help="business unit")] = None,
    json_: JsonFlag = False,
) -> None:
    """Rank the use cases by a scoring model, explaining every position."""
    with api(ctx) as client:
        result = client.get("/portfolio/rank", model=model, status=status, business_unit=unit)
    if json_:
        print_json(result["data"])
        return
    table(
        f"ranked by {result['model']}: {result['description']}",
        ["#", "id", "score", "why"],
        (
            (r["rank"] or "-", r["id"], "" if r["score"] is None else f"{r['score']:g}", r["explanation"])
            for r in result["data"]
        ),
    )


def roi(
    ctx: typer.Context, usecase_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonFlag = False
) -> None:
    """ROI of a use case: monthly value, net, payback, and payback's sensitivity to ±20 % per input."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase_id}/roi")
    if json_:
        print_json(result)
        return
    _print_roi(result)
    if result["sensitivity"]:
        table(
            "payback (months) with each input 20 % lower / higher",
            ["input", "-20 %", "+20 %"],
            (
                (s["input"], _months(s["low_payback"]), _months(s["high_payback"]))
                for s in result["sensitivity"]
            ),
        )


def _months(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


@export.command("usecase")
def export_usecase(ctx: typer.Context, usecase_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Print a use case as YAML that `phasegate apply -f` takes back unchanged."""
    with api(ctx) as client:
        result = client.get(f"/usecases/{usecase_id}")
    spec = UseCaseSpec.model_validate(result["document"])
    sys.stdout.write(documents.dump(spec.document()))


def register(app: typer.Typer) -> None:
    """Add the portfolio's commands to the root command."""
    app.add_typer(usecases, name="usecase")
    app.add_typer(portfolio, name="portfolio")
    app.add_typer(export, name="export")
    app.command("roi")(roi)
