"""Scoring models, the registry that finds them, and a ranking that explains itself."""

# The formulas shown to users are written with the real multiplication and minus signs.

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.errors import NotFound
from phasegate.portfolio import scoring
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.portfolio.scoring import (
    ProductModel,
    ScoreResult,
    ScoringModel,
    ValueFeasibilityRiskModel,
    WeightedModel,
    available_models,
    get_model,
    rank,
)

LOW_RISK = {
    "data_sensitivity": "public",
    "customer_impact": "none",
    "autonomy": "suggests",
    "eu_ai_act": "minimal",
}


def spec(id: str, risk: dict[str, str] | None = None, **scores: int) -> UseCaseSpec:
    """A use case with only the scores (and risk inputs) a test needs."""
    return UseCaseSpec.model_validate({"id": id, "name": id.title(), "scores": scores, "risk": risk or {}})


def product_spec(id: str, d: int, p: int, r: int, s: int) -> UseCaseSpec:
    return spec(id, data_readiness=d, process_clarity=p, roi_measurability=r, scope_boundedness=s)


def test_invoice_example_scores_four_hundred_on_the_product_model(invoice: UseCaseSpec) -> None:
    result = ProductModel().score(invoice)
    assert result.score == 400
    assert result.formula == "4 × 5 × 5 × 4 = 400"
    assert [c.name for c in result.components] == [
        "data_readiness",
        "process_clarity",
        "roi_measurability",
        "scope_boundedness",
    ]
    assert result.missing == ()


def test_a_model_names_missing_inputs_instead_of_guessing() -> None:
    result = ProductModel().score(spec("half-done", data_readiness=4, process_clarity=5))
    assert result == ScoreResult(None, (), "", ("scores.roi_measurability", "scores.scope_boundedness"))


def test_weighted_model_is_the_weighted_mean_with_difficulty_inverted() -> None:
    result = WeightedModel().score(
        spec("w", business_value=4, technical_feasibility=3, implementation_difficulty=2, team_acceptance=5)
    )
    # 0.40 * 4 + 0.30 * 3 + 0.15 * (6 - 2) + 0.15 * 5 = 1.6 + 0.9 + 0.6 + 0.75
    assert result.score == pytest.approx(3.85)
    assert result.formula == "0.4 × 4 + 0.3 × 3 + 0.15 × (6 − 2) + 0.15 × 5 = 3.85"
    difficulty = next(c for c in result.components if c.name == "implementation_difficulty")
    assert (difficulty.value, difficulty.weight, difficulty.contribution) == pytest.approx((4, 0.15, 0.6))


def test_custom_weights_from_config_change_the_order() -> None:
    bold = spec(
        "bold", business_value=5, technical_feasibility=1, implementation_difficulty=5, team_acceptance=1
    )
    safe = spec(
        "safe", business_value=1, technical_feasibility=5, implementation_difficulty=1, team_acceptance=5
    )
    # defaults: bold 2.0 + 0.3 + 0.15 + 0.15 = 2.6; safe 0.4 + 1.5 + 0.75 + 0.75 = 3.4
    assert [r.id for r in rank([bold, safe], WeightedModel())] == ["safe", "bold"]
    value_only = WeightedModel({"weights": {"business_value": 1}})
    assert [r.id for r in rank([bold, safe], value_only)] == ["bold", "safe"]


