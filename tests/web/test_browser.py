"""The pages in a real browser: the system Chromium, driven by Playwright, against the app served by uvicorn.

Never downloads a browser: without /usr/bin/chromium the test fails and says how to install it.
Screenshots of the portfolio and a one-pager are left in /tmp for a person to look at.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from phasegate.app import create_app
from phasegate.settings import Settings
from phasegate.store import Store
from tests.conftest import Users
from tests.web.conftest import PASSWORD, seed

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path("/tmp")
TIMEOUT_MS = 15_000


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real app over a seeded SQLite store, served by uvicorn on a free loopback port."""
    monkeypatch.setenv("PHASEGATE_HOME", str(tmp_path / "home"))
    path = tmp_path / "phasegate.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("PHASEGATE_DATABASE_URL", url)
    store = Store(url)
    seed(store)
    Users(store).token("vera", "viewer")
    settings = Settings(home=tmp_path / "home", database_url=url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start serving the app within 15 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.dispose()


def system_chromium() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the system Chromium with `apt-get install chromium` "
                    "(make test does, through scripts/system-deps.sh); this test never downloads a browser")
    return str(CHROMIUM)


def test_a_user_logs_in_filters_the_portfolio_opens_a_one_pager_and_logs_out(live_server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = live_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # Failed loads are logged to the console too; they are checked one by one below instead.
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" and not message.text.startswith("Failed to load resource")
                    else None)
            failed: list[str] = []
            page.on("response", lambda response: failed.append(
                f"{response.status} {response.request.method} {response.url.removeprefix(base)}")
                if response.status >= 400 else None)
            outside: list[str] = []
            page.on("request", lambda request: None if request.url.startswith(base)
                    or request.url.startswith("data:") else outside.append(request.url))

            # Not logged in: the portfolio sends the browser to the login form.
            page.goto(base + "/")
            expect(page).to_have_url(base + "/login")
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()

            page.get_by_label("User name").fill("vera")
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
            expect(page.get_by_label("User name")).to_have_value("vera")

            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(base + "/")
            rows = page.locator("#portfolio-table tbody tr")
            expect(rows).to_have_count(4)
            expect(rows.first).to_have_attribute("data-id", "invoice-extraction")
            expect(page.locator("#table-count")).to_have_text("n = 4 use cases")
            chart = page.locator("#value-feasibility-chart")
            expect(chart.locator(".plot-container svg.main-svg").first).to_be_visible()
            expect(chart.locator(".scatterlayer .point")).to_have_count(2)
            page.screenshot(path=str(SCREENSHOTS / "phasegate-portfolio.png"), full_page=True)

            # Filtering swaps the results in place: the page is not reloaded, the URL follows.
            page.evaluate("window.stillTheSamePage = true")
            page.get_by_label("Risk tier").select_option("high")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-id", "claims-triage")
            expect(page).to_have_url(base + "/?risk_tier=high")
            assert page.evaluate("window.stillTheSamePage") is True
            expect(chart.locator(".scatterlayer .point")).to_have_count(1)

            # Sorting keeps the filter.
            page.locator("#portfolio-table thead").get_by_role("link", name="Name").click()
            expect(page).to_have_url(base + "/?risk_tier=high&sort=name")
            expect(rows).to_have_count(1)
            # ...and a filter keeps the sort.
            page.get_by_label("Risk tier").select_option("")
            expect(page).to_have_url(base + "/?sort=name")
            expect(rows).to_have_count(4)
            expect(rows.first).to_have_attribute("data-id", "claims-triage")
            page.get_by_label("Risk tier").select_option("high")
            expect(rows).to_have_count(1)

            page.get_by_role("link", name="claims-triage").click()
            expect(page).to_have_url(base + "/usecases/claims-triage")
            expect(page.get_by_role("heading", name="Claims triage", level=1)).to_be_visible()
            owners = page.locator("#owners")
            for owner in ("ana.silva", "li.wei", "k.osei", "p.roy"):
                expect(owners).to_contain_text(owner)
            expect(page.locator("#kpis")).to_contain_text("time to first decision")
            expect(page.locator("#kpis .kpi-move")).to_have_text("6 → 2")
            # 9,000 × 12 × 0.3 = 32,400 a month, less 5,000 run cost = 27,400; 400,000 / 27,400 = 14.6 months.
            expect(page.locator("#payback .value")).to_have_text("14.6 months")
            expect(page.locator("#risk h2")).to_have_text("Risk tier: high")
            expect(page.locator("#tornado-chart .plot-container svg.main-svg").first).to_be_visible()
            expect(page.locator("#tornado-chart .barlayer .point")).to_have_count(10)
            page.screenshot(path=str(SCREENSHOTS / "phasegate-usecase-claims.png"), full_page=True)

            page.goto(base + "/usecases/invoice-extraction")
            expect(page.locator("#payback .value")).to_have_text("1.6 months")
            expect(page.locator("#tornado-chart .plot-container svg.main-svg").first).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "phasegate-usecase.png"), full_page=True)

            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(base + "/login")
            page.goto(base + "/usecases/invoice-extraction")
            expect(page).to_have_url(base + "/login?next=%2Fusecases%2Finvoice-extraction")

            assert errors == [], errors
            assert failed == ["401 POST /login"], failed
            assert outside == [], f"the pages asked the network for: {outside}"
        finally:
            browser.close()
