"""How the CLI prints: Rich tables for people, ``--json`` for machines, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """Machine output: indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table for people."""
    grid = Table(title=title, show_lines=False)
    for column in columns:
        # Fold rather than cut: an id shortened with an ellipsis cannot be typed back in.
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if v is None else str(v) for v in row))
    out.print(grid)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong on stderr and stop with a non-zero exit."""
    err.print(Text.assemble(("error: ", "red"), message))
    raise typer.Exit(code)
