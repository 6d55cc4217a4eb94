"""Label consistency: how often records labelled more than once got the same label, and kappa.

Kappa is agreement corrected for chance, κ = (P_o − P_e) / (1 − P_e): 1 is perfect agreement, 0 is what
raters guessing by the label frequencies would reach, below 0 is worse than chance.

- ``cohen_kappa`` (Cohen 1960, "A coefficient of agreement for nominal scales") for two raters;
- ``fleiss_kappa`` (Fleiss 1971, "Measuring nominal scale agreement among many raters") for any number.

Both are computed in exact integer and rational arithmetic, so identical ratings give exactly 1.
``label_consistency`` groups a labelled table by record key in the engine and brings back only the
records labelled more than once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from phasegate.errors import InvalidInput, Problem

# Enough inconsistent records for a reviewer to see the pattern, few enough to read in a report.
MAX_INCONSISTENT = 20


@dataclass(frozen=True)
class LabelConsistency:
    """Agreement among records labelled more than once, its kappa and the records that disagree."""

    records_multi: int
    agreement: float | None  # share of records_multi whose labels all agree; None when there are none
    kappa: float | None  # None when no record is labelled twice or chance agreement is total
    method: Literal["cohen", "fleiss"]
    inconsistent: list[dict[str, Any]] = field(default_factory=list)  # {"key", "labels": {label: count}}
    records_inconsistent: int = 0


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels for the same items; None when chance agreement is total."""
    if len(a) != len(b):
        raise ValueError(
            f"cohen_kappa: rater a has {len(a)} labels and rater b {len(b)}; rate the same items"
        )
    n = len(a)
    if n == 0:
        return None
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    count_a, count_b = Counter(a), Counter(b)
    chance = sum(count_a[k] * count_b[k] for k in count_a)
    # κ = (p_o − p_e) / (1 − p_e) with p_o = observed/n and p_e = chance/n², multiplied through by n².
    if chance == n * n:
        return None
    return float(Fraction(observed * n - chance, n * n - chance))


def fleiss_kappa(matrix: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of an items × categories matrix of rating counts; None when chance agreement is total.

    With the same number of ratings per item this is Fleiss (1971). Items may have different numbers of
    ratings (at least 2 each): each item's agreement P_i uses its own count n_i, and the category shares
    p_j pool all ratings, as in Fleiss, Levin & Paik (2003), "Statistical Methods for Rates and
    Proportions", section 18.1.
    """
    if not matrix:
        return None
    width = len(matrix[0])
    agreements: list[Fraction] = []
    totals = [0] * width
    for i, row in enumerate(matrix):
        if len(row) != width:
            raise ValueError(f"fleiss_kappa: row {i} has {len(row)} categories, row 0 has {width}")
        if any(c < 0 for c in row):
            raise ValueError(f"fleiss_kappa: row {i} has a negative count")
        n_i = sum(row)
        if n_i < 2:
            raise ValueError(f"fleiss_kappa: row {i} has {n_i} rating(s); kappa needs at least 2 per item")
        # P_i = Σ_j n_ij (n_ij − 1) / (n_i (n_i − 1)): the share of agreeing ordered rater pairs.
        agreements.append(Fraction(sum(c * (c - 1) for c in row), n_i * (n_i - 1)))
        totals = [t + c for t, c in zip(totals, row, strict=True)]
    observed = sum(agreements, Fraction(0)) / len(agreements)
    grand = sum(totals)
    chance = sum((Fraction(t, grand) ** 2 for t in totals), Fraction(0))
    if chance == 1:
        return None
    return float((observed - chance) / (1 - chance))


def label_consistency(table: ir.Table, *, key: str, label: str, rater: str | None = None) -> LabelConsistency:
    """Agreement and kappa among the records of a table that carry more than one (non-null) label.

    Cohen's kappa when a rater column is given and every multi-labelled record has exactly one label from
    each of the same two raters; Fleiss' kappa over the label counts otherwise.
    """
    _require(table, [key, label, *([rater] if rater else [])])
    labelled = table.filter(table[label].notnull())
    per_key = labelled.group_by(key).agg(_n=ibis._.count())
    multi = labelled.semi_join(per_key.filter(per_key["_n"] > 1), key)
    keys = [key, *([rater] if rater else []), label]
    rows = multi.group_by(keys).agg(_n=ibis._.count()).execute()
    groups: dict[Any, Counter[Any]] = {}
    by_rater: dict[Any, list[tuple[Any, Any, int]]] = {}
    for record in rows.itertuples(index=False):
        values = [_native(v) for v in record]
        record_key, record_label, n = values[0], values[-2], int(values[-1])
        groups.setdefault(record_key, Counter())[record_label] += n
        if rater:
            by_rater.setdefault(record_key, []).append((values[1], record_label, n))
    ordered = sorted(groups, key=_sort_key)
    disagreeing = [k for k in ordered if len(groups[k]) > 1]
    inconsistent = [
        {"key": k, "labels": dict(sorted(groups[k].items(), key=lambda kv: _sort_key(kv[0])))}
        for k in disagreeing[:MAX_INCONSISTENT]
    ]
    pairs = _two_rater_pairs(by_rater) if rater else None
    if pairs is not None:
        method: Literal["cohen", "fleiss"] = "cohen"
        kappa = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
    else:
        method = "fleiss"
        categories = sorted({c for counts in groups.values() for c in counts}, key=_sort_key)
        kappa = fleiss_kappa([[groups[k][c] for c in categories] for k in ordered])
    total = len(groups)
    return LabelConsistency(
        records_multi=total,
        agreement=(total - len(disagreeing)) / total if total else None,
        kappa=kappa,
        method=method,
        inconsistent=inconsistent,
        records_inconsistent=len(disagreeing),
    )


def _two_rater_pairs(by_rater: dict[Any, list[tuple[Any, Any, int]]]) -> list[tuple[Any, Any]] | None:
    """(first rater's label, second rater's label) per record, or None when Cohen's design does not hold."""
    raters = sorted({r for ratings in by_rater.values() for r, _, _ in ratings}, key=_sort_key)
    if len(raters) != 2:
        return None
    pairs = []
    for key in sorted(by_rater, key=_sort_key):
        given = {r: lab for r, lab, n in by_rater[key] if n == 1}
        if len(by_rater[key]) != 2 or set(given) != set(raters):
            return None
        pairs.append((given[raters[0]], given[raters[1]]))
    return pairs


def _require(table: ir.Table, names: Sequence[str]) -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise InvalidInput(
            "label consistency names columns the table does not have",
            [Problem(f"no column '{n}'; columns: {', '.join(table.columns)}", field=n) for n in missing],
        )


def _native(value: Any) -> Any:
    """A plain Python value from what the engine returned (NumPy scalars become int, float, str)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then text; keys and labels may mix types (1, "1", None)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1 if value is not None else 2, 0.0, str(value))
