"""Data readiness's pages: the catalog, a source, its audit reports, the foundation gap list and lineage.

The rows come from the API's own views (``routes.source_view``, ``audit_view``, ``gap_view``,
``snapshot_view``), so a page and ``/api/v1/data`` cannot disagree. Audits started here run as the
same background jobs as the API's; the page polls the job's progress, which lives in the store.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, defer

from phasegate.api import SessionDep
from phasegate.data import audits, catalog, contracts, gaps, jobs, quality, routes
from phasegate.data.models import DataAudit, DataSource, Gap, LineageEdge
from phasegate.data.report import render
from phasegate.errors import PhasegateError
from phasegate.identity.roles import PERMISSIONS, Action
from phasegate.portfolio import service as portfolio_service
from phasegate.web import auth, charts
from phasegate.web.auth import PAGE_HEADERS, PagePrincipal
from phasegate.web.errors import is_htmx
from phasegate.web.templating import templates

router = APIRouter(include_in_schema=False)

DIMENSIONS = ("completeness", "accuracy", "consistency", "timeliness")
SEVERITIES = ("blocker", "degrader")
GAP_STATUSES = ("open", "resolved", "all")
HISTORY_SHOWN = SNAPSHOTS_SHOWN = 20
STAGE_WORDS = {
    "queued": "waiting to start",
    "read": "opening the source",
    "profile": "profiling every column",
    "contract": "checking the contract",
    "quality": "scoring the quality dimensions",
    "labels": "checking label consistency",
    "pii": "scanning for personal data",
    "store": "storing the audit",
    "done": "finished",
}
# A password in a database URL (postgresql://user:secret@host/db) is never shown on a page.
URL_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@/\s]+@")
# Column rule fields that mark how examples are shown rather than checking anything.
MASKING = ("classification", "pii")
NODE_KINDS = ("source", "dataset", "usecase")


def shown_location(text: str) -> str:
    """A location as a page may show it: any password in a URL masked."""
    return URL_PASSWORD.sub(r"\1:***@", text)


def _stamp(moment: datetime | str | None) -> str:
    """A moment as people read it in a log: 2025-03-04 09:30 UTC."""
    if moment is None:
        return "—"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _share(score: float) -> str:
    """A 0-1 score as a percentage with one decimal, the decimal dropped when it is zero: 87.5 %, 100 %."""
    return f"{100 * score:.1f}".removesuffix(".0") + " %"


# --- what an audit says, in a line ---


def dimension_badges(scores: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Each quality dimension's score, ranked by the same thresholds the gap list uses."""
    badges = []
    for name in [*DIMENSIONS, *(n for n in scores if n not in DIMENSIONS)]:
        if name not in scores:
            continue
        score = scores[name]
        if score is None:
            badges.append(
                {"name": name, "text": "not measured", "rank": "unmeasured", "title": "not measured"}
            )
            continue
        rank, title = "ok", f"{name} {_share(score)}: no gap"
        if name == "timeliness" or name in gaps.DIMENSION_THRESHOLDS:
            gap = gaps.dimension_gap(quality.Dimension(name, score))  # type: ignore[arg-type]
            if gap is not None:
                rank, title = gap.severity, f"{gap.severity}: {gap.reason}"
        badges.append({"name": name, "text": _share(score), "rank": rank, "title": title})
    return badges


def headline(view: Mapping[str, Any]) -> dict[str, Any]:
    """An audit (as ``routes.audit_view`` has it) in one line: rows, checks, gaps and dimension scores."""
    summary = view["summary"]
    checks = summary.get("checks", {})
    found = summary.get("gaps", {})
    return {
        "id": view["id"],
        "url": f"/data/audits/{view['id']}/report",
        "at": _stamp(view["created_at"]),
        "by": view["created_by"],
        "engine": view["engine"],
        "rows": summary.get("rows"),
        "columns": summary.get("columns"),
        "contract": summary.get("contract"),
        "passed": checks.get("passed", 0),
        "failed": checks.get("failed", 0),
        "errors": checks.get("errors", 0),
        "checks": sum(checks.get(k, 0) for k in ("passed", "failed", "errors")),
        "blockers": found.get("blockers", 0),
        "degraders": found.get("degraders", 0),
        "dimensions": dimension_badges(summary.get("quality", {})),
        "pii": summary.get("pii", []),
    }


