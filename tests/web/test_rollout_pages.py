"""The review queue and the rollout page in a real browser: the system Chromium, driven by Playwright.

Reuses the live server of test_browser.py (a seeded SQLite store) and gives claims triage a supervised
rollout (one transition, a static fallback) and four held outputs, two of them past their SLA, with
their redacted inference records; knowledge base search has one more. Never downloads a browser.
Screenshots of the pages are left in /tmp.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from phasegate.identity import audit
from phasegate.rollout.models import InferenceRecord, ReviewItem, Rollout, RolloutTransition
from phasegate.store import Store, now
from tests.conftest import Users
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, live_server, system_chromium

pytestmark = pytest.mark.browser

__all__ = ["live_server"]  # the fixture, imported so pytest finds it here

USECASE = "claims-triage"
# id, use case, minutes waiting, minutes until due (negative: overdue), confidence.
ITEMS = (
    ("rq-oldest", USECASE, 180, -120, 0.91),
    ("rq-unsure", USECASE, 120, -60, 0.35),
    ("rq-middle", USECASE, 60, 30, 0.62),
    ("rq-least", USECASE, 30, 50, 0.12),
    ("rq-kb", "kb-search", 20, 40, 0.55),
)
OLDEST_FIRST = ["rq-oldest", "rq-unsure", "rq-middle", "rq-least", "rq-kb"]
LEAST_CONFIDENT_FIRST = ["rq-least", "rq-unsure", "rq-kb", "rq-middle", "rq-oldest"]
CORRECTED = {"route": "manual", "total": 1240.5}


def seed_reviews(store: Store) -> None:
    """Claims triage under supervision: its rollout, a transition, held outputs and their log records."""
    moment = now()
    with store.transaction() as session:
        session.add(
            Rollout(
                usecase_id=USECASE,
                stage="supervised",
                primary_version_id="mv-triage-1",
                weight=0,
                ladder=[5, 25, 50, 100],
                salt="seed",
                fallback={"static": {"route": "manual"}},
                segment_rules=[],
                criteria=[],
                redaction={},
                updated_by="pat",
            )
        )
        session.add(
            RolloutTransition(
                usecase_id=USECASE,
                from_stage="off",
                to_stage="supervised",
                from_weight=0,
                to_weight=0,
                reason="override: pilot on the agents' desks",
                verdict=None,
                actor="pat",
                at=moment - timedelta(days=1),
            )
        )
        for n, (item_id, usecase_id, waiting, due, confidence) in enumerate(ITEMS):
            created = moment - timedelta(minutes=waiting)
            clear = {"claim": 1000 + n, "claimant": {"email": f"claimant{n}@example.com"}, "amount": 1240.5}
            proposed = {"route": "fast-track", "total": 1240.5 if n else 124.05}
            session.add(
                ReviewItem(
                    id=item_id,
                    usecase_id=usecase_id,
                    version_id="mv-triage-1",
                    input=clear,
                    proposed=proposed,
                    confidence=confidence,
                    reason="supervised: every output is reviewed",
                    due_at=moment + timedelta(minutes=due),
                    created_at=created,
                )
            )
            session.add(
                InferenceRecord(
                    id=item_id,
                    usecase_id=usecase_id,
                    at=created,
                    caller="agent-desk",
                    version_id="mv-triage-1",
                    arm="primary",
                    stage="supervised",
                    reason="supervised: held for review",
                    status="pending_review",
                    latency_ms=41.5,
                    confidence=confidence,
                    input={**clear, "claimant": {"email": "[email]"}},
                    output=proposed,
                )
            )


@pytest.fixture
def queue(live_server: str) -> Iterator[dict[str, Any]]:
    """The live server with the review queue seeded, two reviewers and claims triage's technical owner."""
    store = Store(os.environ["PHASEGATE_DATABASE_URL"])
    try:
        seed_reviews(store)
        users = Users(store)
        users.token("rita", "reviewer")
        users.token("ravi", "reviewer")
        # Viewers everywhere, but claims triage's owner fields name them its technical owner and its
        # domain reviewer.
        users.token("li.wei", "viewer")
        users.token("p.roy", "viewer")
        yield {"base": live_server, "store": store}
    finally:
        store.dispose()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, base: str) -> tuple[Any, dict[str, list[str]]]:
    """A page in its own context (own cookies), noting script errors, failed responses, outside calls."""
    seen: dict[str, list[str]] = {"errors": [], "failed": [], "outside": []}
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on(
        "console",
        lambda message: (
            seen["errors"].append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            seen["failed"].append(f"{response.status} {response.request.method} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.on(
        "request",
        lambda request: None if request.url.startswith(base) else seen["outside"].append(request.url),
    )
    return page, seen


def log_in(page: Any, base: str, name: str, path: str) -> None:
    """Open a page, be sent to the login form, log in and land back on the page."""
    from playwright.sync_api import expect

    page.goto(base + path)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + path)


def queue_ids(page: Any) -> list[str]:
    return [row.get_attribute("data-id") for row in page.locator("#queue-table tbody tr").all()]


def stored(store: Store, item_id: str) -> ReviewItem:
    with store.transaction() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        session.expunge(item)
        return item


def test_a_reviewer_sorts_the_queue_approves_with_a_key_and_edits_with_corrected_json(
    queue: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    base, store = queue["base"], queue["store"]
    with chromium() as browser:
        page, seen = open_page(browser, base)
        log_in(page, base, "rita", "/reviews")
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Reviews")
        ).to_have_attribute("aria-current", "page")

        # Oldest first: the two items past their SLA are flagged; the workload counts them.
        expect(page.locator("#queue-table tbody tr")).to_have_count(5)
        assert queue_ids(page) == OLDEST_FIRST
        for item_id in ("rq-oldest", "rq-unsure"):
            row = page.locator(f'#queue-table tr[data-id="{item_id}"]')
            expect(row).to_have_class("is-overdue")
            expect(row.locator(".sla")).to_contain_text("overdue by")
        expect(page.locator('#queue-table tr[data-id="rq-middle"] .sla')).to_contain_text("due in")
        expect(page.locator("#pending-count")).to_have_text("5")
        expect(page.locator("#overdue-count")).to_have_text("2")
        expect(page.locator("#reserved-count")).to_have_text("0")

        # Least confident first, swapped in place and kept in the address.
        page.get_by_role("link", name="Least confident first").click()
        expect(page).to_have_url(f"{base}/reviews?order=least_confident")
        expect(page.locator("#queue-table tbody tr").first).to_have_attribute("data-id", "rq-least")
        assert queue_ids(page) == LEAST_CONFIDENT_FIRST
        confidences = [float(c) for c in page.locator("#queue-table td.confidence").all_inner_texts()]
        assert confidences == sorted(confidences)
        page.screenshot(path=str(SCREENSHOTS / "phasegate-review-queue.png"), full_page=True)

        # Start reviewing reserves the least confident item and opens it.
        page.get_by_role("button", name="Start reviewing").click()
        expect(page).to_have_url(f"{base}/reviews/rq-least?order=least_confident")
        expect(page.locator("#reservation")).to_contain_text("Reserved for you until")
        expect(page.locator("#input-json")).to_contain_text('"email": "claimant3@example.com"')
        expect(page.locator("#proposed-json")).to_contain_text('"route": "fast-track"')
        expect(page.locator("#held-reason")).to_have_text("supervised: every output is reviewed")

        # ? shows the shortcuts; Escape closes them.
        page.keyboard.press("?")
        expect(page.locator("#shortcut-help")).to_be_visible()
        expect(page.locator("#shortcut-help")).to_contain_text("approve")
        page.keyboard.press("Escape")
        expect(page.locator("#shortcut-help")).to_be_hidden()

        # Typing an "a" in the note approves nothing; the a key outside a field approves and moves on.
        page.get_by_label("Note").press("a")
        page.wait_for_timeout(300)
        expect(page).to_have_url(f"{base}/reviews/rq-least?order=least_confident")
        expect(page.get_by_label("Note")).to_have_value("a")
        page.get_by_label("Note").fill("")
        page.locator("#h-decide").click()
        page.keyboard.press("a")
        expect(page).to_have_url(f"{base}/reviews/rq-unsure?order=least_confident")
        approved = stored(store, "rq-least")
        assert (approved.status, approved.decided_by) == ("approved", "rita")
        assert approved.released == {"route": "fast-track", "total": 1240.5}
        # The clear copy is gone: only the log's redacted input remains.
        assert approved.input is not None
        assert approved.input["claimant"] == {"email": "[email]"}

        # e goes to the corrected output; JSON that does not parse is refused in the page, nothing saved.
        page.locator("#h-decide").click()
        page.keyboard.press("e")
        expect(page.get_by_label("Corrected output")).to_be_focused()
        broken = '{"route": "manual", "total": 1240.5,'
        page.get_by_label("Corrected output").fill(broken)
        page.get_by_label("Reason").select_option("incorrect")
        page.get_by_label("Note").fill("Total misread from the scanned form.")
        page.get_by_role("button", name="Save edit").click()
        expect(page.locator("#refusal")).to_contain_text("not valid JSON")
        expect(page.locator("#refusal")).to_contain_text("line 1")
        expect(page.get_by_label("Corrected output")).to_have_value(broken)
        expect(page.get_by_label("Reason")).to_have_value("incorrect")
        assert stored(store, "rq-unsure").status == "pending"

        # Corrected: saved as an edit with its reason and note, and on to the next item.
        page.get_by_label("Corrected output").fill(json.dumps(CORRECTED))
        page.get_by_role("button", name="Save edit").click()
        expect(page).to_have_url(f"{base}/reviews/rq-kb?order=least_confident")
        edited = stored(store, "rq-unsure")
        assert (edited.status, edited.reason_code) == ("edited", "incorrect")
        assert edited.released == CORRECTED
        assert edited.note == "Total misread from the scanned form."
        with store.transaction() as session:
            record = session.get(InferenceRecord, "rq-unsure")
            assert record is not None
            assert record.label == {"decision": "edit", "reason_code": "incorrect", "overridden": True}
        page.screenshot(path=str(SCREENSHOTS / "phasegate-review-item.png"), full_page=True)

        # Rejecting needs a reason: the browser asks for one before anything is sent.
        page.locator("#h-decide").click()
        page.keyboard.press("r")
        expect(page.get_by_label("Reason")).to_be_focused()
        expect(page).to_have_url(f"{base}/reviews/rq-kb?order=least_confident")

        # The queue shows the item held and the day's decisions.
        page.goto(f"{base}/reviews?order=least_confident")
        assert queue_ids(page) == ["rq-kb", "rq-middle", "rq-oldest"]
        expect(page.locator('#queue-table tr[data-id="rq-kb"] .reserved')).to_contain_text("you")
        expect(page.locator("#reserved-count")).to_have_text("1")
        expect(page.locator('#reviewer-table tr[data-reviewer="rita"] td.num')).to_have_text("2")

        assert seen["errors"] == []
        assert seen["failed"] == [f"422 POST {base}/reviews/rq-unsure/decision"]
        assert seen["outside"] == []


def test_a_second_reviewer_sees_the_item_held_with_no_forms_and_is_given_another(
    queue: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    base, store = queue["base"], queue["store"]
    with chromium() as browser:
        first, first_seen = open_page(browser, base)
        log_in(first, base, "rita", "/reviews")
        first.get_by_role("button", name="Start reviewing").click()
        expect(first).to_have_url(f"{base}/reviews/rq-oldest")

        second, second_seen = open_page(browser, base)
        log_in(second, base, "ravi", "/reviews/rq-oldest")
        expect(second.locator("#held-by")).to_contain_text("rita is reviewing this item, reserved until")
        expect(second.locator("#held-by")).to_contain_text("left")
        expect(second.locator("#decision-form, #take-form")).to_have_count(0)
        expect(second.locator("textarea")).to_have_count(0)
        second.screenshot(path=str(SCREENSHOTS / "phasegate-review-held.png"), full_page=True)

        # Sending the take anyway: the service refuses with 409, and the page says who holds it.
        token = second.locator('meta[name="csrf-token"]').get_attribute("content")
        taken = second.request.post(f"{base}/reviews/rq-oldest/take", form={"csrf_token": token})
        assert taken.status == 409
        assert "reserved by rita" in taken.text()
        decided = second.request.post(
            f"{base}/reviews/rq-oldest/decision", form={"csrf_token": token, "decision": "approve"}
        )
        assert decided.status == 409
        assert "rita" in decided.text()

        # Starting from the queue gives ravi the next item nobody holds.
        second.goto(f"{base}/reviews")
        expect(second.locator('#queue-table tr[data-id="rq-oldest"] .reserved')).to_contain_text("rita")
        second.get_by_role("button", name="Start reviewing").click()
        expect(second).to_have_url(f"{base}/reviews/rq-unsure")
        expect(second.locator("#decision-form")).to_be_visible()

        # n skips to the next item past this one, not back to the first.
        second.locator("#h-decide").click()
        second.keyboard.press("n")
        expect(second).to_have_url(f"{base}/reviews/rq-middle")

        assert stored(store, "rq-oldest").reserved_by == "rita"
        assert stored(store, "rq-oldest").status == "pending"
        for seen in (first_seen, second_seen):
            assert seen["errors"] == []
            assert seen["outside"] == []
        assert first_seen["failed"] == []


def test_a_domain_reviewer_works_only_their_use_cases_queue(queue: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, store = queue["base"], queue["store"]
    with chromium() as browser:
        page, seen = open_page(browser, base)
        log_in(page, base, "p.roy", "/reviews")
        # Reviewing is granted on claims triage only: the whole queue offers no start, its own queue does.
        expect(page.get_by_role("button", name="Start reviewing")).to_have_count(0)
        expect(page.locator("#review-needs")).to_contain_text("open one use case's queue")
        page.locator('#queue-table tr[data-id="rq-kb"]').get_by_role("link", name="kb-search").click()
        expect(page).to_have_url(f"{base}/reviews?usecase=kb-search")
        expect(page.get_by_role("button", name="Start reviewing")).to_have_count(0)

        page.goto(f"{base}/reviews?usecase={USECASE}")
        assert queue_ids(page) == ["rq-oldest", "rq-unsure", "rq-middle", "rq-least"]
        page.get_by_role("button", name="Start reviewing").click()
        expect(page).to_have_url(f"{base}/reviews/rq-oldest?usecase={USECASE}")
        page.get_by_label("Reason").select_option("outdated")
        page.get_by_role("button", name="Reject").click()
        expect(page).to_have_url(f"{base}/reviews/rq-unsure?usecase={USECASE}")
        rejected = stored(store, "rq-oldest")
        assert (rejected.status, rejected.reason_code, rejected.released) == ("rejected", "outdated", None)

        # An item of a use case he may not review: read only, and the service refuses a take.
        page.goto(f"{base}/reviews/rq-kb")
        expect(page.locator("#take-form")).to_have_count(0)
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        response = page.request.post(f"{base}/reviews/rq-kb/take", form={"csrf_token": token})
        assert response.status == 403
        assert "may not review.decide on use case" in response.text()

        assert seen["errors"] == []
        assert seen["failed"] == []
        assert seen["outside"] == []


def test_a_viewer_sees_no_forms_and_a_direct_post_is_refused(queue: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, store = queue["base"], queue["store"]
    with chromium() as browser:
        page, seen = open_page(browser, base)
        log_in(page, base, "vera", "/reviews")
        expect(page.locator("#queue-table tbody tr")).to_have_count(5)
        expect(page.get_by_role("button", name="Start reviewing")).to_have_count(0)
        expect(page.locator("#review-needs")).to_contain_text("reviewer")

        page.goto(f"{base}/reviews/rq-middle")
        expect(page.locator("#not-held")).to_be_visible()
        expect(page.locator("form#decision-form, form#take-form, form#next-form")).to_have_count(0)
        expect(page.locator("#review-needs")).to_contain_text("reviewer")
        # The clear input is for those who decide; the viewer sees the log's redacted copy.
        expect(page.locator("#clear-hidden")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("claimant2@example.com")

        page.goto(f"{base}/usecases/{USECASE}/rollout")
        expect(page.locator("#kill-form")).to_have_count(0)
        expect(page.locator("#kill-needs")).to_contain_text("technical-owner")

        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        posts = {
            "/reviews/next": {},
            "/reviews/rq-middle/take": {},
            "/reviews/rq-middle/decision": {
                "decision": "edit",
                "output": "{not json",
                "reason_code": "incorrect",
            },
            f"/usecases/{USECASE}/rollout/kill": {"reason": "mine now"},
        }
        for path, form in posts.items():
            response = page.request.post(base + path, form={**form, "csrf_token": token})
            assert response.status == 403, path
            assert "may not" in response.text()
        # Without the form token, refused before anything else.
        response = page.request.post(f"{base}/reviews/rq-middle/take", form={})
        assert response.status == 403
        assert "security token" in response.text()

        middle = stored(store, "rq-middle")
        assert (middle.status, middle.reserved_by) == ("pending", None)
        with store.transaction() as session:
            rollout = session.get(Rollout, USECASE)
            assert rollout is not None
            assert rollout.killed is False
        assert seen["errors"] == []
        assert seen["outside"] == []


def test_a_technical_owner_pulls_the_kill_switch_with_a_reason_and_revives_it(queue: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, store = queue["base"], queue["store"]
    with chromium() as browser:
        page, seen = open_page(browser, base)
        log_in(page, base, "li.wei", f"/usecases/{USECASE}")
        page.get_by_role("link", name="Rollout and kill switch").click()
        expect(page).to_have_url(f"{base}/usecases/{USECASE}/rollout")
        expect(page.get_by_role("heading", name="Claims triage: rollout", level=1)).to_be_visible()

        expect(page.locator("#stage")).to_have_text("supervised")
        expect(page.locator("#killed")).to_have_text("live")
        expect(page.locator("#traffic")).to_contain_text("mv-triage-1")
        expect(page.locator("#traffic")).to_contain_text('{"route": "manual"}')
        expect(page.locator("#transition-table tbody tr")).to_have_count(1)
        expect(page.locator("#transition-table")).to_contain_text("override: pilot on the agents' desks")
        # No plan: off and shadow are allowed, the rest wait for the evaluation gate.
        for stage in ("off", "shadow"):
            expect(page.locator(f'#gates li[data-stage="{stage}"]')).to_have_attribute("data-allowed", "yes")
        supervised = page.locator('#gates li[data-stage="supervised"]')
        expect(supervised).to_have_attribute("data-allowed", "no")
        expect(supervised).to_contain_text("has no plan")
        expect(supervised).to_contain_text("current")
        # The log's records, redacted: the clear email never reaches this page.
        expect(page.locator("#record-table tbody tr")).to_have_count(4)
        expect(page.locator("#reviews-link")).to_contain_text("4 pending, 2 overdue")
        page.locator('#record-table tr[data-id="rq-least"] summary').click()
        expect(page.locator('#record-table tr[data-id="rq-least"] .record-input')).to_contain_text("[email]")
        expect(page.locator("main")).not_to_contain_text("@example.com")

        # Pulling the switch: the panel is swapped in place, killed, with the reason and the transition.
        page.evaluate("window.stillTheSamePage = true")
        page.get_by_label("Reason").fill("wrong totals on credit notes")
        page.get_by_role("button", name="Pull the kill switch").click()
        expect(page.locator("#kill-saved")).to_contain_text("Killed")
        expect(page.locator("#killed")).to_have_text("killed")
        expect(page.locator("#kill-state")).to_have_text("killed")
        expect(page.locator("#kill-reason-shown")).to_contain_text("wrong totals on credit notes")
        expect(page.locator("#transition-table tbody tr")).to_have_count(2)
        expect(page.locator("#transition-table tbody tr").first).to_contain_text(
            "kill: wrong totals on credit notes"
        )
        assert page.evaluate("window.stillTheSamePage") is True
        page.screenshot(path=str(SCREENSHOTS / "phasegate-rollout.png"), full_page=True)

        page.reload()
        expect(page.locator("#killed")).to_have_text("killed")
        with store.transaction() as session:
            rollout = session.get(Rollout, USECASE)
            assert rollout is not None
            assert (rollout.killed, rollout.kill_reason) == (True, "wrong totals on credit notes")
            actions = [(e.action, e.actor) for e in audit.entries(session, usecase_id=USECASE)]
        assert ("rollout.kill", "li.wei") in actions

        # Reviving brings the traffic back, audited too.
        page.get_by_role("button", name="Revive").click()
        expect(page.locator("#kill-saved")).to_contain_text("Revived")
        expect(page.locator("#killed")).to_have_text("live")
        with store.transaction() as session:
            actions = [e.action for e in audit.entries(session, usecase_id=USECASE)]
        assert actions[0] == "rollout.revive"

        assert seen["errors"] == []
        assert seen["failed"] == []
        assert seen["outside"] == []
