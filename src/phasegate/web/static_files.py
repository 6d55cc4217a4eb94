"""Static assets, served from the installed packages so pages need no network at run time.

``static/`` ships with phasegate: the CSS, a small script, and htmx 2.0.11 (0BSD licence),
taken unchanged from the npm registry's ``htmx.org`` package (``dist/htmx.min.js``).
Plotly.js is not copied into the repository: it is the file the ``plotly`` Python package
already installs (``plotly/package_data/plotly.min.js``), served from there.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = "/static/plotly.min.js"
# A week: the URLs carry the version (?v=...), so a new release is fetched at once anyway.
CACHE_CONTROL = "public, max-age=604800"

router = APIRouter(include_in_schema=False)


def plotly_js_path() -> Path:
    """Where the installed plotly package keeps its bundled plotly.js."""
    return Path(str(files("plotly").joinpath("package_data", "plotly.min.js")))


@cache
def plotly_version() -> str:
    """The version of the plotly Python package, which pins the plotly.js it bundles."""
    import plotly

    return str(plotly.__version__)


@router.get(PLOTLY_JS)
def plotly_js() -> FileResponse:
    """The plotly.js bundled with the plotly Python package."""
    path = plotly_js_path()
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"plotly.js is not installed at {path}")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": CACHE_CONTROL})


class CachedStaticFiles(StaticFiles):
    """StaticFiles that lets browsers keep the files for a week."""

    def file_response(self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", CACHE_CONTROL)
        return response


def static_app() -> StaticFiles:
    """The files in ``web/static``."""
    return CachedStaticFiles(directory=STATIC)
