"""Plotly figures for the pages, returned as JSON that ``static/app.js`` draws with plotly.js.

The colours come from the Okabe-Ito and Paul Tol palettes, which readers with the common
colour-vision deficiencies can tell apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import plotly.graph_objects as go

RISK_COLOURS = {
    "low": "#009E73",
    "medium": "#E69F00",
    "high": "#CC3311",
    "prohibited": "#000000",
    None: "#999999",
}
LOWER_COLOUR = "#0072B2"
HIGHER_COLOUR = "#56B4E9"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# Bubbles that land on the same point are spread round it, at most this far (in score units,
# less than the 0.5 between two possible feasibility means); the hover text keeps the true values.
SPREAD, MAX_SPREAD = 0.12, 0.3
GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))
SMALLEST, LARGEST = 12.0, 56.0
QUADRANT_LINE = {"color": "#cbd2d9", "dash": "dot"}


@dataclass(frozen=True)
class Bubble:
    """One use case on the value-versus-feasibility chart."""

    id: str
    name: str
    url: str
    feasibility: float
    value: float
    net_annual_value: float | None
    risk_tier: str | None


@dataclass(frozen=True)
class Swing:
    """Payback when one input is lowered and raised; None means it never pays back."""

    label: str
    lower: float | None
    higher: float | None


def _layout(**extra: object) -> go.Layout:
    return go.Layout(
        template="plotly_white",
        font={"family": FONT, "size": 13, "color": "#1f2933"},
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        hoverlabel={"font": {"family": FONT}},
        **extra,
    )


def _diameters(values: Sequence[float | None]) -> list[float]:
    # Area, not diameter, grows with value: the eye reads bubble size as area.
    positive = [v for v in values if v is not None and v > 0]
    top = max(positive, default=0.0)
    return [SMALLEST + (LARGEST - SMALLEST) * math.sqrt(v / top) if v is not None and v > 0 and top
            else SMALLEST for v in values]


def _spread(bubbles: Sequence[Bubble]) -> dict[str, tuple[float, float]]:
    at: dict[tuple[float, float], list[Bubble]] = defaultdict(list)
    for bubble in bubbles:
        at[(round(bubble.feasibility, 3), round(bubble.value, 3))].append(bubble)
    placed: dict[str, tuple[float, float]] = {}
    for (x, y), group in at.items():
        if len(group) == 1:
            placed[group[0].id] = (x, y)
            continue
        # A sunflower (Vogel) spiral fills a small disc evenly however many share the point.
        radius = min(MAX_SPREAD, SPREAD * math.sqrt(len(group)))
        for index, bubble in enumerate(group):
            r = radius * math.sqrt((index + 0.5) / len(group))
            angle = index * GOLDEN_ANGLE
            placed[bubble.id] = (x + r * math.cos(angle), y + r * math.sin(angle))
    return placed


def _money(value: float | None) -> str:
    return "unknown (no ROI inputs)" if value is None else f"{value:,.0f} a year"


def _bubbles_trace(name: str, colour: str, members: Sequence[Bubble], sizes: dict[str, float],
                   placed: dict[str, tuple[float, float]], *, is_open: bool, legend: bool) -> go.Scatter:
    return go.Scatter(
        name=name,
        legendgroup=name,
        showlegend=legend,
        x=[placed[b.id][0] for b in members],
        y=[placed[b.id][1] for b in members],
        mode="markers",
        marker={
            "size": [sizes[b.id] for b in members],
            "color": colour,
            "opacity": 0.85,
            "line": {"color": colour if is_open else "#ffffff", "width": 1.5 if is_open else 1},
            "symbol": "circle-open" if is_open else "circle",
        },
        customdata=[[b.url, b.id, b.feasibility, b.value, _money(b.net_annual_value)] for b in members],
        text=[b.name for b in members],
        hovertemplate=("<b>%{text}</b> (%{customdata[1]})<br>value %{customdata[3]:.1f}, "
                       "feasibility %{customdata[2]:.1f}<br>net value %{customdata[4]}"
                       f"<br>{name}<extra></extra>"),
    )


def value_feasibility_chart(bubbles: Sequence[Bubble]) -> str:
    """Bubbles at (feasibility, business value), sized by net annual value, coloured by risk tier."""
    sizes = dict(zip((b.id for b in bubbles), _diameters([b.net_annual_value for b in bubbles]), strict=True))
    placed = _spread(bubbles)
    traces = []
    for tier, colour in RISK_COLOURS.items():
        name = f"risk {tier}" if tier else "risk unknown"
        group = [b for b in bubbles if b.risk_tier == tier]
        sized = [b for b in group if (b.net_annual_value or 0) > 0]
        unsized = [b for b in group if (b.net_annual_value or 0) <= 0]
        # Open circles: no positive net value to size the bubble by. One legend entry per tier
        # (a filled circle when the tier has any), and it shows and hides both kinds.
        if sized:
            traces.append(_bubbles_trace(name, colour, sized, sizes, placed, is_open=False, legend=True))
        if unsized:
            traces.append(_bubbles_trace(name, colour, unsized, sizes, placed, is_open=True,
                                         legend=not sized))
    axis = {"range": [0.4, 5.6], "dtick": 1, "zeroline": False}
    corners = [(5.5, 5.5, "quick wins", "right", "top"), (0.5, 5.5, "big bets", "left", "top"),
               (5.5, 0.5, "fill-ins", "right", "bottom"), (0.5, 0.5, "deprioritise", "left", "bottom")]
    layout = _layout(
        height=440,
        xaxis={**axis, "title": {"text": "feasibility (mean of technical feasibility and data readiness)"}},
        yaxis={**axis, "title": {"text": "business value"}},
        legend={"orientation": "h", "y": -0.18},
        # The middle of the 1-5 scales splits the chart into four quadrants.
        shapes=[
            {"type": "line", "x0": 3, "x1": 3, "y0": 0.4, "y1": 5.6, "line": QUADRANT_LINE},
            {"type": "line", "x0": 0.4, "x1": 5.6, "y0": 3, "y1": 3, "line": QUADRANT_LINE},
        ],
        annotations=[{"x": x, "y": y, "text": text, "showarrow": False, "xanchor": xa, "yanchor": ya,
                      "font": {"color": "#9aa5b1", "size": 12}} for x, y, text, xa, ya in corners],
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


def tornado_chart(swings: Sequence[Swing], base: float) -> str:
    """Payback at the lowered and raised value of each input, as bars either side of today's payback."""
    finite = [v for s in swings for v in (s.lower, s.higher) if v is not None]
    # "Never pays back" is drawn to just past the longest finite payback and labelled in words.
    never = max([*finite, base]) * 1.25 or 1.0
    labels = [s.label for s in swings]
    ends = [*finite, base] + ([never] if len(finite) < 2 * len(swings) else [])
    # Room either side for the labels printed outside the bars.
    pad = (max(ends) - min(ends)) * 0.15 or 1.0

    def bars(name: str, colour: str, values: list[float | None]) -> go.Bar:
        ends = [never if v is None else v for v in values]
        return go.Bar(
            name=name, orientation="h", y=labels, x=[end - base for end in ends], base=base,
            marker={"color": colour}, text=["never" if v is None else f"{v:,.1f}" for v in values],
            textposition="outside", cliponaxis=False,
            hovertemplate=[f"{label}, {name}: " + ("never pays back" if v is None else f"{v:,.1f} months")
                           + "<extra></extra>" for label, v in zip(labels, values, strict=True)],
        )

    layout = _layout(
        height=90 + 42 * len(swings),
        barmode="overlay",
        bargap=0.35,
        xaxis={"title": {"text": "payback (months)"}, "zeroline": False,
               "range": [max(min(ends) - pad, 0.0), max(ends) + pad]},
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": -0.3 if len(swings) < 4 else -0.18},
        shapes=[{"type": "line", "x0": base, "x1": base, "y0": -0.5, "y1": len(swings) - 0.5,
                 "line": {"color": "#1f2933", "width": 2}}],
        annotations=[{"x": base, "y": -0.5, "yanchor": "bottom", "text": f"today {base:,.1f}",
                      "showarrow": False, "font": {"size": 12}}],
    )
    figure = go.Figure(data=[bars("input −20 %", LOWER_COLOUR, [s.lower for s in swings]),
                             bars("input +20 %", HIGHER_COLOUR, [s.higher for s in swings])], layout=layout)
    return str(figure.to_json())



