"""The risk tier of a use case: points for what it touches and does, raised by floors.

Points:

| input            | 0         | 1        | 2                | 3          |
| ---------------- | --------- | -------- | ---------------- | ---------- |
| data sensitivity | public    | internal | confidential     | restricted |
| customer impact  | none      | low      | medium           | high       |
| autonomy         | suggests  | drafts   | drafts_then_acts | acts       |

Tier from the sum: 0-3 low, 4-6 medium, 7-9 high.

Floors (the tier is at least):

| when                                    | floor      |
| --------------------------------------- | ---------- |
| EU AI Act class prohibited              | prohibited |
| EU AI Act class high                    | high       |
| EU AI Act class limited                 | medium     |
| restricted data and autonomy ``acts``   | high       |

When an input is missing the tier is unknown (None), unless the EU AI Act class is
prohibited or high: then the floor decides whatever the missing inputs turn out to be.
"""

from __future__ import annotations

from dataclasses import dataclass

from phasegate.portfolio.schemas import (
    Autonomy,
    CustomerImpact,
    DataSensitivity,
    EuAiActClass,
    RiskInputs,
    RiskTier,
)

# Written out rather than read from the enums' order, so reordering a schema cannot move a point.
POINTS: dict[str, tuple[str, dict[str, int]]] = {
    "data_sensitivity": (
        "data sensitivity",
        {
            DataSensitivity.public: 0,
            DataSensitivity.internal: 1,
            DataSensitivity.confidential: 2,
            DataSensitivity.restricted: 3,
        },
    ),
    "customer_impact": (
        "customer impact",
        {CustomerImpact.none: 0, CustomerImpact.low: 1, CustomerImpact.medium: 2, CustomerImpact.high: 3},
    ),
    "autonomy": (
        "autonomy",
        {Autonomy.suggests: 0, Autonomy.drafts: 1, Autonomy.drafts_then_acts: 2, Autonomy.acts: 3},
    ),
}
TIER_ORDER = (RiskTier.low, RiskTier.medium, RiskTier.high, RiskTier.prohibited)
EU_AI_ACT_FLOOR = {
    EuAiActClass.limited: RiskTier.medium,
    EuAiActClass.high: RiskTier.high,
    EuAiActClass.prohibited: RiskTier.prohibited,
}
DECISIVE_EU_AI_ACT = (EuAiActClass.high, EuAiActClass.prohibited)


@dataclass(frozen=True)
class RiskAssessment:
    """A tier, the points behind it, the reasons in words, and the inputs still missing."""

    tier: RiskTier | None
    points: int
    reasons: tuple[str, ...]
    missing: tuple[str, ...]


def risk_tier(inputs: RiskInputs) -> RiskAssessment:
    """The risk tier of the inputs by the rule in this module's docstring."""
    points = 0
    reasons: list[str] = []
    missing: list[str] = []
    for field, (label, table) in POINTS.items():
        value = getattr(inputs, field)
        if value is None:
            missing.append(field)
            continue
        gained = table[value]
        points += gained
        reasons.append(f"{label} {value.value}: {gained} point{'' if gained == 1 else 's'}")
    if inputs.eu_ai_act is None:
        missing.append("eu_ai_act")

    tier = tier_for_points(points)
    reasons.append(f"{points} points: {tier.value}")
    if inputs.eu_ai_act in EU_AI_ACT_FLOOR:
        floor = EU_AI_ACT_FLOOR[inputs.eu_ai_act]
        tier = max_tier(tier, floor)
        reasons.append(f"EU AI Act class {inputs.eu_ai_act.value} sets the floor at {floor.value}")
    if inputs.data_sensitivity is DataSensitivity.restricted and inputs.autonomy is Autonomy.acts:
        tier = max_tier(tier, RiskTier.high)
        reasons.append("restricted data handled by a system that acts sets the floor at high")

    if missing and inputs.eu_ai_act not in DECISIVE_EU_AI_ACT:
        reasons.append("tier unknown until " + ", ".join(missing) + " given")
        return RiskAssessment(None, points, tuple(reasons), tuple(missing))
    if missing:
        reasons.append(f"tier {tier.value} holds whatever " + ", ".join(missing) + " turn out to be")
    return RiskAssessment(tier, points, tuple(reasons), tuple(missing))


def tier_for_points(points: int) -> RiskTier:
    """The tier a sum of points earns before any floor: 0-3 low, 4-6 medium, 7-9 high."""
    if points <= 3:
        return RiskTier.low
    if points <= 6:
        return RiskTier.medium
    return RiskTier.high


def max_tier(a: RiskTier, b: RiskTier) -> RiskTier:
    """The riskier of two tiers."""
    return a if TIER_ORDER.index(a) >= TIER_ORDER.index(b) else b
