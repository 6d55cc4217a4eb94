"""The rollout page's "Move traffic" form: the API's rule, refusals beside the form, nothing half-set."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from phasegate.evaluation import registry
from phasegate.evaluation.schemas import ModelVersionSpec
from phasegate.identity.service import local_operator
from phasegate.lifecycle import plans
from phasegate.rollout import service
from phasegate.rollout.models import Rollout, RolloutTransition
from phasegate.store import Store
from tests.conftest import Users
from tests.web.conftest import csrf_of, log_in

OPERATOR = local_operator("test")
USECASE = "claims-triage"
PAGE = f"/usecases/{USECASE}/rollout"


@pytest.fixture
def versions(store: Store, seeded: list[str]) -> None:
    """Two versions of claims triage and a five-phase plan, whose pilot gate has no evidence yet."""
    with store.transaction() as session:
        for version in ("1.0.0", "1.1.0"):
            spec = ModelVersionSpec(
                name="triage", version=version, kind="http", uri="http://127.0.0.1:9/predict"
            )
            registry.register(session, actor=OPERATOR, usecase_id=USECASE, spec=spec)
        plans.start(
            session, actor=OPERATOR, usecase_id=USECASE, playbook_id="five-phase", start_on=date.today()
        )


@pytest.fixture
def lead(app_client: TestClient, users: Users, versions: None) -> TestClient:
    users.token("pat", "program-lead")
    assert log_in(app_client, "pat").status_code == 303
    return app_client


def move(client: TestClient, **form: str) -> Any:
    token = csrf_of(client.get(PAGE).text)
    return client.post(f"{PAGE}/stage", data={"csrf_token": token, **form}, follow_redirects=False)


def stored(store: Store) -> tuple[Rollout | None, int]:
    with store.transaction() as session:
        rollout = session.get(Rollout, USECASE)
        if rollout is not None:
            session.expunge(rollout)
        return rollout, session.query(RolloutTransition).filter_by(usecase_id=USECASE).count()


def test_shadow_needs_no_gate_and_the_page_says_where_traffic_went(lead: TestClient, store: Store) -> None:
    page = lead.get(PAGE).text
    assert 'id="move-form"' in page and 'id="move-override"' in page
    moved = move(lead, stage="shadow", primary="1.0.0", candidate="1.1.0")
    assert moved.status_code == 303 and moved.headers["location"] == f"{PAGE}?moved=shadow#traffic"
    page = lead.get(moved.headers["location"]).text
    assert "Traffic moved to <strong>shadow</strong>" in page
    # The window the gateway will judge next, and what each arm has so far.
    assert 'id="current-window"' in page and '<strong data-arm="candidate">0</strong>' in page
    rollout, transitions = stored(store)
    assert rollout is not None and (rollout.stage, transitions) == ("shadow", 1)


def test_a_stage_the_gates_refuse_is_refused_beside_the_form_and_nothing_changes(
    lead: TestClient, store: Store
) -> None:
    move(lead, stage="shadow", primary="1.0.0", candidate="1.1.0")
    refused = move(lead, stage="supervised")
    assert refused.status_code == 403
    assert 'id="move-error"' in refused.text
    assert "the gates do not allow &#39;supervised&#39; yet" in refused.text
    assert "Pilot build and validation" in refused.text
    rollout, transitions = stored(store)
    assert rollout is not None and (rollout.stage, transitions) == ("shadow", 1)


def test_a_lead_goes_further_with_a_reason_audited_as_an_override(lead: TestClient, store: Store) -> None:
    move(lead, stage="shadow", primary="1.0.0", candidate="1.1.0")
    moved = move(lead, stage="supervised", override_reason="pilot on the agents' desks")
    assert moved.status_code == 303
    with store.transaction() as session:
        history = service.history(session, usecase_id=USECASE)
        assert history[0].reason == "override: pilot on the agents' desks"


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"window_seconds": "soon"}, "window_seconds", "not a whole number"),
        ({"window_seconds": "5"}, "window_seconds", "at least 10 seconds"),
        ({"min_samples": "0"}, "min_samples", "at least 1"),
        ({"weight": "150"}, "weight", "from 0 to 100"),
        ({"criteria": "error_rate <= banana"}, "criteria", ""),
        ({"candidate": "9.9.9"}, "candidate", "9.9.9"),
        ({"stage": "everywhere"}, "stage", "is not a stage"),
    ],
)
def test_bad_settings_name_the_field_and_nothing_is_written(
    lead: TestClient, store: Store, form: dict[str, str], field: str, words: str
) -> None:
    move(lead, stage="shadow", primary="1.0.0", candidate="1.1.0")
    before, transitions = stored(store)
    refused = move(lead, **({"stage": "shadow"} | form))
    assert refused.status_code == 422, refused.text
    assert f"<code>{field}" in refused.text and words in refused.text
    after, count = stored(store)
    assert after is not None and before is not None
    assert (after.window_seconds, after.min_samples, after.weight, after.criteria, count) == (
        before.window_seconds,
        before.min_samples,
        before.weight,
        before.criteria,
        transitions,
    )


def test_a_viewer_sees_no_form_and_a_post_is_refused(
    app_client: TestClient, users: Users, versions: None, store: Store
) -> None:
    users.token("vera", "viewer")
    assert log_in(app_client, "vera").status_code == 303
    page = app_client.get(PAGE).text
    assert 'id="move-form"' not in page
    refused = move(app_client, stage="shadow", primary="1.0.0", candidate="1.1.0")
    assert refused.status_code == 403
    assert stored(store) == (None, 0)


def test_a_technical_owner_may_move_traffic_but_not_override(
    app_client: TestClient, users: Users, versions: None
) -> None:
    users.token("tom", "technical-owner")
    assert log_in(app_client, "tom").status_code == 303
    page = app_client.get(PAGE).text
    assert 'id="move-form"' in page and 'id="move-override"' not in page
    assert move(app_client, stage="shadow", primary="1.0.0", candidate="1.1.0").status_code == 303
    refused = move(app_client, stage="supervised", override_reason="let me")
    assert refused.status_code == 403


def test_every_bad_number_is_named_at_once(lead: TestClient, store: Store) -> None:
    move(lead, stage="shadow", primary="1.0.0", candidate="1.1.0")
    refused = move(lead, stage="shadow", weight="lots", window_seconds="soon", min_samples="7")
    assert refused.status_code == 422
    assert "<code>weight" in refused.text and "<code>window_seconds" in refused.text
    assert "<code>min_samples" not in refused.text
