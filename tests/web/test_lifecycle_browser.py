"""The lifecycle pages in a real browser: the system Chromium, driven by Playwright, against uvicorn.

Reuses the live server of test_browser.py (a seeded SQLite store) and plans two use cases on it.
Never downloads a browser. Screenshots of the lifecycle page and the roadmap are left in /tmp.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

import pytest

from phasegate.identity.service import local_operator
from phasegate.lifecycle import evidence, plans
from phasegate.store import Store, now
from tests.conftest import Users
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, live_server, system_chromium

pytestmark = pytest.mark.browser

__all__ = ["live_server"]  # the fixture, imported so pytest finds it here

FIRST = "Pick 1-2 high-impact use cases"
EVIDENCE_ID = re.compile(r"^ev-[0-9a-f]{16}$")


@pytest.fixture
def planned_server(live_server: str) -> dict[str, Any]:
    """The live server with invoice extraction and claims triage planned 20 days ago, a data audit, a lead."""
    store = Store(os.environ["PHASEGATE_DATABASE_URL"])
    operator = local_operator("test")
    start = now().date() - timedelta(days=20)
    try:
        with store.transaction() as session:
            for usecase in ("invoice-extraction", "claims-triage"):
                plans.start(
                    session, actor=operator, usecase_id=usecase, playbook_id="ninety-day", start_on=start
                )
            evidence.publish(
                session,
                actor=operator,
                usecase_id="invoice-extraction",
                kind="data.audit",
                producer="data.audit",
                payload={"gaps": {"blockers": 0}, "quality": {"completeness": 0.99}},
            )
            first = next(
                a.id
                for a in plans.get(session, usecase_id="invoice-extraction").activities
                if a.name == FIRST
            )
        Users(store).token("pat", "program-lead")
    finally:
        store.dispose()
    return {"base": live_server, "first": first}


def test_a_lead_reads_the_plan_changes_a_status_in_place_and_filters_the_roadmap(
    planned_server: dict[str, Any],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, first = planned_server["base"], planned_server["first"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    errors.append(message.text)
                    if message.type == "error" and not message.text.startswith("Failed to load resource")
                    else None
                ),
            )
            outside: list[str] = []
            page.on(
                "request",
                lambda request: (
                    None
                    if request.url.startswith(base) or request.url.startswith("data:")
                    else outside.append(request.url)
                ),
            )

            page.goto(base + "/usecases/invoice-extraction/lifecycle")
            expect(page).to_have_url(base + "/login?next=%2Fusecases%2Finvoice-extraction%2Flifecycle")
            page.get_by_label("User name").fill("pat")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/usecases/invoice-extraction/lifecycle")
            expect(
                page.get_by_role("heading", name="Invoice field extraction: lifecycle", level=1)
            ).to_be_visible()

            # The phase band: the first phase is the current one.
            current = page.locator('.phase-band [aria-current="step"]')
            expect(current).to_have_count(1)
            expect(current).to_contain_text("Discover and de-risk")

            # The Gantt chart is drawn, one bar (or more) per activity, with the today line.
            gantt = page.locator("#gantt-chart")
            expect(gantt.locator(".plot-container svg.main-svg").first).to_be_visible()
            expect(gantt.locator(".barlayer .point").first).to_be_visible()
            assert gantt.locator(".barlayer .point").count() >= 19
            expect(gantt.locator(".annotation-text", has_text="today")).to_have_count(1)

            # The gate panel: badges per criterion, the evidence it read, the missing sign-off.
            gate = page.locator("#gate-criteria")
            expect(gate.locator("tbody tr")).to_have_count(3)
            expect(gate.locator('tr[data-criterion="1"] .badge')).to_have_text("pass")
            expect(gate.locator('tr[data-criterion="1"] .evidence code')).to_have_text(EVIDENCE_ID)
            expect(gate.locator('tr[data-criterion="3"] .badge')).to_have_text("missing")
            page.screenshot(path=str(SCREENSHOTS / "phasegate-lifecycle.png"), full_page=True)

            # A status change swaps the row in place: no reload, the row updates, the audit has it.
            page.evaluate("window.stillTheSamePage = true")
            row = page.locator(f"#activity-{first}")
            expect(row.locator(".badge.flag-late")).to_have_text("15 days overdue")
            row.get_by_label(f"Status of {FIRST}").select_option("completed")
            expect(row.get_by_role("status")).to_have_text("Saved.")
            expect(row.get_by_label(f"Status of {FIRST}")).to_have_value("completed")
            expect(row.locator(".badge.flag-late")).to_have_count(0)
            assert page.evaluate("window.stillTheSamePage") is True
            page.reload()
            expect(page.locator(f"#activity-{first}").get_by_label(f"Status of {FIRST}")).to_have_value(
                "completed"
            )

            # The roadmap: both plans, then one business unit, swapped in place with the URL following.
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Roadmap").click()
            expect(page).to_have_url(base + "/roadmap")
            chart = page.locator("#roadmap-chart")
            expect(chart.locator(".plot-container svg.main-svg").first).to_be_visible()
            expect(chart.locator(".barlayer .point")).to_have_count(6)
            expect(page.locator("#roadmap-table tbody tr")).to_have_count(2)
            page.screenshot(path=str(SCREENSHOTS / "phasegate-roadmap.png"), full_page=True)

            page.evaluate("window.stillTheSamePage = true")
            page.get_by_label("Business unit").select_option("Claims")
            expect(page).to_have_url(base + "/roadmap?business_unit=Claims")
            expect(page.locator("#roadmap-table tbody tr")).to_have_count(1)
            expect(page.locator("#roadmap-table tbody tr")).to_have_attribute("data-id", "claims-triage")
            expect(page.locator("#roadmap-chart .barlayer .point")).to_have_count(3)
            expect(page.locator("#download-xlsx")).to_have_attribute(
                "href", "/roadmap.xlsx?business_unit=Claims"
            )
            assert page.evaluate("window.stillTheSamePage") is True

            assert errors == [], errors
            assert outside == [], f"the pages asked the network for: {outside}"
        finally:
            browser.close()


def test_a_viewer_is_told_in_the_row_that_the_status_was_not_changed(planned_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, first = planned_server["base"], planned_server["first"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(base + "/login?next=%2Fusecases%2Finvoice-extraction%2Flifecycle")
            page.get_by_label("User name").fill("vera")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/usecases/invoice-extraction/lifecycle")
            # The scripts have run once the chart is drawn; a change before htmx is ready would go nowhere.
            expect(page.locator("#gantt-chart .plot-container svg.main-svg").first).to_be_visible()

            row = page.locator(f"#activity-{first}")
            row.get_by_label(f"Status of {FIRST}").select_option("completed")
            expect(row.get_by_role("alert")).to_contain_text("Not changed: vera may not plan.edit")
            expect(row.get_by_label(f"Status of {FIRST}")).to_have_value("not started")
            row.screenshot(path=str(SCREENSHOTS / "phasegate-lifecycle-refused-row.png"))
        finally:
            browser.close()


def test_a_lead_adds_moves_edits_and_deletes_an_activity_without_a_reload(
    planned_server: dict[str, Any],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, first = planned_server["base"], planned_server["first"]
    name, renamed = "Interview the accounts payable team", "Interview accounts payable"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    errors.append(message.text)
                    if message.type == "error" and not message.text.startswith("Failed to load resource")
                    else None
                ),
            )
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))

            page.goto(base + "/login?next=%2Fusecases%2Finvoice-extraction%2Flifecycle")
            page.get_by_label("User name").fill("pat")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/usecases/invoice-extraction/lifecycle")
            # The scripts have run once the chart is drawn; a form sent before htmx is ready would reload.
            expect(page.locator("#gantt-chart .plot-container svg.main-svg").first).to_be_visible()
            page.evaluate("window.stillTheSamePage = true")
            rows = page.locator("#activity-table tbody tr")
            expect(rows).to_have_count(19)
            # The chart's rows are labelled with the activities' names.
            labels = page.locator("#gantt-chart .ytick text")
            expect(labels.filter(has_text=name)).to_have_count(0)

            # Add: the table comes back with the new activity last, and the chart is drawn again with it.
            page.locator("#add-activity summary").click()
            form = page.get_by_role("form", name="Add an activity")
            form.get_by_label("Phase").select_option(label="Discover and de-risk")
            form.get_by_label("Name").fill(name)
            form.get_by_label("Owner").fill("maria.lopez")
            start = now().date() + timedelta(days=3)
            form.get_by_label("Planned start").fill(start.isoformat())
            form.get_by_label("Planned end").fill((start - timedelta(days=1)).isoformat())
            form.get_by_label("Effort hours").fill("12")
            form.get_by_label("Depends on").select_option(label=f"#{first} {FIRST}")
            form.get_by_label("Notes").fill("two sessions")
            form.get_by_role("button", name="Add activity").click()
            # An end before the start: refused beside the form, the field named, what was typed kept.
            expect(form.get_by_role("alert")).to_contain_text("Planned end: ")
            expect(form.get_by_label("Planned end")).to_have_attribute("aria-invalid", "true")
            expect(form.get_by_label("Name")).to_have_value(name)
            expect(rows).to_have_count(19)
            form.screenshot(path=str(SCREENSHOTS / "phasegate-lifecycle-add-refused.png"))
            form.get_by_label("Planned end").fill((start + timedelta(days=4)).isoformat())
            form.get_by_role("button", name="Add activity").click()
            expect(page.locator("#activities-notice")).to_have_text(f"Added “{name}”.")
            expect(rows).to_have_count(20)
            expect(rows.last).to_contain_text(name)
            expect(rows.last).to_contain_text(FIRST)
            expect(labels.filter(has_text=name)).to_have_count(1)
            added = rows.last.get_attribute("data-id")
            assert added is not None
            row = page.locator(f"#activity-{added}")

            # Move up: one place, the table in its new order.
            row.get_by_role("button", name=f"Move {name} up").click()
            expect(page.locator("#activities-notice")).to_have_text(f"Moved “{name}” to place 19.")
            expect(rows.nth(18)).to_have_attribute("data-id", added)
            expect(rows.last).not_to_have_attribute("data-id", added)

            # Edit: the row opens as a form, and saving puts the row back with the new name.
            row.get_by_role("link", name=f"Edit {name}").click()
            edit = page.get_by_role("form", name=f"Edit {name}")
            expect(edit.get_by_label("Name")).to_have_value(name)
            edit.get_by_label("Name").fill(renamed)
            page.locator("#activity-table").screenshot(
                path=str(SCREENSHOTS / "phasegate-lifecycle-edit-row.png")
            )
            edit.get_by_role("button", name="Save").click()
            expect(row.get_by_role("status")).to_have_text("Saved.")
            expect(row.locator("td.name")).to_contain_text(renamed)
            expect(row.get_by_role("link", name=f"Edit {renamed}")).to_be_visible()
            expect(labels.filter(has_text=renamed)).to_have_count(1)
            expect(labels.filter(has_text=name)).to_have_count(0)

            # Delete: after the confirmation, the table comes back without it.
            row.get_by_role("button", name=f"Delete {renamed}").click()
            expect(page.locator("#activities-notice")).to_have_text(f"Deleted “{renamed}”.")
            expect(rows).to_have_count(19)
            expect(page.locator(f"#activity-{added}")).to_have_count(0)
            expect(labels.filter(has_text=renamed)).to_have_count(0)
            assert dialogs == [f"Delete “{renamed}”? Activities that wait for it will no longer wait."]
            page.screenshot(path=str(SCREENSHOTS / "phasegate-lifecycle-activities.png"), full_page=True)

            assert page.evaluate("window.stillTheSamePage") is True
            assert errors == [], errors
        finally:
            browser.close()
