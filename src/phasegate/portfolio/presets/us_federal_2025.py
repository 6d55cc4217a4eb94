"""The US federal AI use case inventory of 2025 (OMB M-25-21), row by row as use-case documents.

Source: OMB's ``2025_individually_reported_AI_use_cases.csv`` (3,611 rows, 36 columns) in
``ombegov/2025-Federal-Agency-AI-Use-Case-Inventory``. The spellings each answer comes in
are taken from its ``data_dictionary.json`` into ``us_federal_2025_values.json`` beside
this module, so "b) Pilot - The use case has been…", "pilot" and "Initiated" all read as
Pilot, the way OMB recodes them.

How a row becomes a document:

- id (from agency, id): ``omb-`` + the inventory id as a slug, the agency put in front when
  the id lacks it (``DOJ-0357`` → ``omb-doj-0357``, EPA's ``77`` → ``omb-epa-77``); a blank
  or ``TBD`` id uses the name instead (``omb-hhs-chatbot``).
- name (use_case_name): as written; over 200 characters cut at a word (the full text kept
  in attributes); blank → ``Untitled (<inventory id>)``.
- business_unit (agency, agency_bureau): ``DOJ / FBI``, the agency then the bureau without
  a repeated agency prefix; the agency alone when there is no bureau.
- workflow (problem_solved), task_boundary (system_outputs), owners.use_case
  (contact_email): as written.
- status (development_stage): Pre-deployment → proposed; Pilot and Deployed → active;
  Retired → retired; blank or unrecognised → proposed, the schema's default.
- risk.customer_impact (is_high_impact): High-impact → high; presumed high-impact but
  determined not → medium; not high-impact → low; blank → unset.
- risk.data_sensitivity (has_pii): Yes → confidential; No → internal; blank → unset.
- attributes (every other column): under the column's own name, blank cells left out,
  select-multiple answers (``"['b) Sex', 'c) Age']"``) as lists.

Why these choices:

- Pre-deployment is proposed because nothing has been put in front of users yet, so the first
  gate is still ahead; a pilot is already being judged on evidence, so it is active.
- M-25-21 calls a use case high-impact when its output is a principal basis for decisions
  with legal or material effect on people's rights or safety: high customer impact. A use
  case presumed high-impact but determined not still touches people: medium. One the
  agency determined not high-impact does not drive such decisions: low.
- Autonomy and the EU AI Act class stay unset: the inventory does not say how far a system
  acts, and the EU AI Act does not govern US agencies' own use. The risk tier therefore
  stays unknown until someone assesses those, rather than being guessed.
- Columns carried into a field unchanged (name, purpose, outputs, contact) are not repeated
  in attributes; columns a rule condenses (the stage, the answers, the agency) are kept
  there as written, so nothing the agency reported is lost.
- Ids must not change between imports, or a re-import would duplicate. The file repeats
  a few (DOJ-0160 for two bureaus; Treasury's ``TREAS-17`` and OCC's ``17``; identical
  names in ED's rows without ids): the first keeps the id, later ones get ``-2``, ``-3``
  in file order. That stays stable as long as rows sharing an id keep their order.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from phasegate.portfolio.importing import SLUG_LENGTH, Preset, slugify
from phasegate.portfolio.schemas import CustomerImpact, DataSensitivity, Status

NAME_LENGTH = 200  # UseCaseSpec.name's max_length
PLACEHOLDER_IDS = frozenset({"", "tbd", "n/a", "na", "none", "unknown", "not available"})
OPTION_LETTERS = re.compile(r"^(?:[a-z]\)\s*)+")

STATUS_BY_STAGE = {
    "Pre-deployment": Status.proposed,
    "Pilot": Status.active,
    "Deployed": Status.active,
    "Retired": Status.retired,
}
IMPACT_BY_HIGH_IMPACT = {
    "High-impact": CustomerImpact.high,
    "Presumed High-Impact, but Not High-impact": CustomerImpact.medium,
    "Not High-impact": CustomerImpact.low,
}
SENSITIVITY_BY_PII = {"Yes": DataSensitivity.confidential, "No": DataSensitivity.internal}


def _key(text: str) -> str:
    """An answer with case, dash and quote styles, spacing and a final full stop ignored."""
    text = re.sub("[\u2011\u2013\u2014]", "-", text.casefold()).replace("\u2019", "'")
    return " ".join(text.split()).rstrip(".")


def _load_values() -> tuple[dict[str, dict[str, str]], frozenset[str]]:
    raw = json.loads(resources.files(__package__).joinpath("us_federal_2025_values.json").read_text("utf-8"))
    answers = {
        column: {_key(spelling): short for short, spellings in choices.items() for spelling in spellings}
        for column, choices in raw["answers"].items()
    }
    return answers, frozenset(raw["select_multiple"])


ANSWERS, SELECT_MULTIPLE = _load_values()


def answer(column: str, value: str) -> str | None:
    """The short-hand answer a cell gives ('Pilot', 'Yes', ...), or None when blank or unrecognised."""
    key = _key(value)
    if not key:
        return None
    spellings = ANSWERS[column]
    bare = OPTION_LETTERS.sub("", key)
    found = spellings.get(key) or spellings.get(bare)
    if found:
        return found
    # "Yes - staff names" and the like: a known answer followed by an explanation.
    for spelling in sorted(spellings, key=len, reverse=True):
        if bare.startswith(spelling) and not bare[len(spelling):len(spelling) + 1].isalnum():
            return spellings[spelling]
    return None


def base_id(agency: str, source_id: str, name: str) -> str:
    """``omb-`` + the inventory's id (or, lacking one, the name), with the agency in front."""
    agency_slug = slugify(agency) or "us"
    part = "" if source_id.strip().casefold() in PLACEHOLDER_IDS else slugify(source_id)
    part = part or slugify(name) or "untitled"
    if part != agency_slug and not part.startswith(agency_slug + "-"):
        part = f"{agency_slug}-{part}"
    return slugify(f"omb-{part}")