TODAY_COLOUR = "#CC3311"
DAY_MS = 86_400_000
# A milestone (0 days) would be an invisible bar: it is drawn a third of a day wide (its hover keeps
# the dates).
SHORTEST_DAYS = 0.35
# A band's label is cut to what fits over it, taking the plot as 700 px wide (a laptop screen less the
# row labels) and 6.5 px a character of 11 px type; narrower screens may crop it, its hover has it whole.
PLOT_PX, CHAR_PX = 700, 6.5


@dataclass(frozen=True)
class Span:
    """One bar of a timeline: on a row, from a start to an end date, in its category's colour."""

    row: str  # the row's key; spans with the same key share the row
    label: str  # what the axis shows for the row
    start: date
    end: date
    category: str
    hover: str
    url: str | None = None
    outline: str | None = None  # a colour drawn round the bar (the critical path, a late phase)
    hatched: bool = False  # a pattern over the colour (blocked), readable without telling colours apart


@dataclass(frozen=True)
class Band:
    """A labelled stretch of dates behind the bars: a phase."""

    start: date
    end: date
    label: str


def _fitted(text: str, days: int, range_days: int) -> str:
    room = int(max(days, 1) / max(range_days, 1) * PLOT_PX / CHAR_PX)
    return text if len(text) <= room else text[: max(room - 1, 2)].rstrip() + "…"