def test_weights_are_normalised_and_inputs_left_out_are_not_needed() -> None:
    model = WeightedModel({"weights": {"business_value": 2, "technical_feasibility": 2}})
    assert model.weights == {
        "business_value": 0.5,
        "technical_feasibility": 0.5,
        "implementation_difficulty": 0.0,
        "team_acceptance": 0.0,
    }
    assert model.score(spec("partial", business_value=4, technical_feasibility=3)).score == 3.5


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        ({"bussiness_value": 1}, "bussiness_value"),
        ({"business_value": -0.1}, "business_value"),
        ({"team_acceptance": "high"}, "team_acceptance"),
        ({"business_value": 0}, "all be 0"),
    ],
)
def test_bad_weights_are_rejected_by_name(weights: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        WeightedModel({"weights": weights})


def test_value_feasibility_risk_discounts_value_times_feasibility_by_tier() -> None:
    medium = {"data_sensitivity": "confidential", "customer_impact": "low", "autonomy": "drafts_then_acts",
              "eu_ai_act": "minimal"}  # fmt: skip
    result = ValueFeasibilityRiskModel().score(
        spec("vfr", risk=medium, business_value=4, technical_feasibility=3, data_readiness=4)
    )
    # 4 * mean(3, 4) * 0.85 for a medium tier
    assert result.score == pytest.approx(11.9)
    assert result.formula == "4 × 3.5 × 0.85 = 11.9"


def test_value_feasibility_risk_uses_whichever_feasibility_input_is_present() -> None:
    result = ValueFeasibilityRiskModel().score(spec("dr", risk=LOW_RISK, business_value=5, data_readiness=2))
    assert result.score == 10


def test_a_prohibited_use_case_scores_zero_and_says_why() -> None:
    result = ValueFeasibilityRiskModel().score(spec("banned", risk={"eu_ai_act": "prohibited"}))
    assert result.score == 0
    assert "prohibited" in result.formula


def test_value_feasibility_risk_names_every_missing_input() -> None:
    result = ValueFeasibilityRiskModel().score(spec("bare", risk={"data_sensitivity": "public"}))
    assert result.score is None
    assert result.missing == (
        "scores.business_value",
        "scores.technical_feasibility or scores.data_readiness",
        "risk.customer_impact",
        "risk.autonomy",
        "risk.eu_ai_act",
    )


def test_the_three_built_in_models_are_available() -> None:
    models = available_models()
    assert {"product", "weighted", "value-feasibility-risk"} <= set(models)
    assert all(isinstance(m, ScoringModel) and m.description for m in models.values())


def test_an_unknown_model_name_lists_the_names_there_are() -> None:
    with pytest.raises(NotFound, match=r"available: .*product.*weighted"):
        get_model("magic")


def test_get_model_passes_its_config_to_the_model() -> None:
    model = get_model("weighted", {"weights": {"team_acceptance": 1}})
    assert isinstance(model, WeightedModel)
    assert model.weights["team_acceptance"] == 1


@dataclass
class FakeEntryPoint:
    name: str
    value: str
    loaded: object

    def load(self) -> object:
        return self.loaded


class ReadinessOnly(ScoringModel):
    name = "readiness-only"
    description = "Data readiness alone."

    def score(self, spec: UseCaseSpec) -> ScoreResult:
        return ScoreResult(float(spec.scores.data_readiness or 0), (), "", ())


def test_a_third_party_model_is_found_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = FakeEntryPoint("readiness-only", "acme.scoring:ReadinessOnly", ReadinessOnly)
    monkeypatch.setattr(
        scoring, "entry_points", lambda group: [entry] if group == scoring.ENTRY_POINT_GROUP else []
    )
    assert isinstance(get_model("readiness-only"), ReadinessOnly)


def test_an_entry_point_that_is_not_a_scoring_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = FakeEntryPoint("broken", "acme.scoring:helper", len)
    monkeypatch.setattr(scoring, "entry_points", lambda group: [entry])
    with pytest.raises(TypeError, match="broken"):
        available_models()


def test_ranking_explains_each_position(invoice: UseCaseSpec) -> None:
    second = product_spec("churn-triage", 4, 5, 4, 3)
    ranked = rank([second, invoice], ProductModel())
    assert [(r.id, r.rank, r.score) for r in ranked] == [
        ("invoice-extraction", 1, 400),
        ("churn-triage", 2, 240),
    ]
    assert ranked[0].explanation == "#1 on product: 4 × 5 × 5 × 4 = 400"
    assert ranked[1].explanation == "#2 on product: 4 × 5 × 4 × 3 = 240; below invoice-extraction (400)"


def test_ties_are_placed_by_id_and_say_so() -> None:
    zeta, alpha = product_spec("zeta", 4, 5, 4, 3), product_spec("alpha", 5, 4, 3, 4)
    ranked = rank([zeta, alpha], ProductModel())
    assert [r.id for r in ranked] == ["alpha", "zeta"]
    assert ranked[0].explanation == "#1 on product: 5 × 4 × 3 × 4 = 240; tied with zeta on 240; placed by id"
    assert ranked[1].explanation == "#2 on product: 4 × 5 × 4 × 3 = 240; tied with alpha on 240; placed by id"


def test_use_cases_missing_inputs_go_last_naming_what_is_missing(invoice: UseCaseSpec) -> None:
    intake = spec("new-idea")
    ranked = rank([intake, invoice], ProductModel())
    assert [(r.id, r.rank) for r in ranked] == [("invoice-extraction", 1), ("new-idea", None)]
    assert ranked[1].explanation.startswith("unranked on product: missing scores.data_readiness, ")


score = st.one_of(st.none(), st.integers(min_value=1, max_value=5))
ids = st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True), unique=True, max_size=12)
FIELDS = ("data_readiness", "process_clarity", "roi_measurability", "scope_boundedness", "business_value",
          "technical_feasibility", "implementation_difficulty", "team_acceptance")  # fmt: skip


@st.composite
def portfolios(draw: st.DrawFn) -> list[UseCaseSpec]:
    """Use cases with random ids and random, often tied, often missing, scores."""
    specs = []
    for id in draw(ids):
        scores = {f: v for f in FIELDS if (v := draw(score)) is not None}
        specs.append(UseCaseSpec.model_validate({"id": id, "name": id, "scores": scores, "risk": LOW_RISK}))
    return specs


models = st.sampled_from([ProductModel(), WeightedModel(), ValueFeasibilityRiskModel()])


@given(specs=portfolios(), model=models, data=st.data())
def test_ranking_does_not_depend_on_input_order(
    specs: list[UseCaseSpec], model: ScoringModel, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(specs))
    assert rank(shuffled, model) == rank(specs, model)


@given(specs=portfolios(), model=models)
def test_ranking_is_a_permutation_with_scored_first_by_score(
    specs: list[UseCaseSpec], model: ScoringModel
) -> None:
    ranked = rank(specs, model)
    assert sorted(r.id for r in ranked) == sorted(s.id for s in specs)
    scored = [r for r in ranked if r.rank is not None]
    assert [r.rank for r in scored] == list(range(1, len(scored) + 1))
    assert all(r.rank is None for r in ranked[len(scored) :])
    scores = [r.score for r in scored if r.score is not None]
    assert len(scores) == len(scored)
    assert scores == sorted(scores, reverse=True)
