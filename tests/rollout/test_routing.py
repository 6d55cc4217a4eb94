"""Routing: each stage's route, the kill switch, the canary's sticky and monotone split, segment rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.rollout.routing import (
    STAGES,
    Fallback,
    InvalidRoutingState,
    InvalidRules,
    RoutingState,
    after_model,
    bucket,
    in_candidate,
    parse_rules,
    route,
)

# A machine shared with other test workers can stall any example past hypothesis's deadline.
NO_DEADLINE = settings(deadline=None)
FEW = settings(deadline=None, max_examples=20)  # for properties over thousands of keys each

keys = st.text(min_size=0, max_size=40)
salts = st.text(min_size=0, max_size=20)
weights = st.floats(0, 100)


def canary(weight: float, salt: str = "s1", primary: str | None = "v1") -> RoutingState:
    return RoutingState("invoices", "canary", primary=primary, candidate="v2", weight=weight, salt=salt)


# --- the stages -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_a_killed_state_routes_to_the_fallback_whatever_the_stage(stage: str) -> None:
    state = RoutingState(
        "invoices", stage, primary="v1", candidate="v2", weight=50, killed=True,  # type: ignore[arg-type]
        fallback=Fallback(version="v0"),
    )  # fmt: skip
    for key in (None, "a", "b", "c"):
        chosen = route(state, key)
        assert (chosen.target, chosen.version) == ("fallback", "v0")
        assert not chosen.shadow_candidate and not chosen.hold_for_review
        assert chosen.reason == "killed: fallback version v0 answers"


def test_a_killed_state_without_a_fallback_version_gives_the_static_answer() -> None:
    state = RoutingState(
        "invoices", "full", primary="v1", killed=True, fallback=Fallback(static={"total": None})
    )
    chosen = route(state, "k")
    assert (chosen.target, chosen.version) == ("fallback", None)
    assert chosen.reason == "killed: the static fallback answer answers"
    assert after_model(state, {}, 0.1) == (False, "killed: the fallback answer is released without review")


def test_off_sends_requests_to_no_model() -> None:
    chosen = route(RoutingState("invoices", "off"), "k")
    assert (chosen.target, chosen.version) == ("none", None)
    assert chosen.reason == "off: no model answers this use case"


def test_shadow_lets_the_primary_answer_and_runs_the_candidate_beside_it() -> None:
    chosen = route(RoutingState("invoices", "shadow", primary="v1", candidate="v2"), "k")
    assert (chosen.target, chosen.version, chosen.shadow_candidate) == ("primary", "v1", True)
    assert chosen.reason == "shadow: primary v1 answers; candidate v2 runs off the request path"


NAMES = {"v0": "claims@0.9.0", "v1": "claims@1.0.0", "v2": "claims@2.0.0"}


@pytest.mark.parametrize(
    ("state", "key", "reason"),
    [
        (
            RoutingState("c", "shadow", primary="v1", candidate="v2", names=NAMES),
            "k",
            "shadow: primary claims@1.0.0 answers; candidate claims@2.0.0 runs off the request path",
        ),
        (
            RoutingState("c", "full", primary="v1", names=NAMES),
            "k",
            "full: primary claims@1.0.0 answers every request",
        ),
        (
            RoutingState("c", "supervised", primary="v1", names=NAMES),
            "k",
            "supervised: primary claims@1.0.0 answers, held for review",
        ),
        (
            RoutingState("c", "segment", candidate="v2", names=NAMES),
            "k",
            "segment: candidate claims@2.0.0 answers; segment rules decide review",
        ),
        (
            RoutingState("c", "canary", primary="v1", candidate="v2", weight=0, names=NAMES),
            "k",
            "; primary claims@1.0.0 answers",
        ),
        (
            RoutingState("c", "off", killed=True, fallback=Fallback(version="v0"), names=NAMES),
            None,
            "killed: fallback version claims@0.9.0 answers",
        ),
        (
            RoutingState("c", "full", primary="v1", names={"v2": "claims@2.0.0"}),
            "k",
            "full: primary v1 answers every request",  # a version without a name is given by its id
        ),
    ],
)
def test_reasons_name_versions_as_people_call_them(state: RoutingState, key: str | None, reason: str) -> None:
    assert route(state, key).reason.endswith(reason)


def test_shadow_of_a_first_model_answers_with_no_model() -> None:
    chosen = route(RoutingState("invoices", "shadow", candidate="v1"), None)
    assert (chosen.target, chosen.version, chosen.shadow_candidate) == ("none", None, True)


def test_supervised_holds_the_answer_for_review() -> None:
    state = RoutingState("invoices", "supervised", primary="v1")
    chosen = route(state, None)
    assert (chosen.target, chosen.version, chosen.hold_for_review) == ("primary", "v1", True)
    assert after_model(state, {}, 0.99) == (True, "supervised: every output is held for review")


def test_supervised_without_a_primary_lets_the_candidate_answer() -> None:
    chosen = route(RoutingState("invoices", "supervised", candidate="v1"), None)
    assert (chosen.target, chosen.version, chosen.hold_for_review) == ("candidate", "v1", True)


def test_full_sends_everything_to_the_candidate_until_it_is_promoted() -> None:
    assert route(RoutingState("invoices", "full", primary="v1", candidate="v2"), "k").version == "v2"
    promoted = RoutingState("invoices", "full", primary="v2")
    assert (route(promoted, "k").target, route(promoted, "k").version) == ("primary", "v2")
    assert after_model(promoted, {}, None) == (False, "full: released without review")


def test_the_canary_reason_names_the_bucket_and_weight_but_never_the_key() -> None:
    key = "jane.doe@example.com"
    place = bucket("s1", key)
    chosen = route(canary(25), key)
    assert re.fullmatch(
        r"canary: key bucket \d+\.\d\d (<|>=) weight 25(; primary v1 answers)?", chosen.reason
    )
    assert f"{place:.2f}" in chosen.reason
    assert key not in chosen.reason
    assert chosen.target == ("candidate" if place < 25 else "primary")


def test_a_canary_request_without_a_key_goes_to_the_primary_below_weight_100() -> None:
    chosen = route(canary(50), None)
    assert (chosen.target, chosen.version) == ("primary", "v1")
    assert chosen.reason == "canary: no key, so no sticky assignment; primary v1 answers"
    assert route(canary(100), None).target == "candidate"


def test_a_canary_without_a_primary_sends_the_other_keys_to_no_model() -> None:
    targets = {route(canary(50, primary=None), f"k{i}").target for i in range(50)}
    assert targets == {"candidate", "none"}


def test_bucket_is_pinned_so_assignments_survive_a_release() -> None:
    # A change here would move live callers between versions mid-canary.
    assert bucket("salt-1", "customer-42") == 29.26
    assert bucket("", "") == 52.88


def test_salt_and_key_cannot_be_shifted_into_each_other() -> None:
    assert bucket("ab", "c") != bucket("a", "bc")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stage": "live"}, "stage"),
        ({"weight": 101}, "weight"),
        ({"weight": float("nan")}, "weight"),
        ({"candidate": None}, "candidate"),
        ({"candidate": "v1"}, "candidate"),
        ({"counter": -1}, "counter"),
    ],
)
def test_a_state_no_request_could_be_routed_by_is_refused(changes: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {
        "usecase_id": "invoices",
        "stage": "canary",
        "primary": "v1",
        "candidate": "v2",
    }
    with pytest.raises(InvalidRoutingState) as raised:
        RoutingState(**(arguments | changes))
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_fallback_reads_its_stored_form() -> None:
    assert Fallback.from_dict({"version": "v0"}) == Fallback(version="v0")
    assert Fallback.from_dict({"static": {"label": "manual"}}).static == {"label": "manual"}
    assert Fallback.from_dict({}) == Fallback()
    with pytest.raises(InvalidRoutingState, match="unknown key 'answer'"):
        Fallback.from_dict({"answer": 1})


# --- the canary's split -------------------------------------------------------------------------


@NO_DEADLINE
@given(salts, keys)
def test_bucket_lies_in_0_to_100(salt: str, key: str) -> None:
    assert 0 <= bucket(salt, key) < 100


@NO_DEADLINE
@given(salts, keys, weights)
def test_the_same_key_and_salt_always_meet_the_same_arm(salt: str, key: str, weight: float) -> None:
    first = route(canary(weight, salt), key)
    assert all(route(canary(weight, salt), key) == first for _ in range(3))


@NO_DEADLINE
@given(salts, keys, weights, weights)
def test_raising_the_weight_only_adds_keys_to_the_candidate(
    salt: str, key: str, w1: float, w2: float
) -> None:
    low, high = sorted((w1, w2))
    if in_candidate(canary(low, salt), key):
        assert in_candidate(canary(high, salt), key)
        assert route(canary(high, salt), key).target == "candidate"


@FEW
@given(salts, st.sampled_from([1, 5, 25, 50, 75, 99]))
def test_the_candidate_share_is_within_a_few_points_of_the_weight(salt: str, weight: int) -> None:
    n = 4000  # the share's standard error is at most 0.8 points; 4 points is five of them
    share = sum(in_candidate(canary(weight, salt), f"customer-{i}") for i in range(n)) / n * 100
    assert abs(share - weight) < 4


@FEW
@given(salts, salts)
def test_different_salts_assign_keys_independently(salt_a: str, salt_b: str) -> None:
    if salt_a == salt_b:
        return
    n = 4000
    a = [in_candidate(canary(50, salt_a), f"customer-{i}") for i in range(n)]
    b = [in_candidate(canary(50, salt_b), f"customer-{i}") for i in range(n)]
    both = sum(x and y for x, y in zip(a, b, strict=True)) / n
    # Independent halves overlap on a quarter of the keys; the standard error is 0.7 points.
    assert abs(both - 0.25) < 0.035


# --- segment rules ------------------------------------------------------------------------------

RULES: list[dict[str, Any]] = [
    {"name": "large amounts", "when": [{"input": "amount", "op": ">=", "value": 10_000}], "then": "review"},
    {
        "name": "confident on known suppliers",
        "when": [
            {"input": "supplier.country", "op": "in", "value": ["FR", "DE"]},
            {"model": "confidence", "op": ">=", "value": 0.9},
        ],
        "then": "autonomous",
    },
    {"when": {"input": "channel", "op": "==", "value": "edi"}, "then": "autonomous"},
]


def segment(rules: list[dict[str, Any]] = RULES) -> RoutingState:
    return RoutingState("invoices", "segment", primary="v1", segment_rules=tuple(parse_rules(rules)))


def test_the_first_matching_rule_decides() -> None:
    hold, reason = after_model(segment(), {"amount": 20_000, "channel": "edi"}, 0.99)
    assert hold
    assert reason == "segment: rule 0 'large amounts' (amount >= 10000) matched; held for review"


def test_a_rule_needs_every_condition_to_hold() -> None:
    inputs = {"amount": 120, "supplier": {"country": "FR"}}
    assert after_model(segment(), inputs, 0.95)[0] is False
    hold, reason = after_model(segment(), inputs, 0.5)
    assert hold and reason == "segment: no rule matched, so held for review (the default)"


def test_confidence_rules_do_not_match_when_the_model_gives_none() -> None:
    assert after_model(segment(), {"amount": 120, "supplier": {"country": "FR"}}, None)[0] is True


def test_a_missing_field_or_a_value_of_another_type_matches_nothing() -> None:
    rules = [
        {"when": [{"input": "amount", "op": "<", "value": 100}], "then": "autonomous"},
        {"when": [{"input": "country", "op": "not_in", "value": ["FR"]}], "then": "autonomous"},
    ]
    assert after_model(segment(rules), {}, 0.9)[0] is True
    assert after_model(segment(rules), {"amount": "50"}, 0.9)[0] is True
    assert after_model(segment(rules), {"amount": True}, 0.9)[0] is True
    assert after_model(segment(rules), {"country": "DE"}, 0.9)[0] is False


def test_true_is_not_1_in_a_rule() -> None:
    rules = [{"when": [{"input": "flag", "op": "==", "value": 1}], "then": "autonomous"}]
    assert after_model(segment(rules), {"flag": True}, None)[0] is True
    assert after_model(segment(rules), {"flag": 1}, None)[0] is False


def test_a_rule_without_conditions_matches_everything() -> None:
    hold, reason = after_model(segment([{"name": "all", "then": "autonomous"}]), {}, None)
    assert (hold, reason) == (False, "segment: rule 0 'all' (always) matched; released without review")


def test_segment_routes_to_the_answering_version_and_leaves_review_to_the_rules() -> None:
    chosen = route(segment(), "k")
    assert (chosen.target, chosen.version, chosen.hold_for_review) == ("primary", "v1", False)
    assert chosen.reason == "segment: primary v1 answers; segment rules decide review"


@pytest.mark.parametrize(
    ("rules", "field", "words"),
    [
        ([{"when": [], "then": "maybe"}], "rules[0].then", "rule 0: then is 'maybe'"),
        ([RULES[0], {"when": [{"input": "a", "op": "=<", "value": 1}], "then": "review"}],
         "rules[1].when[0].op", "rule 1, condition 0: op is '=<'"),
        ([{"when": [{"input": "a", "op": "in", "value": "FR"}], "then": "review"}], "rules[0].when[0].value",
         "in needs a list"),
        ([{"when": [{"model": "score", "op": ">", "value": 1}], "then": "review"}], "rules[0].when[0].model",
         "only model value a rule can read is 'confidence'"),
        ([{"when": [{"model": "confidence", "op": ">", "value": "high"}], "then": "review"}],
         "rules[0].when[0].value", "confidence is a number"),
        ([{"when": [{"input": "a", "model": "confidence", "op": ">", "value": 1}], "then": "review"}],
         "rules[0].when[0].input", "exactly one of 'input'"),
        ([{"when": [{"input": "a..b", "op": "==", "value": 1}], "then": "review"}], "rules[0].when[0].input",
         "dotted path"),
        ([{"when": [{"input": "a", "op": "=="}], "then": "review"}], "rules[0].when[0].value", "no value"),
        ([{"when": [{"input": "a", "op": "<", "value": [1]}], "then": "review"}], "rules[0].when[0].value",
         "a number or text"),
        ([{"when": [], "then": "review", "priority": 1}], "rules[0].priority", "unknown key 'priority'"),
        (["amount < 5"], "rules[0]", "must be a mapping"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_naming_the_rule_and_field(rules: list[Any], field: str, words: str) -> None:
    with pytest.raises(InvalidRules) as raised:
        parse_rules(rules)
    assert isinstance(raised.value, ValueError)
    assert [p.field for p in raised.value.problems] == [field]
    assert words in str(raised.value)


def test_every_bad_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidRules) as raised:
        parse_rules([{"then": "x"}, {"when": [{"input": "a", "op": "?", "value": 1}], "then": "review"}])
    assert [p.field for p in raised.value.problems] == ["rules[0].then", "rules[1].when[0].op"]


def test_rules_must_be_a_list() -> None:
    with pytest.raises(InvalidRules, match="must be a list of rules"):
        parse_rules({"then": "review"})  # type: ignore[arg-type]
    assert parse_rules(None) == []
