"""The gateway's guards around a model call: a deadline, bounded retries, a circuit breaker, a rate limit.

Pure and in-process: time comes from an injectable clock (``time.monotonic`` by default, which never
jumps with the wall clock) and jitter from an injectable random source, so tests drive them exactly.
The breaker and the bucket are shared by a process's request threads, so each holds a lock.

Circuit breaker transitions:

    closed     --failure_threshold failures in a row-->            open
    open       --reset_after_s elapsed, at the next allow()-->     half_open
    half_open  --half_open_max successes in a row-->               closed
    half_open  --any failure-->                                    open (the reset timer starts again)

Closed lets every call through; open refuses every call, so a failing version is given time to recover
instead of a queue of doomed requests; half-open lets at most half_open_max trial calls through. Trials
whose result is never recorded (a cancelled request) would hold half-open shut for good, so after
another reset_after_s without a verdict a new round of trials is allowed. A result recorded while open
comes from a call allowed before the breaker opened and changes nothing.

Retries use capped exponential backoff with full jitter: the wait before retry k (1-based) is drawn
uniformly from [0, min(max_delay_s, base_delay_s · 2**(k-1))] (Brooker, "Exponential Backoff and
Jitter", AWS Architecture Blog, 2015), which spreads a burst of retries instead of synchronising it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
ErrorKind = Literal["timeout", "connection", "server_error", "rate_limited", "client_error"]
# Worth trying again: the next attempt may land on a healthy replica or after a blip. A client
# error will fail the same way; a rate limit is the callee asking for less, not more.
RETRY_ON: frozenset[ErrorKind] = frozenset({"timeout", "connection", "server_error"})


class CircuitBreaker:
    """Stops calling a failing dependency for a while, then lets a few trial calls test it (see above)."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        half_open_max: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold is {failure_threshold}; it must be 1 or more")
        if reset_after_s <= 0:
            raise ValueError(f"reset_after_s is {reset_after_s}; it must be more than 0")
        if half_open_max < 1:
            raise ValueError(f"half_open_max is {half_open_max}; it must be 1 or more")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.half_open_max = half_open_max
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0  # in a row, while closed
        self._since = 0.0  # when it opened, or when the current round of trials began
        self._trials = 0  # calls let through in this half-open round
        self._successes = 0  # in a row, in this half-open round

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose reset time has passed reads as half-open."""
        with self._lock:
            self._advance(self._clock())
            return self._state

    def allow(self) -> bool:
        """Whether a call may go ahead now; a half-open breaker counts the trial it lets through."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._state == "closed":
                return True
            if self._state == "open":
                return False
            if self._trials >= self.half_open_max and now - self._since >= self.reset_after_s:
                self._start_trials(now)  # the last round never reported back
            if self._trials < self.half_open_max:
                self._trials += 1
                return True
            return False

    def record(self, success: bool) -> None:
        """The outcome of a call that allow() let through."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._state == "closed":
                self._failures = 0 if success else self._failures + 1
                if self._failures >= self.failure_threshold:
                    self._open(now)
            elif self._state == "half_open":
                if not success:
                    self._open(now)
                    return
                self._successes += 1
                if self._successes >= self.half_open_max:
                    self._state, self._failures = "closed", 0

    def _advance(self, now: float) -> None:
        if self._state == "open" and now - self._since >= self.reset_after_s:
            self._state = "half_open"
            self._start_trials(now)

    def _open(self, now: float) -> None:
        self._state, self._since, self._failures = "open", now, 0

    def _start_trials(self, now: float) -> None:
        self._since, self._trials, self._successes = now, 0, 0


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a call gets, how long to wait between them, and which failures are worth it."""

    max_attempts: int = 3  # the first attempt included
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0
    retry_on: frozenset[ErrorKind] = RETRY_ON
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)  # in [0, 1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts is {self.max_attempts}; it must be 1 or more")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays cannot be negative")

    def delays(self) -> list[float]:
        """The wait before each retry, max_attempts - 1 of them, each drawn with full jitter (see above)."""
        return [
            self.random() * min(self.max_delay_s, self.base_delay_s * 2**retry)
            for retry in range(self.max_attempts - 1)
        ]

    def should_retry(self, attempt: int, error_kind: ErrorKind) -> bool:
        """Whether to try again after attempt number ``attempt`` (1-based) failed with this kind of error."""
        return attempt < self.max_attempts and error_kind in self.retry_on


def error_kind(status_code: int) -> ErrorKind | None:
    """The kind of failure an HTTP status is; None for success (1xx-3xx)."""
    if status_code == 429:
        return "rate_limited"
    if status_code in (408, 504):
        return "timeout"
    if status_code >= 500:
        return "server_error"
    if status_code >= 400:
        return "client_error"
    return None


class Deadline:
    """A time budget for a request: each attempt's timeout and each retry's wait must fit in what is left."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + budget_s

    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.remaining() <= 0

    def timeout(self, per_attempt_s: float) -> float:
        """An attempt's timeout: its own limit, cut to what the budget has left."""
        return min(per_attempt_s, self.remaining())


class TokenBucket:
    """A per-process rate limit: ``rate_per_s`` on average, bursts up to ``burst``; starts full."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s is {rate_per_s}; it must be more than 0")
        if burst < 1:
            raise ValueError(f"burst is {burst}; it must be 1 or more, or no request could ever pass")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at = clock()

    def take(self, tokens: float = 1.0) -> bool:
        """Take tokens if there are enough now; False (and nothing taken) when the limit is reached."""
        with self._lock:
            now = self._clock()
            # max(): a clock that steps back must not drain the bucket.
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate_per_s)
            self._at = now
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False

    @property
    def available(self) -> float:
        """The tokens there would be now (without taking any)."""
        with self._lock:
            elapsed = max(0.0, self._clock() - self._at)
            return min(self.burst, self._tokens + elapsed * self.rate_per_s)
