"""The providers' circuit breakers, kept in the database so every worker process shares them.

A provider opens when its configuration fails, or after `failure_threshold` failures in a row;
while open every worker skips it. When the cooldown ends, one worker wins a compare-and-set to
probe it (the others keep skipping it for the probe window); a success closes the circuit, a
failure opens it again. Reads are cached for a moment, so a send costs no extra query.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from models import ProviderState, utcnow


class DatabaseHealth:
    """`providers.health.ProviderHealth` over the `provider_states` table."""

    def __init__(
        self,
        engine: Engine,
        cooldown_seconds: float,
        failure_threshold: int = 5,
        probe_window_seconds: float = 30.0,
        cache_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.failure_threshold = failure_threshold
        self.probe_window = timedelta(seconds=probe_window_seconds)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, int, datetime | None]] = {}
        self._lock = threading.Lock()

    def _state(self, name: str) -> tuple[int, datetime | None]:
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ProviderState.failures, ProviderState.opened_until).where(
                    ProviderState.name == name
                )
            ).one_or_none()
        failures, opened_until = (row.failures, row.opened_until) if row else (0, None)
        self._remember(name, failures, opened_until)
        return failures, opened_until

    def _remember(self, name: str, failures: int, opened_until: datetime | None) -> None:
        with self._lock:
            self._cache[name] = (time.monotonic(), failures, opened_until)

    def _ensure_row(self, name: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ProviderState).values(name=name, failures=0))
        except IntegrityError:
            pass  # another process created it first

    def is_available(self, name: str) -> bool:
        """Closed, or open with its cooldown over and this process winning the probe."""
        _, opened_until = self._state(name)
        now = utcnow()
        if opened_until is None:
            return True
        if opened_until > now:
            return False
        # Half-open: exactly one process probes; the others wait out the probe window.
        with self.engine.begin() as conn:
            won = conn.execute(
                update(ProviderState)
                .where(ProviderState.name == name, ProviderState.opened_until == opened_until)
                .values(opened_until=now + self.probe_window, updated_at=now)
            ).rowcount
        self._remember(name, self._state(name)[0], now + self.probe_window)
        return bool(won)

    def mark_unhealthy(self, name: str, reason: str) -> None:
        """Open the circuit now: the provider's configuration is broken."""
        self._write_failure(name, reason, force_open=True)

    def record_failure(self, name: str, reason: str) -> None:
        """Count a failure; the threshold-th in a row opens the circuit."""
        self._write_failure(name, reason, force_open=False)

    def _write_failure(self, name: str, reason: str, *, force_open: bool) -> None:
        self._ensure_row(name)
        now = utcnow()
        opens = ProviderState.failures + 1 >= self.failure_threshold
        with self.engine.begin() as conn:
            conn.execute(
                update(ProviderState)
                .where(ProviderState.name == name)
                .values(
                    failures=ProviderState.failures + 1,
                    last_error=reason[:2000],
                    updated_at=now,
                    opened_until=now + self.cooldown
                    if force_open
                    else case((opens, now + self.cooldown), else_=ProviderState.opened_until),
                )
            )
        with self._lock:
            self._cache.pop(name, None)

    def mark_healthy(self, name: str) -> None:
        """Close the circuit; writes only when there was something to forget."""
        failures, opened_until = self._state(name)
        if failures == 0 and opened_until is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(ProviderState)
                .where(ProviderState.name == name)
                .values(failures=0, opened_until=None, last_error=None, updated_at=utcnow())
            )
        self._remember(name, 0, None)
