"""The evaluation pages in a real browser: the system Chromium, driven by Playwright, against uvicorn.

Reuses the live server of test_browser.py (a seeded SQLite store) and gives claims triage a plan, two
model versions, an evaluation of scored predictions (400 records, a gap between the sexes built in, two
race groups too small to judge), a load test and a replay of the HR suite against the leaky test app.
Never downloads a browser. Screenshots of every page are left in /tmp.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from phasegate.data import catalog
from phasegate.data.schemas import DataSourceSpec
from phasegate.evaluation import loadtest, loadtests, registry, replays, runs
from phasegate.evaluation.schemas import EvaluationRequest, ModelVersionSpec
from phasegate.identity.service import local_operator
from phasegate.lifecycle import plans
from phasegate.store import Store, now
from tests.conftest import Users
from tests.evaluation import replay_app
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, live_server, system_chromium

pytestmark = pytest.mark.browser

__all__ = ["live_server"]  # the fixture, imported so pytest finds it here

USECASE = "claims-triage"
SUITE = Path(__file__).parent.parent / "evaluation" / "replay_suite.jsonl"
RUBRIC_PICKS = {"correctness": 5, "source_support": 4, "format_fit": 2, "policy_alignment": 5}
# Latencies of the load test, in ms: most fast, a slow tail past the ninety-day gate's 800 ms at p95.
LATENCIES_MS = (
    [20 + i % 40 for i in range(180)] + [300 + 40 * i for i in range(6)] + [900 + 50 * i for i in range(14)]
)


def write_scored(path: Path) -> Path:
    """400 claims with a label, the model's and a heuristic's predictions, the claimant's sex and race.

    The model is right 90 % of the time for men and 70 % for women, so its rates differ by sex well beyond
    0.10; 20 records each of two race groups are too few to judge.
    """
    rng = random.Random(7)
    lines = ["label,prediction,heuristic,sex,race"]
    for n in range(400):
        sex = "female" if n % 3 == 0 else "male"
        race = "white" if n % 10 else ("asian" if n % 20 else "other")
        label = 1 if rng.random() < 0.4 else 0
        model = label if rng.random() < (0.9 if sex == "male" else 0.7) else 1 - label
        heuristic = label if rng.random() < 0.7 else 1 - label
        lines.append(f"{label},{model},{heuristic},{sex},{race}")
    path.write_text("\n".join(lines) + "\n")
    return path


def seed_evaluation(store: Store, folder: Path, replay_url: str) -> dict[str, Any]:
    """Claims triage planned, evaluated, load-tested and replayed through the service functions."""
    operator = local_operator("test")
    with store.transaction() as session:
        plans.start(
            session,
            actor=operator,
            usecase_id=USECASE,
            playbook_id="ninety-day",
            start_on=now().date() - timedelta(days=10),
        )
        catalog.apply_source(
            session,
            actor=operator,
            spec=DataSourceSpec(id="claims-scored", location=str(write_scored(folder / "scored.csv"))),
        )
        old = registry.register(
            session,
            actor=operator,
            usecase_id=USECASE,
            spec=ModelVersionSpec(name="triage", version="0.9.0", kind="predictions"),
        )
        registry.set_status(
            session, actor=operator, version=old, status="retired", reason="replaced by 1.0.0"
        )
        version = registry.register(
            session,
            actor=operator,
            usecase_id=USECASE,
            spec=ModelVersionSpec(name="triage", version="1.0.0", kind="predictions"),
        )
        run = runs.run_evaluation(
            session,
            actor=operator,
            usecase_id=USECASE,
            request=EvaluationRequest(
                model="1.0.0",
                data="claims-scored",
                label="label",
                prediction="prediction",
                baseline_prediction="heuristic",
                segments=["sex", "race"],
                resamples=200,
            ),
        )
        samples = [
            loadtest.Sample(scheduled_s=i / 20, latency_s=ms / 1000) for i, ms in enumerate(LATENCIES_MS)
        ]
        result = loadtest.summarise(samples, loadtest.LoadPlan(rps=20, duration_s=10, timeout_s=5)).to_dict()
        test = loadtests.record(
            session, actor=operator, usecase_id=USECASE, url="http://127.0.0.1:9/score", result=result
        )
        replayed = replays.run_and_record(
            session,
            actor=operator,
            usecase_id=USECASE,
            url=replay_url,
            suite=SUITE.read_bytes(),
            suite_name=SUITE.name,
            sample=4,
        )
        return {
            "version": version.id,
            "old": old.id,
            "run": run.id,
            "performance": run.performance,
            "fairness": run.fairness,
            "load": test.id,
            "histogram": result["histogram"],
            "latency": result["latency"],
            "replay": replayed.id,
            "sample": list(replayed.sample),
        }


@pytest.fixture
def evaluated(live_server: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The live server with claims triage's evaluation work, a program lead and a reviewer."""
    store = Store(os.environ["PHASEGATE_DATABASE_URL"])
    try:
        with replay_app.serve(replay_app.create_app(leaky=True)) as app_url:
            seeded = seed_evaluation(store, tmp_path, f"{app_url}/ask")
        users = Users(store)
        users.token("pat", "program-lead")
        users.token("rita", "reviewer")
    finally:
        store.dispose()
    yield {"base": live_server, **seeded}


