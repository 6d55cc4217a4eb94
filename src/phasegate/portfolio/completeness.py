"""How much of a use case's definition of done is written down, and what is still missing.

Scores are not part of the definition of done: they rank use cases, they do not define one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phasegate.portfolio.schemas import UseCaseSpec


def _primary(attribute: str) -> Callable[[UseCaseSpec], Any]:
    return lambda spec: getattr(spec.kpis.primary, attribute) if spec.kpis.primary else None


# The checklist in the words a use-case owner would use, in the order of the one-page document.
CHECKLIST: tuple[tuple[str, Callable[[UseCaseSpec], Any]], ...] = (
    ("business unit", lambda spec: spec.business_unit),
    ("workflow", lambda spec: spec.workflow),
    ("outcome class", lambda spec: spec.outcome_class),
    ("user group", lambda spec: spec.user_group),
    ("task boundary", lambda spec: spec.task_boundary),
    ("primary KPI name", _primary("name")),
    ("primary KPI baseline", _primary("baseline")),
    ("primary KPI target", _primary("target")),
    ("at least one counter-metric", lambda spec: spec.kpis.counter_metrics),
    ("error budget", lambda spec: spec.error_budget),
    ("label reality", lambda spec: spec.label_reality),
    ("stop rule", lambda spec: spec.stop_rule),
    ("use-case owner", lambda spec: spec.owners.use_case),
    ("technical owner", lambda spec: spec.owners.technical),
    ("risk owner", lambda spec: spec.owners.risk),
    ("domain reviewer", lambda spec: spec.owners.domain_reviewer),
    ("monthly volume", lambda spec: spec.roi.volume_per_month),
    ("cost per transaction now", lambda spec: spec.roi.cost_per_transaction_now),
    ("improvement rate", lambda spec: spec.roi.improvement_rate),
    ("run cost per month", lambda spec: spec.roi.run_cost_per_month),
    ("one-off cost", lambda spec: spec.roi.one_off_cost),
    ("data sensitivity", lambda spec: spec.risk.data_sensitivity),
    ("customer impact", lambda spec: spec.risk.customer_impact),
    ("autonomy", lambda spec: spec.risk.autonomy),
    ("EU AI Act class", lambda spec: spec.risk.eu_ai_act),
)


@dataclass(frozen=True)
class Completeness:
    """How many checklist items are filled, out of how many, and which are missing."""

    filled: int
    total: int
    missing: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """The share of the checklist that is filled, from 0 to 1."""
        return self.filled / self.total if self.total else 1.0


def completeness(spec: UseCaseSpec) -> Completeness:
    """The definition-of-done checklist applied to one use case."""
    missing = tuple(label for label, get in CHECKLIST if not is_filled(get(spec)))
    return Completeness(filled=len(CHECKLIST) - len(missing), total=len(CHECKLIST), missing=missing)


def is_filled(value: Any) -> bool:
    """Whether a value says something: not None, not blank text, not an empty list."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return bool(value)
    return True