def business_unit(agency: str, agency_name: str, bureau: str) -> str | None:
    """'DOJ / FBI' from DOJ and 'Department of Justice / FBI'; the agency alone when no bureau remains."""
    rest = " ".join(bureau.split())
    for prefix in (agency, agency_name):
        if prefix and rest.casefold().startswith(prefix.casefold()) and not rest[len(prefix):][:1].isalnum():
            rest = rest[len(prefix):].lstrip(" /|:-\u2013")
    if not agency:
        return rest or None
    return f"{agency} / {rest}" if rest else agency


def short_name(name: str) -> str:
    """The name cut to 200 characters at a word, marked with an ellipsis."""
    if len(name) <= NAME_LENGTH:
        return name
    cut = name[: NAME_LENGTH - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:-") + "…"


def choices(text: str) -> list[str] | str:
    """A select-multiple cell ("['b) Sex', 'c) Age']") as a list; other text unchanged."""
    if not (text.startswith("[") and text.endswith("]")):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return text
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    return text


class UsFederal2025(Preset):
    """OMB's 2025 federal AI use case inventory: the rules in this module's docstring."""

    def __init__(self) -> None:
        super().__init__(
            "us-federal-2025",
            "US federal AI use case inventory 2025 (OMB M-25-21): ids omb-<agency>-<id>, stage → status, "
            "high-impact and PII → risk inputs, every other column kept as an attribute",
            {
                "name": "use_case_name",
                "workflow": "problem_solved",
                "task_boundary": "system_outputs",
                "owners.use_case": "contact_email",
            },
            derived=frozenset({"id", "name", "business_unit", "status",
                               "risk.customer_impact", "risk.data_sensitivity"}),
            sources={
                "id": ("agency", "id"),
                "name": ("use_case_name",),
                "business_unit": ("agency", "agency_bureau"),
                "status": ("development_stage",),
                "risk.customer_impact": ("is_high_impact",),
                "risk.data_sensitivity": ("has_pii",),
            },
            keep_unmapped=True,
        )

    def derive(self, row: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
        """The document with id, name, business unit, status, risk inputs and attributes filled."""
        agency, source_id = row.get("agency", ""), row.get("id", "")
        written = row.get("use_case_name", "")
        attributes = {column: choices(value) if column in SELECT_MULTIPLE else value
                      for column, value in doc.get("attributes", {}).items()}
        attributes = {column: value for column, value in attributes.items() if value}
        name = short_name(written) if written else f"Untitled ({source_id or agency + ' use case'})"
        if name != written and written:
            attributes["use_case_name"] = written

        derived: dict[str, Any] = {**doc, "id": base_id(agency, source_id, written), "name": name,
                                   "attributes": attributes}
        unit = business_unit(agency, row.get("agency_name", ""), row.get("agency_bureau", ""))
        if unit:
            derived["business_unit"] = unit
        stage = answer("development_stage", row.get("development_stage", ""))
        if stage:
            derived["status"] = STATUS_BY_STAGE[stage].value
        risk = dict(doc.get("risk", {}))
        impact = answer("is_high_impact", row.get("is_high_impact", ""))
        if impact:
            risk["customer_impact"] = IMPACT_BY_HIGH_IMPACT[impact].value
        pii = answer("has_pii", row.get("has_pii", ""))
        if pii:
            risk["data_sensitivity"] = SENSITIVITY_BY_PII[pii].value
        if risk:
            derived["risk"] = risk
        return derived

    def unique_ids(self, ids: Sequence[str | None]) -> list[str | None]:
        """Repeated ids made distinct: the first keeps it, later ones get -2, -3, ... in file order."""
        taken = {id_ for id_ in ids if id_ is not None}
        used: set[str] = set()
        unique: list[str | None] = []
        for id_ in ids:
            if id_ is not None and id_ in used:
                n = 2
                while (candidate := f"{id_[:SLUG_LENGTH - len(str(n)) - 1].rstrip('-')}-{n}") in taken or (
                        candidate in used):
                    n += 1
                id_ = candidate
            if id_ is not None:
                used.add(id_)
            unique.append(id_)
        return unique


US_FEDERAL_2025 = UsFederal2025()
