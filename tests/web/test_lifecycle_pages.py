"""The lifecycle pages: plan, Gantt chart, activities, gate and roadmap, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from phasegate.identity import audit
from phasegate.identity.service import Principal, local_operator
from phasegate.lifecycle import evidence, gating, plans
from phasegate.lifecycle.web import uncertainty
from phasegate.store import Store, now
from tests.conftest import Users
from tests.web.conftest import csrf_of, log_in

OPERATOR = local_operator("test")
AUDIT = {"gaps": {"blockers": 0}, "quality": {"completeness": 0.99}}
# Twenty days in: the 5-day first activity is 15 days overdue and the discover phase is under way.
DAYS_IN = 20
FIRST = "Pick 1-2 high-impact use cases"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def activity_id(store: Store, usecase_id: str, name: str) -> int:
    with store.transaction() as session:
        plan = plans.get(session, usecase_id=usecase_id)
        return next(a.id for a in plan.activities if a.name == name)


def row_of(html: str, activity: int) -> str:
    """The table row of one activity."""
    match = re.search(rf'<tr id="activity-{activity}".*?</tr>', html, re.S)
    assert match, f"no row for activity {activity}"
    return match.group(0)


def criterion_row(html: str, index: int) -> str:
    match = re.search(rf'<tr data-criterion="{index}".*?</tr>', html, re.S)
    assert match, f"no row for criterion {index}"
    return match.group(0)


def selected_status(row: str) -> str:
    match = re.search(r'<option value="([^"]+)" selected>', row)
    assert match, "no status selected"
    return match.group(1)


def figure_of(html: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{element_id}" data-figure="([^"]+)"', html)
    assert match, f"no figure {element_id}"
    text = match.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    figure: dict[str, Any] = json.loads(text)
    return figure


@pytest.fixture
def planned(store: Store, seeded: list[str]) -> dict[str, Any]:
    """Invoice extraction and claims triage on the 90-day playbook, 20 days in; a data audit published."""
    start = now().date() - timedelta(days=DAYS_IN)
    with store.transaction() as session:
        plans.start(
            session, actor=OPERATOR, usecase_id="invoice-extraction", playbook_id="ninety-day", start_on=start
        )
        plans.start(
            session, actor=OPERATOR, usecase_id="claims-triage", playbook_id="ninety-day", start_on=start
        )
        record = evidence.publish(
            session,
            actor=OPERATOR,
            usecase_id="invoice-extraction",
            kind="data.audit",
            producer="data.audit",
            payload=AUDIT,
        )
        phase = plans.get(session, usecase_id="invoice-extraction").phases[0]
        return {"evidence_id": record.id, "sha256": phase.criteria_hash, "start": start}


@pytest.fixture
def viewer(app_client: TestClient, users: Users, planned: dict[str, Any]) -> TestClient:
    users.token("vera", "viewer")
    assert log_in(app_client, "vera").status_code == 303
    return app_client


@pytest.fixture
def lead(app_client: TestClient, users: Users, planned: dict[str, Any]) -> TestClient:
    users.token("pat", "program-lead")
    assert log_in(app_client, "pat").status_code == 303
    return app_client


def post_status(
    client: TestClient, activity: int, status: str, *, htmx: bool = True, usecase: str = "invoice-extraction"
) -> Any:
    token = csrf_of(client.get(f"/usecases/{usecase}/lifecycle").text)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/usecases/{usecase}/lifecycle/activities/{activity}/status",
        data={"status": status, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


# --- the lifecycle page ---


def test_lifecycle_page_shows_the_phases_with_the_current_one_marked(
    viewer: TestClient, planned: dict[str, Any]
) -> None:
    response = viewer.get("/usecases/invoice-extraction/lifecycle")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert "Invoice field extraction: lifecycle" in html
    assert "playbook <strong>ninety-day</strong>" in html
    band = re.search(r'<ol class="phase-band">.*?</ol>', html, re.S)
    assert band
    phases = re.findall(r'<li class="phase phase-(\w+)"', band.group(0))
    assert phases == ["active", "pending", "pending"]
    assert band.group(0).count('aria-current="step"') == 1
    for name in ("Discover and de-risk", "Build and validate", "Productionize and scale"):
        assert name in band.group(0)
    assert "current phase" in band.group(0)


def test_lifecycle_page_lists_the_activities_with_an_editable_status_each(
    viewer: TestClient, store: Store
) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    rows = re.findall(r'<tr id="activity-(\d+)"', html)
    assert len(rows) == 19  # 6 + 6 + 7 activities in the 90-day playbook
    first = row_of(html, activity_id(store, "invoice-extraction", FIRST))
    assert FIRST in first
    assert 'hx-post="/usecases/invoice-extraction/lifecycle/activities/' in first
    assert 'hx-target="closest tr"' in first
    assert 'name="csrf_token"' in first
    assert selected_status(first) == "not started"
    for status in plans.STATUSES:
        assert f'<option value="{status}"' in first
    assert 'id="gantt-chart" data-figure=' in html
    assert '<script src="/static/plotly.min.js' in html


def test_page_and_api_agree_on_the_critical_path_and_what_is_late(
    viewer: TestClient, admin: dict[str, str]
) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text
    api = viewer.get("/api/v1/usecases/invoice-extraction/plan", headers=admin).json()

    critical = {
        int(i)
        for i in re.findall(
            r'<tr id="activity-(\d+)"[^>]*>\s*<td class="name">[^<]*'
            r'<span class="flags"><span class="badge flag-critical"',
            html,
        )
    }
    assert critical == set(api["critical_path"])
    overdue = {a["id"] for a in api["activities"] if a["overdue"]}
    assert overdue, "twenty days in, something of the discover phase is overdue"
    for activity in overdue:
        assert "overdue</span>" in row_of(html, activity)
    assert 'id="late-blocked"' in html


def test_overdue_activity_says_how_many_days_late(viewer: TestClient, store: Store) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    # 5 days planned from 20 days ago: it should have ended 15 days ago.
    first = row_of(html, activity_id(store, "invoice-extraction", FIRST))
    assert "15 days overdue" in first
    assert "is-overdue" in first


def test_blocked_activity_is_flagged_in_its_row_and_the_summary(viewer: TestClient, store: Store) -> None:
    blocked = activity_id(store, "invoice-extraction", "Architecture and vendor fit")
    with store.transaction() as session:
        plans.edit_activity(
            session, actor=OPERATOR, activity_id=blocked, change=plans.ActivityChange(status="blocked")
        )

    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    row = row_of(html, blocked)
    assert '<span class="badge flag-blocked">blocked</span>' in row
    assert selected_status(row) == "blocked"
    summary = re.search(r'<ul class="trouble" id="late-blocked">.*?</ul>', html, re.S)
    assert summary and 'Architecture and vendor fit</a>: <span class="badge flag-blocked">' in summary.group(
        0
    )
    figure = figure_of(html, "gantt-chart")
    hatched = [shape for trace in figure["data"] for shape in trace["marker"]["pattern"]["shape"] if shape]
    assert hatched


def test_gantt_chart_draws_every_activity_on_its_dates_with_a_today_line(
    viewer: TestClient, planned: dict[str, Any]
) -> None:
    figure = figure_of(viewer.get("/usecases/invoice-extraction/lifecycle").text, "gantt-chart")

    names = {trace["name"] for trace in figure["data"]}
    assert "overdue" in names and "not started" in names
    rows = {row for trace in figure["data"] for row in trace["y"]}
    assert len(rows) == 19
    bases = [b for trace in figure["data"] for b in trace["base"]]
    assert min(bases) == planned["start"].isoformat()
    today = now().date().isoformat()
    assert any(s["x0"] == today and s["line"]["color"] == "#CC3311" for s in figure["layout"]["shapes"])
    assert figure["layout"]["xaxis"]["type"] == "date"


def test_gate_panel_shows_a_criterion_passed_on_the_published_evidence_and_the_approval_missing(
    viewer: TestClient, planned: dict[str, Any]
) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    assert "Gate of Discover and de-risk" in html
    blockers = criterion_row(html, 1)
    assert '<span class="badge gate-pass">pass</span>' in blockers
    assert f"<code>{planned['evidence_id']}</code>" in blockers
    assert "data.audit, just now" in blockers or "data.audit, 1 minute ago" in blockers
    assert "== 0" in blockers and "gaps.blockers" in blockers
    completeness = criterion_row(html, 2)
    assert '<span class="badge gate-pass">pass</span>' in completeness
    assert "0.99" in completeness and "&gt;= 0.98" in completeness
    approval = criterion_row(html, 3)
    assert '<span class="badge gate-missing">missing</span>' in approval
    assert "approval by risk-owner" in approval
    assert "no sign-off by risk-owner yet" in approval
    assert "2 pass, 0 fail, 1 missing of 3 criteria" in html
    assert '<span class="badge gate-fail">not passed</span>' in html


def test_gate_panel_shows_the_frozen_criteria_version_and_hash(
    viewer: TestClient, planned: dict[str, Any]
) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    sha = planned["sha256"]
    assert len(sha) == 64
    assert f'<code title="{sha}">{sha[:12]}</code>' in html
    frozen = re.search(r'<p class="hint frozen" id="gate-frozen">(.*?)</p>', html, re.S)
    assert frozen and "Criteria version 1" in frozen.group(1)
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", frozen.group(1))


def test_gate_panel_lists_sign_offs_and_decisions(viewer: TestClient, store: Store) -> None:
    with store.transaction() as session:
        # k.osei is the risk owner named in the use case, so holds the role the approval needs.
        gating.approve(
            session,
            actor=Principal(name="k.osei"),
            usecase_id="invoice-extraction",
            criterion=3,
            approved=True,
            reason="guardrails reviewed with legal",
        )
        gating.decide(
            session,
            actor=OPERATOR,
            usecase_id="invoice-extraction",
            decision="go",
            reason="audit clean and signed off",
        )

    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    approvals = re.search(r'<table class="compact" aria-labelledby="h-approvals".*?</table>', html, re.S)
    assert approvals
    for text in ("k.osei", "risk-owner", "guardrails reviewed with legal", "approved"):
        assert text in approvals.group(0)
    decisions = re.search(r'<table class="compact" aria-labelledby="h-decisions".*?</table>', html, re.S)
    assert decisions
    for text in ("<strong>go</strong>", "os:test", "audit clean and signed off", "passed"):
        assert text in decisions.group(0)
    assert '<span class="badge gate-pass">pass</span>' in criterion_row(html, 3)
    assert '<span class="badge gate-pass">passes</span>' in html


def test_metric_uncertainty_is_read_from_beside_the_metric() -> None:
    payload = {"metrics": {"precision": {"value": 0.91, "ci_low": 0.87, "ci_high": 0.94, "n": 500}}}
    assert uncertainty(payload, "metrics.precision.ci_low") == "value 0.91, CI 0.87–0.94, n = 500"
    audit_payload = {"rows": 42000, "quality": {"completeness": 0.99}}
    assert uncertainty(audit_payload, "quality.completeness") == "n = 42,000"
    assert uncertainty(AUDIT, "gaps.blockers") is None


def test_evidence_is_listed_with_its_hash(viewer: TestClient, planned: dict[str, Any]) -> None:
    html = viewer.get("/usecases/invoice-extraction/lifecycle").text

    listing = re.search(r'<section class="card" aria-labelledby="h-evidence".*?</section>', html, re.S)
    assert listing and planned["evidence_id"] in listing.group(0)
    assert "n = 1" in listing.group(0)


def test_use_case_without_a_plan_says_how_to_start_one(viewer: TestClient) -> None:
    response = viewer.get("/usecases/kb-search/lifecycle")

    assert response.status_code == 200
    html = response.text
    assert "No plan yet" in html
    today = now().date().isoformat()
    assert f"phasegate plan start kb-search --playbook five-phase --start {today}" in html
    for playbook in ("four-phase", "five-phase", "six-phase", "ninety-day"):
        assert f'<td class="id">{playbook}</td>' in html
    assert "gantt-chart" not in html


def test_lifecycle_of_an_unknown_use_case_is_a_404_page(viewer: TestClient) -> None:
    response = viewer.get("/usecases/no-such-thing/lifecycle")

    assert response.status_code == 404
    assert "no use case &#39;no-such-thing&#39;" in response.text


def test_lifecycle_page_needs_a_login(app_client: TestClient) -> None:
    response = app_client.get("/usecases/invoice-extraction/lifecycle", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fusecases%2Finvoice-extraction%2Flifecycle"


def test_one_pager_links_to_the_lifecycle_page_and_the_nav_to_the_roadmap(viewer: TestClient) -> None:
    html = viewer.get("/usecases/invoice-extraction").text

    assert 'href="/usecases/invoice-extraction/lifecycle"' in html
    assert '<a href="/roadmap">Roadmap</a>' in html


# --- the inline status edit ---


def test_inline_status_edit_changes_the_status_and_returns_the_row(lead: TestClient, store: Store) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    response = post_status(lead, activity, "completed")

    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="activity-{activity}"')
    assert "<html" not in response.text
    assert selected_status(response.text) == "completed"
    assert 'role="status">Saved.' in response.text
    # Completed, so no longer overdue.
    assert "overdue" not in response.text
    again = row_of(lead.get("/usecases/invoice-extraction/lifecycle").text, activity)
    assert selected_status(again) == "completed"


def test_inline_status_edit_writes_an_audit_entry(lead: TestClient, store: Store) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    post_status(lead, activity, "in progress")

    with store.transaction() as session:
        entry = audit.entries(session, usecase_id="invoice-extraction", limit=1)[0]
        assert (entry.actor, entry.action, entry.target_id) == ("pat", "activity.edit", str(activity))
        assert entry.before and json.loads(entry.before)["status"] == "not started"
        assert entry.after and json.loads(entry.after)["status"] == "in progress"


def test_viewer_status_edit_is_refused_with_403_and_the_reason_in_the_row(
    viewer: TestClient, store: Store
) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    response = post_status(viewer, activity, "completed")

    assert response.status_code == 403
    assert response.text.lstrip().startswith(f'<tr id="activity-{activity}"')
    assert 'role="alert"' in response.text
    assert "Not changed: vera may not plan.edit on use case &#39;invoice-extraction&#39;" in response.text
    assert selected_status(response.text) == "not started"
    with store.transaction() as session:
        assert plans.get_activity(session, activity_id=activity).status == "not started"
        assert [e.action for e in audit.entries(session, actor="vera")] == []


def test_unknown_status_is_refused_with_422_in_the_row(lead: TestClient, store: Store) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    response = post_status(lead, activity, "done")

    assert response.status_code == 422
    assert "Not changed:" in response.text and 'aria-invalid="true"' in response.text
    assert selected_status(response.text) == "not started"


def test_status_form_without_javascript_goes_back_to_the_page(lead: TestClient, store: Store) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    response = post_status(lead, activity, "in progress", htmx=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/usecases/invoice-extraction/lifecycle#activity-{activity}"
    row = row_of(lead.get(response.headers["location"]).text, activity)
    assert selected_status(row) == "in progress"


def test_status_edit_without_the_csrf_token_is_refused(lead: TestClient, store: Store) -> None:
    activity = activity_id(store, "invoice-extraction", FIRST)

    response = lead.post(
        f"/usecases/invoice-extraction/lifecycle/activities/{activity}/status",
        data={"status": "completed"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 403
    with store.transaction() as session:
        assert plans.get_activity(session, activity_id=activity).status == "not started"


def test_status_edit_of_another_use_cases_activity_is_a_404(lead: TestClient, store: Store) -> None:
    theirs = activity_id(store, "claims-triage", FIRST)

    response = post_status(lead, theirs, "completed")

    assert response.status_code == 404
    with store.transaction() as session:
        assert plans.get_activity(session, activity_id=theirs).status == "not started"


# --- the roadmap ---


def roadmap_ids(html: str) -> list[str]:
    table = re.search(r'<table id="roadmap-table">.*?</table>', html, re.S)
    return re.findall(r'<tr data-id="([^"]+)"', table.group(0)) if table else []


def test_roadmap_shows_every_planned_use_case_on_one_timeline(viewer: TestClient) -> None:
    response = viewer.get("/roadmap")

    assert response.status_code == 200
    html = response.text
    assert roadmap_ids(html) == ["claims-triage", "invoice-extraction"]
    assert "n = 2 planned use cases" in html
    assert '<a href="/roadmap" aria-current="page">Roadmap</a>' in html
    figure = figure_of(html, "roadmap-chart")
    rows = [row for trace in figure["data"] for row in trace["y"]]
    assert len(rows) == 6  # three phases each
    assert {trace["name"] for trace in figure["data"]} == {"under way", "not started"}
    assert any(s["line"]["dash"] == "dash" for s in figure["layout"]["shapes"])
    assert 'href="/roadmap.xlsx"' in html


def test_roadmap_filters_by_business_unit(viewer: TestClient) -> None:
    html = viewer.get("/roadmap?business_unit=Claims").text

    assert roadmap_ids(html) == ["claims-triage"]
    assert "n = 1 planned use case matching the filters, of 2" in html
    assert '<option value="Claims" selected>' in html
    assert 'href="/roadmap.xlsx?business_unit=Claims"' in html
    rows = [row for trace in figure_of(html, "roadmap-chart")["data"] for row in trace["y"]]
    assert rows and all(row.startswith("claims-triage:") for row in rows)
    trouble = re.search(r'<table id="trouble-table">.*?</table>', html, re.S)
    assert trouble and "invoice-extraction" not in trouble.group(0)


def test_roadmap_filters_by_owner(viewer: TestClient) -> None:
    html = viewer.get("/roadmap?owner=maria.lopez").text

    assert roadmap_ids(html) == ["invoice-extraction"]
    assert '<option value="maria.lopez" selected>' in html


def test_roadmap_filter_that_matches_nothing_says_so(viewer: TestClient) -> None:
    html = viewer.get("/roadmap?business_unit=Customer+service").text

    assert roadmap_ids(html) == []
    assert "No planned use case matches these filters." in html


def test_htmx_roadmap_filter_gets_only_the_results_partial(viewer: TestClient) -> None:
    response = viewer.get("/roadmap?business_unit=Claims&owner=", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text
    assert roadmap_ids(response.text) == ["claims-triage"]
    assert response.headers["HX-Push-Url"] == "/roadmap?business_unit=Claims"
    assert "HX-Request" in response.headers["Vary"]


def test_roadmap_lists_overdue_and_blocked_activities_with_owner_and_days_late(
    viewer: TestClient, store: Store
) -> None:
    blocked = activity_id(store, "claims-triage", "Thin proof of viability")
    with store.transaction() as session:
        plans.edit_activity(
            session, actor=OPERATOR, activity_id=blocked, change=plans.ActivityChange(status="blocked")
        )

    html = viewer.get("/roadmap").text

    trouble = re.search(r'<table id="trouble-table">.*?</table>', html, re.S)
    assert trouble
    first = re.search(
        rf'<tr data-id="{activity_id(store, "invoice-extraction", FIRST)}">.*?</tr>', trouble.group(0), re.S
    )
    assert first
    # The use-case owner picks the use cases (program-lead has no owner field, so it falls back).
    assert "maria.lopez" in first.group(0)
    assert '<td class="num late-text">15</td>' in first.group(0)
    row = re.search(rf'<tr data-id="{blocked}">.*?</tr>', trouble.group(0), re.S)
    assert row and '<span class="badge flag-blocked">blocked</span>' in row.group(0)
    assert "li.wei" in row.group(0)


def test_roadmap_workbook_is_a_real_workbook_with_the_pages_filters(viewer: TestClient) -> None:
    response = viewer.get("/roadmap.xlsx?business_unit=Claims")

    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert 'filename="roadmap.xlsx"' in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Roadmap", "Activities", "Roadmap with Activities"]
    header = [cell.value for cell in book["Roadmap"][1]]
    rows = list(book["Roadmap"].iter_rows(min_row=2, values_only=True))
    usecases = {row[header.index("Use case")] for row in rows if any(row)}
    assert usecases == {"claims-triage"}


def test_roadmap_workbook_needs_a_login(app_client: TestClient, planned: dict[str, Any]) -> None:
    response = app_client.get("/roadmap.xlsx", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Froadmap.xlsx"


# --- adding, editing, moving and deleting activities ---

LIFECYCLE = "/usecases/invoice-extraction/lifecycle"
ACTIVITIES = f"{LIFECYCLE}/activities"
BASELINES = "Establish baselines and target outcomes"  # depends on FIRST in the 90-day playbook
NEW_ACTIVITY = {
    "phase": "discover",
    "name": "Interview the accounts payable team",
    "owner": "maria.lopez",
    "planned_start": "2030-01-06",
    "planned_end": "2030-01-10",
    "effort_hours": "12.5",
    "notes": "two sessions",
}


def post_form(client: TestClient, path: str, data: dict[str, Any], *, htmx: bool = True) -> Any:
    """Send one of the page's forms with the page's CSRF token, as htmx does or as a plain browser does."""
    token = csrf_of(client.get(LIFECYCLE).text)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(path, data={**data, "csrf_token": token}, headers=headers, follow_redirects=False)


def activity_names(store: Store, usecase_id: str = "invoice-extraction") -> list[str]:
    """The plan's activities by name, in the plan's order."""
    with store.transaction() as session:
        return [a.name for a in plans.get(session, usecase_id=usecase_id).activities]


def table_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="activity-(\d+)"', html)]


def test_each_activity_row_offers_edit_move_and_delete(viewer: TestClient, store: Store) -> None:
    html = viewer.get(LIFECYCLE).text

    ids = table_ids(html)
    first, second, last = row_of(html, ids[0]), row_of(html, ids[1]), row_of(html, ids[-1])
    base = f"{ACTIVITIES}/{ids[1]}"
    assert f'href="{base}/edit" hx-get="{base}/edit" hx-target="closest tr"' in second
    assert f'hx-post="{base}/move" hx-target="#activities"' in second
    assert '<input type="hidden" name="position" value="0">' in second
    assert '<input type="hidden" name="position" value="2">' in second
    assert f'hx-post="{base}/delete" hx-target="#activities"' in second
    assert f'hx-confirm="Delete “{BASELINES}”?' in second
    assert re.search(r'aria-label="Move [^"]+ up" title="Move up" disabled', first)
    assert re.search(r'aria-label="Move [^"]+ down" title="Move down" disabled', last)
    assert 'id="add-activity"' in html and f'action="{ACTIVITIES}"' in html
    assert '<option value="discover" selected>Discover and de-risk</option>' in html


def test_adding_an_activity_returns_the_table_with_it_last_and_the_chart_redrawn(
    lead: TestClient, store: Store
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)

    response = post_form(lead, ACTIVITIES, {**NEW_ACTIVITY, "depends_on": [str(first)]})

    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith(
        '<section class="card table-card" aria-labelledby="h-activities" id="activities">'
    )
    assert "<html" not in html
    assert "Added “Interview the accounts payable team”." in html
    added = activity_id(store, "invoice-extraction", NEW_ACTIVITY["name"])
    assert table_ids(html)[-1] == added
    assert FIRST in row_of(html, added)  # what it waits for
    # The chart and the effort table follow, swapped by id.
    assert '<section class="card chart-card" aria-labelledby="h-gantt" id="gantt" hx-swap-oob="true">' in html
    assert 'id="effort" hx-swap-oob="true"' in html
    assert len(figure_of(html, "gantt-chart")["data"]) > 0
    with store.transaction() as session:
        activity = plans.get_activity(session, activity_id=added)
        view = plans.activity_view(activity)
        assert (view["phase"], view["owner"], view["effort_hours"]) == ("discover", "maria.lopez", 12.5)
        assert (view["planned_start"], view["planned_end"]) == ("2030-01-06", "2030-01-10")
        assert (view["depends_on"], view["notes"]) == ([first], "two sessions")
        entry = audit.entries(session, usecase_id="invoice-extraction", limit=1)[0]
        assert (entry.actor, entry.action, entry.target_id) == ("pat", "activity.add", str(added))


def test_adding_an_activity_without_javascript_goes_back_to_the_page_at_it(
    lead: TestClient, store: Store
) -> None:
    response = post_form(lead, ACTIVITIES, NEW_ACTIVITY, htmx=False)

    assert response.status_code == 303
    added = activity_id(store, "invoice-extraction", NEW_ACTIVITY["name"])
    assert response.headers["location"] == f"{LIFECYCLE}#activity-{added}"
    assert NEW_ACTIVITY["name"] in row_of(lead.get(response.headers["location"]).text, added)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (
            {"planned_end": "2030-01-01"},
            "planned_end",
            "Planned end: 2030-01-01 is before the start 2030-01-06",
        ),
        (
            {"planned_start": "2030-13-40"},
            "planned_start",
            "Planned start: &#39;2030-13-40&#39; is not a date",
        ),
        ({"phase": "launch"}, "phase", "Phase: no phase &#39;launch&#39; in this plan"),
        ({"effort_hours": "-3"}, "effort_hours", "Effort hours: must not be negative"),
    ],
)
def test_an_invalid_activity_is_refused_beside_the_form_with_the_field_named_and_nothing_written(
    lead: TestClient, store: Store, change: dict[str, str], field: str, problem: str
) -> None:
    before = activity_names(store)

    response = post_form(lead, ACTIVITIES, {**NEW_ACTIVITY, **change})

    assert response.status_code == 422
    html = response.text
    assert '<div class="alert form-refusal" role="alert" id="add-refusal">' in html
    assert "Not added: activity &#39;Interview the accounts payable team&#39; is not valid" in html
    assert problem in html
    assert f'id="add-{field}"' in html
    assert re.search(rf'id="add-{field}"[^>]*aria-invalid="true" aria-describedby="add-{field}-error"', html)
    assert f'<span class="field-error" id="add-{field}-error">' in html
    # The form comes back open, with what was typed in it.
    assert '<details class="add-activity" id="add-activity" open>' in html
    assert 'value="Interview the accounts payable team"' in html
    assert "hx-swap-oob" not in html
    assert activity_names(store) == before


def test_edit_opens_the_row_as_a_form_filled_with_the_activity(lead: TestClient, store: Store) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)

    response = lead.get(f"{ACTIVITIES}/{first}/edit", headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith(f'<tr id="activity-{first}" data-id="{first}" class="activity-edit">')
    assert "<html" not in html
    assert f'hx-post="{ACTIVITIES}/{first}" hx-target="closest tr"' in html
    assert f'id="edit-{first}-name" name="name" value="{FIRST}"' in html
    assert '<option value="discover" selected>' in html
    start = (now().date() - timedelta(days=DAYS_IN)).isoformat()
    assert f'name="planned_start" value="{start}"' in html
    assert f'value="{first}"' not in html.split('name="depends_on"')[1]  # not itself
    assert f'hx-get="{ACTIVITIES}/{first}" hx-target="closest tr"' in html  # Cancel

    cancelled = lead.get(f"{ACTIVITIES}/{first}", headers={"HX-Request": "true"})
    assert cancelled.text.lstrip().startswith(
        f'<tr id="activity-{first}" data-id="{first}" class="activity-row'
    )


def test_saving_an_edit_returns_the_row_and_writes_an_audit_entry(lead: TestClient, store: Store) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    form = lead.get(f"{ACTIVITIES}/{first}/edit", headers={"HX-Request": "true"}).text
    start = re.search(r'name="planned_start" value="([^"]+)"', form)
    assert start

    response = post_form(
        lead,
        f"{ACTIVITIES}/{first}",
        {
            "phase": "discover",
            "name": "Pick the first use case",
            "owner": "ana.silva",
            "planned_start": start.group(1),
            "planned_end": "",
            "effort_hours": "6",
            "notes": "",
        },
    )

    assert response.status_code == 200
    row = response.text
    assert row.lstrip().startswith(f'<tr id="activity-{first}"')
    assert "Pick the first use case" in row and "ana.silva" in row
    assert 'role="status">Saved.' in row
    # The chart and the effort table follow, in a template so they parse beside the row.
    assert re.search(r'<template>\s*<section [^>]*id="gantt" hx-swap-oob="true">', row)
    assert "Pick the first use case" in json.dumps(figure_of(row, "gantt-chart"))
    with store.transaction() as session:
        view = plans.activity_view(plans.get_activity(session, activity_id=first))
        assert (view["name"], view["owner"], view["effort_hours"]) == (
            "Pick the first use case",
            "ana.silva",
            6,
        )
        entry = audit.entries(session, usecase_id="invoice-extraction", limit=1)[0]
        assert (entry.actor, entry.action, entry.target_id) == ("pat", "activity.edit", str(first))
        assert entry.before and json.loads(entry.before)["name"] == FIRST


def test_editing_without_javascript_opens_the_row_in_the_page_and_goes_back_after_saving(
    lead: TestClient, store: Store
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)

    page = lead.get(f"{ACTIVITIES}/{first}/edit")

    assert page.status_code == 200
    assert "Invoice field extraction: lifecycle" in page.text
    assert f'<tr id="activity-{first}" data-id="{first}" class="activity-edit">' in page.text
    assert len(table_ids(page.text)) == 19
    response = post_form(lead, f"{ACTIVITIES}/{first}", {"phase": "discover", "name": "Renamed"}, htmx=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{LIFECYCLE}#activity-{first}"
    assert "Renamed" in row_of(lead.get(LIFECYCLE).text, first)


def test_a_dependency_loop_is_refused_with_the_loop_named_and_nothing_changed(
    lead: TestClient, store: Store
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    baselines = activity_id(store, "invoice-extraction", BASELINES)

    response = post_form(
        lead, f"{ACTIVITIES}/{first}", {"phase": "discover", "name": FIRST, "depends_on": [str(baselines)]}
    )

    assert response.status_code == 422
    html = response.text
    assert html.lstrip().startswith(
        f'<tr id="activity-{first}" data-id="{first}" class="activity-edit has-error">'
    )
    assert "Not saved: activities would depend on each other in a loop; nothing was written" in html
    loop = f"{FIRST} (#{first}) → {BASELINES} (#{baselines}) → {FIRST} (#{first})"
    assert f"Depends on: {loop}" in html
    assert f'<span class="field-error" id="edit-{first}-depends_on-error">{loop}</span>' in html
    assert f'<option value="{baselines}" selected>' in html  # the choice comes back as made
    with store.transaction() as session:
        assert plans.get_activity(session, activity_id=first).depends_on == []
        assert [e.action for e in audit.entries(session, actor="pat")] == []


def test_moving_an_activity_up_returns_the_table_in_the_new_order(lead: TestClient, store: Store) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    baselines = activity_id(store, "invoice-extraction", BASELINES)

    response = post_form(lead, f"{ACTIVITIES}/{baselines}/move", {"position": "0"})

    assert response.status_code == 200
    assert table_ids(response.text)[:2] == [baselines, first]
    assert f"Moved “{BASELINES}” to place 1." in response.text
    assert 'id="gantt" hx-swap-oob="true"' in response.text
    assert activity_names(store)[:2] == [BASELINES, FIRST]
    with store.transaction() as session:
        entry = audit.entries(session, usecase_id="invoice-extraction", limit=1)[0]
        assert (entry.actor, entry.action, entry.target_id) == ("pat", "activity.move", str(baselines))


def test_moving_without_javascript_goes_back_to_the_page_at_the_activity(
    lead: TestClient, store: Store
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)

    response = post_form(lead, f"{ACTIVITIES}/{first}/move", {"position": "1"}, htmx=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"{LIFECYCLE}#activity-{first}"
    assert activity_names(store)[:2] == [BASELINES, FIRST]


def test_deleting_an_activity_returns_the_table_without_it(lead: TestClient, store: Store) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    baselines = activity_id(store, "invoice-extraction", BASELINES)

    response = post_form(lead, f"{ACTIVITIES}/{first}/delete", {})

    assert response.status_code == 200
    assert first not in table_ids(response.text)
    assert len(table_ids(response.text)) == 18
    assert f"Deleted “{FIRST}”." in response.text
    assert FIRST not in activity_names(store)
    with store.transaction() as session:
        # What waited for it no longer does.
        assert plans.get_activity(session, activity_id=baselines).depends_on == []
        entry = audit.entries(session, usecase_id="invoice-extraction", limit=1)[0]
        assert (entry.actor, entry.action, entry.target_id) == ("pat", "activity.delete", str(first))


def test_deleting_without_javascript_goes_back_to_the_table(lead: TestClient, store: Store) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)

    response = post_form(lead, f"{ACTIVITIES}/{first}/delete", {}, htmx=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"{LIFECYCLE}#activities"
    assert FIRST not in activity_names(store)


def test_viewer_adding_an_activity_is_refused_with_403_beside_the_form(
    viewer: TestClient, store: Store
) -> None:
    before = activity_names(store)

    response = post_form(viewer, ACTIVITIES, NEW_ACTIVITY)

    assert response.status_code == 403
    assert "Not added: vera may not plan.edit on use case &#39;invoice-extraction&#39;" in response.text
    assert 'value="Interview the accounts payable team"' in response.text
    assert activity_names(store) == before


def test_viewer_editing_moving_or_deleting_is_refused_with_403_and_nothing_changes(
    viewer: TestClient, store: Store
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    before = activity_names(store)

    edited = post_form(viewer, f"{ACTIVITIES}/{first}", {"phase": "discover", "name": "Renamed"})
    moved = post_form(viewer, f"{ACTIVITIES}/{first}/move", {"position": "3"})
    deleted = post_form(viewer, f"{ACTIVITIES}/{first}/delete", {})

    refusal = "vera may not plan.edit on use case &#39;invoice-extraction&#39;"
    assert edited.status_code == 403
    assert edited.text.lstrip().startswith(f'<tr id="activity-{first}"')
    assert f"Not saved: {refusal}" in edited.text
    assert moved.status_code == 403
    assert f'<p class="alert" role="alert" id="activities-alert">Not moved: {refusal}' in moved.text
    assert deleted.status_code == 403
    assert f'<p class="alert" role="alert" id="activities-alert">Not deleted: {refusal}' in deleted.text
    assert activity_names(store) == before
    with store.transaction() as session:
        assert [e.action for e in audit.entries(session, actor="vera")] == []


@pytest.mark.parametrize("action", ["", "/{id}", "/{id}/move", "/{id}/delete"])
def test_activity_forms_without_the_csrf_token_are_refused(
    lead: TestClient, store: Store, action: str
) -> None:
    first = activity_id(store, "invoice-extraction", FIRST)
    before = activity_names(store)

    response = lead.post(
        ACTIVITIES + action.format(id=first),
        data={**NEW_ACTIVITY, "position": "3"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 403
    assert "sent without its security token" in response.text
    assert activity_names(store) == before


def test_editing_another_use_cases_activity_is_a_404(lead: TestClient, store: Store) -> None:
    theirs = activity_id(store, "claims-triage", FIRST)

    assert lead.get(f"{ACTIVITIES}/{theirs}/edit", headers={"HX-Request": "true"}).status_code == 404
    assert post_form(lead, f"{ACTIVITIES}/{theirs}/delete", {}).status_code == 404
    assert FIRST in activity_names(store, "claims-triage")


def post_advance(client: TestClient, reason: str = "", usecase: str = "invoice-extraction") -> Any:
    token = csrf_of(client.get(f"/usecases/{usecase}/lifecycle").text)
    return client.post(
        f"/usecases/{usecase}/lifecycle/advance",
        data={"csrf_token": token, "override_reason": reason},
        follow_redirects=False,
    )


def test_a_lead_advances_over_a_failing_gate_with_a_reason_recorded_as_an_override(
    lead: TestClient, store: Store
) -> None:
    page = lead.get("/usecases/invoice-extraction/lifecycle").text
    assert 'id="advance-form"' in page and "Advance over the gate" in page

    refused = post_advance(lead)
    assert refused.status_code == 409
    assert 'id="advance-error"' in refused.text and "has not passed; nothing changed" in refused.text
    with store.transaction() as session:
        assert plans.get(session, usecase_id="invoice-extraction").phases[0].status == "active"

    moved = post_advance(lead, "pilot sponsor accepts the open sign-off")
    assert moved.status_code == 303
    assert moved.headers["location"].startswith("/usecases/invoice-extraction/lifecycle?advanced=")
    page = lead.get(moved.headers["location"]).text
    assert 'id="advanced"' in page
    with store.transaction() as session:
        phases = plans.get(session, usecase_id="invoice-extraction").phases
        assert [p.status for p in phases[:2]] == ["passed", "active"]
        decisions = gating.check(
            session, usecase_id="invoice-extraction", phase_id=phases[0].phase_id
        ).decisions
        assert [(d.decision, d.reason) for d in decisions] == [
            ("override", "pilot sponsor accepts the open sign-off")
        ]
        assert "gate.override" in [
            e.action for e in audit.entries(session, usecase_id="invoice-extraction", limit=5)
        ]


def test_a_viewer_sees_no_advance_form_and_a_post_is_refused(viewer: TestClient, store: Store) -> None:
    page = viewer.get("/usecases/invoice-extraction/lifecycle").text
    assert 'id="advance-form"' not in page
    refused = post_advance(viewer, "because")
    assert refused.status_code == 403
    with store.transaction() as session:
        assert plans.get(session, usecase_id="invoice-extraction").phases[0].status == "active"
