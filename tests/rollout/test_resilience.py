"""Resilience: the circuit breaker's transitions, bounded jittered retries, deadlines, the rate limit."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.rollout.resilience import CircuitBreaker, Deadline, RetryPolicy, TokenBucket, error_kind

# A machine shared with other test workers can stall any example past hypothesis's deadline.
NO_DEADLINE = settings(deadline=None)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state(breaker: CircuitBreaker) -> str:
    """The breaker's state, read afresh (a type checker would otherwise keep the last one it saw)."""
    return breaker.state


def opened(clock: FakeClock, half_open_max: int = 1) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, half_open_max=half_open_max, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record(False)
    assert state(breaker) == "open"
    return breaker


# --- the circuit breaker ------------------------------------------------------------------------


def test_the_breaker_opens_after_the_threshold_of_failures_in_a_row() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=clock)
    for outcome in (False, False, True, False, False):
        breaker.record(outcome)
    assert state(breaker) == "closed"  # the success reset the count
    breaker.record(False)
    assert state(breaker) == "open"
    assert not breaker.allow()


def test_an_open_breaker_refuses_calls_until_the_reset_time_then_lets_one_trial_through() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(9.99)
    assert not breaker.allow()
    clock.advance(0.01)
    assert state(breaker) == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # only half_open_max trials at once


def test_a_successful_trial_closes_the_breaker() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()
    breaker.record(True)
    assert state(breaker) == "closed"
    assert all(breaker.allow() for _ in range(10))


def test_a_failed_trial_opens_the_breaker_again_for_a_full_reset_time() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(15)
    assert breaker.allow()
    breaker.record(False)
    assert state(breaker) == "open"
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_half_open_needs_every_trial_to_succeed_before_closing() -> None:
    clock = FakeClock()
    breaker = opened(clock, half_open_max=3)
    clock.advance(10)
    assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
    breaker.record(True)
    breaker.record(True)
    assert state(breaker) == "half_open"
    breaker.record(True)
    assert state(breaker) == "closed"


def test_trials_that_never_report_back_do_not_hold_the_breaker_half_open_for_good() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()  # the trial's result is never recorded
    clock.advance(5)
    assert not breaker.allow()
    clock.advance(5)
    assert breaker.allow()


def test_a_late_result_while_open_changes_nothing() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    breaker.record(True)
    assert state(breaker) == "open"
    clock.advance(10)
    assert state(breaker) == "half_open"


def test_the_breaker_counts_failures_from_many_threads_exactly() -> None:
    breaker = CircuitBreaker(failure_threshold=800, reset_after_s=10, clock=FakeClock())

    def fail_100() -> None:
        for _ in range(100):
            breaker.record(False)

    threads = [threading.Thread(target=fail_100) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state(breaker) == "closed"  # 700 of 800
    breaker.record(False)
    assert state(breaker) == "closed"
    for _ in range(99):
        breaker.record(False)
    assert state(breaker) == "open"


@pytest.mark.parametrize(
    "arguments",
    [{"failure_threshold": 0}, {"reset_after_s": 0}, {"half_open_max": 0}],
)
def test_a_breaker_that_could_never_work_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**arguments)  # type: ignore[arg-type]


# --- retries ------------------------------------------------------------------------------------


def test_delays_grow_exponentially_up_to_the_cap_at_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.1, max_delay_s=1.0, random=lambda: 1.0)
    assert policy.delays() == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])


def test_jitter_scales_each_delay_by_a_fresh_draw() -> None:
    draws = iter([0.5, 0.0, 0.25])
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=10, random=lambda: next(draws))
    assert policy.delays() == pytest.approx([0.1, 0.0, 0.2])


@NO_DEADLINE
@given(
    st.integers(1, 12),
    st.floats(0, 5),
    st.floats(0, 30),
    st.lists(st.floats(0, 1, exclude_max=True), min_size=12, max_size=12),
)
def test_there_is_one_delay_per_retry_never_above_the_cap(
    attempts: int, base: float, cap: float, draws: list[float]
) -> None:
    source = iter(draws)
    delays = RetryPolicy(attempts, base, cap, random=lambda: next(source)).delays()
    assert len(delays) == attempts - 1
    assert all(0 <= d <= cap for d in delays)


def test_only_transient_failures_are_retried_and_only_while_attempts_remain() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, "timeout")
    assert policy.should_retry(2, "server_error")
    assert policy.should_retry(1, "connection")
    assert not policy.should_retry(3, "timeout")  # the third attempt was the last
    assert not policy.should_retry(1, "client_error")
    assert not policy.should_retry(1, "rate_limited")
    assert RetryPolicy(max_attempts=1).delays() == []


def test_http_statuses_map_to_kinds_of_failure() -> None:
    assert [error_kind(s) for s in (200, 302, 400, 404, 408, 429, 500, 503, 504)] == [
        None, None, "client_error", "client_error", "timeout", "rate_limited", "server_error", "server_error",
        "timeout",
    ]  # fmt: skip


def test_a_retry_policy_with_no_attempts_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


# --- deadline -----------------------------------------------------------------------------------


def test_a_deadline_cuts_each_attempts_timeout_to_what_is_left() -> None:
    clock = FakeClock()
    deadline = Deadline(2.0, clock)
    assert deadline.timeout(0.5) == 0.5
    clock.advance(1.8)
    assert deadline.timeout(0.5) == pytest.approx(0.2)
    assert not deadline.expired
    clock.advance(0.3)
    assert deadline.remaining() == 0 and deadline.expired


# --- the token bucket ---------------------------------------------------------------------------


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.advance(0.1)  # one token's worth
    assert bucket.take()
    assert not bucket.take()


def test_the_bucket_never_holds_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=100, burst=3, clock=clock)
    clock.advance(3600)
    assert bucket.available == 3
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_failed_take_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1, burst=2, clock=clock)
    assert not bucket.take(3)
    assert bucket.take(2)


def test_a_clock_stepping_back_does_not_drain_the_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=1, burst=2, clock=clock)
    clock.advance(-100)
    assert bucket.take() and bucket.take()


def test_the_bucket_grants_exactly_its_burst_to_many_threads_at_once() -> None:
    bucket = TokenBucket(rate_per_s=1, burst=500, clock=FakeClock())
    granted: list[bool] = []
    lock = threading.Lock()

    def take_100() -> None:
        mine = [bucket.take() for _ in range(100)]
        with lock:
            granted.extend(mine)

    threads = [threading.Thread(target=take_100) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 500


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (1, 0.5)])
def test_a_bucket_that_could_never_grant_is_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
