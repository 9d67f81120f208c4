"""Send-time throttling per provider: a token bucket in the database, shared by all workers.

One conditional UPDATE refills the bucket for the time elapsed and takes a token only if one
is there, so concurrent workers on any machine cannot overdraw it (a row lock on PostgreSQL,
the write lock on SQLite). A send that finds the bucket empty is not made and does not wait:
it raises `ThrottledError` with the time the next token needs, so the email is retried then
and no sending slot or connection is held meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.rate_bucket import RateBucket
from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import ThrottledError


def parse_rates(raw: str) -> dict[str, float]:
    """`ses=14,sendgrid=100` -> {"ses": 14.0, "sendgrid": 100.0} (emails per second)."""
    rates = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        rate = float(value)
        if rate <= 0:
            raise ValueError(f"rate for {name.strip()} must be positive")
        rates[name.strip().lower()] = rate
    return rates


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; `acquire` blocks until one is taken."""

    def __init__(
        self,
        engine: Engine,
        provider: str,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._ensure_row()

    def _ensure_row(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(RateBucket).values(
                        provider=self.provider, tokens=self.burst, updated=self._clock()
                    )
                )
        except IntegrityError:
            pass  # another process created it

    def try_acquire(self) -> float:
        """Take a token now (0.0), or say how long to wait for the next one."""
        now = self._clock()
        refilled = RateBucket.tokens + (now - RateBucket.updated) * self.rate
        available = case((refilled > self.burst, self.burst), else_=refilled)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(RateBucket)
                .where(RateBucket.provider == self.provider, available >= 1)
                .values(tokens=available - 1, updated=now)
            ).rowcount
            if taken:
                return 0.0
            tokens, updated = conn.execute(
                select(RateBucket.tokens, RateBucket.updated).where(
                    RateBucket.provider == self.provider
                )
            ).one()
        current = min(self.burst, tokens + (now - updated) * self.rate)
        return float(max(0.001, (1 - current) / self.rate))

    def acquire(self) -> None:
        """Block until a token is taken."""
        while (wait := self.try_acquire()) > 0:
            self._sleep(wait)


class ThrottledProvider(Provider):
    """A provider that takes a token from its bucket before every send."""

    def __init__(self, inner: Provider, bucket: TokenBucket) -> None:
        self.inner = inner
        self.bucket = bucket
        self.name = inner.name

    def send(self, message: OutboundEmail) -> SendResult:
        """Take a token and send, or say when the next token comes."""
        wait = self.bucket.try_acquire()
        if wait > 0:
            raise ThrottledError(
                f"over the configured rate of {self.bucket.rate:g}/s",
                provider=self.name,
                retry_after=wait,
            )
        return self.inner.send(message)

    def close(self) -> None:
        """Close the wrapped provider."""
        self.inner.close()


def throttle(
    providers: list[Provider], engine: Engine, rates: Mapping[str, float]
) -> list[Provider]:
    """Wrap each provider that has a configured rate."""
    return [
        ThrottledProvider(p, TokenBucket(engine, p.name, rates[p.name])) if p.name in rates else p
        for p in providers
    ]
