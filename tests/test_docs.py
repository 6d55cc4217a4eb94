"""The README cannot drift from the code: every command and every API route is documented there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from phasegate.app import create_app
from phasegate.cli import app as cli_app

README = (Path(__file__).parent.parent / "README.md").read_text()


def command_paths(command: Any, prefix: str = "phasegate") -> list[str]:
    # Typer vendors its own click, so groups are recognised by their sub-commands.
    if getattr(command, "commands", None):
        paths = []
        for name, sub in command.commands.items():
            paths += command_paths(sub, f"{prefix} {name}")
        return paths
    return [prefix]


def test_every_cli_command_is_in_the_readme() -> None:
    commands = command_paths(typer.main.get_command(cli_app))
    assert len(commands) > 10
    missing = [c for c in commands if f"`{c}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def _normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_api_route_is_in_the_readme() -> None:
    paths = create_app(web=False).openapi()["paths"]
    documented = {
        _normalised(m) for m in re.findall(r"(?:GET|POST|PUT|PATCH|DELETE) /api/v1/[^\s`,]*", README)
    }
    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method in operations
        if _normalised(f"{method.upper()} {path}") not in documented
    ]
    assert not missing, f"API routes missing from README.md: {missing}"


def test_the_readme_opens_with_the_two_commands() -> None:
    opening = README[:1200]
    assert "make run" in opening and "make test" in opening
