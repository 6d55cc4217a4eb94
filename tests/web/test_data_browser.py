"""The data pages in a real browser: the system Chromium, driven by Playwright, against uvicorn.

Reuses the live server of test_browser.py (a seeded SQLite store), catalogs and audits a source on it,
and has a program lead run another audit from the page. Never downloads a browser. Screenshots of the
catalog, a source, the report, the gap list and the lineage are left in /tmp.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from phasegate.data import audits, catalog
from phasegate.data.schemas import DataSourceSpec
from phasegate.identity.service import local_operator
from phasegate.store import Store
from tests.conftest import Users
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, live_server, system_chromium
from tests.web.test_data_pages import write_claims, write_invoices

pytestmark = pytest.mark.browser

__all__ = ["live_server"]  # the fixture, imported so pytest finds it here

# The audit runs in the background: long enough for a slow machine, short enough to fail a hung job.
JOB_TIMEOUT_MS = 30_000


@pytest.fixture
def data_server(live_server: str, tmp_path: Path) -> dict[str, Any]:
    """The live server with two catalog sources, one of them audited, and a program lead."""
    store = Store(os.environ["PHASEGATE_DATABASE_URL"])
    operator = local_operator("test")
    try:
        with store.transaction() as session:
            catalog.apply_source(
                session,
                actor=operator,
                spec=DataSourceSpec(
                    id="invoices",
                    name="Supplier invoices",
                    location=str(write_invoices(tmp_path / "invoices.csv")),
                    owner="dana",
                    classification="internal",
                    usecases=["invoice-extraction"],
                    lineage=[{"upstream": "dataset:erp_raw", "transformation": "nightly export"}],
                ),
            )
            catalog.apply_source(
                session,
                actor=operator,
                spec=DataSourceSpec(
                    id="claims",
                    location=str(write_claims(tmp_path / "claims.csv")),
                    owner="li.wei",
                    classification="confidential",
                    usecases=["claims-triage"],
                ),
            )
        with store.transaction() as session:
            audits.audit_source(session, actor=operator, source_id="claims")
        Users(store).token("pat", "program-lead")
    finally:
        store.dispose()
    return {"base": live_server}


def test_a_lead_audits_a_source_from_its_page_reads_the_report_and_the_lineage(
    data_server: dict[str, Any],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = data_server["base"]
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
            failed: list[str] = []
            page.on(
                "response",
                lambda response: (
                    failed.append(f"{response.status} {response.request.method} {response.url}")
                    if response.status >= 400
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

            # The catalog, after logging in: both sources, one audited.
            page.goto(base + "/data")
            expect(page).to_have_url(base + "/login?next=%2Fdata")
            page.get_by_label("User name").fill("pat")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/data")
            expect(page.get_by_role("heading", name="Data catalog", level=1)).to_be_visible()
            rows = page.locator("#catalog-table tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_have_attribute("data-id", "claims")
            expect(rows.nth(0).locator(".dim")).to_have_count(4)
            expect(rows.nth(1)).to_contain_text("not audited yet")
            page.screenshot(path=str(SCREENSHOTS / "phasegate-data-catalog.png"), full_page=True)

            # A source, then Run audit: the progress panel appears in place, then the link to the report.
            page.get_by_role("link", name="Supplier invoices").click()
            expect(page).to_have_url(base + "/data/sources/invoices")
            expect(page.get_by_role("heading", name="Supplier invoices", level=1)).to_be_visible()
            expect(page.locator("#audit-history")).to_have_count(0)
            # Every state the job's panel shows is noted, however quickly the audit runs. (htmx settles a
            # swapped panel with the old one's attributes first, so class changes are watched too.)
            page.evaluate(
                """() => {
                  window.panels = [];
                  new MutationObserver(() => {
                    const panel = document.querySelector('#audit-job');
                    const state = panel && panel.className.match(/job-\\w+/);
                    const last = window.panels[window.panels.length - 1];
                    if (state && state[0] !== last) window.panels.push(state[0]);
                  }).observe(document.querySelector('#audit-run'),
                             {childList: true, subtree: true, attributes: true, attributeFilter: ['class']});
                  window.stillTheSamePage = true;
                }"""
            )
            page.get_by_role("button", name="Run audit").click()
            report_link = page.get_by_role("link", name="Open the report")
            expect(report_link).to_be_visible(timeout=JOB_TIMEOUT_MS)
            panels = page.evaluate("window.panels")
            assert panels[0] == "job-running" and panels[-1] == "job-done", panels
            assert page.evaluate("window.stillTheSamePage") is True
            expect(page.locator("#audit-job")).to_contain_text("Audit finished.")
            page.locator("#run").screenshot(path=str(SCREENSHOTS / "phasegate-data-audit-done.png"))

            # The page, reloaded, lists the audit and its gaps.
            page.reload()
            expect(page.locator("#audit-history tbody tr")).to_have_count(1)
            expect(page.locator("#source-gaps tbody tr").first).to_have_attribute("data-severity", "blocker")
            page.screenshot(path=str(SCREENSHOTS / "phasegate-data-source.png"), full_page=True)

            # The report, with its charts drawn by the plotly.js the server ships.
            page.get_by_role("link", name="report", exact=True).first.click()
            expect(page).to_have_url(re.compile(r".*/data/audits/audit-[0-9a-f]+/report$"))
            # The report loads the 4.5 MB plotly.js before its body: it may take longer than a page.
            heading = page.get_by_role("heading", name="Data audit of Supplier invoices", level=1)
            expect(heading).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#dimensions svg.main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
            page.screenshot(path=str(SCREENSHOTS / "phasegate-data-report.png"), full_page=True)

            # The gap list, filtered in place.
            page.goto(base + "/data/gaps")
            gap_rows = page.locator("#gap-table tbody tr")
            expect(gap_rows.first).to_have_attribute("data-severity", "blocker")
            page.screenshot(path=str(SCREENSHOTS / "phasegate-data-gaps.png"), full_page=True)
            page.evaluate("window.stillTheSamePage = true")
            page.get_by_label("Source").select_option("claims")
            expect(page).to_have_url(base + "/data/gaps?source=claims")
            expect(gap_rows.locator('a[href="/data/sources/invoices"]')).to_have_count(0)
            assert gap_rows.count() == gap_rows.locator('a[href="/data/sources/claims"]').count() > 0
            assert page.evaluate("window.stillTheSamePage") is True

            # The lineage: a Sankey with a node for each source, data set and use case.
            page.get_by_role("navigation", name="Data readiness").get_by_role("link", name="Lineage").click()
            expect(page).to_have_url(base + "/data/lineage")
            chart = page.locator("#lineage-chart")
            expect(chart.locator(".plot-container svg.main-svg").first).to_be_visible()
            expect(chart.locator("g.sankey-node")).to_have_count(5)
            expect(chart.locator(".sankey-node", has_text="dataset:erp_raw")).to_have_count(1)
            expect(page.locator("#lineage-table tbody tr")).to_have_count(5)
            page.screenshot(path=str(SCREENSHOTS / "phasegate-data-lineage.png"), full_page=True)

            assert errors == [], errors
            assert failed == [], failed
            assert outside == [], f"the pages asked the network for: {outside}"
        finally:
            browser.close()


def test_a_viewer_is_told_in_the_panel_that_the_audit_was_not_started(data_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = data_server["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(base + "/login?next=%2Fdata%2Fsources%2Fclaims")
            page.get_by_label("User name").fill("vera")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/data/sources/claims")
            page.wait_for_function("() => window.htmx !== undefined")

            page.get_by_role("button", name="Run audit").click()
            expect(page.locator("#audit-job").get_by_role("alert")).to_contain_text(
                "Not started: vera may not data.audit"
            )
            expect(page.locator("#audit-history tbody tr")).to_have_count(1)
            page.locator("#run").screenshot(path=str(SCREENSHOTS / "phasegate-data-audit-refused.png"))
        finally:
            browser.close()
