"""The data readiness pages: catalog, source, audit report, gap list and lineage, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from phasegate.data import audits, catalog, contracts
from phasegate.data.schemas import DataSourceSpec
from phasegate.identity.service import local_operator
from phasegate.store import Store
from phasegate.web.auth import login_url
from tests.conftest import Users
from tests.web.conftest import csrf_of, log_in

OPERATOR = local_operator("t")
SUPPLIERS_URL = "postgresql://reader:s3cret@db.internal/erp#public.suppliers"
INVOICES_CONTRACT: dict[str, Any] = {
    "kind": "DataContract",
    "id": "invoices-contract",
    "source": "invoices",
    "columns": {
        "invoice_id": {"type": "integer", "unique": True, "not_null": True},
        "amount": {"max_null_rate": 0.01, "min": 0},
        "currency": {"allowed": ["EUR", "USD"]},
        "contact": {"classification": "confidential"},
    },
    "rules": [{"name": "amount is positive", "expression": "amount > 0", "max_failure_rate": 0.5}],
}
# How long the run-audit test waits for the background job before it fails.
JOB_DEADLINE_S = 30


def write_invoices(path: Path, *, with_emails: bool = True) -> Path:
    """40 invoices: a third without an amount, a quarter with the currency in lower case, some e-mails."""
    lines = ["invoice_id,amount,currency,contact"]
    for n in range(40):
        amount = "" if n % 3 == 0 else f"{10 + n * 1.5}"
        currency = "eur" if n % 4 == 0 else "EUR"
        contact = "someone@example.com" if with_emails and n % 5 == 0 else "accounts payable"
        lines.append(f"{n},{amount},{currency},{contact}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_claims(path: Path) -> Path:
    """20 claims, missing 40 % of their handler: completeness below the 90 % blocker line."""
    lines = ["claim_id,handler,amount"]
    lines += [f"C{n},{'' if n % 5 < 2 else 'h' + str(n % 3)},{100 + n}" for n in range(20)]
    path.write_text("\n".join(lines) + "\n")
    return path


def figure_of(page: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{element_id}" data-figure="([^"]+)"', page)
    assert match, f"no figure {element_id}"
    figure: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return figure


def row_of(page: str, table_id: str, data_id: str) -> str:
    """The row of one record in a table."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table {table_id}"
    match = re.search(rf'<tr data-id="{re.escape(data_id)}".*?</tr>', table.group(0), re.S)
    assert match, f"no row {data_id} in {table_id}"
    return match.group(0)


