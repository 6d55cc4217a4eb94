"""The foundation gap list: each failed check, weak dimension or under-classified personal data is a gap.

A gap is a **blocker** when it prevents a model from working (or from being used lawfully), a
**degrader** when it reduces how well the model works. The first rule that applies ranks it:

=======================================================  ========  ===========================================
what was found                                           severity  why
=======================================================  ========  ===========================================
a contract check that could not run (status ``error``)   blocker   unknown is not passed: nothing can be
                                                                   concluded about the data it guards
failed not_null, unique, type or references on a key     blocker   records cannot be told apart or joined, so
column                                                             features and labels land on the wrong one
failed not_null, type, allowed or references on a        blocker   a model cannot learn from labels that are
label column                                                       missing or outside the label set
any other failed check                                   degrader  worth a limit to the contract's owner; the
                                                                   model still runs
accuracy below 0.90                                      blocker   one value in ten disagrees with verified
                                                                   records: errors as large as the effects
                                                                   the model is meant to learn
accuracy below 0.98                                      degrader  over 2% wrong values change which model
                                                                   looks best (Northcutt et al. 2021: 3.3%
                                                                   test-label errors reorder benchmarks)
completeness below 0.90                                  blocker   over 10% missing biases analysis (Bennett
                                                                   2001, in Dong & Peng 2013)
completeness below 0.95                                  degrader  up to 5% missing is inconsequential
                                                                   (Schafer 1999, in Dong & Peng 2013)
consistency below 0.95                                   degrader  formats and spellings can be normalised in
                                                                   feature engineering, at a cost; the 5%
                                                                   line mirrors completeness
timeliness 0 (newest record over twice the target old)   blocker   the model would learn and serve a past
                                                                   that no longer holds
timeliness below 1                                       degrader  late data, within twice the target
personal data above the declared classification, in a    blocker   handled without the controls personal
source declared public, internal or not at all                     data needs (GDPR art. 5(1)(f), 32)
personal data above a declared confidential              degrader  already access-controlled; the stricter
classification                                                     handling its kind needs is missing
a kind of personal data the catalog does not list        degrader  the record of processing is incomplete
                                                                   (GDPR art. 30)
=======================================================  ========  ===========================================

A dimension that could not be measured (score None) is not a gap: nothing was found wanting, and its
reason stays with the dimension in the audit. Gaps are pure drafts here: the audit stores them, owned
by the source's owner, and tracks them until resolved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from phasegate.data.pii import PiiFinding
from phasegate.data.quality import Dimension
from phasegate.data.schemas import CLASSIFICATIONS

Severity = Literal["blocker", "degrader"]
KEY_CHECKS = frozenset({"not_null", "unique", "type", "references"})
LABEL_CHECKS = frozenset({"not_null", "type", "allowed", "references"})
# (blocker below, degrader below) per dimension; sources in the module table.
DIMENSION_THRESHOLDS: dict[str, tuple[float | None, float]] = {
    "accuracy": (0.90, 0.98),
    "completeness": (0.90, 0.95),
    "consistency": (None, 0.95),
}
# Classifications under which personal data above them is handled with no personal-data controls.
UNPROTECTED = frozenset({"public", "internal"})
MAX_FINDINGS = 5


@dataclass(frozen=True)
class GapDraft:
    """A gap as an audit finds it: a stable key, what is wrong, how bad, by which rule, and the evidence."""

    key: str  # stable across audits: contract:invoices:net_amount.max_null_rate, dimension:completeness
    title: str
    severity: Severity
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The gap as JSON-ready data."""
        return asdict(self)


def gaps_from(
    check_results: Sequence[Any],
    dimensions: Sequence[Dimension],
    pii: Sequence[PiiFinding],
    *,
    declared_classification: str | None,
    declared_pii: Sequence[str] | None = None,
    keys: Sequence[str] = (),
    labels: Sequence[str] = (),
    contract: str | None = None,
    owner: str | None = None,
) -> list[GapDraft]:
    """Every gap the audit's results show, blockers first, then by key (rules in the module table).

    check_results are duck-typed (``.check``, ``.column``, ``.status``, ``.observed``, ``.limit``, and
    optionally ``.error``), as ``checking.CheckResult`` has them; keys and labels name the key and
    label columns; declared_pii lists the kinds of personal data the catalog says the source holds.
    """
    drafts = [
        *(g for r in check_results if (g := check_gap(r, keys=keys, labels=labels, contract=contract))),
        *(g for d in dimensions if (g := dimension_gap(d))),
        *(
            g
            for f in pii
            if (g := pii_gap(f, declared_classification=declared_classification, declared_pii=declared_pii))
        ),
    ]
    owned = [GapDraft(g.key, g.title, g.severity, g.reason, g.evidence, owner) for g in drafts]
    return sorted(owned, key=lambda g: (g.severity != "blocker", g.key))


