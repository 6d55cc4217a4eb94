"""The use-case API as a client uses it: intake, one-pager, changes, ranking, ROI, bad input."""

from __future__ import annotations

import yaml
from fastapi.testclient import TestClient

from tests.conftest import DATA


def invoice() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load((DATA / "usecase-invoice-extraction.yaml").read_text())
    return document


def test_intake_needs_only_an_id_and_a_name(app_client: TestClient, admin: dict[str, str]) -> None:
    response = app_client.post("/api/v1/usecases", json={"id": "chat-bot", "name": "Chat bot"}, headers=admin)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "proposed" and body["current_phase"] is None
    assert body["completeness"]["filled"] == 0
    assert "primary KPI baseline" in " ".join(body["completeness"]["missing"])


def test_the_one_pager_derives_risk_tier_roi_and_completeness(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    body = app_client.get("/api/v1/usecases/invoice-extraction", headers=admin).json()
    assert body["risk"]["tier"] == "medium"
    assert body["risk_tier"] == "medium"
    # 42,000 x 4.10 x 0.70 = 120,540 a month; less 7,600 run cost; 180,000 / 112,940 = 1.59 months.
    assert body["roi"]["value"]["net_monthly_value"] == 112940
    assert round(body["roi"]["value"]["payback_months"], 2) == 1.59
    assert body["completeness"]["missing"] == []
    assert body["document"]["owners"]["risk"] == "k.osei"


def test_patch_merges_nested_fields_and_keeps_the_rest(app_client: TestClient, admin: dict[str, str]) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    response = app_client.patch(
        "/api/v1/usecases/invoice-extraction",
        json={"owners": {"technical": "new.person"}, "status": "active"},
        headers=admin,
    )
    assert response.status_code == 200
    document = response.json()["document"]
    assert document["owners"] == {
        "use_case": "maria.lopez",
        "technical": "new.person",
        "risk": "k.osei",
        "domain_reviewer": "j.berg",
    }
    assert response.json()["revision"] == 2


def test_bad_input_names_the_field_and_writes_nothing(app_client: TestClient, admin: dict[str, str]) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    response = app_client.patch(
        "/api/v1/usecases/invoice-extraction",
        json={"scores": {"data_readiness": 9}, "name": "Changed"},
        headers=admin,
    )
    assert response.status_code == 422
    assert any(p["field"] == "scores.data_readiness" for p in response.json()["problems"])
    after = app_client.get("/api/v1/usecases/invoice-extraction", headers=admin).json()
    assert after["name"] == "Invoice field extraction" and after["revision"] == 1


def test_unknown_fields_are_refused(app_client: TestClient, admin: dict[str, str]) -> None:
    response = app_client.patch("/api/v1/usecases/nope", json={"x": 1}, headers=admin)
    assert response.status_code == 404
    app_client.post("/api/v1/usecases", json={"id": "a", "name": "A"}, headers=admin)
    response = app_client.patch("/api/v1/usecases/a", json={"colour": "red"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["problems"][0] == {"message": "unknown field", "field": "colour"}


def test_a_duplicate_id_is_a_conflict(app_client: TestClient, admin: dict[str, str]) -> None:
    app_client.post("/api/v1/usecases", json={"id": "a", "name": "A"}, headers=admin)
    response = app_client.post("/api/v1/usecases", json={"id": "a", "name": "B"}, headers=admin)
    assert response.status_code == 409
    assert app_client.get("/api/v1/usecases/a", headers=admin).json()["name"] == "A"


def test_list_filters_by_status_unit_and_risk_tier(app_client: TestClient, admin: dict[str, str]) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    app_client.post(
        "/api/v1/usecases",
        json={"id": "b", "name": "B", "status": "active", "business_unit": "Sales"},
        headers=admin,
    )
    listed = app_client.get("/api/v1/usecases", params={"business_unit": "Sales"}, headers=admin).json()
    assert [u["id"] for u in listed["data"]] == ["b"]
    tiered = app_client.get("/api/v1/usecases", params={"risk_tier": "medium"}, headers=admin).json()
    assert [u["id"] for u in tiered["data"]] == ["invoice-extraction"]


def test_ranking_explains_positions_and_puts_unscored_last(
    app_client: TestClient, admin: dict[str, str]
) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    app_client.post(
        "/api/v1/usecases",
        json={
            "id": "low",
            "name": "Low",
            "scores": {
                "data_readiness": 2,
                "process_clarity": 2,
                "roi_measurability": 2,
                "scope_boundedness": 2,
            },
        },
        headers=admin,
    )
    app_client.post("/api/v1/usecases", json={"id": "unscored", "name": "Unscored"}, headers=admin)
    ranked = app_client.get("/api/v1/portfolio/rank", params={"model": "product"}, headers=admin).json()
    assert [(r["id"], r["rank"], r["score"]) for r in ranked["data"]] == [
        ("invoice-extraction", 1, 400),
        ("low", 2, 16),
        ("unscored", None, None),
    ]
    assert "data_readiness" in " ".join(ranked["data"][2]["missing"]) or ranked["data"][2]["missing"]
    assert ranked["data"][0]["explanation"]


def test_an_unknown_scoring_model_is_named(app_client: TestClient, admin: dict[str, str]) -> None:
    response = app_client.get("/api/v1/portfolio/rank", params={"model": "astrology"}, headers=admin)
    assert response.status_code == 404
    assert "astrology" in response.json()["detail"] and "product" in response.json()["detail"]


def test_roi_sensitivity_covers_every_input(app_client: TestClient, admin: dict[str, str]) -> None:
    app_client.post("/api/v1/usecases", json=invoice(), headers=admin)
    roi = app_client.get("/api/v1/usecases/invoice-extraction/roi", headers=admin).json()
    assert {s["input"] for s in roi["sensitivity"]} == {
        "volume_per_month",
        "cost_per_transaction_now",
        "improvement_rate",
        "run_cost_per_month",
        "one_off_cost",
    }
    base = roi["value"]["payback_months"]
    one_off = next(s for s in roi["sensitivity"] if s["input"] == "one_off_cost")
    assert one_off["low_payback"] < base < one_off["high_payback"]


def test_the_openapi_document_is_served(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/usecases/{usecase_id}" in spec["paths"]
    assert spec["components"]["securitySchemes"]
