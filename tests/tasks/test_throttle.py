"""The send-rate bucket in the database: shared by every process, never overdrawn."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tasks.throttle import TokenBucket, parse_rates


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
