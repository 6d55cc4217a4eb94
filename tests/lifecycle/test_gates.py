"""Gates: criteria frozen before results exist, then judged on the newest evidence and current sign-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.lifecycle.gates import (
    MISSING,
    ApprovalView,
    EvidenceView,
    evaluate,
    freeze,
    metric_at,
    thaw,
)
from phasegate.lifecycle.playbooks import CriterionSpec

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def metric(kind: str, path: str, op: str, value: Any, max_age_days: int | None = None) -> CriterionSpec:
    document: dict[str, Any] = {"evidence": kind, "require": {"metric": path, "op": op, "value": value}}
    if max_age_days is not None:
        document["max_age_days"] = max_age_days
    return CriterionSpec.model_validate(document)


def presence(kind: str, max_age_days: int | None = None) -> CriterionSpec:
    return CriterionSpec.model_validate({"evidence": kind, "max_age_days": max_age_days})


def approval(role: str) -> CriterionSpec:
    return CriterionSpec.model_validate({"approval": role})


def ev(
    kind: str, payload: dict[str, Any], *, age: timedelta = timedelta(days=1), id: str = "ev-1"
) -> EvidenceView:
    return EvidenceView(id=id, kind=kind, created_at=NOW - age, payload=payload, sha256="0" * 64)


def sign(
    index: int, role: str = "risk", *, approved: bool = True, version: int = 1, **kw: Any
) -> ApprovalView:
    at = kw.pop("at", NOW - timedelta(hours=1))
    return ApprovalView(
        criterion_index=index,
        role=role,
        by=kw.pop("by", "rita"),
        approved=approved,
        reason=kw.pop("reason", ""),
        at=at,
        criteria_version=version,
    )


def judge(
    criterion: CriterionSpec,
    evidence: list[EvidenceView] | None = None,
    approvals: list[ApprovalView] | None = None,
    version: int = 1,
) -> Any:
    """The single result of a one-criterion gate."""
    result = evaluate(
        [criterion], evidence=evidence or [], approvals=approvals or [], now=NOW, criteria_version=version
    )
    return result.results[0]


# Metric criteria: each operator


@pytest.mark.parametrize(
    ("op", "value", "observed", "status"),
    [
        (">=", 0.85, 0.85, "pass"),
        (">=", 0.85, 0.84, "fail"),
        (">", 0, 0.01, "pass"),
        (">", 0, 0, "fail"),
        ("<=", 800, 800, "pass"),
        ("<=", 800, 801, "fail"),
        ("<", 0.25, 0.24, "pass"),
        ("<", 0.25, 0.25, "fail"),
        ("==", 0, 0, "pass"),
        ("==", 0, 0.0, "pass"),
        ("==", 0, 2, "fail"),
        ("!=", "shadow", "canary", "pass"),
        ("!=", "shadow", "shadow", "fail"),
        ("==", True, True, "pass"),
        ("==", True, False, "fail"),
    ],
)
def test_each_operator_compares_the_observed_metric_with_the_threshold(
    op: str, value: Any, observed: Any, status: str
) -> None:
    result = judge(
        metric("evaluation.performance", "m", op, value), [ev("evaluation.performance", {"m": observed})]
    )
    assert (result.status, result.observed, result.threshold, result.evidence_id) == (
        status,
        observed,
        value,
        "ev-1",
    )


def test_a_passing_metric_says_what_it_compared() -> None:
    result = judge(
        metric("evaluation.performance", "metrics.precision.ci_low", ">=", 0.85),
        [ev("evaluation.performance", {"metrics": {"precision": {"ci_low": 0.9}}}, id="ev-7")],
    )
    assert result.kind == "metric"
    assert result.reason == "metrics.precision.ci_low: 0.9 >= 0.85 (evidence ev-7)"


def test_a_failing_metric_says_what_fell_short() -> None:
    result = judge(
        metric("evaluation.fairness", "max_disparity", "<=", 0.1),
        [ev("evaluation.fairness", {"max_disparity": 0.2})],
    )
    assert result.reason == "max_disparity: 0.2 is not <= 0.1 (evidence ev-1)"


def test_a_string_compared_with_an_ordering_operator_fails_with_a_clear_reason() -> None:
    result = judge(
        metric("evaluation.load", "latency.p95_ms", "<=", 800),
        [ev("evaluation.load", {"latency": {"p95_ms": "fast"}})],
    )
    assert result.status == "fail"
    assert '"fast" is a string, not a number' in result.reason


def test_a_boolean_is_not_a_number_to_an_ordering_operator() -> None:
    result = judge(
        metric("rollout.supervised", "reviewed", ">=", 1), [ev("rollout.supervised", {"reviewed": True})]
    )
    assert result.status == "fail"
    assert "is a boolean, not a number" in result.reason


def test_equality_between_different_types_fails_rather_than_guessing() -> None:
    result = judge(
        metric("data.audit", "gaps.blockers", "==", 0), [ev("data.audit", {"gaps": {"blockers": "0"}})]
    )
    assert result.status == "fail"
    assert "cannot compare them" in result.reason


def test_a_metric_that_is_an_object_fails_as_not_a_value() -> None:
    result = judge(metric("data.audit", "gaps", "==", 0), [ev("data.audit", {"gaps": {"blockers": 0}})])
    assert result.status == "fail"
    assert "is an object, not a value" in result.reason


def test_a_nan_metric_fails() -> None:
    result = judge(
        metric("monitoring.drift", "max_psi", "!=", 1), [ev("monitoring.drift", {"max_psi": float("nan")})]
    )
    assert result.status == "fail"


# Missing evidence and missing metrics


def test_no_evidence_of_the_kind_is_missing() -> None:
    result = judge(metric("evaluation.load", "latency.p95_ms", "<=", 800), [ev("data.audit", {})])
    assert (result.status, result.evidence_id, result.reason) == (
        "missing",
        None,
        "no evaluation.load evidence yet",
    )


def test_a_metric_absent_from_the_evidence_is_missing_and_named() -> None:
    result = judge(
        metric("data.audit", "gaps.blockers", "==", 0), [ev("data.audit", {"gaps": {}}, id="ev-3")]
    )
    assert (result.status, result.evidence_id) == ("missing", "ev-3")
    assert result.reason == "no metric 'gaps.blockers' in evidence ev-3"


def test_a_null_metric_is_missing() -> None:
    result = judge(
        metric("data.audit", "gaps.blockers", "==", 0), [ev("data.audit", {"gaps": {"blockers": None}})]
    )
    assert result.status == "missing"


# Freshness


def test_evidence_exactly_at_the_age_limit_still_counts() -> None:
    criterion = metric("data.audit", "gaps.blockers", "==", 0, max_age_days=14)
    result = judge(criterion, [ev("data.audit", {"gaps": {"blockers": 0}}, age=timedelta(days=14))])
    assert result.status == "pass"


def test_evidence_a_second_past_the_age_limit_is_stale_and_fails_naming_its_age() -> None:
    criterion = metric("data.audit", "gaps.blockers", "==", 0, max_age_days=14)
    result = judge(
        criterion, [ev("data.audit", {"gaps": {"blockers": 0}}, age=timedelta(days=14, seconds=1))]
    )
    assert result.status == "fail"
    assert (
        result.reason == "the newest data.audit (ev-1) is 14 days, 0:00:01 old, older than the 14-day limit"
    )


def test_stale_evidence_fails_a_presence_check_with_its_age_in_days() -> None:
    result = judge(presence("data.audit", max_age_days=14), [ev("data.audit", {}, age=timedelta(days=20))])
    assert result.status == "fail"
    assert "is 20.0 days old, older than the 14-day limit" in result.reason


def test_fresh_evidence_passes_a_presence_check() -> None:
    result = judge(
        presence("monitoring.drift", max_age_days=7), [ev("monitoring.drift", {}, age=timedelta(days=2))]
    )
    assert (result.kind, result.status, result.observed, result.threshold) == ("presence", "pass", 2.0, 7)


def test_any_evidence_passes_a_presence_check_without_an_age_limit() -> None:
    result = judge(presence("monitoring.drift"), [ev("monitoring.drift", {}, age=timedelta(days=400))])
    assert result.status == "pass"


def test_no_evidence_fails_a_presence_check_as_missing() -> None:
    assert judge(presence("monitoring.drift", max_age_days=7)).status == "missing"


def test_a_zoneless_timestamp_is_read_as_utc() -> None:
    naive = EvidenceView("ev-1", "data.audit", datetime(2025, 5, 18, 12, 0), {}, "0" * 64)
    assert judge(presence("data.audit", max_age_days=14), [naive]).status == "pass"


# The newest evidence decides


def test_the_newest_evidence_wins_over_an_older_passing_one() -> None:
    criterion = metric("evaluation.performance", "precision", ">=", 0.85)
    older = ev("evaluation.performance", {"precision": 0.95}, age=timedelta(days=5), id="ev-old")
    newer = ev("evaluation.performance", {"precision": 0.80}, age=timedelta(days=1), id="ev-new")
    result = judge(criterion, [older, newer])
    assert (result.status, result.evidence_id, result.observed) == ("fail", "ev-new", 0.80)


def test_newer_evidence_missing_the_metric_does_not_fall_back_to_an_older_one() -> None:
    criterion = metric("evaluation.performance", "precision", ">=", 0.85)
    older = ev("evaluation.performance", {"precision": 0.95}, age=timedelta(days=5), id="ev-old")
    newer = ev("evaluation.performance", {}, age=timedelta(days=1), id="ev-new")
    assert judge(criterion, [newer, older]).status == "missing"


# Approvals


def test_an_approval_by_the_role_passes() -> None:
    result = judge(approval("risk"), approvals=[sign(1, "risk-owner", by="rita", reason="controls in place")])
    assert (result.kind, result.status, result.observed, result.threshold) == (
        "approval",
        "pass",
        "approved",
        "risk-owner",
    )
    assert result.reason == "approved by rita (risk-owner) on 2025-06-01 11:00 UTC: controls in place"


def test_a_rejection_fails() -> None:
    result = judge(approval("risk"), approvals=[sign(1, approved=False, reason="no DPIA")])
    assert (result.status, result.observed) == ("fail", "rejected")
    assert result.reason.endswith(": no DPIA")


def test_no_approval_is_missing() -> None:
    result = judge(approval("use_case"))
    assert (result.status, result.reason) == ("missing", "no sign-off by use-case-owner yet")


def test_approvals_of_an_older_criteria_version_are_ignored() -> None:
    result = judge(approval("risk"), approvals=[sign(1, version=1)], version=2)
    assert result.status == "missing"
    assert "version 1 do not count" in result.reason and "now version 2" in result.reason


def test_the_newest_sign_off_of_the_current_version_decides() -> None:
    earlier = sign(1, approved=False, at=NOW - timedelta(days=2))
    later = sign(1, approved=True, at=NOW - timedelta(days=1))
    assert judge(approval("risk"), approvals=[later, earlier]).status == "pass"
    assert (
        judge(
            approval("risk"), approvals=[sign(1, approved=True, at=NOW - timedelta(days=3)), earlier]
        ).status
        == "fail"
    )


def test_an_approval_counts_only_for_its_own_criterion_and_role() -> None:
    criteria = [approval("use_case"), approval("risk")]
    result = evaluate(
        criteria, evidence=[], approvals=[sign(1, "risk"), sign(2, "use_case")], now=NOW, criteria_version=1
    )
    assert [r.status for r in result.results] == ["missing", "missing"]


def test_on_a_tie_the_rejection_wins() -> None:
    at = NOW - timedelta(hours=2)
    approvals = [sign(1, approved=True, at=at), sign(1, approved=False, at=at)]
    assert judge(approval("risk"), approvals=approvals).status == "fail"


# The gate as a whole


def test_a_gate_passes_only_when_every_criterion_passes_and_counts_each_status() -> None:
    criteria = [
        metric("data.audit", "gaps.blockers", "==", 0),
        presence("evaluation.load"),
        approval("risk"),
    ]
    result = evaluate(
        criteria,
        evidence=[ev("data.audit", {"gaps": {"blockers": 0}})],
        approvals=[sign(3, approved=False)],
        now=NOW,
        criteria_version=1,
    )
    assert [r.index for r in result.results] == [1, 2, 3]
    assert [r.label for r in result.results] == [
        "data.audit: gaps.blockers == 0",
        "evaluation.load present",
        "approval by risk-owner",
    ]
    assert result.passed is False
    assert dict(result.counts) == {"pass": 1, "fail": 1, "missing": 1}


def test_a_gate_with_every_criterion_met_passes() -> None:
    criteria = [metric("data.audit", "gaps.blockers", "==", 0), approval("risk")]
    result = evaluate(
        criteria,
        evidence=[ev("data.audit", {"gaps": {"blockers": 0}})],
        approvals=[sign(2)],
        now=NOW,
        criteria_version=1,
    )
    assert result.passed is True
    assert dict(result.counts) == {"pass": 2, "fail": 0, "missing": 0}


# Metric paths


def test_metric_at_follows_dotted_paths_through_mappings_and_list_indexes() -> None:
    payload = {"metrics": {"precision": {"ci_low": 0.9}}, "segments": [{"rate": 0.1}, {"rate": 0.3}]}
    assert metric_at(payload, "metrics.precision.ci_low") == 0.9
    assert metric_at(payload, "segments.1.rate") == 0.3


@pytest.mark.parametrize(
    "path", ["metrics.recall", "segments.2.rate", "segments.x", "metrics.precision.ci_low.more"]
)
def test_metric_at_a_path_that_leads_nowhere_is_missing(path: str) -> None:
    payload = {"metrics": {"precision": {"ci_low": 0.9}}, "segments": [{"rate": 0.1}]}
    assert metric_at(payload, path) is MISSING


# Freezing


def test_freezing_gives_canonical_json_and_its_sha256() -> None:
    frozen = freeze([metric("data.audit", "gaps.blockers", "==", 0, max_age_days=14), approval("risk")])
    assert frozen.text == (
        '[{"evidence":"data.audit","max_age_days":14,"require":{"metric":"gaps.blockers","op":"==","value":0}},'
        '{"approval":"risk"}]'
    )
    assert len(frozen.sha256) == 64
    assert thaw(frozen.text) == [
        metric("data.audit", "gaps.blockers", "==", 0, max_age_days=14),
        approval("risk"),
    ]


def test_the_frozen_hash_does_not_depend_on_key_order_or_role_spelling() -> None:
    one = CriterionSpec.model_validate(
        {
            "evidence": "data.audit",
            "max_age_days": 14,
            "require": {"metric": "gaps.blockers", "op": "==", "value": 0},
        }
    )
    other = CriterionSpec.model_validate(
        {
            "require": {"value": 0, "op": "==", "metric": "gaps.blockers"},
            "max_age_days": 14,
            "evidence": "data.audit",
        }
    )
    assert freeze([one, approval("risk")]).sha256 == freeze([other, approval("risk-owner")]).sha256


def test_the_frozen_hash_does_not_depend_on_writing_a_whole_number_as_a_float() -> None:
    assert freeze([metric("a.b", "x", ">=", 1)]).sha256 == freeze([metric("a.b", "x", ">=", 1.0)]).sha256


def test_the_frozen_hash_changes_when_a_threshold_changes() -> None:
    before = freeze([metric("evaluation.performance", "metrics.precision.ci_low", ">=", 0.85)])
    after = freeze([metric("evaluation.performance", "metrics.precision.ci_low", ">=", 0.80)])
    assert before.sha256 != after.sha256


def test_the_frozen_hash_changes_when_the_criteria_are_reordered() -> None:
    a, b = presence("data.audit"), approval("risk")
    assert freeze([a, b]).sha256 != freeze([b, a]).sha256


# Properties


KINDS = ["data.audit", "evaluation.performance"]
ROLES = ["risk", "use_case"]

criteria_strategy = st.lists(
    st.one_of(
        st.builds(
            metric,
            st.sampled_from(KINDS),
            st.just("score"),
            st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
            st.floats(0, 1, allow_nan=False),
            st.one_of(st.none(), st.integers(1, 30)),
        ),
        st.builds(presence, st.sampled_from(KINDS), st.one_of(st.none(), st.integers(1, 30))),
        st.builds(approval, st.sampled_from(ROLES)),
    ),
    max_size=6,
)

evidence_strategy = st.lists(
    st.builds(
        EvidenceView,
        id=st.sampled_from([f"ev-{n}" for n in range(12)]),
        kind=st.sampled_from(KINDS),
        created_at=st.integers(0, 40 * 24).map(lambda hours: NOW - timedelta(hours=hours)),
        payload=st.one_of(
            st.just({}),
            st.fixed_dictionaries(
                {
                    "score": st.one_of(
                        st.none(), st.booleans(), st.text(max_size=3), st.floats(0, 1, allow_nan=False)
                    )
                }
            ),
        ),
        sha256=st.sampled_from(["0" * 64, "1" * 64]),
    ),
    max_size=8,
    unique_by=lambda e: e.id,  # an id names one immutable record
)

approvals_strategy = st.lists(
    st.builds(
        ApprovalView,
        criterion_index=st.integers(1, 6),
        role=st.sampled_from([*ROLES, "risk-owner", "admin"]),
        by=st.sampled_from(["rita", "uma"]),
        approved=st.booleans(),
        reason=st.sampled_from(["", "ok"]),
        at=st.integers(0, 10).map(lambda hours: NOW - timedelta(hours=hours)),
        criteria_version=st.integers(1, 2),
    ),
    max_size=8,
)


@given(criteria_strategy, evidence_strategy, approvals_strategy, st.integers(1, 2))
def test_a_gate_passes_exactly_when_every_criterion_passes(
    criteria: list[CriterionSpec], evidence: list[EvidenceView], approvals: list[ApprovalView], version: int
) -> None:
    result = evaluate(criteria, evidence=evidence, approvals=approvals, now=NOW, criteria_version=version)
    assert result.passed == all(r.status == "pass" for r in result.results)
    assert sum(result.counts.values()) == len(criteria) == len(result.results)


@given(
    criteria_strategy,
    evidence_strategy.flatmap(lambda e: st.tuples(st.just(e), st.permutations(e))),
    approvals_strategy,
)
def test_the_verdict_does_not_depend_on_the_order_of_the_evidence_or_the_approvals(
    criteria: list[CriterionSpec],
    evidence: tuple[list[EvidenceView], list[EvidenceView]],
    approvals: list[ApprovalView],
) -> None:
    original, shuffled = evidence
    first = evaluate(criteria, evidence=original, approvals=approvals, now=NOW, criteria_version=1)
    second = evaluate(criteria, evidence=shuffled, approvals=approvals[::-1], now=NOW, criteria_version=1)
    assert first == second
