"""Personal data in values: detectors, their scan in the engine, and the classification it suggests.

A detector is a ``Detector`` subclass registered under the entry-point group ``phasegate.pii_detectors``;
the built-ins are the same kind of object (``BUILT_IN_DETECTORS``), so a third-party detector is found
through the same door. Each has a ``pattern`` (a regular expression every engine runs as a prefilter:
no look-arounds, no ``\\b`` or ``\\d``, which DuckDB's RE2, Python, PostgreSQL and Spark read differently)
and a ``validate`` step run in Python on a bounded sample of the candidates (Luhn, mod-97, allocation rules).

Classification suggested (highest wins, and never below what the source declares):

=============================================  ============
found                                          suggests
=============================================  ============
payment card, IBAN, US SSN, UK NINO            restricted
email address, phone number                    confidential
nothing                                        the declared classification (``internal`` if none)
=============================================  ============

Payment cards and national identifiers enable fraud and identity theft on their own (PCI DSS v4.0 treats
the card number as cardholder data to be protected everywhere it is stored); contact details identify a
person and are personal data under GDPR art. 4(1) but do less harm alone.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any, ClassVar

import ibis.expr.types as ir

from phasegate.data.schemas import CLASSIFICATIONS, Classification
from phasegate.errors import InvalidInput, Problem

ENTRY_POINT_GROUP = "phasegate.pii_detectors"
# Candidates validated in Python per column and detector: a proportion estimated from 1,000 draws has a
# 95% margin of error of at most ±3.1 points (1.96 · √(0.25 / 1000)).
SAMPLE_LIMIT = 1000
MAX_EXAMPLES = 3


class Detector(abc.ABC):
    """One kind of personal data: how to find candidates in the engine and confirm them in Python."""

    name: ClassVar[str]
    classification: ClassVar[Classification]
    description: ClassVar[str]
    pattern: ClassVar[str]  # a portable regular expression; a value matching it anywhere is a candidate
    # What every confirmed find holds, so a text without it is passed over before the pattern runs (the
    # gateway's redaction): a character, and at least so many digits.
    hint_char: ClassVar[str | None] = None
    min_digits: ClassVar[int] = 0

    @cached_property
    def _finder(self) -> re.Pattern[str]:
        # In Python the candidate must not run on into letters or digits, so that 20 digits of an order
        # number do not yield a 16-digit "card", nor sit inside a path or query (a DOI, a URL's id); the
        # engines' dialects cannot all say this.
        return re.compile(rf"(?<![0-9A-Za-z/=_.])(?:{self.pattern})(?![0-9A-Za-z/])")

    def find(self, value: str) -> list[str]:
        """The confirmed occurrences in a value."""
        return [m.group(0) for m in self._finder.finditer(value) if self.validate(m.group(0))]

    @abc.abstractmethod
    def validate(self, candidate: str) -> bool:
        """Whether a candidate the pattern matched really is this kind of data."""

    def mask(self, candidate: str) -> str:
        """The candidate with all but its last four letters or digits hidden, for reports."""
        keep = 4
        hidden = sum(ch.isalnum() for ch in candidate) - keep
        out = []
        for ch in candidate:
            if ch.isalnum() and hidden > 0:
                out.append("*")
                hidden -= 1
            else:
                out.append(ch)
        return "".join(out)


def luhn_check_digit(payload: str) -> str:
    """The digit that makes payload + digit pass the Luhn check (ISO/IEC 7812-1 annex B)."""
    total = 0
    # Walking from the right, the digits next to the check digit are doubled.
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    return len(number) >= 2 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


# IBAN lengths by country, from the SWIFT IBAN Registry (release 99, 2024).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


_DIGITS_DELETED = str.maketrans("", "", "0123456789")


def digit_count(text: str) -> int:
    """How many ASCII digits the text holds (the detectors' patterns know no others)."""
    return len(text) - len(text.translate(_DIGITS_DELETED))


def iban_remainder(iban: str) -> int:
    """The ISO 13616 remainder: country and check digits moved to the end, letters as 10-35, mod 97."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of an IBAN for a country code and national account number (ISO 13616-1)."""
    return f"{98 - iban_remainder(country + '00' + bban):02d}"


def iban_valid(text: str) -> bool:
    """Whether text (spaces allowed) is an IBAN: known length for its country and remainder 1 mod 97."""
    iban = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    # Check digits run 02-98; 00, 01 and 99 would pass mod 97 as aliases of 97, 98 and 02.
    return 2 <= int(iban[2:4]) <= 98 and iban_remainder(iban) == 1


class EmailDetector(Detector):
    name = "email"
    classification = "confidential"
    description = "email addresses"
    pattern = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    hint_char = "@"

    def validate(self, candidate: str) -> bool:
        """RFC 5321 limits: local part up to 64 characters, no leading, trailing or doubled dots."""
        local, _, domain = candidate.rpartition("@")
        return (
            0 < len(local) <= 64
            and ".." not in candidate
            and not local.startswith(".")
            and not local.endswith(".")
            and all(0 < len(part) <= 63 and not part.startswith("-") for part in domain.split("."))
        )

    def mask(self, candidate: str) -> str:
        """The first letter of the mailbox and the domain: j***@example.com."""
        local, _, domain = candidate.rpartition("@")
        return f"{local[:1]}***@{domain}"


class PhoneDetector(Detector):
    name = "phone"
    classification = "confidential"
    description = "phone numbers: E.164 (+CC ...), national with a trunk 0, North American with separators"
    pattern = (
        r"\+[1-9][0-9 ().-]{6,20}[0-9]"
        r"|\(?0[0-9]{1,4}\)?[ .-]?[0-9]{2,4}[ .-]?[0-9]{2,4}[ .-]?[0-9]{0,4}"
        r"|\(?[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4}"
    )
    min_digits = 8  # `validate` wants at least 8 digits (E.164 with +), 10 in every other form

    def validate(self, candidate: str) -> bool:
        """Digit counts per ITU-T E.164 (at most 15) and the North American Numbering Plan."""
        digits = re.sub(r"[^0-9]", "", candidate)
        separated = bool(re.search(r"[ ().-]", candidate))
        if candidate.startswith("+"):
            return 8 <= len(digits) <= 15
        if digits.startswith("00"):
            # The international prefix written instead of +; bare, it is more often a zero-padded id.
            return separated and 10 <= len(digits) <= 17
        if digits.startswith("0"):
            # National numbers with a trunk 0: 10 digits (FR, NL), 11 (UK, most DE), up to 12 (some DE).
            return 10 <= len(digits) <= 12
        # NANP: area code and exchange start with 2-9; a bare 10-digit run is more often an identifier.
        return separated and len(digits) == 10 and digits[0] >= "2" and digits[3] >= "2"

    def mask(self, candidate: str) -> str:
        """Only the last two digits shown."""
        digits = sum(ch.isdigit() for ch in candidate)
        out, seen = [], 0
        for ch in candidate:
            if ch.isdigit():
                seen += 1
                out.append(ch if seen > digits - 2 else "*")
            else:
                out.append(ch)
        return "".join(out)


class IbanDetector(Detector):
    name = "iban"
    classification = "restricted"
    description = "international bank account numbers (ISO 13616, mod-97 checked)"
    pattern = r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}( ?[A-Z0-9]{1,4}){2,7}"
    min_digits = 2

    def validate(self, candidate: str) -> bool:
        """Length for the country and the mod-97 check."""
        return iban_valid(candidate)

    def mask(self, candidate: str) -> str:
        """The country code and the last four characters shown."""
        return candidate[:2] + Detector.mask(self, candidate[2:])


