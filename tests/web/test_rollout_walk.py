"""The demo use case taken from shadow to supervised to the canary ladder to full, the way a newcomer would.

`phasegate init`, `phasegate demo load` and `phasegate serve --gateway` run as `make run` runs them, each
in a process of its own on a fresh home folder. Then, in the system Chromium: the lead advances over the
failing pilot gate with a reason, moves traffic to supervised, reviewers decide the held outputs, the
candidate is approved, the canary starts at 5 % and the gateway's own analysis climbs the ladder window
by window on live traffic, and the lead promotes to full once the deployment gate's canary criterion is
met. Every step must show on the use case's rollout page and in its gate evidence.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PHASEGATE, free_port
from tests.web.test_browser import CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, system_chromium

pytestmark = pytest.mark.browser

USECASE = "income-prescreen"
# Small windows and samples so the ladder climbs in about a minute; absolute criteria, so the last step
# (weight 100, no control arm) is judged too.
WINDOW_SECONDS = 10
MIN_SAMPLES = 10
# A p95 needs 59 samples in an arm before its one-sided 95 % bound is an observed latency, so the walk,
# at 10 a window, judges the error rate alone.
CRITERIA = "error_rate <= 0.3"
LADDER_TIMEOUT_S = 240


@dataclass
class Demo:
    base: str
    password: str
    token: str
    home: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`make run` on a fresh home: init, the demo portfolio, and one server with the gateway."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEGATE_")} | {
        "PHASEGATE_HOME": str(home)
    }
    subprocess.run([PHASEGATE, "init"], env=env, check=True, capture_output=True, timeout=120)
    loaded = subprocess.run(
        [PHASEGATE, "demo", "load"], env=env, check=True, capture_output=True, text=True, timeout=300
    )
    login = re.search(r"web login:\s+admin / (\S+)", loaded.stdout)
    token = re.search(r"API token:\s+(\S+)", loaded.stdout)
    assert login and token, loaded.stdout
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [PHASEGATE, "serve", "--gateway", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/gateway/v1/health", timeout=1).json()["usecases"].get(USECASE):
                    break
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.2)
        yield Demo(base, login.group(1), token.group(1), home)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def adult_inputs(home: Path, count: int = 300) -> list[dict[str, Any]]:
    """Records of the demo's test split, as a caller would send them (no label, no heuristic)."""
    with (home / "demo" / "adult-test.csv").open() as file:
        rows = [row for _, row in zip(range(count), csv.DictReader(file), strict=False)]
    numeric = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
    return [
        {k: (float(v) if k in numeric else v) for k, v in row.items() if k not in ("income", "heuristic")}
        for row in rows
    ]


