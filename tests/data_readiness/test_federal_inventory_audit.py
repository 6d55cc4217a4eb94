"""The real 2025 federal AI inventory audited against a contract made from its own data dictionary:
the audit must report what the published data actually breaks, counted exactly."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from phasegate.data import audits, catalog
from phasegate.data.schemas import DataSourceSpec
from phasegate.identity.service import local_operator
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store
from tests.conftest import DATA

INVENTORY = DATA / "us-federal-ai-inventory-2025.csv"
DICTIONARY = json.loads((DATA / "us-federal-data-dictionary.json").read_text())
ANSWERED = ("has_pii", "have_ato", "has_custom_code", "development_stage", "is_high_impact")


def short_answer(answer: str) -> str:
    """'a) Pre-deployment – The use case is ...' in the dictionary is 'Pre-deployment' in the inventory."""
    return re.sub(r"^[a-z]\)\s*", "", answer).split(" –")[0].strip()


def contract_from_dictionary() -> dict[str, Any]:
    """Required columns must be filled; multiple-choice columns hold one of the dictionary's answers."""
    columns: dict[str, Any] = {"id": {"type": "string", "unique": True}}
    for name in ANSWERED:
        entry = DICTIONARY[name]
        allowed = sorted({short_answer(k) for k in entry["recoding_map"]})
        columns[name] = {
            "type": "string",
            "allowed": allowed,
            "not_null": "Required: Yes" in entry["instructions"],
        }
    return {"kind": "DataContract", "id": "omb-dictionary", "source": "omb_2025", "columns": columns}


def test_the_audit_counts_what_the_inventory_breaks_against_its_dictionary(store: Store) -> None:
    operator = local_operator("test")
    with store.transaction() as session:
        portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="inventory", name="Inventory"))
        catalog.apply_source(
            session,
            actor=operator,
            spec=DataSourceSpec(
                id="omb_2025",
                location=str(INVENTORY),
                owner="omb",
                classification="public",
                usecases=["inventory"],
            ),
        )
        record = audits.audit_source(
            session,
            actor=operator,
            source_id="omb_2025",
            request=audits.AuditRequest(contract=contract_from_dictionary()),
        )
    frame = pd.read_csv(INVENTORY, dtype=str, keep_default_na=False)
    results = {r["check"]: r for r in record.details["contract"]["results"]}

    assert record.summary["rows"] == len(frame) == 3611
    blanks = int((frame["has_pii"].str.strip() == "").sum())
    assert (
        results["has_pii.not_null"]["status"] == "fail"
        and results["has_pii.not_null"]["violations"] == blanks
    )
    stage = DICTIONARY["development_stage"]["recoding_map"]
    off_list = frame["development_stage"].map(lambda v: v != "" and v not in {short_answer(k) for k in stage})
    assert results["development_stage.allowed"]["violations"] == int(off_list.sum())
    repeated = int(frame["id"][frame["id"] != ""].duplicated().sum())
    assert (results["id.unique"]["status"] == "fail") == (repeated > 0)

    gaps = {g["key"]: g for g in record.details["gaps"]}
    assert any(key.endswith("has_pii.not_null") for key in gaps)
    # The free text holds a real e-mail address: undeclared personal data in a public source.
    assert "email" in record.summary["pii"]
    assert any(g["severity"] == "blocker" and g["key"].startswith("pii:") for g in gaps.values())
    assert (
        record.summary["quality"]["consistency"] is not None and record.summary["quality"]["consistency"] < 1
    )