def ids_in(page: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    return re.findall(r'<tr data-id="([^"]+)"', table.group(0)) if table else []


def text_of(fragment: str) -> str:
    """The words of some HTML, tags dropped and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.fixture
def data(store: Store, seeded: list[str], tmp_path: Path) -> dict[str, Any]:
    """Three catalog sources: invoices (contract, audited), claims (audited), suppliers (never audited)."""
    invoices = write_invoices(tmp_path / "invoices.csv")
    claims = write_claims(tmp_path / "claims.csv")
    with store.transaction() as session:
        catalog.apply_source(
            session,
            actor=OPERATOR,
            spec=DataSourceSpec(
                id="invoices",
                name="Supplier invoices",
                location=str(invoices),
                owner="dana",
                classification="internal",
                system="ERP",
                freshness_target="26h",
                usecases=["invoice-extraction"],
                lineage=[{"upstream": "dataset:erp_raw", "transformation": "nightly export"}],
            ),
        )
        catalog.apply_contract(session, actor=OPERATOR, spec=contracts.parse_contract(INVOICES_CONTRACT))
        catalog.apply_source(
            session,
            actor=OPERATOR,
            spec=DataSourceSpec(
                id="claims",
                location=str(claims),
                owner="li.wei",
                classification="confidential",
                usecases=["claims-triage", "kb-search"],
            ),
        )
        catalog.apply_source(
            session, actor=OPERATOR, spec=DataSourceSpec(id="suppliers", location=SUPPLIERS_URL, owner="eve")
        )
    with store.transaction() as session:
        invoices_audit = audits.audit_source(session, actor=OPERATOR, source_id="invoices").id
        claims_audit = audits.audit_source(session, actor=OPERATOR, source_id="claims").id
    return {"invoices": invoices, "invoices_audit": invoices_audit, "claims_audit": claims_audit}


@pytest.fixture
def viewer(app_client: TestClient, users: Users, data: dict[str, Any]) -> TestClient:
    users.token("vera", "viewer")
    assert log_in(app_client, "vera").status_code == 303
    return app_client


@pytest.fixture
def lead(app_client: TestClient, users: Users, data: dict[str, Any]) -> TestClient:
    users.token("pat", "program-lead")
    assert log_in(app_client, "pat").status_code == 303
    return app_client


def api_source(client: TestClient, users: Users, source_id: str) -> dict[str, Any]:
    """The API's view of a source, read with a token of its own."""
    headers = users.headers(f"api-{source_id}", "viewer")
    response = client.get(f"/api/v1/data/sources/{source_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post_audit(client: TestClient, source_id: str, *, htmx: bool = True, token: str | None = None) -> Any:
    if token is None:
        token = csrf_of(client.get(f"/data/sources/{source_id}").text)
    return client.post(
        f"/data/sources/{source_id}/audit",
        data={"csrf_token": token},
        headers={"HX-Request": "true"} if htmx else {},
        follow_redirects=False,
    )


def poll_until_done(client: TestClient, job_id: str) -> str:
    """Poll the job's progress panel as htmx does, until it stops asking to be polled (at most 30 s)."""
    deadline = time.monotonic() + JOB_DEADLINE_S
    while True:
        response = client.get(f"/data/jobs/{job_id}/progress", headers={"HX-Request": "true"})
        assert response.status_code == 200, response.text
        if 'hx-trigger="every 500ms"' not in response.text:
            text: str = response.text
            return text
        assert time.monotonic() < deadline, f"job {job_id} still running after {JOB_DEADLINE_S} s"
        time.sleep(0.2)


# --- the login ---


@pytest.mark.parametrize(
    "path",
    [
        "/data",
        "/data/sources/invoices",
        "/data/gaps?severity=blocker",
        "/data/lineage",
        "/data/audits/audit-000000000000/report",
        "/data/jobs/job-000000000000/progress",
    ],
)
def test_data_pages_need_a_login(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == login_url(path)


def test_run_audit_needs_a_login_before_anything_starts(app_client: TestClient, data: dict[str, Any]) -> None:
    token = csrf_of(app_client.get("/login").text)

    response = post_audit(app_client, "invoices", htmx=False, token=token)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_header_links_to_the_data_pages(viewer: TestClient) -> None:
    page = viewer.get("/data").text

    assert '<a href="/data" aria-current="page">Data</a>' in page
    assert 'href="/data/gaps"' in page and 'href="/data/lineage"' in page


# --- the catalog ---


def test_catalog_lists_every_source_with_owner_classification_location_and_use_cases(
    viewer: TestClient,
) -> None:
    page = viewer.get("/data").text

    assert ids_in(page, "catalog-table") == ["claims", "invoices", "suppliers"]
    invoices = row_of(page, "catalog-table", "invoices")
    assert "Supplier invoices" in invoices and ">dana<" in invoices
    assert 'class="badge class-internal"' in invoices
    assert "invoices.csv</code>" in invoices
    assert (
        '<a href="/usecases/invoice-extraction" title="Invoice field extraction">invoice-extraction</a>'
        in invoices
    )
    claims = row_of(page, "catalog-table", "claims")
    assert "claims-triage</a>, " in claims and "kb-search</a>" in claims
    assert "n = 3 sources, 2 audited" in page


def test_catalog_shows_the_newest_audits_headline_as_the_api_reports_it(
    viewer: TestClient, users: Users, data: dict[str, Any]
) -> None:
    page = viewer.get("/data").text
    summary = api_source(viewer, users, "invoices")["audits"][0]["summary"]

    row = row_of(page, "catalog-table", "invoices")
    assert f'href="/data/audits/{data["invoices_audit"]}/report"' in row
    assert f"n = {summary['rows']} rows, {summary['columns']} columns" in row
    checks = summary["checks"]
    total = checks["passed"] + checks["failed"] + checks["errors"]
    assert checks["failed"] > 0
    assert f'>{checks["failed"]}</span> <span class="muted">of {total}</span>' in row
    gaps = summary["gaps"]
    assert f">{gaps['blockers']}</span> / {gaps['degraders']}</td>" in row
    # Dimension scores as badges, ranked by the gap list's thresholds: 87.5 % consistency is a degrader.
    assert summary["quality"]["consistency"] == pytest.approx(0.875)
    assert 'class="badge dim dim-degrader"' in row and "consistency <b>87.5 %</b>" in row
    assert 'data-dimension="accuracy"' in row and "accuracy <b>not measured</b>" in row


def test_catalog_counts_open_gaps_and_links_to_them(viewer: TestClient, users: Users) -> None:
    page = viewer.get("/data").text
    open_gaps = api_source(viewer, users, "invoices")["gaps"]

    row = row_of(page, "catalog-table", "invoices")
    blockers = sum(1 for g in open_gaps if g["severity"] == "blocker")
    degraders = len(open_gaps) - blockers
    link = f'<a href="/data/gaps?source=invoices" title="{blockers} blockers, {degraders} degraders">'
    assert f"{link}{len(open_gaps)}</a>" in row
    assert blockers == 1 and "1 blocker</span>" in row


def test_catalog_says_which_source_was_never_audited_and_hides_a_database_password(
    viewer: TestClient,
) -> None:
    page = viewer.get("/data").text

    row = row_of(page, "catalog-table", "suppliers")
    assert "not audited yet" in row
    assert "postgresql://reader:***@db.internal/erp#public.suppliers" in row
    assert "s3cret" not in page


# --- a source ---


def test_source_page_shows_the_catalog_entry_and_who_relies_on_it(viewer: TestClient) -> None:
    page = viewer.get("/data/sources/invoices").text

    assert "<h1>Supplier invoices</h1>" in page
    facts = text_of(re.search(r'<dl class="facts">.*?</dl>', page, re.S).group(0))  # type: ignore[union-attr]
    assert "Owner dana" in facts and "System ERP" in facts and "Freshness target 26h" in facts
    assert "Classification internal" in facts
    assert "Use cases Invoice field extraction (invoice-extraction)" in facts
    assert "Comes from dataset:erp_raw (nightly export)" in facts
    # Optional fields left empty are named once rather than listed as dashes.
    assert "Format" not in facts
    assert "Not recorded yet: format, access, update frequency, volume, encoding, personal data held." in page


def test_source_page_shows_the_contract_one_check_a_row_with_the_newest_result(viewer: TestClient) -> None:
    page = viewer.get("/data/sources/invoices").text

    table = re.search(r'<table[^>]*id="contract-checks".*?</table>', page, re.S).group(0)  # type: ignore[union-attr]
    checks = re.findall(r'<tr data-check="([^"]+)"', table)
    assert checks == [
        "amount.max_null_rate",
        "amount.min",
        "contact.classification",
        "currency.allowed",
        "invoice_id.type",
        "invoice_id.not_null",
        "invoice_id.unique",
        "rule: amount is positive",
    ]

    def row(check: str) -> str:
        return re.search(rf'<tr data-check="{re.escape(check)}".*?</tr>', table, re.S).group(0)  # type: ignore[union-attr]

    assert "allowed: [EUR, USD]" in row("currency.allowed")
    assert 'class="badge check-fail"' in row("currency.allowed")
    assert "observed 0.35, limit 0.01; 14 rows" in row("amount.max_null_rate")
    assert 'class="badge check-pass"' in row("invoice_id.unique") and "unique: true" in row(
        "invoice_id.unique"
    )
    assert "not a check: masks examples" in row("contact.classification")
    assert "amount &gt; 0  (max_failure_rate: 0.5)" in row("rule: amount is positive")
    yaml_text = html.unescape(re.search(r'<pre class="yaml"><code>(.*?)</code></pre>', page, re.S).group(1))  # type: ignore[union-attr]
    assert yaml_text.startswith("kind: DataContract\nid: invoices-contract\nsource: invoices\n")


def test_source_page_lists_audit_history_snapshots_and_open_gaps(
    viewer: TestClient, users: Users, data: dict[str, Any]
) -> None:
    page = viewer.get("/data/sources/invoices").text
    api = api_source(viewer, users, "invoices")

    assert ids_in(page, "audit-history") == [a["id"] for a in api["audits"]] == [data["invoices_audit"]]
    history = row_of(page, "audit-history", data["invoices_audit"])
    assert f'<a href="/data/audits/{data["invoices_audit"]}/report">report</a>' in history
    assert ids_in(page, "snapshot-table") == [s["id"] for s in api["snapshots"]]
    assert len(api["snapshots"]) == 1
    gap_rows = re.findall(r'<tr data-id="(\d+)" data-severity="(\w+)"', page)
    assert [int(i) for i, _ in gap_rows] == [g["id"] for g in api["gaps"]]
    assert gap_rows[0][1] == "blocker"
    assert "email calls for confidential, the source is classified internal" in page


def test_source_page_offers_the_run_audit_button_with_its_form_token(viewer: TestClient) -> None:
    page = viewer.get("/data/sources/invoices").text

    form = re.search(r'<form method="post" action="/data/sources/invoices/audit".*?</form>', page, re.S)
    assert form, "no run-audit form"
    assert 'hx-post="/data/sources/invoices/audit"' in form.group(0)
    assert 'name="csrf_token"' in form.group(0) and ">Run audit</button>" in form.group(0)
    assert '<div id="audit-job"></div>' in page


def test_a_source_never_audited_says_so(viewer: TestClient) -> None:
    page = viewer.get("/data/sources/suppliers").text

    assert "No audits yet." in page and "No contract stored for this source." in page
    assert "postgresql://reader:***@db.internal" in page and "s3cret" not in page


def test_unknown_source_is_a_404_page(viewer: TestClient) -> None:
    response = viewer.get("/data/sources/no-such-source")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "no data source &#39;no-such-source&#39; in the catalog" in response.text


# --- the report ---


def test_audit_report_serves_the_stored_report(
    viewer: TestClient, store: Store, data: dict[str, Any]
) -> None:
    response = viewer.get(f"/data/audits/{data['invoices_audit']}/report")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with store.transaction() as session:
        assert response.text == audits.get_audit(session, audit_id=data["invoices_audit"]).report_html
    assert '<script src="/static/plotly.min.js"></script>' in response.text


def test_audit_report_downloads_with_plotly_inside(viewer: TestClient, data: dict[str, Any]) -> None:
    response = viewer.get(f"/data/audits/{data['invoices_audit']}/report?offline=true")

    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="{data["invoices_audit"]}.html"'
    assert '<script src="/static/plotly.min.js">' not in response.text and len(response.text) > 1_000_000


def test_unknown_audit_report_is_a_404(viewer: TestClient) -> None:
    response = viewer.get("/data/audits/audit-000000000000/report")

    assert response.status_code == 404
    assert "no data audit &#39;audit-000000000000&#39;" in response.text


# --- the gap list ---


def test_gap_list_puts_blockers_first_with_the_reason_and_the_audit_that_found_it(
    viewer: TestClient, users: Users, data: dict[str, Any]
) -> None:
    page = viewer.get("/data/gaps").text
    api = viewer.get("/api/v1/data/gaps", headers=users.headers("api", "viewer")).json()

    assert [int(i) for i in ids_in(page, "gap-table")] == [g["id"] for g in api["data"]]
    severities = re.findall(r'data-severity="(\w+)"', page)
    assert severities == sorted(severities, key=lambda s: s != "blocker")
    assert severities[0] == "blocker" and "degrader" in severities
    blockers = severities.count("blocker")
    assert f"n = {len(severities)} gaps: {blockers} blockers, {len(severities) - blockers} degraders" in page
    completeness = next(
        g for g in api["data"] if g["source"] == "claims" and g["key"] == "dimension:completeness"
    )
    row = row_of(page, "gap-table", str(completeness["id"]))
    assert 'class="badge severity-blocker"' in row
    assert "completeness below 90%" in row  # why it is ranked so
    assert f'<a href="/data/audits/{data["claims_audit"]}/report"' in row  # and the audit that found it
    assert '<a href="/data/sources/claims">claims</a>' in row and ">li.wei<" in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=claims", lambda g: g["source"] == "claims"),
        ("severity=degrader", lambda g: g["severity"] == "degrader"),
        ("owner=dana", lambda g: g["owner"] == "dana"),
        (
            "source=invoices&severity=blocker",
            lambda g: g["source"] == "invoices" and g["severity"] == "blocker",
        ),
    ],
)
def test_gap_filters_narrow_the_list(viewer: TestClient, users: Users, query: str, expected: Any) -> None:
    everything = viewer.get("/api/v1/data/gaps", headers=users.headers("api", "viewer")).json()["data"]

    page = viewer.get(f"/data/gaps?{query}").text

    wanted = [str(g["id"]) for g in everything if expected(g)]
    assert wanted and len(wanted) < len(everything)
    assert ids_in(page, "gap-table") == wanted
    assert f"{len(everything)} open in all" in page


def test_gap_status_filter_shows_resolved_gaps_once_a_new_audit_no_longer_finds_them(
    viewer: TestClient, store: Store, data: dict[str, Any]
) -> None:
    write_invoices(data["invoices"], with_emails=False)
    with store.transaction() as session:
        second = audits.audit_source(session, actor=OPERATOR, source_id="invoices").id

    open_page = viewer.get("/data/gaps?source=invoices").text
    resolved_page = viewer.get("/data/gaps?source=invoices&status=resolved").text
    all_page = viewer.get("/data/gaps?source=invoices&status=all").text

    assert "holds email values" not in open_page
    resolved = ids_in(resolved_page, "gap-table")
    assert len(resolved) == 1 and "holds email values" in resolved_page
    row = row_of(resolved_page, "gap-table", resolved[0])
    assert ">resolved</span>" in row
    assert f'<a href="/data/audits/{data["invoices_audit"]}/report"' in row  # found by the first audit
    assert f'last seen in <a href="/data/audits/{second}/report">' in row  # resolved by the second
    assert sorted(ids_in(all_page, "gap-table")) == sorted(ids_in(open_page, "gap-table") + resolved)
    assert '<option value="resolved" selected>' in resolved_page


def test_gap_filter_that_matches_nothing_says_so(viewer: TestClient) -> None:
    page = viewer.get("/data/gaps?owner=nobody").text

    assert "No gap matches these filters." in page and 'id="gap-table"' not in page


def test_htmx_gap_filter_gets_only_the_results_and_the_tidy_url(viewer: TestClient) -> None:
    response = viewer.get(
        "/data/gaps?source=claims&severity=&owner=&status=open", headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "<html" not in response.text and 'id="gap-table"' in response.text
    assert response.headers["HX-Push-Url"] == "/data/gaps?source=claims"


# --- lineage ---


def test_lineage_is_a_sankey_of_sources_data_sets_and_use_cases_with_labelled_links(
    viewer: TestClient, users: Users
) -> None:
    page = viewer.get("/data/lineage").text
    edges = viewer.get("/api/v1/data/lineage", headers=users.headers("api", "viewer")).json()["data"]

    figure = figure_of(page, "lineage-chart")
    sankey = figure["data"][0]
    assert sankey["type"] == "sankey"
    labels = sankey["node"]["label"]
    assert labels == [
        "source:claims",
        "source:invoices",
        "dataset:erp_raw",
        "usecase:claims-triage",
        "usecase:invoice-extraction",
        "usecase:kb-search",
    ]
    links = {
        (labels[s], labels[t]): label
        for s, t, label in zip(
            sankey["link"]["source"], sankey["link"]["target"], sankey["link"]["label"], strict=True
        )
    }
    assert links[("dataset:erp_raw", "source:invoices")] == "nightly export"
    # Declared and then seen by the audit: one band, named by what the audit did.
    assert links[("source:invoices", "usecase:invoice-extraction")] == "audited"
    assert len(links) == 4
    urls = dict(zip(labels, (c[0] for c in sankey["node"]["customdata"]), strict=True))
    assert urls["source:invoices"] == "/data/sources/invoices"
    assert urls["usecase:kb-search"] == "/usecases/kb-search" and urls["dataset:erp_raw"] == ""
    # The edge table has every edge, declared and recorded, as the API lists them.
    table_edges = re.findall(r'<tr data-upstream="([^"]+)" data-downstream="([^"]+)"', page)
    assert table_edges == [(e["upstream"], e["downstream"]) for e in edges]
    assert len(edges) == 7
    assert "2 sources, 1 data set, 3 use cases; 7 edges" in text_of(page)


def test_lineage_page_without_edges_says_how_to_declare_them(
    app_client: TestClient, users: Users, seeded: list[str]
) -> None:
    users.token("vera", "viewer")
    log_in(app_client, "vera")

    page = app_client.get("/data/lineage").text

    assert "No lineage yet." in page and "data-figure" not in page and "plotly.min.js" not in page


# --- running an audit ---


def test_run_audit_starts_a_job_whose_progress_ends_with_a_link_to_the_new_report(
    lead: TestClient, store: Store
) -> None:
    response = post_audit(lead, "claims")

    assert response.status_code == 202, response.text
    assert 'hx-trigger="every 500ms"' in response.text
    job_id = re.search(r'hx-get="/data/jobs/(job-[0-9a-f]+)/progress"', response.text).group(1)  # type: ignore[union-attr]
    assert "Auditing claims" in response.text and "<progress" in response.text

    done = poll_until_done(lead, job_id)

    with store.transaction() as session:
        newest = audits.audits_of(session, source_id="claims")[0]
        assert len(audits.audits_of(session, source_id="claims")) == 2
        assert newest.created_by == "pat"
        report = audits.get_audit(session, audit_id=newest.id).report_html  # lists leave the page out
    assert f'<a href="/data/audits/{newest.id}/report" id="new-report"' in done
    assert "Audit finished." in done and "20 rows" in done
    assert lead.get(f"/data/audits/{newest.id}/report").text == report
    assert ids_in(lead.get("/data/sources/claims").text, "audit-history")[0] == newest.id


def test_run_audit_without_javascript_goes_to_a_progress_page(lead: TestClient) -> None:
    response = post_audit(lead, "claims", htmx=False)

    assert response.status_code == 303
    progress = response.headers["location"]
    assert re.fullmatch(r"/data/jobs/job-[0-9a-f]+/progress", progress)
    page = lead.get(progress).text
    assert "<h1>Audit of claims</h1>" in page and 'id="audit-job"' in page
    poll_until_done(lead, progress.split("/")[3])
    assert 'id="new-report"' in lead.get(progress).text


def test_viewer_asking_for_an_audit_is_refused_with_403_and_the_reason(
    viewer: TestClient, store: Store
) -> None:
    partial = post_audit(viewer, "invoices")
    plain = post_audit(viewer, "invoices", htmx=False)

    assert partial.status_code == 403
    assert 'role="alert">Not started: vera may not data.audit; it needs one of:' in partial.text
    assert "<html" not in partial.text
    assert plain.status_code == 403 and "vera may not data.audit" in plain.text and "<html" in plain.text
    with store.transaction() as session:
        assert len(audits.audits_of(session, source_id="invoices")) == 1


def test_run_audit_without_the_csrf_token_is_refused(lead: TestClient, store: Store) -> None:
    response = lead.post("/data/sources/claims/audit", headers={"HX-Request": "true"}, follow_redirects=False)

    assert response.status_code == 403
    assert "sent without its security token" in response.text
    with store.transaction() as session:
        assert len(audits.audits_of(session, source_id="claims")) == 1


def test_run_audit_of_an_unknown_source_is_a_404(lead: TestClient) -> None:
    token = csrf_of(lead.get("/data").text)

    response = post_audit(lead, "no-such-source", token=token)

    assert response.status_code == 404
    assert "Not started: no data source &#39;no-such-source&#39;" in response.text


def test_progress_of_an_unknown_job_is_a_404(viewer: TestClient) -> None:
    response = viewer.get("/data/jobs/job-000000000000/progress")

    assert response.status_code == 404
    assert "no job &#39;job-000000000000&#39;" in response.text