class Traffic:
    """Callers with distinct keys, sent steadily from a thread until stopped; counts what came back."""

    def __init__(self, demo: Demo, inputs: list[dict[str, Any]]) -> None:
        self.url = f"{demo.base}/gateway/v1/{USECASE}/predict"
        self.headers = {"Authorization": f"Bearer {demo.token}"}
        self.inputs = inputs
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as client:
            number = 0
            while not self._stop.wait(0.02):
                body = {"input": self.inputs[number % len(self.inputs)], "key": f"customer-{number}"}
                code = client.post(self.url, json=body).status_code
                self.statuses[code] = self.statuses.get(code, 0) + 1
                number += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def api(demo: Demo, path: str) -> Any:
    response = httpx.get(
        f"{demo.base}/api/v1{path}", headers={"Authorization": f"Bearer {demo.token}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def wait_for_weight(demo: Demo, weight: int) -> dict[str, Any]:
    deadline = time.monotonic() + LADDER_TIMEOUT_S
    while True:
        rollout = api(demo, f"/usecases/{USECASE}/rollout")
        if rollout["rollout"]["stage"] == "canary" and rollout["rollout"]["weight"] >= weight:
            return dict(rollout)
        assert rollout["rollout"]["stage"] == "canary", (
            f"the canary left its stage: {rollout['transitions'][:3]}"
        )
        assert time.monotonic() < deadline, f"the ladder stalled: {rollout['transitions'][:3]}"
        time.sleep(1)


def wait_for_the_gateway(demo: Demo, stage: str) -> None:
    """Until the gateway serves the stage: it reloads its routing state at its next poll (0.2 s)."""
    deadline = time.monotonic() + 5
    while True:
        seen = httpx.get(f"{demo.base}/gateway/v1/health", timeout=5).json()["usecases"].get(USECASE)
        if seen == stage:
            return
        assert time.monotonic() < deadline, f"the gateway still serves {seen} after 5 s"
        time.sleep(0.05)


def wait_for_evidence(demo: Demo, kind: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The newest evidence of a kind once `done` holds for it (windows end every few seconds)."""
    deadline = time.monotonic() + 60
    while True:
        found = api(demo, f"/usecases/{USECASE}/evidence?kind={kind}")["data"]
        if found and done(found[0]):
            return dict(found[0])
        assert time.monotonic() < deadline, f"no such {kind} evidence within a minute: {found[:1]}"
        time.sleep(1)


def move(page: Any, stage: str, **fields: str) -> None:
    from playwright.sync_api import expect

    page.locator("#move-stage").select_option(stage)
    for name, value in fields.items():
        target = page.locator(f"#move-{name}")
        if name in ("candidate", "primary"):
            target.select_option(value)
        else:
            target.fill(value)
    page.locator("#move-submit").click()
    expect(page.locator("#move-saved")).to_contain_text(stage)
    expect(page.locator("#stage")).to_have_text(stage)


def test_the_demo_use_case_walks_from_shadow_to_full_with_reviews_and_the_analysis_deciding(
    demo: Demo,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    inputs = adult_inputs(demo.home)
    base = demo.base
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=system_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/usecases/{USECASE}/rollout")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(demo.password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#stage")).to_have_text("shadow")

        # The gates refuse supervised: the pilot gate fails on the demo's evidence. Nothing changes.
        page.locator("#move-stage").select_option("supervised")
        page.locator("#move-submit").click()
        expect(page.locator("#move-error")).to_contain_text("Pilot build and validation")
        expect(page.locator("#stage")).to_have_text("shadow")

        # The lead advances over the pilot gate with a reason, recorded as an override decision.
        page.goto(f"{base}/usecases/{USECASE}/lifecycle")
        expect(page.locator("#h-gate")).to_contain_text("Pilot build and validation")
        expect(page.locator("#h-gate")).to_contain_text("not passed")
        page.get_by_label("Override reason").fill(
            "Fairness gap accepted for a supervised period: every output reviewed"
        )
        page.locator("#advance-submit").click()
        expect(page.locator("#advanced")).to_contain_text("deployment")
        expect(page.locator("#h-gate")).to_contain_text("Production deployment")

        # Supervised: outputs are held for review, and the callers get a pending id.
        page.goto(f"{base}/usecases/{USECASE}/rollout")
        move(page, "supervised", window=str(WINDOW_SECONDS), **{"min-samples": str(MIN_SAMPLES)})
        wait_for_the_gateway(demo, "supervised")  # it reloads within a poll of the change, not at once
        headers = {"Authorization": f"Bearer {demo.token}"}
        held = []
        for number in range(3):
            answer = httpx.post(
                f"{base}/gateway/v1/{USECASE}/predict",
                json={"input": inputs[number], "key": f"held-{number}"},
                headers=headers,
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            held.append(answer.json())

        # Reviewers decide them in the browser: approve, edit, reject.
        page.goto(f"{base}/reviews?usecase={USECASE}")
        page.get_by_role("button", name="Start reviewing").click()
        expect(page.locator("#proposed-json")).to_be_visible()
        page.locator("#h-decide").click()
        page.keyboard.press("a")
        expect(page.locator("#proposed-json")).to_be_visible()
        page.locator("#h-decide").click()
        page.keyboard.press("e")
        page.get_by_label("Corrected output").fill('{"value": ">50K"}')
        page.get_by_label("Reason").select_option("incorrect")
        page.get_by_role("button", name="Save edit").click()
        expect(page.locator("#proposed-json")).to_be_visible()
        page.get_by_label("Reason").select_option("missing_context")
        page.get_by_label("Note").fill("Occupation is missing.")
        page.locator("#reject").click()
        released = [
            httpx.get(f"{base}{h['result_url']}", headers=headers, timeout=10).json()["status"] for h in held
        ]
        assert sorted(released) == ["approved", "edited", "rejected"]

        # The supervised window is judged by the gateway itself: reviewed outputs and the override rate.
        supervised = wait_for_evidence(demo, "rollout.supervised", lambda e: e["payload"]["reviewed"] == 3)
        assert supervised["payload"]["overridden"] == 2, supervised  # the edit and the rejection

        # The candidate is approved, so it may answer without review.
        versions = api(demo, f"/usecases/{USECASE}/models")["data"]
        candidate = next(v for v in versions if v["version"] == "1.1.0")
        page.goto(f"{base}/usecases/{USECASE}/models/{candidate['id']}")
        page.locator("#status").get_by_role("button", name="Approve").click()
        expect(page.locator("#version-status")).to_have_text("approved")

        # The canary starts at the ladder's first step; from there the analysis decides, on live traffic.
        page.goto(f"{base}/usecases/{USECASE}/rollout")
        with Traffic(demo, inputs) as traffic:
            move(page, "canary", candidate="1.1.0", criteria=CRITERIA)
            expect(page.locator("#weight")).to_have_text("5 %")
            rollout = wait_for_weight(demo, 100)
        assert traffic.statuses.get(200, 0) > 100, traffic.statuses
        steps = [
            (t["from_weight"], t["to_weight"])
            for t in reversed(rollout["transitions"])
            if t["actor"] == "gateway:analysis" and t["to_stage"] == "canary"
        ]
        assert steps == [(5, 25), (25, 50), (50, 100)], rollout["transitions"]
        assert all(
            t["verdict"]["outcome"] == "pass"
            for t in rollout["transitions"]
            if t["actor"] == "gateway:analysis"
        )

        # Full is the lead's decision, allowed now that the deployment gate's canary criterion passes.
        page.reload()
        expect(page.locator('#gates li[data-stage="full"]')).to_have_attribute("data-allowed", "yes")
        move(page, "full")
        expect(page.locator("#traffic")).to_contain_text("income-logreg 1.1.0")
        expect(page.locator("#transition-table")).to_contain_text("gateway:analysis")
        expect(page.locator('#rollout-evidence dd[data-kind="rollout.canary"]')).to_contain_text("weight 50")
        expect(page.locator('#rollout-evidence dd[data-kind="rollout.supervised"]')).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "phasegate-rollout-walk.png"), full_page=True)

        # The deployment gate reads the same evidence.
        page.goto(f"{base}/usecases/{USECASE}/lifecycle")
        canary = page.locator("#gate-criteria tr.criterion", has_text="rollout.canary")
        expect(canary.locator(".badge")).to_have_text("pass")
        browser.close()

    final = api(demo, f"/usecases/{USECASE}/rollout")["rollout"]
    assert (final["stage"], final["primary"], final["candidate"]) == ("full", candidate["id"], None)
    assert api(demo, f"/usecases/{USECASE}/evidence?kind=rollout.canary")["data"]
