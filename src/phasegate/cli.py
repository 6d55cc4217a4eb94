"""The ``phasegate`` command: composes each part's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phasegate import documents
from phasegate.commands import api
from phasegate.console import err, fail, out, print_json
from phasegate.data import cli as data_cli
from phasegate.demo import cli as demo_cli
from phasegate.errors import InvalidInput, Problem
from phasegate.evaluation import cli as evaluation_cli
from phasegate.identity import cli as identity_cli
from phasegate.lifecycle import cli as lifecycle_cli
from phasegate.portfolio import cli as portfolio_cli
from phasegate.rollout import cli as rollout_cli
from phasegate.settings import get_settings

app = typer.Typer(
    name="phasegate",
    help="Take AI use cases from pilot to production through gates decided on evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="act on the local store as this registered user, with their roles"),
    ] = None,
) -> None:
    """Local mode acts on PHASEGATE_HOME's store; PHASEGATE_URL and PHASEGATE_TOKEN talk to a server."""
    ctx.obj = {"as_user": as_user}


@app.command()
def init() -> None:
    """Create the store, or upgrade it to the newest schema."""
    from phasegate.store import upgrade

    settings = get_settings()
    upgrade(settings.store_url)
    out.print(f"store ready: {settings.store_url.split('@')[-1]}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes")] = False,
    gateway: Annotated[
        bool, typer.Option(help="also serve the gateway (/gateway/v1) in this process")
    ] = False,
) -> None:
    """Serve the API (/api/v1) and the web UI (and, with --gateway, a gateway replica)."""
    import uvicorn

    out.print(f"phasegate on http://{host}:{port}  (API docs: http://{host}:{port}/api/v1/docs)")
    factory = "phasegate.app:create_app_with_gateway" if gateway else "phasegate.app:create_app"
    uvicorn.run(factory, factory=True, host=host, port=port, reload=reload, log_level="info")


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("-f", "--file", help="a YAML file or a folder of them")],
    json_: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Create or update what YAML documents describe (use cases, playbooks): all, or nothing if any is bad."""
    from phasegate import kinds  # the application's parts, loaded only when applying

    try:
        sources = documents.load(file)
    except InvalidInput as exc:
        fail(str(exc))
    problems: list[Problem] = []
    for source in sources:
        try:
            kinds.parse(source.data)
        except InvalidInput as exc:
            problems.extend(source.locate(exc.problems))
    if problems:
        for problem in problems:
            err.print(f"  - {problem}", markup=False)
        fail(f"{len(problems)} problem(s) in {file}; nothing was written")
    for source in sources:
        _locate_relative_data(source)
    with api(ctx) as client:
        result = client.post("/apply", {"documents": [s.data for s in sources]})
    if json_:
        print_json(result["data"])
        return
    for item in result["data"]:
        out.print(f"{item['kind']} {item['id']}: {item['outcome']}", markup=False)


def _locate_relative_data(source: documents.SourceDocument) -> None:
    """A data source's relative file location is relative to the YAML file that names it."""
    location = source.data.get("location")
    if (
        source.data.get("kind") != "DataSource"
        or not isinstance(location, str)
        or ":" in location.split("/")[0]
    ):
        return
    if not Path(location).is_absolute():
        source.data["location"] = str((Path(source.file).parent / location).resolve())


identity_cli.register(app)
portfolio_cli.register(app)
lifecycle_cli.register(app)
data_cli.register(app)
evaluation_cli.register(app)
rollout_cli.register(app)
demo_cli.register(app)


def main() -> None:
    app()
