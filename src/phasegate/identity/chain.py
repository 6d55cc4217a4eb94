"""The audit log's hash chain, as pure functions: each entry's hash covers the one before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# Keys whose values never reach the audit log in clear, wherever they sit in a document.
SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "secret", "api_key"})
REDACTED = "[redacted]"


def canonical(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, so equal values hash equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the entry's canonical fields, its predecessor's hash among them."""
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


def redact(value: Any) -> Any:
    """The value with every secret-named field replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain stops holding, and how."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    entries: int
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(
    payloads: Iterable[Mapping[str, Any]], hashes: Iterable[str], head: tuple[int, str] | None
) -> Verification:
    """Walk the entries in order and name the first one that was changed, removed or reordered."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    for payload, stored_hash in zip(payloads, hashes, strict=True):
        seq = int(payload["seq"])
        if seq != expected_seq:
            reason = f"entry {expected_seq} is missing" if seq > expected_seq else "entries are out of order"
            return Verification(count, ChainBreak(expected_seq if seq > expected_seq else seq, reason))
        if payload["prev_hash"] != expected_prev:
            return Verification(
                count, ChainBreak(seq, "does not follow the entry before it (removed or reordered)")
            )
        if entry_hash(payload) != stored_hash:
            return Verification(count, ChainBreak(seq, "its content was changed after it was written"))
        expected_prev, expected_seq, count = stored_hash, seq + 1, count + 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq != count or (count and head_hash != expected_prev):
            return Verification(
                count,
                ChainBreak(
                    count + 1,
                    f"the log ends at entry {count} "
                    f"but entry {head_seq} was written (entries removed from the end)",
                ),
            )
    elif count:
        return Verification(count, ChainBreak(count, "the chain head is missing"))
    return Verification(count, None)