class PaymentCardDetector(Detector):
    name = "payment_card"
    classification = "restricted"
    description = "payment card numbers: 13-19 digits, Luhn-checked, issued by a financial industry"
    pattern = r"[0-9]([ -]?[0-9]){12,18}"
    min_digits = 13

    def validate(self, candidate: str) -> bool:
        """13-19 digits, a financial major industry identifier (2-6, ISO/IEC 7812-1) and the Luhn check."""
        digits = re.sub(r"[ -]", "", candidate)
        return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


class UsSsnDetector(Detector):
    name = "us_ssn"
    classification = "restricted"
    description = "US social security numbers written AAA-GG-SSSS"
    pattern = r"[0-9]{3}-[0-9]{2}-[0-9]{4}"
    min_digits = 9

    def validate(self, candidate: str) -> bool:
        """Never-issued numbers excluded: area 000, 666 or 900-999, group 00, serial 0000 (SSA, 2011)."""
        area, group, serial = candidate.split("-")
        return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


class UkNinoDetector(Detector):
    name = "uk_nino"
    classification = "restricted"
    description = "UK national insurance numbers (two letters, six digits, A-D)"
    pattern = r"[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
    min_digits = 6

    # HMRC National Insurance Manual NIM39110: letters never used in the prefix, and unallocated prefixes.
    _NOT_FIRST: ClassVar[frozenset[str]] = frozenset("DFIQUV")
    _NOT_SECOND: ClassVar[frozenset[str]] = frozenset("DFIOQUV")
    _NOT_PREFIX: ClassVar[frozenset[str]] = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

    def validate(self, candidate: str) -> bool:
        """A prefix HMRC allocates."""
        prefix = candidate[:2]
        return (
            prefix[0] not in self._NOT_FIRST
            and prefix[1] not in self._NOT_SECOND
            and prefix not in self._NOT_PREFIX
        )


BUILT_IN_DETECTORS: tuple[Detector, ...] = (
    EmailDetector(),
    PhoneDetector(),
    IbanDetector(),
    PaymentCardDetector(),
    UsSsnDetector(),
    UkNinoDetector(),
)