def _audits() -> Select[Any]:
    # The stored report is a whole HTML page: lists and headlines never load it.
    return select(DataAudit).options(defer(DataAudit.report_html))


def newest_audits(session: Session) -> dict[str, DataAudit]:
    """The newest audit of each source that has one, without its report."""
    latest = (
        select(DataAudit.source_id, func.max(DataAudit.created_at).label("at"))
        .group_by(DataAudit.source_id)
        .subquery()
    )
    query = (
        _audits()
        .options(defer(DataAudit.details))
        .join(latest, (DataAudit.source_id == latest.c.source_id) & (DataAudit.created_at == latest.c.at))
    )
    newest: dict[str, DataAudit] = {}
    for record in session.scalars(query):
        newest.setdefault(record.source_id, record)
    return newest


def audit_history(session: Session, *, source_id: str, limit: int) -> tuple[list[DataAudit], int]:
    """A source's newest audits, without their reports, and how many it has in all."""
    query = _audits().where(DataAudit.source_id == source_id).order_by(DataAudit.created_at.desc())
    total = session.scalar(
        select(func.count()).select_from(DataAudit).where(DataAudit.source_id == source_id)
    )
    return list(session.scalars(query.limit(limit))), total or 0


def _usecase_names(session: Session) -> dict[str, str]:
    return {u.id: u.name for u in portfolio_service.get_all(session)}


# --- the catalog ---


