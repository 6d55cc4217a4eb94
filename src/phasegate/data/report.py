"""The audit report: one self-contained HTML page with the scores, checks, gaps, PII and charts."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any, Literal

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape

from phasegate.data.models import DataAudit, DataSource

_env = Environment(
    loader=PackageLoader("phasegate.data", "templates"), autoescape=select_autoescape(["html"])
)
MAX_HISTOGRAMS = 12


def render(source: DataSource, audit: DataAudit, *, plotly_js: Literal["link", "inline"] = "link") -> str:
    """The report; `inline` embeds plotly.js so the file opens offline, anywhere (about 4.5 MB)."""
    script = '<script src="/static/plotly.min.js"></script>'
    if plotly_js == "inline":
        from plotly.offline import get_plotlyjs

        script = f"<script>{get_plotlyjs()}</script>"
    details = audit.details
    figures = {"dimensions": _dimension_figure(details["dimensions"])}
    for column in details["profile"]["columns"][: MAX_HISTOGRAMS * 3]:
        if column.get("histogram") and len(figures) <= MAX_HISTOGRAMS:
            figures[f"hist-{column['name']}"] = _histogram_figure(column)
    return _env.get_template("data/report.html").render(
        source=source,
        audit=audit,
        summary=audit.summary,
        details=details,
        plotly_script=script,
        figures={k: json.dumps(v) for k, v in figures.items()},
        percent=_percent,
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _dimension_figure(dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [d for d in dimensions if d.get("score") is not None]
    figure = go.Figure(
        go.Bar(
            x=[d["score"] for d in measured],
            y=[d["name"] for d in measured],
            orientation="h",
            marker_color=[
                "#009E73" if d["score"] >= 0.98 else "#E69F00" if d["score"] >= 0.9 else "#CC3311"
                for d in measured
            ],
            text=[f"{d['score']:.3f}" for d in measured],
            textposition="outside",
        )
    )
    figure.update_layout(
        xaxis={"range": [0, 1.1], "title": "score (0-1)"},
        height=60 + 40 * len(measured),
        margin={"l": 110, "r": 20, "t": 10, "b": 40},
        plot_bgcolor="white",
    )
    return figure.to_plotly_json()  # type: ignore[no-any-return]


def _histogram_figure(column: dict[str, Any]) -> dict[str, Any]:
    histogram = column["histogram"]
    edges, counts = histogram["edges"], histogram["counts"]
    labels = [f"{low:.4g} – {high:.4g}" for low, high in pairwise(edges)]
    figure = go.Figure(go.Bar(x=labels[: len(counts)], y=counts, marker_color="#0072B2"))
    figure.update_layout(
        title={"text": column["name"], "font": {"size": 13}},
        height=220,
        margin={"l": 40, "r": 10, "t": 30, "b": 60},
        plot_bgcolor="white",
    )
    return figure.to_plotly_json()  # type: ignore[no-any-return]
