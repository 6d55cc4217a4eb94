"""Redaction of inference records by policy, so personal data never reaches the inference log in clear.

A policy does two things to a JSON value, recursively over objects and lists:

- ``fields``: dotted paths (``customer.email``, ``items.*.card``, ``items.0.card``; ``*`` is any list
  item or object key) whose whole value is dropped, masked or hashed. An action covers everything
  under its path, and the strongest of several matching paths wins (drop, then hash, then mask).
- ``detectors``: the PII detectors of ``phasegate.data.pii`` (emails, phone numbers, Luhn-checked payment
  cards, IBANs, national ids) and custom named patterns, run over every other string, object key and
  integer; what they find is replaced in place, the rest of the text kept.

Masking keeps a hint: a detector's own mask (``j***@example.com``, ``************1111``), otherwise
every letter and digit hidden but the last four of a long identifier without spaces. Hashing is
HMAC-SHA256 with the policy's key, written ``hmac-sha256:`` and 32 hex digits (128 bits: collisions
stay negligible, as the birthday bound is 2**64 values); a keyed hash, because emails and phone
numbers are too few to resist a dictionary attack on a plain one. Found values are normalised before
hashing (emails lower case, numbers without separators), so one card written two ways hashes alike.
Dropping a found value leaves ``[redacted:<detector>]``.

The key is a secret from the settings, never part of the stored policy: ``parse_policy(data)`` checks a
stored policy, the gateway builds its own with ``parse_policy(data, hash_key=...)``, and a policy that
hashes without a key refuses to redact rather than write anything in clear (``requires_key`` says so
in advance).

Detectors here run without the boundary guard the data scan uses against ``/=_.`` next to a candidate:
for a log, an email in ``?to=jane@example.com`` must be caught, and masking a few digits too many costs
less than one number left in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, cast, get_args

from phasegate.data.pii import Detector, digit_count, load_detectors
from phasegate.errors import InvalidInput, Problem
from phasegate.rollout.routing import JSON

Action = Literal["drop", "mask", "hash"]
ACTIONS: tuple[Action, ...] = get_args(Action)
STRENGTH: Mapping[str, int] = {"mask": 0, "hash": 1, "drop": 2}
HASH_PREFIX = "hmac-sha256:"
HASH_HEX_DIGITS = 32
# RFC 2104 §3: a key shorter than the hash's output (32 bytes for SHA-256) weakens the HMAC.
MIN_KEY_BYTES = 32
DEFAULT_DETECTORS: Mapping[str, Action] = {"email": "mask", "phone": "mask", "payment_card": "mask"}
# An identifier with at least this many letters and digits keeps its last four when masked, as cards do.
HINT_MIN_LENGTH = 12
# Object keys found clean are remembered per policy, up to this many (keys are few; values are not).
CLEAN_KEYS_KEPT = 4096


class InvalidPolicy(InvalidInput, ValueError):
    """A redaction policy that cannot be applied; each problem names the field at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("the redaction policy is not valid", problems)


class MissingHashKey(ValueError):
    """A policy that hashes was asked to redact without its key; nothing is returned in clear."""


@dataclass(frozen=True)
class CustomPattern:
    """A named regular expression whose matches are redacted like a detector's finds."""

    name: str
    regex: str
    action: Action = "mask"


@dataclass(frozen=True)
class _Finder:
    name: str
    action: Action
    pattern: re.Pattern[str]
    validate: Callable[[str], bool]
    mask: Callable[[str], str]
    normalise: Callable[[str], str]
    # What every find holds, as the detector says: a character, at least so many digits (0: no hint).
    hint_char: str | None = None
    min_digits: int = 0

    def could_hold(self, text: str) -> bool:
        """False only when the text cannot hold a find of this finder's: a cheap test before the pattern."""
        if self.hint_char is not None and self.hint_char not in text:
            return False
        return not self.min_digits or digit_count(text) >= self.min_digits


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    action: Action | None = None


@dataclass(frozen=True)
class _Hints:
    """What a text needs for any finder to find something: one of these characters, or this many digits.

    Finders with a digit count are judged by it alone, and those with only a character by that: each a
    condition every find of theirs meets, so a text meeting none cannot hold a find.
    """

    chars: tuple[str, ...]
    min_digits: int  # 0: no finder counts digits

    def met_by(self, text: str) -> bool:
        for char in self.chars:
            if char in text:
                return True
        return bool(self.min_digits) and digit_count(text) >= self.min_digits


def _hints_of(finders: Sequence[_Finder]) -> _Hints | None:
    """The finders' joint hints; None when one has none (a custom pattern), so every text is scanned."""
    if any(f.hint_char is None and not f.min_digits for f in finders):
        return None
    counts = [f.min_digits for f in finders if f.min_digits]
    chars = tuple(sorted({f.hint_char for f in finders if not f.min_digits and f.hint_char is not None}))
    return _Hints(chars, min(counts, default=0))


