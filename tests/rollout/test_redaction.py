"""Redaction: personal data never reaches the log in clear, fields are dropped, masked or hashed by policy."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.data.pii import luhn_check_digit
from phasegate.rollout.redaction import (
    DEFAULT_POLICY,
    HASH_PREFIX,
    CustomPattern,
    InvalidPolicy,
    MissingHashKey,
    RedactionPolicy,
    parse_policy,
    scan_text,
)
from phasegate.rollout.redaction import redact as redact_json

# A machine shared with other test workers can stall any example past hypothesis's deadline.
NO_DEADLINE = settings(deadline=None)
KEY = b"k" * 32
OTHER_KEY = b"o" * 32

EMAILS = ["jane.doe@example.com", "j_smith+tag@mail.example.co.uk", "x@y.io"]
PHONES = ["+44 20 7946 0958", "(415) 555-2671", "030 1234 5678", "+33 1 23 45 67 89"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117"]


def redact(value: Any, policy: RedactionPolicy = DEFAULT_POLICY) -> Any:
    """The redacted value, typed loosely so a test can index into it."""
    return redact_json(value, policy)


def card(prefix: str) -> str:
    return prefix + luhn_check_digit(prefix)


def clear(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# Text around a find starts and ends with a separator, so the find stands as a value of its own.
words = st.text(alphabet="abcdefghij XYZ,;:!?", max_size=15)
before = st.builds(lambda w, s: w + s, words, st.sampled_from([" ", "(", '"', "<", "=", "/", ":", "\n"]))
after = st.builds(lambda s, w: s + w, st.sampled_from([" ", ")", '"', ">", ".", ",", "\n", "/"]), words)
secrets = st.one_of(
    st.sampled_from(EMAILS + PHONES + CARDS),
    st.builds(card, st.from_regex(r"4[0-9]{14}", fullmatch=True)),
    st.builds(lambda local, host: f"{local}@{host}.com", st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
              st.from_regex(r"[a-z]{2,8}", fullmatch=True)),
)  # fmt: skip


@st.composite
def nested_with_secret(draw: st.DrawFn) -> tuple[Any, str]:
    """A nested JSON value holding one secret somewhere in a string (or a key), with text around it."""
    secret = draw(secrets)
    text = draw(before) + secret + draw(after) if draw(st.booleans()) else secret
    leaf: Any = text
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(st.sampled_from(["dict", "list", "key"]))
        if shape == "dict":
            leaf = {draw(st.sampled_from(["input", "note", "customer", "x"])): leaf, "other": draw(words)}
        elif shape == "list":
            leaf = [draw(words), leaf, 7]
        else:
            leaf = {text: 1, "wrapped": leaf} if isinstance(leaf, str) else {"k": leaf}
    return leaf, secret


@NO_DEADLINE
@given(nested_with_secret())
def test_an_email_phone_or_card_anywhere_never_survives_the_default_policy(case: tuple[Any, str]) -> None:
    value, secret = case
    assert secret not in clear(redact(value))


@NO_DEADLINE
@given(nested_with_secret(), st.sampled_from(["mask", "hash", "drop"]))
def test_no_detector_action_leaves_a_secret_in_clear(case: tuple[Any, str], action: str) -> None:
    value, secret = case
    policy = parse_policy({"detectors": dict.fromkeys(["email", "phone", "payment_card"], action)}, KEY)
    assert secret not in clear(redact(value, policy))


def test_finds_are_replaced_in_place_with_the_detectors_own_hints() -> None:
    text = "Mail jane.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111, ta."
    assert redact(text) == "Mail j***@example.com or call +** ** **** **58; card **** **** **** 1111, ta."


def test_an_email_in_a_query_string_is_caught() -> None:
    assert (
        redact("https://x.example/send?to=jane@example.com&x=1")
        == "https://x.example/send?to=j***@example.com&x=1"
    )


def test_card_numbers_sent_as_integers_are_masked() -> None:
    assert redact({"card": 4111111111111111, "count": 3}) == {"card": "************1111", "count": 3}


def test_a_card_behind_a_longer_invalid_digit_run_is_still_found() -> None:
    assert "4111 1111 1111 1111" not in clear(redact("ref 0000 4111 1111 1111 1111 ok"))


def test_text_without_personal_data_is_left_alone() -> None:
    value = {"total": 120.5, "lines": [{"sku": "A-100", "qty": 2}], "ok": True, "none": None, "id": 12345678}
    assert redact(value) == value


def test_the_input_is_not_changed() -> None:
    value = {"customer": {"email": "jane@example.com"}, "items": [{"card": CARDS[0]}]}
    kept = copy.deepcopy(value)
    redact(value, parse_policy({"fields": {"customer": "drop"}}))
    assert value == kept


# --- fields -------------------------------------------------------------------------------------

RECORD = {
    "customer": {"name": "Jane Doe", "email": "jane@example.com", "notes": "VIP since March 2019"},
    "items": [{"sku": "A-1", "card": "4111 1111 1111 1111"}, {"sku": "B-2", "card": "5500 0000 0000 0004"}],
    "amount": 120,
}


def test_dropped_fields_are_gone_through_lists_too() -> None:
    policy = parse_policy({"fields": {"customer.notes": "drop", "items.*.card": "drop"}})
    redacted = redact(RECORD, policy)
    assert redacted == {
        "customer": {"name": "Jane Doe", "email": "j***@example.com"},
        "items": [{"sku": "A-1"}, {"sku": "B-2"}],
        "amount": 120,
    }


def test_a_star_matches_any_key_of_an_object() -> None:
    redacted = redact(RECORD, parse_policy({"fields": {"customer.*": "drop"}}))
    assert redacted["customer"] == {}


def test_a_masked_field_keeps_a_hint() -> None:
    policy = parse_policy({"fields": {"customer": "mask", "amount": "mask"}})
    redacted = redact(RECORD, policy)
    assert redacted["customer"] == {
        "name": "**** ***",
        "email": "j***@example.com",
        "notes": "*** ***** ***** ****",  # free text keeps no letters
    }
    assert redacted["amount"] == "***"
    masked = redact({"account": "GB-0000-1111-2222-3333"}, parse_policy({"fields": {"account": "mask"}}))
    assert masked == {"account": "**-****-****-****-3333"}


def test_hashing_is_stable_per_key_and_differs_across_keys() -> None:
    fields = {"fields": {"customer.email": "hash", "items": "hash"}}
    first = redact(RECORD, parse_policy(fields, KEY))
    again = redact(RECORD, parse_policy(fields, KEY))
    other = redact(RECORD, parse_policy(fields, OTHER_KEY))
    hashed = first["customer"]["email"]
    assert first == again
    assert hashed.startswith(HASH_PREFIX) and len(hashed) == len(HASH_PREFIX) + 32
    assert hashed != other["customer"]["email"]
    assert first["items"] != other["items"]
    assert "4111" not in clear(first)


def test_the_strongest_of_several_matching_paths_wins() -> None:
    policy = parse_policy(
        {"fields": {"items.*.card": "mask", "items.0.card": "drop", "*.*.card": "hash"}}, KEY
    )
    first, second = redact(RECORD, policy)["items"]
    assert first == {"sku": "A-1"}
    assert second["card"].startswith(HASH_PREFIX)


def test_a_dropped_list_item_is_gone() -> None:
    assert redact({"a": [1, 2, 3]}, parse_policy({"fields": {"a.1": "drop"}})) == {"a": [1, 3]}


def test_hashed_finds_are_normalised_so_one_card_written_two_ways_hashes_alike() -> None:
    policy = parse_policy({"detectors": {"payment_card": "hash", "email": "hash"}}, KEY)
    assert redact("4111 1111 1111 1111", policy) == redact("4111-1111-1111-1111", policy)
    assert redact("Jane@Example.com", policy) == redact("jane@example.com", policy)


def test_a_dropped_find_leaves_a_marker() -> None:
    policy = parse_policy({"detectors": {"email": "drop"}})
    assert redact("write to jane@example.com today", policy) == "write to [redacted:email] today"


def test_a_custom_pattern_is_redacted_like_a_detector() -> None:
    policy = parse_policy(
        {
            "detectors": [],
            "patterns": {"order_id": "ORD-[0-9]{8}", "badge": {"regex": "B[0-9]{6}", "action": "hash"}},
        },
        KEY,
    )
    redacted = redact({"note": "order ORD-12345678 for badge B123456"}, policy)
    note = redacted["note"]
    assert note.startswith("order ***-******** for badge hmac-sha256:")
    assert "12345678" not in note and "B123456" not in note


def test_other_detectors_can_be_chosen_by_name() -> None:
    policy = parse_policy({"detectors": ["iban"]})
    assert redact("pay GB82 WEST 1234 5698 7654 32 now", policy) == "pay GB** **** **** **** **54 32 now"
    assert redact("jane@example.com", policy) == "jane@example.com"


# --- the policy ---------------------------------------------------------------------------------


def test_an_empty_policy_is_the_default_one() -> None:
    assert parse_policy({}) == DEFAULT_POLICY
    assert parse_policy(None) == DEFAULT_POLICY
    assert dict(DEFAULT_POLICY.detectors) == {"email": "mask", "phone": "mask", "payment_card": "mask"}


def test_a_policy_that_hashes_refuses_to_redact_without_its_key() -> None:
    policy = parse_policy({"fields": {"customer.email": "hash"}})
    assert policy.requires_key and not DEFAULT_POLICY.requires_key
    with pytest.raises(MissingHashKey):
        redact(RECORD, policy)
    assert redact(RECORD, policy.with_key(KEY))["customer"]["email"].startswith(HASH_PREFIX)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"fields": {"customer.email": "encrypt"}}, "fields['customer.email']", "action is 'encrypt'"),
        ({"fields": {"customer..email": "drop"}}, "fields['customer..email']", "not a dotted path"),
        ({"fields": ["customer.email"]}, "fields", "must map names to actions"),
        ({"detectors": ["email", "passport"]}, "detectors.passport", "no detector 'passport'"),
        ({"detectors": {"email": "blur"}}, "detectors.email", "action is 'blur'"),
        ({"detectors": [1]}, "detectors", "list of detector names"),
        ({"patterns": {"order": "ORD-[0-9"}}, "patterns.order", "not a regular expression"),
        ({"patterns": {"anything": "x*"}}, "patterns.anything", "matches the empty text"),
        ({"patterns": {"email": "x+"}}, "patterns.email", "a detector's or a repeated name"),
        ({"patterns": {"order": {"pattern": "x"}}}, "patterns.order", "must be a regular expression"),
        ({"retention": "30d"}, "retention", "unknown key 'retention'"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidPolicy) as raised:
        parse_policy(data)
    assert isinstance(raised.value, ValueError)
    assert [p.field for p in raised.value.problems] == [field]
    assert words in str(raised.value)


def test_a_short_hash_key_is_refused() -> None:
    with pytest.raises(InvalidPolicy, match="at least 32 bytes"):
        RedactionPolicy(hash_key=b"secret")


def test_a_policy_can_be_built_in_code() -> None:
    policy = RedactionPolicy(
        fields={"ssn": "drop"}, detectors={}, patterns=(CustomPattern("ticket", "T-[0-9]+"),)
    )
    assert redact({"ssn": "123-45-6789", "t": "see T-42"}, policy) == {"t": "see *-**"}


@given(
    st.lists(
        st.sampled_from(
            [
                "jane@example.com",
                "+44 20 7946 0018",
                "4111 1111 1111 1111",
                "CL-00012",
                " ",
                "refund",
                "@",
                "12",
                "-",
                "ab.c",
                "0044",
            ]
        ),
        max_size=12,
    )
)
def test_the_joined_prefilter_finds_exactly_what_the_detectors_find_one_by_one(parts: list[str]) -> None:
    """Clean text is passed over by the detectors' cheap tests and one search of the joined pattern;
    neither may ever pass over a find."""
    text = "".join(parts)
    assert scan_text(text, DEFAULT_POLICY) == scan_text(text, without_prefilters(DEFAULT_POLICY))


@given(st.text(alphabet="0123456789 +-()@.abcjxyz", max_size=40))
def test_the_cheap_tests_never_skip_a_find_in_any_text(text: str) -> None:
    assert scan_text(text, DEFAULT_POLICY) == scan_text(text, without_prefilters(DEFAULT_POLICY))


EVERY_DETECTOR = RedactionPolicy(
    detectors={
        "email": "mask",
        "phone": "hash",
        "payment_card": "drop",
        "iban": "mask",
        "us_ssn": "mask",
        "uk_nino": "drop",
    },
    hash_key=b"k" * 32,
)


FINDS_AND_NOISE = [
    "jane@example.com",
    "+44 20 7946 0018",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "AB 12 34 56 C",
    "CL-00012",
    " ",
    "-",
    "7",
    "@",
    "x",
]


@given(
    st.lists(st.sampled_from(FINDS_AND_NOISE), max_size=8).map("".join)
    | st.text(alphabet="0123456789 +-()@.abcjxyzGBDEAQ", max_size=48)
)
def test_the_hints_of_every_detector_never_skip_a_find(text: str) -> None:
    """With every built-in detector on, the joint hints (a character, a digit count) pass over only text
    that no detector, searched on its own, finds anything in."""
    assert scan_text(text, EVERY_DETECTOR) == scan_text(text, without_prefilters(EVERY_DETECTOR))


@pytest.mark.parametrize("find", FINDS_AND_NOISE[:6])
def test_each_detectors_find_on_its_own_passes_the_hints(find: str) -> None:
    for text in (find, f"({find})", f"x {find}"):
        assert scan_text(text, EVERY_DETECTOR) == scan_text(text, without_prefilters(EVERY_DETECTOR)) != text


def test_a_custom_pattern_turns_the_hints_off_as_it_has_none() -> None:
    policy = RedactionPolicy(patterns=(CustomPattern(name="ticket", regex=r"T-[0-9]+"),))
    assert policy._hints is None
    assert scan_text("see T-42", policy) == "see *-**"


def without_prefilters(policy: RedactionPolicy) -> RedactionPolicy:
    """The policy with every detector searched on its own, always."""
    copied = copy.copy(policy)
    object.__setattr__(copied, "_any", None)
    object.__setattr__(copied, "_hints", None)
    finders = tuple(dataclasses.replace(f, hint_char=None, min_digits=0) for f in policy._finders)
    object.__setattr__(copied, "_finders", finders)
    return copied
