"""What every part's CLI commands share: the client for this invocation and error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from phasegate.client import ApiError, Client, StoreNotReady, connect
from phasegate.console import err, fail
from phasegate.errors import PhasegateError
from phasegate.settings import get_settings


@contextmanager
def api(ctx: typer.Context) -> Iterator[Client]:
    """The client for this command, local or remote; any API error ends the command with exit 1."""
    as_user = (ctx.find_root().obj or {}).get("as_user")
    try:
        client = connect(get_settings(), as_user=as_user)
    except StoreNotReady as exc:
        fail(str(exc))
    except PhasegateError as exc:
        fail(str(exc))
    try:
        yield client
    except ApiError as exc:
        for problem in exc.problems:
            err.print(f"  - {problem}", markup=False)
        fail(f"{exc.detail} (HTTP {exc.status})")
    finally:
        client.close()