def catalog_row(
    source: DataSource,
    newest: DataAudit | None,
    open_gaps: Counter[tuple[str, str]],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """A catalog source as the catalog table shows it: who, where, for whom, and how its data fares."""
    view = routes.source_view(source)
    spec = catalog.spec_of(source)
    blockers, degraders = open_gaps[(source.id, "blocker")], open_gaps[(source.id, "degrader")]
    return {
        **view,
        "url": f"/data/sources/{source.id}",
        "location": shown_location(view["location"]),
        "usecases": [{"id": u, "name": names.get(u, u), "url": f"/usecases/{u}"} for u in spec.usecases],
        "audit": headline(routes.audit_view(newest)) if newest is not None else None,
        "open_blockers": blockers,
        "open_degraders": degraders,
        "open_gaps": blockers + degraders,
        "gaps_url": "/data/gaps?" + urlencode({"source": source.id}),
    }


@router.get("/data")
def catalog_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Every catalog source with its owner, classification, use cases, newest audit and open gaps."""
    principal.require(Action.read)
    newest = newest_audits(session)
    open_gaps = Counter((g.source_id, g.severity) for g in audits.list_gaps(session, status="open"))
    names = _usecase_names(session)
    rows = [catalog_row(s, newest.get(s.id), open_gaps, names) for s in catalog.list_sources(session)]
    context = {
        "nav": "data",
        "tab": "catalog",
        "rows": rows,
        "audited": sum(1 for r in rows if r["audit"]),
        "open_blockers": sum(r["open_blockers"] for r in rows),
        "open_degraders": sum(r["open_degraders"] for r in rows),
    }
    return templates.TemplateResponse(request, "data/catalog.html", context, headers=PAGE_HEADERS)


# --- a source ---

# The catalog entry's fields in the order a data engineer reads them, with their labels.
SOURCE_FIELDS = (
    ("name", "Name"),
    ("system", "System"),
    ("owner", "Owner"),
    ("classification", "Classification"),
    ("location", "Location"),
    ("format", "Format"),
    ("access", "Access"),
    ("update_frequency", "Update frequency"),
    ("volume", "Volume"),
    ("freshness_target", "Freshness target"),
    ("encoding", "Encoding"),
    ("pii", "Personal data held"),
)
# Shown even when empty, since a missing owner or classification is itself worth seeing.
ALWAYS_SHOWN = ("name", "owner", "classification", "location")


def _yamlish(value: Any) -> str:
    """A value as YAML writes it inline: ``[EUR, USD]``, ``'^INV-[0-9]{8}$'``, ``true``."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6, allow_unicode=True)
    return text.strip().removesuffix("...").strip()


def _result(found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    status_ = found["status"]
    if status_ == "error":
        detail = found.get("error") or "could not run"
    elif status_ == "fail":
        detail = f"observed {_yamlish(found.get('observed'))}, limit {_yamlish(found.get('limit'))}"
        if found.get("violations"):
            detail += f"; {found['violations']:,} rows"
    else:
        detail = f"observed {_yamlish(found.get('observed'))}"
    return {"status": status_, "detail": detail}


def _psi_result(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    found = [r for check, r in results.items() if check == "distribution" or check.endswith(".psi")]
    if not found:
        return None
    counts = Counter(r["status"] for r in found)
    worst = "error" if counts["error"] else "fail" if counts["fail"] else "pass"
    detail = ", ".join(f"{counts[s]} {s}" for s in ("pass", "fail", "error") if counts[s])
    return {"status": worst, "detail": f"{detail} of {len(found)} column(s)"}


def contract_rows(
    document: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The contract as one row per check, written as in its YAML, with the newest audit's result of each."""
    spec = contracts.parse_contract(dict(document))
    rows: list[dict[str, Any]] = []
    for name, column_rule in spec.columns.items():
        for field, value in column_rule.model_dump(mode="json", exclude_defaults=True).items():
            masking = field in MASKING
            check = f"{name}.{field}"
            rows.append(
                {
                    "column": name,
                    "check": check,
                    "rule": f"{field}: {_yamlish(value)}",
                    "masking": masking,
                    "result": None if masking else _result(results.get(check)),
                }
            )
    for row_rule in spec.rules:
        check = f"rule: {row_rule.name}"
        rows.append(
            {
                "column": None,
                "check": check,
                "rule": f"{row_rule.expression}  (max_failure_rate: {_yamlish(row_rule.max_failure_rate)})",
                "masking": False,
                "result": _result(results.get(check)),
            }
        )
    if spec.freshness is not None:
        rule = _yamlish(spec.freshness.model_dump(mode="json", exclude_defaults=True))
        rows.append(
            {
                "column": spec.freshness.column,
                "check": "freshness",
                "rule": f"freshness: {rule}",
                "masking": False,
                "result": _result(results.get("freshness")),
            }
        )
    if spec.distribution is not None:
        rule = _yamlish(spec.distribution.model_dump(mode="json", exclude_defaults=True, exclude_none=True))
        rows.append(
            {
                "column": None,
                "check": "distribution",
                "rule": f"distribution: {rule}",
                "masking": False,
                "result": _psi_result(results),
            }
        )
    return rows


def contract_yaml(document: Mapping[str, Any]) -> str:
    """The stored contract as the YAML a team would keep next to its pipeline (kind, id and source first)."""
    first = ("kind", "id", "source", "description", "freshness", "columns", "rules", "distribution")
    ordered = {k: document[k] for k in first if k in document}
    ordered.update({k: v for k, v in document.items() if k not in ordered})
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)


def _contract_panel(session: Session, source_id: str, newest: DataAudit | None) -> dict[str, Any] | None:
    stored = catalog.contract_for(session, source_id=source_id)
    if stored is None:
        return None
    checked = newest.details.get("contract") if newest is not None else None
    # Results only count when the newest audit ran this contract, not one sent with the request.
    same = checked is not None and checked.get("contract") == stored.id
    results = {r["check"]: r for r in checked["results"]} if same and checked else {}
    return {
        "id": stored.id,
        "revision": stored.revision,
        "rows": contract_rows(stored.document, results),
        "yaml": contract_yaml(stored.document),
        "audit": newest.id if same and newest is not None else None,
    }


def gap_row(gap: Gap) -> dict[str, Any]:
    """A gap (as ``routes.gap_view`` has it) with links to its source and the audits that found it."""
    view = routes.gap_view(gap)
    return {
        **view,
        "source_url": f"/data/sources/{gap.source_id}",
        "first_url": f"/data/audits/{gap.first_audit}/report",
        "last_url": f"/data/audits/{gap.last_audit}/report",
        "first_seen_text": _stamp(view["first_seen"]),
        "resolved_text": _stamp(view["resolved_at"]) if view["resolved_at"] else None,
    }


def _facts(source: DataSource) -> list[dict[str, Any]]:
    document = catalog.spec_of(source).document()
    facts = []
    for key, label in SOURCE_FIELDS:
        value = document.get(key)
        if isinstance(value, list):
            value = ", ".join(value)
        if key == "location" and value:
            value = shown_location(value)
        facts.append({"key": key, "label": label, "value": value})
    return facts


def _audit_roles() -> str:
    return ", ".join(sorted(r.value for r in PERMISSIONS[Action.data_audit]))


@router.get("/data/sources/{source_id}")
def source_page(source_id: str, request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """A source: its catalog entry, contract, snapshots, audit history, open gaps and a button to audit it."""
    principal.require(Action.read)
    source = catalog.get_source(session, source_id=source_id)
    spec = catalog.spec_of(source)
    history, total = audit_history(session, source_id=source_id, limit=HISTORY_SHOWN)
    newest = history[0] if history else None
    names = _usecase_names(session)
    snapshots = audits.snapshots(session, source_id=source_id)
    context = {
        "nav": "data",
        "tab": "catalog",
        "source": routes.source_view(source),
        "facts": _facts(source),
        "always": ALWAYS_SHOWN,
        "usecases": [{"id": u, "name": names.get(u, u), "url": f"/usecases/{u}"} for u in spec.usecases],
        "lineage": [step.model_dump() for step in spec.lineage],
        "contract": _contract_panel(session, source_id, newest),
        "history": [headline(routes.audit_view(a)) for a in history],
        "history_total": total,
        "snapshots": [
            {**routes.snapshot_view(s), "at": _stamp(s.created_at)} for s in snapshots[:SNAPSHOTS_SHOWN]
        ],
        "snapshots_total": len(snapshots),
        "gaps": [gap_row(g) for g in audits.list_gaps(session, source_id=source_id, status="open")],
        "audit_roles": _audit_roles(),
        "job": None,
    }
    return templates.TemplateResponse(request, "data/source.html", context, headers=PAGE_HEADERS)


# --- running an audit ---


def _job_context(session: Session, view: Mapping[str, Any]) -> dict[str, Any]:
    result = None
    if view["status"] == "done" and view["result"]:
        record = session.scalars(
            _audits().options(defer(DataAudit.details)).where(DataAudit.id == view["result"])
        ).first()
        result = headline(routes.audit_view(record)) if record is not None else None
    return {
        "job": view,
        "stage": STAGE_WORDS.get(str(view["stage"]), str(view["stage"])),
        "result": result,
        "message": None,
    }


@router.post("/data/sources/{source_id}/audit", dependencies=[auth.CsrfChecked])
def run_audit(source_id: str, request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Start an audit as a background job; HTMX gets the progress panel, a plain form post its page."""
    try:
        job = jobs.start_audit(
            request.app.state.store, actor=principal, source_id=source_id, request=audits.AuditRequest()
        )
    except PhasegateError as error:
        if not is_htmx(request):
            raise
        # The panel says why nothing started; the status code says what kind of refusal it was.
        context = {"job": None, "stage": None, "result": None, "message": error.message}
        return templates.TemplateResponse(
            request, "data/_job.html", context, status_code=error.status_code, headers=PAGE_HEADERS
        )
    progress = f"/data/jobs/{job.id}/progress"
    if not is_htmx(request):
        return RedirectResponse(progress, status_code=status.HTTP_303_SEE_OTHER)
    context = _job_context(session, jobs.job_view(job))
    return templates.TemplateResponse(
        request, "data/_job.html", context, status_code=status.HTTP_202_ACCEPTED, headers=PAGE_HEADERS
    )


@router.get("/data/jobs/{job_id}/progress")
def job_progress(job_id: str, request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """A job's stage and progress, then a link to its report: HTMX polls the panel, browsers the page."""
    principal.require(Action.read)
    view = jobs.job_view(jobs.get_job(session, job_id=job_id))
    context = _job_context(session, view)
    if is_htmx(request):
        return templates.TemplateResponse(request, "data/_job.html", context, headers=PAGE_HEADERS)
    context.update({"nav": "data", "tab": "catalog"})
    return templates.TemplateResponse(request, "data/job.html", context, headers=PAGE_HEADERS)


@router.get("/data/audits/{audit_id}/report")
def audit_report(
    audit_id: str, session: SessionDep, principal: PagePrincipal, offline: bool = False
) -> Response:
    """The audit's stored HTML report; ``offline=true`` downloads it with plotly.js inside."""
    principal.require(Action.read)
    record = audits.get_audit(session, audit_id=audit_id)
    if not offline:
        return HTMLResponse(record.report_html, headers=PAGE_HEADERS)
    source = catalog.get_source(session, source_id=record.source_id)
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{audit_id}.html"'}
    return HTMLResponse(render(source, record, plotly_js="inline"), headers=headers)


# --- the foundation gap list ---


@dataclass(frozen=True)
class GapQuery:
    """What the gap list was asked for: a source, a severity, an owner and a status (open by default)."""

    source: str | None
    severity: str | None
    owner: str | None
    status: str

    @property
    def filtered(self) -> bool:
        return bool(self.source or self.severity or self.owner or self.status != "open")

    def url(self) -> str:
        """This query's URL, empty filters and the default status left out."""
        params = (("source", self.source), ("severity", self.severity), ("owner", self.owner))
        kept = {k: v for k, v in params if v}
        if self.status != "open":
            kept["status"] = self.status
        return "/data/gaps" + (f"?{urlencode(kept)}" if kept else "")


@router.get("/data/gaps")
def gaps_page(
    request: Request,
    session: SessionDep,
    principal: PagePrincipal,
    source: Annotated[str | None, Query()] = None,
    severity: Annotated[str | None, Query()] = None,
    owner: Annotated[str | None, Query()] = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> Response:
    """The foundation gap list, blockers first, with why each is ranked so and the audit that found it."""
    principal.require(Action.read)
    # An empty select sends "": that means no filter, as an absent parameter does.
    query = GapQuery(
        source=source or None,
        severity=severity or None,
        owner=owner or None,
        status=status_ if status_ in GAP_STATUSES else "open",
    )
    found = audits.list_gaps(
        session,
        source_id=query.source,
        status=None if query.status == "all" else query.status,
        severity=query.severity,
        owner=query.owner,
    )
    rows = [gap_row(g) for g in found]
    owners = sorted({o for o in session.scalars(select(Gap.owner).distinct()) if o}, key=str.casefold)
    context = {
        "nav": "data",
        "tab": "gaps",
        "query": query,
        "rows": rows,
        "counts": Counter(r["severity"] for r in rows),
        "total_open": len(audits.list_gaps(session, status="open")),
        "sources": [s.id for s in catalog.list_sources(session)],
        "severities": SEVERITIES,
        "statuses": GAP_STATUSES,
        "owners": owners,
    }
    partial = is_htmx(request)
    headers = {**PAGE_HEADERS, "Vary": "HX-Request"}
    if partial:
        headers["HX-Push-Url"] = query.url()
    name = "data/_gaps.html" if partial else "data/gaps.html"
    return templates.TemplateResponse(request, name, context, headers=headers)


# --- lineage ---


def node_kind(node: str) -> str:
    """What a lineage node is, from its prefix: source, dataset, usecase, or other for a free name."""
    kind, sep, _ = node.partition(":")
    return kind if sep and kind in NODE_KINDS else "other"


def _node(node: str, sources: Mapping[str, DataSource], usecases: Mapping[str, str]) -> charts.FlowNode:
    kind = node_kind(node)
    name = node.partition(":")[2]
    if kind == "source" and name in sources:
        owner = sources[name].owner
        hover = f"catalog source {sources[name].name}" + (f", owned by {owner}" if owner else "")
        return charts.FlowNode(node, node, kind, hover, f"/data/sources/{name}")
    if kind == "usecase" and name in usecases:
        return charts.FlowNode(node, node, kind, f"use case {usecases[name]}", f"/usecases/{name}")
    described = {
        "source": "a source not in the catalog",
        "dataset": "data set",
        "usecase": "unknown use case",
    }
    return charts.FlowNode(node, node, kind, described.get(kind, "named upstream"))


def lineage_chart(
    edges: Sequence[LineageEdge], sources: Mapping[str, DataSource], usecases: Mapping[str, str]
) -> str | None:
    """The lineage as a Sankey: one band per pair of nodes, labelled with what was done on the way."""
    if not edges:
        return None
    order = {kind: i for i, kind in enumerate((*NODE_KINDS, "other"))}
    keys = sorted(
        {e.upstream for e in edges} | {e.downstream for e in edges}, key=lambda n: (order[node_kind(n)], n)
    )
    nodes = [_node(key, sources, usecases) for key in keys]
    # A pair declared and also seen by an audit is one band, carrying both of its transformations.
    merged: dict[tuple[str, str], list[LineageEdge]] = {}
    for edge in edges:
        merged.setdefault((edge.upstream, edge.downstream), []).append(edge)
    links = []
    for (upstream, downstream), pair in merged.items():
        words = list(dict.fromkeys(e.transformation for e in pair if e.transformation))
        recorded = any(e.recorded_by == "audit" for e in pair)
        links.append(charts.FlowLink(upstream, downstream, ", ".join(words) or "used as is", recorded))
    return charts.sankey_chart(nodes, links)


def _node_url(node: str, sources: Mapping[str, DataSource], usecases: Mapping[str, str]) -> str | None:
    return _node(node, sources, usecases).url


@router.get("/data/lineage")
def lineage_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Where each source's data comes from and which use cases rely on it, as a Sankey and a table."""
    principal.require(Action.read)
    edges = catalog.lineage(session)
    sources = {s.id: s for s in catalog.list_sources(session)}
    usecases = _usecase_names(session)
    rows = [
        {
            "upstream": e.upstream,
            "downstream": e.downstream,
            "transformation": e.transformation,
            "recorded_by": e.recorded_by,
            "upstream_url": _node_url(e.upstream, sources, usecases),
            "downstream_url": _node_url(e.downstream, sources, usecases),
            "at": _stamp(e.created_at),
        }
        for e in edges
    ]
    nodes = {e.upstream for e in edges} | {e.downstream for e in edges}
    context = {
        "nav": "data",
        "tab": "lineage",
        "rows": rows,
        "nodes": Counter(node_kind(n) for n in nodes),
        "chart": lineage_chart(edges, sources, usecases),
    }
    return templates.TemplateResponse(request, "data/lineage.html", context, headers=PAGE_HEADERS)
