"""The outbound allow-list: with PHASEGATE_OUTBOUND_HOSTS set, the server calls no host it does not name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from phasegate import outbound
from phasegate.app import create_app
from phasegate.errors import InvalidInput
from phasegate.rollout.gateway import create_gateway_app
from phasegate.settings import Settings
from phasegate.store import Store
from tests.conftest import Users

ALLOWED = ["models.internal", "*.example.com"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://models.internal/predict", True),
        ("https://MODELS.internal:8443/x", True),
        ("https://hooks.example.com/cb", True),
        ("https://a.b.example.com/cb", True),
        ("https://example.com/cb", False),  # a wildcard covers subdomains only
        ("https://evilexample.com/cb", False),
        ("http://127.0.0.1:5432/", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("not a url", False),
    ],
)
def test_a_host_is_allowed_only_when_the_list_names_it(url: str, allowed: bool) -> None:
    assert outbound.allows(url, ALLOWED) is allowed
    assert outbound.allows(url, None) is True  # unset: any host


def test_a_refusal_names_the_field_the_host_and_the_setting() -> None:
    with pytest.raises(InvalidInput) as refused:
        outbound.check("http://10.0.0.5/admin", ALLOWED, field="webhook")
    problem = refused.value.problems[0]
    assert problem.field == "webhook"
    assert "'10.0.0.5' is not in PHASEGATE_OUTBOUND_HOSTS (models.internal, *.example.com)" in problem.message


@pytest.fixture
def guarded(store: Store, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    limited = settings.model_copy(update={"outbound_hosts": ALLOWED})
    with TestClient(create_app(limited, store=store)) as client:
        yield client, Users(store).headers("ada", "admin")


def refused_field(response: Any) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["problems"][0]["field"])


def test_server_driven_calls_to_unlisted_hosts_are_refused_before_anything_is_sent(
    guarded: tuple[TestClient, dict[str, str]],
) -> None:
    client, admin = guarded
    body = {"id": "claims", "name": "Claims"}
    assert client.post("/api/v1/usecases", json=body, headers=admin).status_code == 201
    model = {"name": "m", "version": "1.0.0", "kind": "http", "uri": "http://127.0.0.1:9/predict"}
    assert refused_field(client.post("/api/v1/usecases/claims/models", json=model, headers=admin)) == "uri"
    assert client.get("/api/v1/usecases/claims/models", headers=admin).json()["count"] == 0
    allowed_model = model | {"uri": "http://models.internal/predict"}
    assert client.post("/api/v1/usecases/claims/models", json=allowed_model, headers=admin).status_code == 201
    load = {"url": "http://127.0.0.1:9/", "rps": 1, "duration": 1, "payloads": [{}]}
    assert refused_field(client.post("/api/v1/usecases/claims/loadtests", json=load, headers=admin)) == "url"
    replay = {"url": "http://127.0.0.1:9/", "suite": ""}
    assert refused_field(client.post("/api/v1/usecases/claims/replays", json=replay, headers=admin)) == "url"


def test_a_callers_webhook_to_an_unlisted_host_is_refused_by_the_gateway(
    store: Store, settings: Settings
) -> None:
    headers = Users(store).headers("ada", "admin")
    limited = settings.model_copy(update={"outbound_hosts": ALLOWED})
    with TestClient(create_gateway_app(limited, store=store)) as gateway:
        body = {"input": {"amount": 1}, "webhook": "http://169.254.169.254/latest"}
        answer = gateway.post("/gateway/v1/claims/predict", json=body, headers=headers)
    assert refused_field(answer) == "webhook"


def test_a_webhook_whose_host_is_no_longer_allowed_is_not_sent() -> None:
    from phasegate.rollout import webhooks
    from phasegate.rollout.models import ReviewItem

    item = ReviewItem(id="rq-1", status="approved", webhook_url="http://10.0.0.5/hook", released={"value": 1})
    assert webhooks.notify(item, allowed=ALLOWED) is None


def test_the_services_refuse_unlisted_hosts_whichever_door_calls_them(store: Store) -> None:
    from phasegate.evaluation import loadtests, registry
    from phasegate.evaluation.schemas import ModelVersionSpec
    from phasegate.identity.service import local_operator
    from phasegate.portfolio import service as portfolio_service
    from phasegate.portfolio.schemas import UseCaseSpec

    operator = local_operator("test")
    with store.transaction() as session:
        portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="claims", name="Claims"))
    with store.transaction() as session:
        spec = ModelVersionSpec(name="m", version="1.0.0", kind="openai", uri="http://10.0.0.5/v1")
        with pytest.raises(InvalidInput) as refused:
            registry.register(session, actor=operator, usecase_id="claims", spec=spec, outbound_hosts=ALLOWED)
        assert refused.value.problems[0].field == "uri"
        assert registry.list_versions(session, usecase_id="claims") == []
        with pytest.raises(InvalidInput, match="does not call that host"):
            loadtests.run_and_record(
                session,
                actor=operator,
                usecase_id="claims",
                url="http://10.0.0.5/",
                rps=1,
                duration=1,
                payloads=[{}],
                outbound_hosts=ALLOWED,
            )