def load_detectors() -> dict[str, Detector]:
    """Every registered detector by name: the entry points, then the built-ins not already registered."""
    detectors: dict[str, Detector] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        detector = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(detector, Detector):
            raise InvalidInput(
                "a PII detector entry point does not give a Detector",
                [
                    Problem(
                        f"'{entry.name}' ({entry.value}) is a {type(detector).__name__}",
                        field=ENTRY_POINT_GROUP,
                    )
                ],
            )
        detectors[entry.name] = detector
    for builtin in BUILT_IN_DETECTORS:
        # From a source tree the entry points in pyproject.toml are not visible until it is installed.
        detectors.setdefault(builtin.name, builtin)
    return dict(sorted(detectors.items()))


@dataclass(frozen=True)
class PiiFinding:
    """One kind of personal data found in one column, how often, and what it suggests."""

    column: str
    detector: str
    matches: int  # values holding at least one confirmed occurrence (estimated when sampled)
    rows_scanned: int
    examples_masked: list[str]
    suggested_classification: Classification
    candidates: int = 0  # values the engine's prefilter matched
    sampled: int | None = None  # candidates validated when there were more than the sample limit

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data, with its note."""
        return {**asdict(self), "note": self.note}

    @property
    def note(self) -> str:
        """How the count was reached, for reports."""
        if self.sampled is None:
            return f"{self.matches} of {self.candidates} candidates confirmed"
        return (
            f"estimated from a sample of {self.sampled} of {self.candidates} candidates "
            "(the first the engine returned)"
        )


def scan(
    table: ir.Table,
    *,
    columns: Sequence[str] | None = None,
    detectors: Iterable[Detector] | None = None,
    sample_limit: int = SAMPLE_LIMIT,
) -> list[PiiFinding]:
    """Personal data in text and integer columns: candidates counted in the engine, a sample confirmed."""
    chosen = list(detectors) if detectors is not None else list(load_detectors().values())
    names = _scannable(table, columns)
    if not names or not chosen:
        return []
    values = {c: _as_text(table, c) for c in names}
    pairs = [(c, d) for c in names for d in chosen]
    # One pass over the data: every column × detector candidate count in a single aggregate.
    metrics: dict[str, Any] = {"rows": table.count()}
    for i, (column, detector) in enumerate(pairs):
        # ifelse rather than a cast: PostgreSQL cannot cast a boolean to bigint.
        metrics[f"m{i}"] = values[column].re_search(detector.pattern).ifelse(1, 0).sum()
    counts = table.aggregate(**metrics).execute().iloc[0]
    rows = int(counts["rows"])
    findings = []
    for i, (column, detector) in enumerate(pairs):
        candidates = int(counts[f"m{i}"] or 0)
        if candidates == 0:
            continue
        finding = _confirm(table, values[column], column, detector, candidates, rows, sample_limit)
        if finding.matches > 0:
            findings.append(finding)
    return findings


def _scannable(table: ir.Table, columns: Sequence[str] | None) -> list[str]:
    schema = table.schema()
    if columns is not None:
        missing = [c for c in columns if c not in schema]
        if missing:
            raise InvalidInput(
                "the PII scan names columns the table does not have",
                [Problem(f"no column '{c}'", field="columns") for c in missing],
            )
        return list(columns)
    # Card and phone numbers are often stored as integers; other types cannot hold these patterns.
    return [c for c, t in schema.items() if t.is_string() or t.is_integer()]


def _as_text(table: ir.Table, column: str) -> ir.StringValue:
    value = table[column]
    return value if value.type().is_string() else value.cast("string")


def _confirm(
    table: ir.Table,
    text: ir.StringValue,
    column: str,
    detector: Detector,
    candidates: int,
    rows: int,
    sample_limit: int,
) -> PiiFinding:
    """Validate up to sample_limit candidates in Python and scale the confirmed share to all candidates."""
    sample = table.filter(text.re_search(detector.pattern)).select(_v=text).limit(sample_limit).execute()
    examples: list[str] = []
    confirmed = 0
    for value in sample["_v"]:
        found = detector.find(str(value))
        if found:
            confirmed += 1
            masked = detector.mask(found[0])
            if len(examples) < MAX_EXAMPLES and masked not in examples:
                examples.append(masked)
    sampled = len(sample)
    estimated = candidates > sampled
    matches = round(confirmed * candidates / sampled) if estimated and sampled else confirmed
    return PiiFinding(
        column=column,
        detector=detector.name,
        matches=matches,
        rows_scanned=rows,
        examples_masked=examples,
        suggested_classification=detector.classification,
        candidates=candidates,
        sampled=sampled if estimated else None,
    )


def suggest_classification(
    findings: Sequence[PiiFinding], *, declared: Classification | None = None
) -> Classification:
    """The highest classification the findings call for, never below the declared one (see module table)."""
    rank: Mapping[str, int] = {c: i for i, c in enumerate(CLASSIFICATIONS)}
    floor: Classification = declared or "internal"
    suggested = [f.suggested_classification for f in findings if f.matches > 0]
    return max([floor, *suggested], key=lambda c: rank[c])
