"""Playbooks: the schema every playbook follows, and the four built-in ones."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from phasegate.errors import InvalidInput
from phasegate.identity.roles import Role
from phasegate.lifecycle.playbooks import (
    BUILTIN_IDS,
    ActivitySpec,
    CriterionSpec,
    PlaybookSpec,
    activity_of,
    builtin_playbooks,
    parse_criteria,
    parse_playbook,
)

EXAMPLE = Path(__file__).parent.parent / "data" / "playbook-ninety-day.yaml"


def minimal(**phase: Any) -> dict[str, Any]:
    """A one-phase playbook, with whatever the test sets on its phase."""
    return {
        "kind": "Playbook",
        "id": "tiny",
        "name": "Tiny",
        "phases": [{"id": "only", "name": "Only", "days": 7, **phase}],
    }


def problems(document: dict[str, Any]) -> dict[str, str]:
    """The field path and message of each problem parse_playbook reports."""
    with pytest.raises(InvalidInput) as caught:
        parse_playbook(document)
    return {p.field or "": p.message for p in caught.value.problems}


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return document


@pytest.fixture(scope="module")
def builtins() -> dict[str, PlaybookSpec]:
    return builtin_playbooks()


# The built-in playbooks


def test_the_four_built_in_playbooks_load_in_presentation_order(builtins: dict[str, PlaybookSpec]) -> None:
    assert list(builtins) == ["four-phase", "five-phase", "six-phase", "ninety-day"] == list(BUILTIN_IDS)


@pytest.mark.parametrize("playbook_id", BUILTIN_IDS)
def test_a_built_in_playbooks_effort_shares_sum_to_at_most_one(
    builtins: dict[str, PlaybookSpec], playbook_id: str
) -> None:
    shares = [p.effort_share for p in builtins[playbook_id].phases]
    assert all(s is not None for s in shares)
    assert math.fsum(s for s in shares if s is not None) <= 1 + 1e-9


@pytest.mark.parametrize("playbook_id", BUILTIN_IDS)
def test_every_built_in_phase_has_an_objective_activities_deliverables_and_a_gate(
    builtins: dict[str, PlaybookSpec], playbook_id: str
) -> None:
    for phase in builtins[playbook_id].phases:
        assert phase.objective, phase.id
        assert 3 <= len(phase.activities) <= 8, phase.id
        assert phase.deliverables, phase.id
        assert phase.gate.criteria, phase.id
        assert phase.duration_note, phase.id


@pytest.mark.parametrize("playbook_id", BUILTIN_IDS)
def test_every_built_in_playbook_links_some_activities_by_dependency(
    builtins: dict[str, PlaybookSpec], playbook_id: str
) -> None:
    links = [d for p in builtins[playbook_id].phases for a in p.activities for d in a.depends_on]
    assert len(links) >= 3


@pytest.mark.parametrize("playbook_id", BUILTIN_IDS)
def test_a_built_in_playbook_survives_the_round_trip_through_its_document(
    builtins: dict[str, PlaybookSpec], playbook_id: str
) -> None:
    playbook = builtins[playbook_id]
    assert parse_playbook(playbook.document()) == playbook


def test_the_four_phase_path_runs_initiation_pilot_rollout_and_normalization(
    builtins: dict[str, PlaybookSpec],
) -> None:
    phases = builtins["four-phase"].phases
    assert [(p.id, p.days, p.effort_share) for p in phases] == [
        ("initiation", 14, 0.10),
        ("pilot", 56, 0.30),
        ("rollout", 84, 0.40),
        ("normalization", 90, 0.20),
    ]
    assert [p.continuous for p in phases] == [False, False, False, True]


def test_the_five_phase_path_audits_the_data_first_with_a_fresh_audit(
    builtins: dict[str, PlaybookSpec],
) -> None:
    first = builtins["five-phase"].phases[0]
    assert first.id == "data-audit"
    assert [c.label for c in first.gate.criteria][:2] == [
        "data.audit: gaps.blockers == 0 (no older than 14 days)",
        "data.audit: quality.completeness >= 0.98 (no older than 14 days)",
    ]


def test_the_five_phase_pilot_gate_checks_performance_fairness_and_load(
    builtins: dict[str, PlaybookSpec],
) -> None:
    pilot = builtins["five-phase"].phase("pilot")
    assert pilot is not None
    kinds = {c.evidence for c in pilot.gate.criteria}
    assert {"evaluation.performance", "evaluation.fairness", "evaluation.load"} <= kinds


def test_the_six_phase_roadmap_has_its_six_phases_in_order(builtins: dict[str, PlaybookSpec]) -> None:
    assert [p.id for p in builtins["six-phase"].phases] == [
        "strategy",
        "data-readiness",
        "proof-of-concept",
        "mvp",
        "governance",
        "scaling",
    ]


def test_the_built_in_ninety_day_plan_keeps_every_criterion_of_the_shared_example(
    builtins: dict[str, PlaybookSpec], example: dict[str, Any]
) -> None:
    def thresholds(criteria: list[CriterionSpec]) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.document().items() if k not in {"name", "description"}} for c in criteria]

    shared = parse_playbook(example)
    builtin = builtins["ninety-day"]
    assert [(p.id, p.days) for p in builtin.phases] == [(p.id, p.days) for p in shared.phases]
    for ours, theirs in zip(builtin.phases, shared.phases, strict=True):
        assert thresholds(ours.gate.criteria) == thresholds(theirs.gate.criteria)


# The shared example


def test_the_shared_ninety_day_example_validates(example: dict[str, Any]) -> None:
    playbook = parse_playbook(example)
    assert playbook.id == "ninety-day"
    assert [p.id for p in playbook.phases] == ["discover", "build", "productionize"]
    assert playbook.phases[0].activities[0].name == "Pick 1-2 high-impact use cases"


def test_the_shared_example_reads_its_criteria_in_all_three_forms(example: dict[str, Any]) -> None:
    criteria = parse_playbook(example).phases[0].gate.criteria
    assert [c.kind for c in criteria] == ["metric", "metric", "approval"]
    assert criteria[0].max_age_days == 14
    assert criteria[2].role is Role.risk_owner


# Criteria


def test_a_criterion_without_require_is_a_presence_check() -> None:
    criterion = CriterionSpec.model_validate({"evidence": "data.audit", "max_age_days": 14})
    assert criterion.kind == "presence"
    assert criterion.label == "data.audit present (no older than 14 days)"


def test_a_metric_criterions_default_label_reads_as_written() -> None:
    criterion = CriterionSpec.model_validate(
        {
            "evidence": "data.audit",
            "require": {"metric": "gaps.blockers", "op": "==", "value": 0},
            "max_age_days": 14,
        }
    )
    assert criterion.label == "data.audit: gaps.blockers == 0 (no older than 14 days)"


def test_a_named_criterion_keeps_its_name_as_label() -> None:
    criterion = CriterionSpec.model_validate({"approval": "risk", "name": "Risk sign-off"})
    assert criterion.label == "Risk sign-off"


@pytest.mark.parametrize(
    ("written", "stored", "role"),
    [
        ("use_case", "use_case", Role.use_case_owner),
        ("technical", "technical", Role.technical_owner),
        ("risk", "risk", Role.risk_owner),
        ("domain_reviewer", "domain_reviewer", Role.reviewer),
        ("risk-owner", "risk", Role.risk_owner),
        ("program-lead", "program-lead", Role.program_lead),
    ],
)
def test_an_approval_names_an_owner_field_or_a_role(written: str, stored: str, role: Role) -> None:
    criterion = CriterionSpec.model_validate({"approval": written})
    assert (criterion.approval, criterion.role, criterion.kind) == (stored, role, "approval")


def test_string_thresholds_and_booleans_are_kept_as_written() -> None:
    on = CriterionSpec.model_validate(
        {"evidence": "rollout.canary", "require": {"metric": "healthy", "op": "==", "value": True}}
    )
    named = CriterionSpec.model_validate(
        {"evidence": "rollout.canary", "require": {"metric": "stage", "op": "!=", "value": "shadow"}}
    )
    assert on.require is not None and on.require.value is True
    assert named.label == 'rollout.canary: stage != "shadow"'


# Bad documents: each error names the field path


def test_an_unknown_key_is_named_by_its_path(example: dict[str, Any]) -> None:
    document = copy.deepcopy(example)
    document["phases"][1]["gate"]["criteria"][0]["requires"] = {}
    assert problems(document) == {"phases.1.gate.criteria.0.requires": "unknown field"}


def test_a_criterion_with_both_evidence_and_approval_is_refused(example: dict[str, Any]) -> None:
    document = copy.deepcopy(example)
    document["phases"][0]["gate"]["criteria"][2]["evidence"] = "data.audit"
    found = problems(document)
    assert list(found) == ["phases.0.gate.criteria.2"]
    assert "not both" in found["phases.0.gate.criteria.2"]


def test_a_criterion_with_neither_evidence_nor_approval_is_refused() -> None:
    found = problems(minimal(gate={"criteria": [{"name": "something"}]}))
    assert found == {"phases.0.gate.criteria.0": "a criterion needs 'evidence: KIND' or 'approval: ROLE'"}


def test_an_approval_with_a_metric_requirement_is_refused() -> None:
    found = problems(
        minimal(gate={"criteria": [{"approval": "risk", "require": {"metric": "x", "op": ">", "value": 1}}]})
    )
    assert "go with 'evidence'" in found["phases.0.gate.criteria.0"]


def test_a_bad_operator_is_named_by_its_path(example: dict[str, Any]) -> None:
    document = copy.deepcopy(example)
    document["phases"][1]["gate"]["criteria"][0]["require"]["op"] = "=>"
    found = problems(document)
    assert list(found) == ["phases.1.gate.criteria.0.require.op"]
    assert "'>='" in found["phases.1.gate.criteria.0.require.op"]


def test_an_ordering_operator_needs_a_number() -> None:
    found = problems(
        minimal(
            gate={"criteria": [{"evidence": "a.b", "require": {"metric": "x", "op": ">=", "value": "high"}}]}
        )
    )
    assert found == {
        "phases.0.gate.criteria.0.require": "'>=' compares numbers, but the value \"high\" is not a number"
    }


def test_an_evidence_kind_must_be_dotted_lower_case() -> None:
    found = problems(minimal(gate={"criteria": [{"evidence": "DataAudit"}]}))
    assert list(found) == ["phases.0.gate.criteria.0.evidence"]


def test_an_unknown_approval_role_lists_the_roles() -> None:
    found = problems(minimal(gate={"criteria": [{"approval": "ceo"}]}))
    assert "unknown role 'ceo'" in found["phases.0.gate.criteria.0.approval"]
    assert "risk-owner" in found["phases.0.gate.criteria.0.approval"]


def test_a_duplicate_phase_id_is_named(example: dict[str, Any]) -> None:
    document = copy.deepcopy(example)
    document["phases"][2]["id"] = "build"
    assert problems(document) == {"phases.2.id": "phase id 'build' is already used at phases.1"}


def test_effort_shares_summing_over_one_are_refused_with_their_sum(example: dict[str, Any]) -> None:
    document = copy.deepcopy(example)
    for phase, share in zip(document["phases"], [0.4, 0.4, 0.3], strict=True):
        phase["effort_share"] = share
    assert problems(document) == {
        "phases": "effort shares sum to 1.1, more than 1 (discover 0.4, build 0.4, productionize 0.3)"
    }


def test_effort_shares_summing_to_exactly_one_are_accepted_despite_float_addition() -> None:
    phases = [{"id": f"p{i}", "name": f"P{i}", "days": 1, "effort_share": 0.1} for i in range(10)]
    assert math.fsum([0.1] * 10) == 1.0 and sum([0.1] * 10) != 1.0
    parse_playbook({"id": "tenths", "name": "Tenths", "phases": phases})


def test_a_playbook_needs_at_least_one_phase() -> None:
    assert list(problems({"id": "empty", "name": "Empty", "phases": []})) == ["phases"]


def test_a_phase_needs_a_positive_number_of_days() -> None:
    assert list(problems(minimal(days=0))) == ["phases.0.days"]


def test_an_activity_may_be_its_name_alone_or_carry_details() -> None:
    playbook = parse_playbook(
        minimal(
            activities=[
                "Profile the data",
                {
                    "name": "Fix the gaps",
                    "days": 5,
                    "owner_role": "technical-owner",
                    "depends_on": ["Profile the data"],
                },
            ]
        )
    )
    plain, detailed = playbook.phases[0].activities
    assert (plain.name, plain.days, plain.depends_on) == ("Profile the data", None, [])
    assert (detailed.owner_role, detailed.depends_on) == ("technical", ["Profile the data"])
    assert playbook.document()["phases"][0]["activities"][0] == "Profile the data"


def test_a_dependency_on_an_unknown_activity_is_named() -> None:
    found = problems(minimal(activities=["A", {"name": "B", "depends_on": ["C"]}]))
    assert found == {"phases.0.activities.1.depends_on.0": "no activity named 'C' in this playbook"}


def test_a_name_split_at_its_comma_by_yaml_gets_a_hint() -> None:
    document = yaml.safe_load(
        """
        id: tiny
        name: Tiny
        phases:
          - id: only
            name: Only
            days: 7
            activities:
              - Set SLOs, alerts and the runbook
              - {name: Canary, depends_on: [Set SLOs, alerts and the runbook]}
        """
    )
    found = problems(document)
    assert "must be quoted" in found["phases.0.activities.1.depends_on.0"]


def test_activities_depending_on_each_other_in_a_circle_are_refused() -> None:
    found = problems(
        minimal(activities=[{"name": "A", "depends_on": ["B"]}, {"name": "B", "depends_on": ["A"]}, "C"])
    )
    assert found == {
        "phases.0.activities.0.depends_on": "activities depend on each other in a circle: A → B → A"
    }


def test_an_activity_name_used_twice_is_refused() -> None:
    found = problems(minimal(activities=["A", "A"]))
    assert list(found) == ["phases.0.activities.1.name"]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_playbook(["not", "a", "playbook"])  # type: ignore[arg-type]


# Criteria as stored


def test_stored_criteria_parse_back_to_the_same_specs(builtins: dict[str, PlaybookSpec]) -> None:
    criteria = builtins["five-phase"].phases[2].gate.criteria
    assert parse_criteria([c.document() for c in criteria]) == criteria


def test_a_bad_stored_criterion_is_named_by_its_index() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_criteria(
            [{"approval": "risk"}, {"evidence": "a.b", "require": {"metric": "x", "op": "=>", "value": 1}}]
        )
    assert [p.field for p in caught.value.problems] == ["criteria.1.require.op"]


def test_an_activity_written_as_a_name_becomes_a_full_spec() -> None:
    assert activity_of("Profile the data") == ActivitySpec(name="Profile the data")