def _any_of(finders: Sequence[_Finder]) -> re.Pattern[str] | None:
    """One pattern that matches wherever any finder's does, to pass over clean text in a single search.

    None when the patterns cannot be joined (two define one group name, or one sets a global flag):
    each is then searched on its own, as the scan does anyway when this one matches.
    """
    if not finders:
        return None
    try:
        return re.compile("|".join(f"(?:{f.pattern.pattern})" for f in finders))
    except re.error:
        return None


@dataclass(frozen=True)
class RedactionPolicy:
    """What to drop, mask or hash in an inference record, and the key its hashes are made with."""

    fields: Mapping[str, Action] = field(default_factory=dict)
    detectors: Mapping[str, Action] = field(default_factory=lambda: dict(DEFAULT_DETECTORS))
    patterns: tuple[CustomPattern, ...] = ()
    hash_key: bytes | None = field(default=None, repr=False)
    _finders: tuple[_Finder, ...] = field(init=False, repr=False, compare=False)
    _root: _Node = field(init=False, repr=False, compare=False)
    _any: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _hints: _Hints | None = field(init=False, repr=False, compare=False)
    _clean_keys: set[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise InvalidPolicy(problems)
        known = _detectors()
        finders = [_detector_finder(known[name], action) for name, action in self.detectors.items()]
        finders += [_pattern_finder(p) for p in self.patterns]
        object.__setattr__(self, "_finders", tuple(finders))
        object.__setattr__(self, "_any", _any_of(finders))
        object.__setattr__(self, "_hints", _hints_of(finders))
        object.__setattr__(self, "_clean_keys", set())
        object.__setattr__(self, "_root", _trie(self.fields))

    @property
    def requires_key(self) -> bool:
        """Whether any rule hashes, so the policy needs a key to redact."""
        actions = [*self.fields.values(), *self.detectors.values(), *(p.action for p in self.patterns)]
        return "hash" in actions

    def with_key(self, hash_key: bytes) -> RedactionPolicy:
        """The same policy hashing with this key."""
        return RedactionPolicy(self.fields, self.detectors, self.patterns, hash_key)


@cache
def _detectors() -> dict[str, Detector]:
    # Entry points are read once per process: the gateway builds policies on every reload.
    return load_detectors()


def _problems(policy: RedactionPolicy) -> list[Problem]:
    problems: list[Problem] = []
    for path, action in policy.fields.items():
        where = f"fields['{path}']"
        if not isinstance(path, str) or not path or "" in path.split("."):
            problems.append(Problem(f"'{path}' is not a dotted path such as customer.email", field=where))
        if action not in ACTIONS:
            problems.append(
                Problem(f"action is {action!r}; it must be one of {', '.join(ACTIONS)}", field=where)
            )
    known = _detectors()
    for name, action in policy.detectors.items():
        where = f"detectors.{name}"
        if name not in known:
            problems.append(Problem(f"no detector '{name}'; known: {', '.join(known)}", field=where))
        if action not in ACTIONS:
            problems.append(
                Problem(f"action is {action!r}; it must be one of {', '.join(ACTIONS)}", field=where)
            )
    names = set(policy.detectors)
    for pattern in policy.patterns:
        where = f"patterns.{pattern.name}"
        if not pattern.name or pattern.name in known or pattern.name in names:
            problems.append(
                Problem(f"'{pattern.name}' is empty, a detector's or a repeated name", field=where)
            )
        names.add(pattern.name)
        if pattern.action not in ACTIONS:
            message = f"action is {pattern.action!r}; it must be one of {', '.join(ACTIONS)}"
            problems.append(Problem(message, field=where))
        try:
            compiled = re.compile(pattern.regex)
        except (re.error, TypeError) as exc:
            problems.append(Problem(f"'{pattern.regex}' is not a regular expression: {exc}", field=where))
            continue
        if compiled.fullmatch(""):
            # An empty match would be replaced between every two characters.
            problems.append(Problem(f"'{pattern.regex}' matches the empty text", field=where))
    if policy.hash_key is not None and len(policy.hash_key) < MIN_KEY_BYTES:
        problems.append(Problem(f"the hash key must be at least {MIN_KEY_BYTES} bytes", field="hash_key"))
    return problems


def _separators_removed(text: str) -> str:
    return re.sub(r"[\s().-]", "", text).upper()


def _detector_finder(detector: Detector, action: Action) -> _Finder:
    # Only letters and digits must not run on either side (see the module docstring).
    pattern = re.compile(rf"(?<![0-9A-Za-z])(?:{detector.pattern})(?![0-9A-Za-z])")
    normalise = str.lower if detector.name == "email" else _separators_removed
    return _Finder(
        detector.name,
        action,
        pattern,
        detector.validate,
        detector.mask,
        normalise,
        detector.hint_char,
        detector.min_digits,
    )


def _pattern_finder(custom: CustomPattern) -> _Finder:
    return _Finder(custom.name, custom.action, re.compile(custom.regex), lambda _: True, mask_text, str)


def _trie(fields: Mapping[str, Action]) -> _Node:
    root = _Node()
    for path, action in fields.items():
        node = root
        for part in path.split("."):
            node = node.children.setdefault(part, _Node())
        node.action = action
    return root


DEFAULT_POLICY = RedactionPolicy()  # emails, phone numbers and payment cards masked in every string


# --- redacting ----------------------------------------------------------------------------------


def redact(value: JSON, policy: RedactionPolicy = DEFAULT_POLICY) -> JSON:
    """A copy of the value with the policy's fields dropped, masked or hashed and detected PII replaced."""
    redacted: JSON = _redact(value, (policy._root,), policy)
    return redacted


def _redact(value: Any, nodes: tuple[_Node, ...], policy: RedactionPolicy) -> Any:
    if not any(node.children for node in nodes):
        return _scan_all(value, policy)  # no field rule below here: only the detectors run
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text = str(key)
            matched = _children(nodes, text)
            action = _action(matched)
            if action == "drop":
                continue
            redacted_key = _scan_key(text, policy)
            if action == "hash":
                out[redacted_key] = hash_value(item, policy)
            elif action == "mask":
                out[redacted_key] = _mask_all(item, policy)
            else:
                out[redacted_key] = _redact(item, matched, policy)
        return out
    if isinstance(value, list | tuple):
        items = []
        for index, item in enumerate(value):
            matched = _children(nodes, str(index))
            action = _action(matched)
            if action == "drop":
                continue
            if action == "hash":
                items.append(hash_value(item, policy))
            elif action == "mask":
                items.append(_mask_all(item, policy))
            else:
                items.append(_redact(item, matched, policy))
        return items
    return _scan_all(value, policy)


def _scan_key(text: str, policy: RedactionPolicy) -> str:
    """An object key through the detectors; requests repeat their keys, so a clean one is scanned once."""
    if text in policy._clean_keys:
        return text
    redacted = scan_text(text, policy)
    if redacted is text and len(policy._clean_keys) < CLEAN_KEYS_KEPT:
        policy._clean_keys.add(text)
    return redacted


def _scan_all(value: Any, policy: RedactionPolicy) -> Any:
    """`_redact` where no field rule applies: every key, string and integer through the detectors."""
    # Parsed JSON holds exactly these types: tested first, as the ABCs below cost more to ask.
    kind = type(value)
    if kind is str:
        return scan_text(value, policy)
    if kind is dict or isinstance(value, Mapping):
        return {_scan_key(str(key), policy): _scan_all(item, policy) for key, item in value.items()}
    if kind is list or isinstance(value, list | tuple):
        return [_scan_all(item, policy) for item in value]
    if isinstance(value, str):
        return scan_text(value, policy)
    if isinstance(value, int) and not isinstance(value, bool):
        # Card and phone numbers are often sent as integers.
        text = str(value)
        redacted = scan_text(text, policy)
        return value if redacted == text else redacted
    return value


def _children(nodes: tuple[_Node, ...], key: str) -> tuple[_Node, ...]:
    found = []
    for node in nodes:
        for part in (key, "*"):
            child = node.children.get(part)
            if child is not None:
                found.append(child)
    return tuple(found)


def _action(nodes: tuple[_Node, ...]) -> Action | None:
    best: Action | None = None
    for node in nodes:
        if node.action is not None and (best is None or STRENGTH[node.action] > STRENGTH[best]):
            best = node.action
    return best


def scan_text(text: str, policy: RedactionPolicy) -> str:
    """The text with every value a detector or custom pattern finds replaced by the policy's action."""
    # Most strings in a request hold nothing to redact: the detectors' hints (an @, enough digits) say so
    # for most, in one pass for all; their own cheap tests and one search of the joined pattern for the rest.
    if policy._hints is not None and not policy._hints.met_by(text):
        return text
    finders = [finder for finder in policy._finders if finder.could_hold(text)]
    if not finders or (policy._any is not None and policy._any.search(text) is None):
        return text
    found: list[tuple[int, int, _Finder]] = []
    for finder in finders:
        position = 0
        while (match := finder.pattern.search(text, position)) is not None:
            if match.end() > match.start() and finder.validate(match.group(0)):
                found.append((match.start(), match.end(), finder))
                position = match.end()
            else:
                # A candidate that fails validation may hide a valid one starting inside it.
                position = match.start() + 1
    if not found:
        return text
    # Leftmost first, then longest; a find overlapping one already taken is left to it.
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    pieces, end = [], 0
    for start, stop, finder in found:
        if start < end:
            continue
        pieces += [text[end:start], _replace(text[start:stop], finder, policy)]
        end = stop
    pieces.append(text[end:])
    return "".join(pieces)


def _replace(found: str, finder: _Finder, policy: RedactionPolicy) -> str:
    if finder.action == "drop":
        return f"[redacted:{finder.name}]"
    if finder.action == "hash":
        return _hmac(finder.normalise(found), policy)
    return finder.mask(found)


def mask_text(text: str) -> str:
    """Every letter and digit hidden, but the last four of an identifier long enough to keep a hint."""
    letters = sum(ch.isalnum() for ch in text)
    # Free text (with spaces) keeps nothing: its last four letters could be the end of a password.
    identifier = letters >= HINT_MIN_LENGTH and not any(ch.isspace() for ch in text)
    hidden = letters - 4 if identifier else letters
    out = []
    for ch in text:
        if ch.isalnum() and hidden > 0:
            out.append("*")
            hidden -= 1
        else:
            out.append(ch)
    return "".join(out)


def _mask_all(value: Any, policy: RedactionPolicy) -> Any:
    if isinstance(value, Mapping):
        return {scan_text(str(k), policy): _mask_all(v, policy) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_all(v, policy) for v in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "***"
    text = value if isinstance(value, str) else str(value)
    # A value that is one detector's find wholly, such as an email, keeps that detector's hint.
    for finder in policy._finders:
        if finder.pattern.fullmatch(text) and finder.validate(text):
            return finder.mask(text)
    return mask_text(text)


def hash_value(value: Any, policy: RedactionPolicy) -> str:
    """The keyed hash of a value: of a string's text, of anything else's canonical JSON."""
    if isinstance(value, str):
        return _hmac(value, policy)
    return _hmac(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str), policy
    )


def _hmac(text: str, policy: RedactionPolicy) -> str:
    if policy.hash_key is None:
        raise MissingHashKey("the redaction policy hashes values but was given no key; nothing was redacted")
    digest = hmac.new(policy.hash_key, text.encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest[:HASH_HEX_DIGITS]


# --- parsing the stored form --------------------------------------------------------------------
#
#   fields:                          # dotted paths; * is any list item or key
#     customer.email: hash
#     customer.notes: drop
#     items.*.card_number: mask
#   detectors: [email, phone, payment_card]   # or {email: hash, phone: mask}; omitted: the default three
#   patterns:                        # custom, named
#     order_id: "ORD-[0-9]{8}"       # masked; or {regex: "...", action: hash}

POLICY_KEYS = frozenset({"fields", "detectors", "patterns"})


def parse_policy(data: Mapping[str, Any] | None, hash_key: bytes | None = None) -> RedactionPolicy:
    """A policy from its stored form (see above); ``{}`` or None is the default policy."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidPolicy(
            [Problem("must be a mapping with fields, detectors and patterns", field="policy")]
        )
    problems = [Problem(f"unknown key '{k}'", field=str(k)) for k in sorted(set(data) - POLICY_KEYS, key=str)]
    fields = _mapping(data.get("fields", {}), "fields", problems)
    detectors = _detector_actions(data.get("detectors", DEFAULT_DETECTORS), problems)
    specs = _mapping(data.get("patterns", {}), "patterns", problems)
    patterns = [_pattern(name, spec, problems) for name, spec in specs.items()]
    if problems:
        raise InvalidPolicy(problems)
    return RedactionPolicy(
        fields=cast(dict[str, Action], fields),
        detectors=cast(dict[str, Action], detectors),
        patterns=tuple(p for p in patterns if p is not None),
        hash_key=hash_key,
    )


def _mapping(value: Any, where: str, problems: list[Problem]) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        problems.append(Problem("must map names to actions (drop, mask or hash)", field=where))
        return {}
    return dict(value)


def _detector_actions(value: Any, problems: list[Problem]) -> dict[str, Any]:
    # A list of names masks what they find; a mapping gives each its action.
    if isinstance(value, Sequence) and not isinstance(value, str):
        if all(isinstance(name, str) for name in value):
            return dict.fromkeys(value, "mask")
        problems.append(
            Problem("must be a list of detector names or map names to actions", field="detectors")
        )
        return {}
    return _mapping(value, "detectors", problems)


def _pattern(name: str, spec: Any, problems: list[Problem]) -> CustomPattern | None:
    where = f"patterns.{name}"
    if isinstance(spec, str):
        return CustomPattern(name, spec)
    if isinstance(spec, Mapping) and isinstance(spec.get("regex"), str) and set(spec) <= {"regex", "action"}:
        return CustomPattern(name, spec["regex"], spec.get("action", "mask"))
    problems.append(
        Problem("must be a regular expression, or {regex: ..., action: drop|mask|hash}", field=where)
    )
    return None
