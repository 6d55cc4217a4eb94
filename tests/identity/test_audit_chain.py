"""The hash chain as pure functions: any change, removal or reordering is found and named."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from phasegate.identity import chain


def build(contents: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    payloads, hashes, prev = [], [], chain.GENESIS
    for seq, content in enumerate(contents, start=1):
        payload = {"seq": seq, "action": "x", "after": content, "prev_hash": prev}
        prev = chain.entry_hash(payload)
        payloads.append(payload)
        hashes.append(prev)
    return payloads, hashes


contents = st.lists(st.text(max_size=20), min_size=2, max_size=30)


@given(contents)
def test_an_untouched_chain_verifies(items: list[str]) -> None:
    payloads, hashes = build(items)
    result = chain.verify(payloads, hashes, (len(items), hashes[-1]))
    assert result.ok and result.entries == len(items)


@given(contents, st.data())
def test_changing_any_entry_names_that_entry(items: list[str], data: st.DataObject) -> None:
    payloads, hashes = build(items)
    index = data.draw(st.integers(0, len(items) - 1))
    payloads[index] = {**payloads[index], "after": payloads[index]["after"] + "!"}
    result = chain.verify(payloads, hashes, (len(items), hashes[-1]))
    assert result.broken is not None and result.broken.seq == index + 1
    assert "changed" in result.broken.reason


@given(contents, st.data())
def test_removing_an_entry_in_the_middle_is_found(items: list[str], data: st.DataObject) -> None:
    payloads, hashes = build(items)
    index = data.draw(st.integers(0, len(items) - 2))
    del payloads[index], hashes[index]
    result = chain.verify(payloads, hashes, (len(items), build(items)[1][-1]))
    assert result.broken is not None and result.broken.seq == index + 1


def test_removing_the_newest_entries_is_found_through_the_head() -> None:
    payloads, hashes = build(["a", "b", "c"])
    result = chain.verify(payloads[:2], hashes[:2], (3, hashes[-1]))
    assert result.broken is not None and "removed from the end" in result.broken.reason


def test_swapping_two_entries_is_found() -> None:
    payloads, hashes = build(["a", "b", "c"])
    payloads[0], payloads[1] = {**payloads[1], "seq": 1}, {**payloads[0], "seq": 2}
    hashes[0], hashes[1] = hashes[1], hashes[0]
    result = chain.verify(payloads, hashes, (3, hashes[-1]))
    assert result.broken is not None and result.broken.seq == 1


def test_secrets_are_redacted_at_any_depth() -> None:
    value = {"user": "a", "password": "hunter22", "nested": [{"token": "pg_abc", "ok": 1}]}
    assert chain.redact(value) == {
        "user": "a",
        "password": chain.REDACTED,
        "nested": [{"token": chain.REDACTED, "ok": 1}],
    }