def check_gap(
    result: Any, *, keys: Sequence[str] = (), labels: Sequence[str] = (), contract: str | None = None
) -> GapDraft | None:
    """The gap a contract check's result is, if it did not pass."""
    status = getattr(result, "status", None)
    if status == "pass":
        return None
    column = getattr(result, "column", None)
    # Checks are named "column.kind" ("invoice_id.unique"); the ranking reads the kind alone.
    check = str(getattr(result, "kind", None) or str(result.check).removeprefix(f"{column}."))
    where = f"{column}.{check}" if column else str(result.check)
    key = ":".join(p for p in ("contract", contract, where) if p)
    evidence = {
        "check": check,
        "column": column,
        "status": status,
        "observed": _plain(getattr(result, "observed", None)),
        "limit": _plain(getattr(result, "limit", None)),
    }
    subject = f"{column}: {check}" if column else str(result.check)
    if status == "error":
        error = getattr(result, "error", None)
        evidence["error"] = error
        return GapDraft(
            key,
            f"{subject} could not run" + (f": {error}" if error else ""),
            "blocker",
            "a check that could not run is a blocker: unknown is not passed",
            evidence,
        )
    title = f"{subject} failed (observed {evidence['observed']}, limit {evidence['limit']})"
    if column in keys and check in KEY_CHECKS:
        reason = f"failed {check} on key column {column}: records cannot be told apart or joined"
        return GapDraft(key, title, "blocker", reason, evidence)
    if column in labels and check in LABEL_CHECKS:
        reason = (
            f"failed {check} on label column {column}: a model cannot learn from missing or invalid labels"
        )
        return GapDraft(key, title, "blocker", reason, evidence)
    return GapDraft(key, title, "degrader", "a failed check that does not guard a key or label", evidence)


def dimension_gap(dimension: Dimension) -> GapDraft | None:
    """The gap a weak dimension is (see the module table); None when it is strong or was not measured."""
    score = dimension.score
    if score is None:
        return None
    name = dimension.name
    evidence = {"score": score, "findings": dimension.findings[:MAX_FINDINGS]}
    key = f"dimension:{name}"
    if name == "timeliness":
        if score == 0:
            reason = "timeliness 0: the newest record is older than twice the freshness target"
            return GapDraft(key, "data is far past its freshness target", "blocker", reason, evidence)
        if score < 1:
            reason = "timeliness below 1: the newest record is older than the freshness target"
            return GapDraft(key, f"data is late (timeliness {score:.2f})", "degrader", reason, evidence)
        return None
    blocker_below, degrader_below = DIMENSION_THRESHOLDS[name]
    title = f"{name} is {score:.1%}"
    if blocker_below is not None and score < blocker_below:
        evidence["threshold"] = blocker_below
        return GapDraft(key, title, "blocker", f"{name} below {blocker_below:.0%}", evidence)
    if score < degrader_below:
        evidence["threshold"] = degrader_below
        return GapDraft(key, title, "degrader", f"{name} below {degrader_below:.0%}", evidence)
    return None


def pii_gap(
    finding: PiiFinding, *, declared_classification: str | None, declared_pii: Sequence[str] | None = None
) -> GapDraft | None:
    """The gap personal data is when the source's classification or catalog entry does not account for it."""
    if finding.matches <= 0:
        return None
    rank: dict[str, int] = {c: i for i, c in enumerate(CLASSIFICATIONS)}
    suggested = finding.suggested_classification
    key = f"pii:{finding.column}.{finding.detector}"
    evidence = {
        "column": finding.column,
        "detector": finding.detector,
        "matches": finding.matches,
        "rows_scanned": finding.rows_scanned,
        "examples_masked": finding.examples_masked,
        "suggested_classification": suggested,
        "declared_classification": declared_classification,
        "note": finding.note,
    }
    title = (
        f"{finding.column} holds {finding.detector} values ({finding.matches:,} of {finding.rows_scanned:,})"
    )
    declared = declared_classification
    if declared is None or rank.get(declared, -1) < rank[suggested]:
        stated = "not classified" if declared is None else f"classified {declared}"
        reason = f"{finding.detector} calls for {suggested}, the source is {stated}"
        severity: Severity = "blocker" if declared is None or declared in UNPROTECTED else "degrader"
        return GapDraft(key, title, severity, reason, evidence)
    if declared_pii is not None and finding.detector not in declared_pii:
        listed = ", ".join(declared_pii) or "none"
        reason = f"the catalog does not list {finding.detector} among the source's personal data ({listed})"
        return GapDraft(key, title, "degrader", reason, evidence)
    return None


def _plain(value: Any) -> Any:
    """A JSON-ready form of an observed value or limit."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.timedelta):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