def timeline_chart(spans: Sequence[Span], *, colours: Mapping[str, str], today: date,
                   bands: Sequence[Band] = ()) -> str:
    """Bars from start to end date, one row per key in the given order, over shaded bands; a line at today."""
    rows = list(dict.fromkeys(s.row for s in spans))
    labels = {s.row: s.label for s in spans}
    traces = []
    for category, colour in colours.items():
        group = [s for s in spans if s.category == category]
        if not group:
            continue
        traces.append(go.Bar(
            name=category, orientation="h", y=[s.row for s in group],
            x=[max((s.end - s.start).days, SHORTEST_DAYS) * DAY_MS for s in group],
            base=[s.start.isoformat() for s in group],
            marker={"color": colour,
                    "line": {"color": [s.outline or colour for s in group],
                             "width": [2.5 if s.outline else 0 for s in group]},
                    "pattern": {"shape": ["/" if s.hatched else "" for s in group],
                                "fgcolor": "#1f2933", "fgopacity": 0.45, "size": 7}},
            customdata=[[s.url or "", s.hover] for s in group],
            hovertemplate="%{customdata[1]}<extra></extra>",
        ))
    first = min([s.start for s in spans] + [b.start for b in bands] + [today])
    last = max([s.end for s in spans] + [b.end for b in bands] + [today])
    pad = timedelta(days=max(2, (last - first).days // 40))
    range_days = (last - first).days + 2 * pad.days
    # Every other band is shaded, so where one phase ends and the next begins shows without a legend.
    shapes: list[dict[str, object]] = [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": b.start.isoformat(), "x1": b.end.isoformat(),
         "y0": 0, "y1": 1, "layer": "below", "line": {"width": 0}, "fillcolor": "#eef2f6"}
        for b in bands[::2]]
    annotations: list[dict[str, object]] = [
        {"x": (b.start + (b.end - b.start) / 2).isoformat(), "xref": "x", "y": 1, "yref": "paper",
         "yanchor": "bottom", "text": _fitted(b.label, (b.end - b.start).days, range_days),
         "hovertext": b.label, "showarrow": False, "font": {"size": 11, "color": "#616e7c"}}
        for b in bands]
    shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": today.isoformat(),
                   "x1": today.isoformat(), "y0": 0, "y1": 1,
                   "line": {"color": TODAY_COLOUR, "width": 2, "dash": "dash"}})
    annotations.append({"x": today.isoformat(), "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom",
                        "yshift": 16 if bands else 0, "text": f"today {today:%d %b}", "showarrow": False,
                        "font": {"size": 12, "color": TODAY_COLOUR}})
    layout = _layout(
        height=130 + 28 * len(rows),
        barmode="overlay",
        bargap=0.3,
        xaxis={"type": "date", "range": [(first - pad).isoformat(), (last + pad).isoformat()],
               "showgrid": True, "zeroline": False},
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": rows, "autorange": "reversed",
               "tickmode": "array", "tickvals": rows, "ticktext": [labels[r] for r in rows],
               "automargin": True},
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        shapes=shapes,
        annotations=annotations,
    )
    layout.update(margin={"l": 10, "r": 20, "t": 52 if bands else 36, "b": 70})
    return str(go.Figure(data=traces, layout=layout).to_json())


# Lineage nodes by kind, in Okabe-Ito colours: sources blue, data sets orange, use cases green.
FLOW_COLOURS = {"source": "#0072B2", "dataset": "#E69F00", "usecase": "#009E73"}
FLOW_OTHER = "#999999"
FLOW_LINK = "rgba(97, 110, 124, 0.28)"
FLOW_LINK_RECORDED = "rgba(0, 158, 115, 0.35)"


@dataclass(frozen=True)
class FlowNode:
    """A node of a flow chart: a key the links name, the text shown, its kind (the colour), a page."""

    key: str
    label: str
    kind: str
    hover: str
    url: str | None = None


