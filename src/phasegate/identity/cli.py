"""Identity's commands: users, tokens, the audit log."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from phasegate.commands import api
from phasegate.console import fail, out, print_json, table

users = typer.Typer(help="Users and their roles.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens for the REST API and remote CLI.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


@users.command("add")
def user_add(
    ctx: typer.Context,
    name: str,
    role: Annotated[
        str,
        typer.Option(
            help="admin, program-lead, use-case-owner, technical-owner, risk-owner, reviewer or viewer"
        ),
    ],
    usecase: Annotated[str | None, typer.Option(help="grant the role on this use case only")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin")] = False,
    json_: JsonFlag = False,
) -> None:
    """Add a user; without --password-stdin a password is generated and printed once."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            fail("--password-stdin was given but stdin held no password")
    with api(ctx) as client:
        result = client.post("/users", {"name": name, "role": role, "usecase": usecase, "password": password})
    if json_:
        print_json(result)
        return
    scope = f" on {usecase}" if usecase else ""
    out.print(f"user {name} added as {role}{scope}")
    if result["generated_password"]:
        out.print(f"password (shown once): {result['generated_password']}")


@users.command("grant")
def user_grant(
    ctx: typer.Context,
    name: str,
    role: Annotated[str, typer.Option()],
    usecase: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Give a user another role, globally or on one use case."""
    with api(ctx) as client:
        client.post(f"/users/{name}/roles", {"role": role, "usecase": usecase})
    out.print(f"{name} is now {role}" + (f" on {usecase}" if usecase else ""))


@users.command("list")
def user_list(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Every user and their roles."""
    with api(ctx) as client:
        result = client.get("/users")
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["user", "roles", "active"],
        (
            (
                u["name"],
                ", ".join(r["role"] + (f"@{r['usecase']}" if r["usecase"] else "") for r in u["roles"]),
                "yes" if u["active"] else "no",
            )
            for u in result["data"]
        ),
    )


@tokens.command("create")
def token_create(
    ctx: typer.Context,
    name: str,
    label: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    json_: JsonFlag = False,
) -> None:
    """Create an API token for a user; it is printed once and stored only as a hash."""
    with api(ctx) as client:
        result = client.post(f"/users/{name}/tokens", {"label": label})
    if json_:
        print_json(result)
    else:
        out.print(result["token"])


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    usecase: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    json_: JsonFlag = False,
) -> None:
    """Audit entries, newest first."""
    with api(ctx) as client:
        result = client.get("/audit", usecase=usecase, actor=actor, limit=limit)
    if json_:
        print_json(result["data"])
        return
    table(
        None,
        ["#", "when", "actor", "action", "target"],
        ((e["seq"], e["at"][:19], e["actor"], e["action"], e["target"]) for e in result["data"]),
    )


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Recompute the hash chain; exit 1 naming the first entry changed, removed or reordered."""
    with api(ctx) as client:
        result = client.get("/audit/verify")
    if json_:
        print_json(result)
    elif result["ok"]:
        out.print(f"audit log intact: {result['entries']} entries")
    if not result["ok"]:
        broken = result["broken"]
        fail(f"audit log broken at entry {broken['seq']}: {broken['reason']}")


def register(app: typer.Typer) -> None:
    """Add identity's commands to the root command."""
    app.add_typer(users, name="user")
    app.add_typer(tokens, name="token")
    app.add_typer(audit_app, name="audit")
