"""The send-rate bucket in the database: shared by every process, never overdrawn."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from providers.base import OutboundEmail
from providers.errors import ThrottledError
from providers.failover import FailoverSender
from providers.fake import ScriptedProvider
from providers.health import InMemoryHealth
from tasks.throttle import ThrottledProvider, TokenBucket, parse_rates


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_rates_parse() -> None:
    assert parse_rates("ses=14, sendgrid=100.5") == {"ses": 14.0, "sendgrid": 100.5}
    assert parse_rates("") == {}
    with pytest.raises(ValueError, match="must be positive"):
        parse_rates("ses=0")


def test_two_processes_share_one_bucket(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    clock = Clock()
    a = TokenBucket(engine, "ses", rate=5, clock=clock)
    b = TokenBucket(engine, "ses", rate=5, clock=clock)
    taken = [bucket.try_acquire() == 0 for bucket in (a, b) * 4]
    assert taken.count(True) == 5  # the burst, shared: never 5 each
    wait = a.try_acquire()
    assert wait == pytest.approx(0.2, abs=0.01)  # one token takes 1/rate seconds
    clock.now += 0.2 + 1e-6  # one refill interval (a hair over: floats)
    assert b.try_acquire() == 0
    assert a.try_acquire() > 0


def test_acquire_sleeps_for_the_next_token(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = TokenBucket(sessions.kw["bind"], "smtp", rate=2, burst=1, clock=clock, sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert slept and sum(slept) == pytest.approx(2.0, abs=0.01)  # 4 tokens after the first


def _message() -> OutboundEmail:
    return OutboundEmail(
        from_addr="a@example.com", to=("b@example.com",), subject="s", text="t", message_id="<m@x>"
    )


def test_a_spent_rate_sends_nothing_and_holds_nothing(sessions: sessionmaker[Session]) -> None:
    """Over its rate, a provider is not called and nobody waits: the send says when to retry."""
    clock = Clock()
    inner = ScriptedProvider("smtp", [None])
    bucket = TokenBucket(sessions.kw["bind"], "smtp", rate=2, burst=1, clock=clock)
    provider = ThrottledProvider(inner, bucket)
    assert provider.send(_message()).provider == "smtp"
    with pytest.raises(ThrottledError) as raised:
        provider.send(_message())
    assert raised.value.retry_after == pytest.approx(0.5, abs=0.01)
    assert len(inner.messages) == 1


def test_failover_spills_over_and_a_throttled_walk_is_no_failure(
    sessions: sessionmaker[Session],
) -> None:
    """A throttled provider is skipped for the next one; when every one is throttled the
    verdict is `throttled` with the earliest token's wait, and no circuit counts a failure."""
    clock = Clock()
    engine = sessions.kw["bind"]
    ses = ThrottledProvider(
        ScriptedProvider("ses", [None]), TokenBucket(engine, "ses", rate=1, burst=1, clock=clock)
    )
    smtp = ThrottledProvider(
        ScriptedProvider("smtp", [None]), TokenBucket(engine, "smtp", rate=4, burst=1, clock=clock)
    )
    health = InMemoryHealth(cooldown_seconds=60, failure_threshold=1)
    sender = FailoverSender([ses, smtp], health)
    assert sender.send(_message()).result is not None  # ses's token
    spilled = sender.send(_message())  # ses is spent: smtp takes it
    assert spilled.verdict == "sent" and spilled.result is not None
    assert spilled.result.provider == "smtp"
    both = sender.send(_message())
    assert both.verdict == "throttled"
    assert both.retry_after == pytest.approx(0.25, abs=0.01)
    assert [a.kind for a in both.attempts] == ["throttled", "throttled"]
    assert health.is_available("ses") and health.is_available("smtp")