@contextmanager
def browser_page(base: str) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    """A Chromium page that notes script errors, failed responses and any request leaving the server."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, list[str]] = {"errors": [], "failed": [], "outside": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
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
                lambda request: (
                    None
                    if request.url.startswith(base) or request.url.startswith("data:")
                    else seen["outside"].append(request.url)
                ),
            )
            yield page, seen
        finally:
            browser.close()


def log_in(page: Any, base: str, name: str, path: str) -> None:
    """Open a page, be sent to the login form, log in and land back on the page."""
    from playwright.sync_api import expect

    page.goto(base + path)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + path)


def test_a_lead_reads_the_models_edits_a_card_section_and_approves_a_version(
    evaluated: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    base, version = evaluated["base"], evaluated["version"]
    with browser_page(base) as (page, seen):
        log_in(page, base, "pat", f"/usecases/{USECASE}")
        page.get_by_role("link", name="Models and evaluations").click()
        expect(page).to_have_url(f"{base}/usecases/{USECASE}/models")
        expect(page.get_by_role("heading", name="Claims triage: models", level=1)).to_be_visible()

        # Both versions, newest first, each with its status; the newest run beside the evaluated one.
        rows = page.locator("#version-table tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_have_attribute("data-id", version)
        expect(rows.nth(0).locator("[data-status]")).to_have_text("candidate")
        expect(rows.nth(1).locator("[data-status]")).to_have_text("retired")
        expect(rows.nth(1)).to_contain_text("replaced by 1.0.0")
        expect(rows.nth(0).get_by_role("link", name=evaluated["run"])).to_be_visible()
        expect(page.locator("#run-table tbody tr")).to_have_count(1)

        # The ROI's bar, as the criterion a gate would take: to remove 30 % of a 12.00 cost when a wrong
        # answer costs as much again, precision must reach (0.3 · 12 + 12) / (12 + 12) = 0.65.
        expect(page.locator("#min-precision")).to_have_text("65.0 %")
        expect(page.locator("#min-recall")).to_have_text("30.0 %")
        expect(page.locator("#suggested-criterion")).to_contain_text(
            'require: {metric: metrics.precision.ci_low, op: ">=", value: 0.650}'
        )
        expect(page.locator("#precision-gate")).to_contain_text(">= 0.85")
        page.screenshot(path=str(SCREENSHOTS / "phasegate-models.png"), full_page=True)

        rows.nth(0).get_by_role("link", name="triage 1.0.0").click()
        expect(page).to_have_url(f"{base}/usecases/{USECASE}/models/{version}")
        expect(page.locator("#version-status")).to_have_text("candidate")
        sections = page.locator(".card-section")
        expect(sections).to_have_count(6)
        evaluation = page.locator("#card-evaluation .card-text")
        expect(evaluation).to_contain_text(evaluated["run"])
        expect(evaluation).to_contain_text("95 % interval")

        # Edit one section in place: the section comes back written, the page is not reloaded.
        page.evaluate("window.stillTheSamePage = true")
        limitations = page.locator("#card-limitations")
        expect(limitations.locator(".badge")).to_have_text("generated")
        limitations.get_by_text("Edit limitations").click()
        written = "Scored on claims from 2024 only; women are served worse (see the segment table)."
        limitations.get_by_label("Limitations").fill(written)
        limitations.get_by_role("button", name="Save limitations").click()
        expect(page.locator("#card-limitations .notice")).to_have_text("Saved.")
        expect(page.locator("#card-limitations .card-text")).to_have_text(written)
        expect(page.locator("#card-limitations .badge")).to_have_text("written")
        assert page.evaluate("window.stillTheSamePage") is True

        # The Markdown download carries the written section.
        with page.expect_download() as download:
            page.locator("#card-download").click()
        markdown = Path(download.value.path()).read_text()
        assert markdown.startswith("# Model card: triage 1.0.0")
        assert f"## Limitations\n\n{written}" in markdown

        # Rejecting needs a reason: refused in the panel, nothing changes.
        status = page.locator("#status")
        status.get_by_role("button", name="Reject").click()
        expect(page.locator("#status .form-refusal")).to_contain_text("say why")
        expect(page.locator("#version-status")).to_have_text("candidate")

        # Approving: the panel and the heading's badge both say approved.
        page.locator("#status").get_by_role("button", name="Approve").click()
        expect(page.locator("#status .notice")).to_have_text("Now approved.")
        expect(page.locator("#status-now [data-status]")).to_have_text("approved")
        expect(page.locator("#version-status")).to_have_text("approved")
        expect(page.locator("#status").get_by_role("button", name="Approve")).to_have_count(0)

        page.reload()
        expect(page.locator("#version-status")).to_have_text("approved")
        expect(page.locator("#card-limitations .card-text")).to_have_text(written)
        page.screenshot(path=str(SCREENSHOTS / "phasegate-model-version.png"), full_page=True)

        assert seen["errors"] == []
        assert seen["failed"] == [f"422 POST {base}/usecases/{USECASE}/models/{version}/status"]
        assert seen["outside"] == []


def test_the_report_shows_intervals_the_confusion_matrix_and_flags_the_disparity(
    evaluated: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    base, run = evaluated["base"], evaluated["run"]
    performance, fairness = evaluated["performance"], evaluated["fairness"]
    with browser_page(base) as (page, seen):
        log_in(page, base, "vera", f"/evaluations/{run}")
        expect(page.get_by_role("heading", name="Evaluation of triage@1.0.0", level=1)).to_be_visible()

        # Each metric with its interval, in the table and as a point with error bars on the chart.
        table = page.locator("#metric-table tbody tr")
        expect(table).to_have_count(4)
        precision = performance["metrics"]["precision"]
        row = page.locator('#metric-table tr[data-metric="precision"]')
        expect(row.locator(".value")).to_have_text(f"{precision['value']:.3f}")
        expect(row.locator(".interval")).to_have_text(
            f"{precision['ci_low']:.3f} – {precision['ci_high']:.3f}"
        )
        chart = page.locator("#interval-chart")
        expect(chart.locator(".plot-container svg.main-svg").first).to_be_visible()
        expect(chart.locator(".scatterlayer .point")).to_have_count(4)
        expect(chart.locator(".errorbar")).to_have_count(4)

        # The confusion matrix, actual against predicted.
        cells = performance["confusion_matrix"]
        matrix = page.locator("#confusion-matrix")
        for cell in ("true_positive", "false_positive", "false_negative", "true_negative"):
            expect(matrix.locator(f'[data-cell="{cell}"]')).to_contain_text(str(cells[cell]))

        # The baseline, in words.
        expect(page.locator("#baseline-verdict")).to_contain_text("the model is better")
        expect(page.locator("#baseline-summary li").first).to_contain_text("The model beats the baseline by")

        # Segments: the gap between the sexes is past the plan's 0.10, flagged in its row.
        expect(page.locator("#disparity-bar")).to_contain_text("max_disparity <= 0.10")
        expect(page.locator("#max-disparity")).to_have_text(f"{fairness['max_disparity']:.3f}")
        expect(page.locator("#max-disparity")).to_have_class(re.compile("late-text"))
        gaps = fairness["attributes"]["sex"]["disparities"]
        assert gaps["true_positive_rate"]["difference"]["value"] > 0.10
        for measure, gap in gaps.items():
            row = page.locator(f'#gaps-sex tr[data-measure="{measure}"]')
            if gap["difference"]["value"] > 0.10:
                expect(row).to_have_class("beyond")
                expect(row.locator(".badge")).to_have_text("above 0.10")
            else:
                expect(row).not_to_have_class("beyond")
                expect(row.locator(".badge")).to_have_text("within")
        expect(page.locator("#groups-sex tbody tr")).to_have_count(2)
        female = fairness["attributes"]["sex"]["groups"]["female"]["metrics"]["true_positive_rate"]
        expect(page.locator('#groups-sex tr[data-group="female"]')).to_contain_text(
            f"{female['value']:.3f} [{female['ci_low']:.3f}, {female['ci_high']:.3f}]"
        )
        # Race: two groups of 20 are shown but not judged, so no gap is measured.
        for group in ("asian", "other"):
            expect(page.locator(f'#groups-race tr[data-group="{group}"]')).to_contain_text("not judged")
        expect(page.locator('#groups-race tr[data-group="white"]')).not_to_contain_text("not judged")
        expect(page.locator("#gaps-race")).to_have_count(0)

        # The evidence the gates read.
        expect(page.locator("#evidence-list li")).to_have_count(2)
        expect(page.locator("#evidence-list")).to_contain_text("evaluation.fairness")
        page.screenshot(path=str(SCREENSHOTS / "phasegate-evaluation-report.png"), full_page=True)

        assert seen["errors"] == []
        assert seen["failed"] == []
        assert seen["outside"] == []


def test_a_viewer_sees_no_forms_and_a_direct_post_is_refused(evaluated: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, version, replay = evaluated["base"], evaluated["version"], evaluated["replay"]
    with browser_page(base) as (page, seen):
        log_in(page, base, "vera", f"/usecases/{USECASE}/models/{version}")
        expect(page.locator(".card-section")).to_have_count(6)
        expect(page.locator("textarea")).to_have_count(0)
        expect(page.locator("#card form, #status form")).to_have_count(0)
        expect(page.locator("#status")).to_contain_text("needs one of")

        page.goto(f"{base}/replays/{replay}")
        expect(page.locator("#case")).to_be_visible()
        expect(page.locator("#rubric-form")).to_have_count(0)
        expect(page.locator("#no-review")).to_contain_text("reviewer")

        # The forms' posts, sent anyway with the session's token: the services refuse them.
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        posts = {
            f"/usecases/{USECASE}/models/{version}/card/limitations": {"text": "mine now"},
            f"/usecases/{USECASE}/models/{version}/status": {"status": "approved"},
            f"/replays/{replay}/reviews/{evaluated['sample'][0]}": {name: "5" for name in RUBRIC_PICKS},
        }
        for path, form in posts.items():
            response = page.request.post(base + path, form={**form, "csrf_token": token})
            assert response.status == 403, path
            assert "may not" in response.text()

        page.goto(f"{base}/usecases/{USECASE}/models/{version}")
        expect(page.locator("#version-status")).to_have_text("candidate")
        expect(page.locator("#card-limitations .badge")).to_have_text("generated")
        page.goto(f"{base}/replays/{replay}")
        expect(page.locator("#review-count")).to_contain_text("0 reviews")

        assert seen["errors"] == []
        assert seen["outside"] == []


def test_a_reviewer_scores_a_sampled_case_and_the_summary_updates(evaluated: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, replay, sample = evaluated["base"], evaluated["replay"], evaluated["sample"]
    with browser_page(base) as (page, seen):
        log_in(page, base, "rita", f"/usecases/{USECASE}/replays")
        rows = page.locator("#replay-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(f"0 of {len(sample)}")
        rows.first.get_by_role("link", name=replay).click()
        expect(page).to_have_url(f"{base}/replays/{replay}")

        # The leaky app: the run's summary says so.
        expect(page.locator("#pass-rate")).not_to_have_text("100.0 %")
        expect(page.locator('#check-table tr[data-check="pii"] td').nth(2)).not_to_have_text("0")
        expect(page.locator("#failure-table tbody tr")).not_to_have_count(0)

        # The first sampled case waits for review, with its answer, citations and checks.
        case = page.locator("#case")
        expect(case).to_have_attribute("data-case", sample[0])
        expect(page.locator("#case-answer")).not_to_be_empty()
        expect(page.locator("#case-checks tbody tr")).to_have_count(9)
        form = page.locator("#rubric-form")
        expect(form).to_contain_text("A safe refusal counts as good")
        expect(form.locator("fieldset")).to_have_count(4)
        expect(form.locator('fieldset[data-dimension="policy_alignment"] .anchors li')).to_have_count(3)
        expect(page.locator("#review-count")).to_contain_text("0 reviews")

        for name, score in RUBRIC_PICKS.items():
            form.locator(f'fieldset[data-dimension="{name}"]').get_by_label(str(score), exact=True).check()
        form.get_by_label("Note").fill("Right answer, but it signs off with a colleague's email address.")
        form.get_by_role("button", name="Save and go to the next case").click()

        # On to the next waiting case; the summary counts the review.
        expect(page).to_have_url(f"{base}/replays/{replay}?case={sample[1]}#review")
        expect(page.locator("#case")).to_have_attribute("data-case", sample[1])
        expect(page.locator("#review-count")).to_contain_text("1 review of 1 case")
        expect(page.locator("#review-count")).to_contain_text(
            f"{len(sample) - 1} of {len(sample)} sampled waiting"
        )
        for name, score in RUBRIC_PICKS.items():
            expect(page.locator(f'#rubric-table tr[data-dimension="{name}"] .mean')).to_have_text(
                f"{score:.2f}"
            )
        expect(page.locator("#good-rate")).to_have_text("0 %")
        expect(page.locator(f'#sample-list li[data-case="{sample[0]}"]')).to_contain_text("reviewed by rita")
        page.screenshot(path=str(SCREENSHOTS / "phasegate-replay-review.png"), full_page=True)

        # Going back to the scored case shows rita's scores, ready to be replaced.
        page.locator(f'#sample-list li[data-case="{sample[0]}"] a').click()
        expect(page.locator("#case")).to_have_attribute("data-case", sample[0])
        checked = page.locator('#rubric-form fieldset[data-dimension="format_fit"] input:checked')
        expect(checked).to_have_value("2")

        assert seen["errors"] == []
        assert seen["failed"] == []
        assert seen["outside"] == []


def test_a_load_tests_percentiles_and_latency_histogram_render(evaluated: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, load = evaluated["base"], evaluated["load"]
    latency, histogram = evaluated["latency"], evaluated["histogram"]
    with browser_page(base) as (page, seen):
        log_in(page, base, "vera", f"/usecases/{USECASE}/loadtests")
        test = page.locator(f"#{load}")
        expect(test).to_be_visible()
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            expect(test.locator(f'[data-figure-name="{key}"] .value')).to_have_text(f"{latency[key]:,.1f} ms")
        expect(test.locator('[data-figure-name="error_rate"] .value')).to_have_text("0.0 %")
        # p95 is past the plan's 800 ms: flagged, and the bins past it drawn apart.
        expect(page.locator("#latency-gate")).to_contain_text("p95 latency <= 800 ms")
        expect(test.locator('[data-figure-name="p95_ms"] .value')).to_have_class(re.compile("late-text"))
        chart = test.locator(f"#histogram-{load}")
        expect(chart.locator(".plot-container svg.main-svg").first).to_be_visible()
        expect(chart.locator(".barlayer .point")).to_have_count(len(histogram["counts"]))
        page.screenshot(path=str(SCREENSHOTS / "phasegate-load-tests.png"), full_page=True)

        assert seen["errors"] == []
        assert seen["failed"] == []
        assert seen["outside"] == []