@dataclass(frozen=True)
class FlowLink:
    """A link between two nodes, by key, with the words shown on hover; recorded ones are tinted."""

    upstream: str
    downstream: str
    label: str
    recorded: bool = False


SANKEY_PAD, SANKEY_THICKNESS, SANKEY_MARGIN = 18, 16, 10
SANKEY_ROW_PX = 46
# A link's label is cut to this many characters on the chart; its hover and the table have it whole.
LINK_LABEL_CHARS = 36


@dataclass
class _Placed:
    """Where plotly.js will draw a node: its column, and its top and bottom in pixels from the plot's top."""

    column: int
    value: int
    top: float = 0.0
    bottom: float = 0.0

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def sankey_chart(nodes: Sequence[FlowNode], links: Sequence[FlowLink]) -> str:
    """Nodes in columns from upstream to downstream, a band of equal width per link, each band labelled.

    plotly.js draws a band's label only on hover. To print it on the band, the nodes are placed here
    the way plotly.js's d3-sankey would size them (each node as tall as its busier side, one unit a
    link; columns "justified", so every node without outputs sits in the last column), their centres
    handed over as node x and y with the arrangement fixed, and each label put at its band's middle.
    """
    index = {node.key: i for i, node in enumerate(nodes)}
    height = max(260, 70 + SANKEY_ROW_PX * _fullest_column(nodes, links))
    placed = _place(nodes, links, height - 2 * SANKEY_MARGIN)
    columns = max((p.column for p in placed.values()), default=0)

    def x_of(key: str) -> float:
        # Kept off 0 and 1: plotly.js ignores a node position of 0, and a node centred on the edge is cut.
        return 0.01 + 0.98 * (placed[key].column / columns if columns else 0.5)

    plot_height = height - 2 * SANKEY_MARGIN
    sankey = go.Sankey(
        arrangement="fixed",
        node={
            "label": [node.label for node in nodes],
            "color": [FLOW_COLOURS.get(node.kind, FLOW_OTHER) for node in nodes],
            "customdata": [[node.url or "", node.hover] for node in nodes],
            "hovertemplate": "<b>%{label}</b><br>%{customdata[1]}<extra></extra>",
            "x": [x_of(node.key) for node in nodes],
            "y": [placed[node.key].middle / plot_height for node in nodes],
            "pad": SANKEY_PAD,
            "thickness": SANKEY_THICKNESS,
            "line": {"color": "#ffffff", "width": 1},
        },
        link={
            "source": [index[link.upstream] for link in links],
            "target": [index[link.downstream] for link in links],
            # Every link counts once: the chart shows what feeds what, not how many rows flow.
            "value": [1] * len(links),
            "label": [link.label for link in links],
            "color": [FLOW_LINK_RECORDED if link.recorded else FLOW_LINK for link in links],
            "hovertemplate": "%{source.label} → %{target.label}<br><b>%{label}</b><extra></extra>",
        },
    )
    annotations = [
        {
            "x": (x_of(link.upstream) + x_of(link.downstream)) / 2,
            "y": 1 - middle / plot_height,
            "xref": "paper",
            "yref": "paper",
            "text": _fitted_text(link.label, LINK_LABEL_CHARS),
            "hovertext": link.label,
            "showarrow": False,
            "xanchor": "center",
            "yanchor": "middle",
            "font": {"size": 11, "color": "#1f2933"},
            "bgcolor": "rgba(255, 255, 255, 0.85)",
            "borderpad": 2,
        }
        for link, middle in zip(links, _band_middles(links, placed), strict=True)
        if link.label
    ]
    layout = _layout(height=height, annotations=annotations)
    layout.update(margin={"l": SANKEY_MARGIN, "r": SANKEY_MARGIN, "t": SANKEY_MARGIN, "b": SANKEY_MARGIN})
    return str(go.Figure(data=[sankey], layout=layout).to_json())


def _fitted_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _depths(nodes: Sequence[FlowNode], links: Sequence[FlowLink]) -> dict[str, int]:
    """Each node's longest path from a node without inputs (d3-sankey's depth), bounded for cycles."""
    depth = {node.key: 0 for node in nodes}
    for _ in range(len(nodes)):
        changed = False
        for link in links:
            if depth[link.downstream] < depth[link.upstream] + 1 <= len(nodes):
                depth[link.downstream] = depth[link.upstream] + 1
                changed = True
        if not changed:
            break
    return depth


