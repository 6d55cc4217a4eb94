"""Use cases to look at, a logged-in browser session, and the form token pages carry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from phasegate.identity import service as identity_service
from phasegate.portfolio import service as portfolio_service
from phasegate.store import Store

DATA = Path(__file__).parent.parent / "data"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# Three use cases beside the shared invoice example, chosen so every filter has something to drop:
# each has its own business unit, status and risk tier, and one has nothing but a name.
CLAIMS_TRIAGE: dict[str, Any] = {
    "id": "claims-triage",
    "name": "Claims triage",
    "status": "active",
    "business_unit": "Claims",
    "owners": {"use_case": "ana.silva", "technical": "li.wei", "risk": "k.osei", "domain_reviewer": "p.roy"},
    "kpis": {"primary": {"name": "time_to_first_decision", "unit": "days", "baseline": 6, "target": 2,
                         "direction": "lower"}},
    "roi": {"volume_per_month": 9000, "cost_per_transaction_now": 12.0, "improvement_rate": 0.3,
            "run_cost_per_month": 5000, "one_off_cost": 400000},
    "scores": {"business_value": 5, "technical_feasibility": 3, "data_readiness": 2, "process_clarity": 3,
               "roi_measurability": 4, "scope_boundedness": 3},
    "risk": {"data_sensitivity": "restricted", "customer_impact": "high", "autonomy": "drafts",
             "eu_ai_act": "high"},
}
KB_SEARCH: dict[str, Any] = {
    "id": "kb-search",
    "name": "Knowledge base search for agents",
    "status": "active",
    "business_unit": "Customer service",
    "owners": {"use_case": "tom.ek"},
    "roi": {"volume_per_month": 30000, "cost_per_transaction_now": 1.5, "improvement_rate": 0.2,
            "run_cost_per_month": 2000, "one_off_cost": 60000},
    "scores": {"business_value": 3, "technical_feasibility": 5, "data_readiness": 4, "process_clarity": 4,
               "roi_measurability": 3, "scope_boundedness": 5},
    "risk": {"data_sensitivity": "internal", "customer_impact": "none", "autonomy": "suggests",
             "eu_ai_act": "minimal"},
}
IDEA: dict[str, Any] = {"id": "contract-summaries", "name": "Contract summaries",
                        "attributes": {"sponsor": "Legal operations", "intake_row": 14}}


def seed(store: Store) -> list[str]:
    """The shared invoice example and three use cases built here, written as the local operator."""
    documents = [yaml.safe_load((DATA / "usecase-invoice-extraction.yaml").read_text()), CLAIMS_TRIAGE,
                 KB_SEARCH, IDEA]
    operator = identity_service.local_operator("test")
    with store.transaction() as session:
        for document in documents:
            spec = portfolio_service.parse_spec(document)
            portfolio_service.create(session, actor=operator, spec=spec)
    return [d["id"] for d in documents]


def csrf_of(html: str) -> str:
    """The CSRF token a page put in its forms."""
    match = CSRF.search(html)
    assert match, "the page has no form with a csrf_token field"
    return match.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Fill in and send the login form as a browser would."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                       follow_redirects=False)


@pytest.fixture
def seeded(store: Store) -> list[str]:
    return seed(store)
