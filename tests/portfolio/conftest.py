"""The invoice-extraction use case, written out by hand from the shared example."""

from __future__ import annotations

import pytest

from phasegate.portfolio.schemas import UseCaseSpec

INVOICE_EXTRACTION = {
    "kind": "UseCase",
    "id": "invoice-extraction",
    "name": "Invoice field extraction",
    "business_unit": "Finance operations",
    "workflow": "Accounts payable intake",
    "outcome_class": "action",
    "user_group": "AP clerks (40 people, daily)",
    "task_boundary": "Extract supplier, invoice number, date, net, tax and total from PDF invoices "
    "into the ERP draft record",
    "owners": {
        "use_case": "maria.lopez",
        "technical": "dev.patel",
        "risk": "k.osei",
        "domain_reviewer": "j.berg",
    },
    "kpis": {
        "primary": {
            "name": "processing_time_hours",
            "unit": "hours per invoice",
            "baseline": 36,
            "target": 8,
            "direction": "lower",
        },
        "counter_metrics": [
            {"name": "critical_error_rate", "unit": "ratio", "baseline": 0.031, "limit": 0.02},
            {"name": "marginal_cost_per_document", "unit": "USD", "limit": 0.18},
        ],
    },
    "error_budget": "Critical field (total, supplier) wrong on at most 2% of invoices",
    "label_reality": "Clerks correct drafts in the ERP within 1 business day; corrections are the labels",
    "roi": {
        "volume_per_month": 42000,
        "cost_per_transaction_now": 4.10,
        "improvement_rate": 0.70,
        "run_cost_per_month": 7600,
        "one_off_cost": 180000,
    },
    "scores": {"data_readiness": 4, "process_clarity": 5, "roi_measurability": 5, "scope_boundedness": 4},
    "risk": {
        "data_sensitivity": "confidential",
        "customer_impact": "low",
        "autonomy": "drafts_then_acts",
        "eu_ai_act": "minimal",
    },
    "playbook": "five-phase",
    "stop_rule": "Retire if cost per successful extraction exceeds 0.40 USD for two consecutive months",
}


@pytest.fixture
def invoice() -> UseCaseSpec:
    """The invoice-extraction use case with its definition of done complete."""
    return UseCaseSpec.model_validate(INVOICE_EXTRACTION)
