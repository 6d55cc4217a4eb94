"""The risk tier: points for what a use case touches and does, floors that raise it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.portfolio.risk import TIER_ORDER, risk_tier, tier_for_points
from phasegate.portfolio.schemas import (
    Autonomy,
    CustomerImpact,
    DataSensitivity,
    EuAiActClass,
    RiskInputs,
    RiskTier,
)

LEAST = {
    "data_sensitivity": DataSensitivity.public,
    "customer_impact": CustomerImpact.none,
    "autonomy": Autonomy.suggests,
    "eu_ai_act": EuAiActClass.minimal,
}
# Each input's values from least to most risky, spelled out so the test does not lean on enum order.
LADDERS: dict[str, list[Any]] = {
    "data_sensitivity": ["public", "internal", "confidential", "restricted"],
    "customer_impact": ["none", "low", "medium", "high"],
    "autonomy": ["suggests", "drafts", "drafts_then_acts", "acts"],
    "eu_ai_act": ["minimal", "limited", "high", "prohibited"],
}


def test_invoice_example_is_medium_risk_on_five_points() -> None:
    assessment = risk_tier(
        RiskInputs(
            data_sensitivity=DataSensitivity.confidential,
            customer_impact=CustomerImpact.low,
            autonomy=Autonomy.drafts_then_acts,
            eu_ai_act=EuAiActClass.minimal,
        )
    )
    assert assessment.tier is RiskTier.medium
    assert assessment.points == 5  # confidential 2 + low 1 + drafts_then_acts 2
    assert assessment.missing == ()
    assert assessment.reasons == (
        "data sensitivity confidential: 2 points",
        "customer impact low: 1 point",
        "autonomy drafts_then_acts: 2 points",
        "5 points: medium",
    )


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (0, RiskTier.low),
        (3, RiskTier.low),
        (4, RiskTier.medium),
        (6, RiskTier.medium),
        (7, RiskTier.high),
        (9, RiskTier.high),
    ],
)
def test_points_map_to_tiers_at_the_documented_boundaries(points: int, tier: RiskTier) -> None:
    assert tier_for_points(points) is tier


def test_most_risky_inputs_score_nine_points_and_high() -> None:
    assessment = risk_tier(
        RiskInputs(
            data_sensitivity=DataSensitivity.restricted,
            customer_impact=CustomerImpact.high,
            autonomy=Autonomy.acts,
            eu_ai_act=EuAiActClass.minimal,
        )
    )
    assert (assessment.points, assessment.tier) == (9, RiskTier.high)


@pytest.mark.parametrize(
    ("eu_ai_act", "tier", "reason"),
    [
        (EuAiActClass.limited, RiskTier.medium, "EU AI Act class limited sets the floor at medium"),
        (EuAiActClass.high, RiskTier.high, "EU AI Act class high sets the floor at high"),
        (
            EuAiActClass.prohibited,
            RiskTier.prohibited,
            "EU AI Act class prohibited sets the floor at prohibited",
        ),
    ],
)
def test_eu_ai_act_class_raises_a_low_point_use_case_to_its_floor(
    eu_ai_act: EuAiActClass, tier: RiskTier, reason: str
) -> None:
    assessment = risk_tier(RiskInputs.model_validate({**LEAST, "eu_ai_act": eu_ai_act}))
    assert assessment.points == 0
    assert assessment.tier is tier
    assert reason in assessment.reasons


def test_a_floor_never_lowers_a_tier_the_points_already_reached() -> None:
    assessment = risk_tier(
        RiskInputs(
            data_sensitivity=DataSensitivity.restricted,
            customer_impact=CustomerImpact.high,
            autonomy=Autonomy.drafts,
            eu_ai_act=EuAiActClass.limited,
        )
    )
    assert assessment.tier is RiskTier.high


def test_restricted_data_with_a_system_that_acts_is_at_least_high() -> None:
    assessment = risk_tier(
        RiskInputs.model_validate(
            {**LEAST, "data_sensitivity": DataSensitivity.restricted, "autonomy": Autonomy.acts}
        )
    )
    assert assessment.points == 6  # medium on points alone
    assert assessment.tier is RiskTier.high
    assert "restricted data handled by a system that acts sets the floor at high" in assessment.reasons


def test_tier_is_unknown_while_an_input_is_missing() -> None:
    assessment = risk_tier(
        RiskInputs(data_sensitivity=DataSensitivity.public, eu_ai_act=EuAiActClass.limited)
    )
    assert assessment.tier is None
    assert assessment.missing == ("customer_impact", "autonomy")
    assert "tier unknown until customer_impact, autonomy given" in assessment.reasons


def test_tier_is_unknown_when_only_the_eu_ai_act_class_is_missing() -> None:
    assessment = risk_tier(RiskInputs.model_validate({**LEAST, "eu_ai_act": None}))
    assert assessment.tier is None  # it could yet be prohibited
    assert assessment.missing == ("eu_ai_act",)


@pytest.mark.parametrize(
    ("eu_ai_act", "tier"),
    [(EuAiActClass.high, RiskTier.high), (EuAiActClass.prohibited, RiskTier.prohibited)],
)
def test_a_decisive_eu_ai_act_class_sets_the_tier_despite_missing_inputs(
    eu_ai_act: EuAiActClass, tier: RiskTier
) -> None:
    assessment = risk_tier(RiskInputs(eu_ai_act=eu_ai_act))
    assert assessment.tier is tier
    assert assessment.missing == ("data_sensitivity", "customer_impact", "autonomy")


def test_nothing_known_means_no_tier_and_everything_missing() -> None:
    assessment = risk_tier(RiskInputs())
    assert (assessment.tier, assessment.points) == (None, 0)
    assert assessment.missing == ("data_sensitivity", "customer_impact", "autonomy", "eu_ai_act")


complete_inputs = st.fixed_dictionaries({field: st.sampled_from(ladder) for field, ladder in LADDERS.items()})


@given(values=complete_inputs, field=st.sampled_from(list(LADDERS)), data=st.data())
def test_raising_any_input_never_lowers_the_tier(
    values: dict[str, Any], field: str, data: st.DataObject
) -> None:
    ladder = LADDERS[field]
    raised = data.draw(st.sampled_from(ladder[ladder.index(values[field]) :]))
    before = risk_tier(RiskInputs.model_validate(values)).tier
    after = risk_tier(RiskInputs.model_validate({**values, field: raised})).tier
    assert before is not None and after is not None
    assert TIER_ORDER.index(after) >= TIER_ORDER.index(before)


@given(values=complete_inputs)
def test_every_complete_input_gets_a_tier_from_zero_to_nine_points(values: dict[str, Any]) -> None:
    assessment = risk_tier(RiskInputs.model_validate(values))
    assert assessment.tier is not None
    assert 0 <= assessment.points <= 9
