"""One Jinja2 environment for every part's pages, with the filters numbers are shown through."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from starlette.templating import Jinja2Templates

import phasegate
from phasegate import __version__
from phasegate.web import auth, static_files

PACKAGE = Path(phasegate.__file__).parent
WEB_TEMPLATES = Path(__file__).parent / "templates"


def template_folders() -> list[Path]:
    """The shared templates first, then each part's own ``templates/`` folder (``portfolio/...``)."""
    parts = sorted(p for p in PACKAGE.glob("*/templates") if p.is_dir() and p != WEB_TEMPLATES)
    return [WEB_TEMPLATES, *parts]


def number(value: Any, decimals: int = 0) -> str:
    """A number with thousands separated and a fixed count of decimals; a dash when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:,.{decimals}f}"


def qty(value: Any) -> str:
    """A measured quantity as written: 42,000, 0.031, 4.1; a dash when absent."""
    if value is None:
        return "—"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def percent(value: Any, decimals: int = 0) -> str:
    """A ratio (0.42) as a percentage (42 %)."""
    if value is None:
        return "—"
    return f"{100 * value:,.{decimals}f} %"


def months(value: Any) -> str:
    """A payback in months; none means it never pays back."""
    if value is None:
        return "never"
    return f"{value:,.1f} months"


def score(value: Any) -> str:
    """A score as written in the formulas: 400, 3.85."""
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def words(value: Any) -> str:
    """A field name for people: ``drafts_then_acts`` reads as ``drafts then acts``."""
    if value is None:
        return "—"
    return str(value).replace("_", " ")


def _page_context(request: Request) -> dict[str, Any]:
    return {
        "csrf_token": auth.csrf_token(request),
        "current_user": auth.current_user_name(request),
        "version": __version__,
        "plotly_version": static_files.plotly_version(),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_folders()]),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(number=number, qty=qty, percent=percent, months=months, score=score, words=words)
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_page_context])