def _columns(nodes: Sequence[FlowNode], links: Sequence[FlowLink]) -> dict[str, int]:
    """d3-sankey's "justify" columns: a node's depth, but every node without outputs in the last column."""
    depth = _depths(nodes, links)
    last = max(depth.values(), default=0)
    feeding = {link.upstream for link in links}
    return {key: value if key in feeding else last for key, value in depth.items()}


def _fullest_column(nodes: Sequence[FlowNode], links: Sequence[FlowLink]) -> int:
    """How many nodes share a column at most."""
    counts: dict[int, int] = defaultdict(int)
    for column in _columns(nodes, links).values():
        counts[column] += 1
    return max(counts.values(), default=1)


def _place(nodes: Sequence[FlowNode], links: Sequence[FlowLink], plot_height: float) -> dict[str, _Placed]:
    """Each node's column, size and place: in its column, near the nodes it links to, so bands cross less."""
    ins: dict[str, int] = defaultdict(int)
    outs: dict[str, int] = defaultdict(int)
    for link in links:
        outs[link.upstream] += 1
        ins[link.downstream] += 1
    columns = _columns(nodes, links)
    placed = {n.key: _Placed(columns[n.key], max(ins[n.key], outs[n.key], 1)) for n in nodes}
    stacks: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        stacks[placed[node.key].column].append(node.key)
    # As d3-sankey sizes them: one scale for every column, set by the one that needs the most room.
    unit = min(
        (
            (plot_height - (len(keys) - 1) * SANKEY_PAD) / sum(placed[k].value for k in keys)
            for keys in stacks.values()
        ),
        default=1.0,
    )

    def stack(keys: list[str]) -> None:
        total = sum(placed[k].value for k in keys) * unit + (len(keys) - 1) * SANKEY_PAD
        top = (plot_height - total) / 2
        for key in keys:
            placed[key].top, placed[key].bottom = top, top + placed[key].value * unit
            top = placed[key].bottom + SANKEY_PAD

    def neighbours_middle(key: str, upstream: bool) -> float:
        ends = [
            placed[link.upstream if upstream else link.downstream].middle
            for link in links
            if (link.downstream if upstream else link.upstream) == key
        ]
        return sum(ends) / len(ends) if ends else placed[key].middle

    def settle(keys: list[str], wanted: Mapping[str, float]) -> None:
        # Each node as near the middle of its neighbours as it can be without overlapping another
        # (d3-sankey's relaxation and collision rule): pushed down past the one above, then back up
        # from the bottom edge.
        keys.sort(key=wanted.__getitem__)
        floor = 0.0
        for key in keys:
            size = placed[key].bottom - placed[key].top
            placed[key].top = max(wanted[key] - size / 2, floor)
            placed[key].bottom = placed[key].top + size
            floor = placed[key].bottom + SANKEY_PAD
        ceiling = plot_height
        for key in reversed(keys):
            size = placed[key].bottom - placed[key].top
            placed[key].bottom = min(placed[key].bottom, ceiling)
            placed[key].top = placed[key].bottom - size
            ceiling = placed[key].top - SANKEY_PAD

    order = sorted(stacks)
    for keys in stacks.values():
        stack(keys)
    # Three sweeps, as d3-sankey relaxes: each column moved towards the nodes it links to.
    forward, backward = order[1:], order[-2::-1]
    for sweep, upstream in ((forward, True), (backward, False), (forward, True)):
        for column in sweep:
            settle(stacks[column], {key: neighbours_middle(key, upstream) for key in stacks[column]})
    return placed


def _band_middles(links: Sequence[FlowLink], placed: Mapping[str, _Placed]) -> list[float]:
    """The vertical middle of each link's band, half way between its ends, as d3-sankey stacks them."""
    by_source: dict[str, list[int]] = defaultdict(list)
    by_target: dict[str, list[int]] = defaultdict(list)
    for i, link in enumerate(links):
        by_source[link.upstream].append(i)
        by_target[link.downstream].append(i)
    unit = {key: (p.bottom - p.top) / p.value for key, p in placed.items()}
    start, end = [0.0] * len(links), [0.0] * len(links)
    for key, indices in by_source.items():
        offset = placed[key].top
        for i in sorted(indices, key=lambda i: placed[links[i].downstream].top):
            start[i] = offset + unit[key] / 2
            offset += unit[key]
    for key, indices in by_target.items():
        offset = placed[key].top
        for i in sorted(indices, key=lambda i: placed[links[i].upstream].top):
            end[i] = offset + unit[key] / 2
            offset += unit[key]
    return [(a + b) / 2 for a, b in zip(start, end, strict=True)]
