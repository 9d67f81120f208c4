"""The circuit breaker kept in the database is shared by every process that reads it."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from tasks.provider_health import DatabaseHealth


def two_processes(sessions: sessionmaker[Session], **kwargs: float) -> tuple[DatabaseHealth, ...]:
    engine = sessions.kw["bind"]
    return tuple(
        DatabaseHealth(engine, cache_seconds=0, failure_threshold=3, **kwargs) for _ in range(2)
    )


def test_failures_from_any_process_open_the_circuit_for_all(
    sessions: sessionmaker[Session],
) -> None:
    a, b = two_processes(sessions, cooldown_seconds=60)
    a.record_failure("ses", "throttled")
    b.record_failure("ses", "throttled")
    assert a.is_available("ses") and b.is_available("ses")
    a.record_failure("ses", "503 from SES")
    assert not a.is_available("ses") and not b.is_available("ses")
    assert a.is_available("sendgrid")


def test_configuration_error_opens_at_once_and_success_closes(
    sessions: sessionmaker[Session],
) -> None:
    a, b = two_processes(sessions, cooldown_seconds=60)
    a.mark_unhealthy("sendgrid", "401 bad key")
    assert not b.is_available("sendgrid")
    b.mark_healthy("sendgrid")
    assert a.is_available("sendgrid")
    a.record_failure("sendgrid", "x")
    a.record_failure("sendgrid", "x")
    assert a.is_available("sendgrid")  # the success reset the count


def test_after_the_cooldown_exactly_one_process_probes(sessions: sessionmaker[Session]) -> None:
    a, b = two_processes(sessions, cooldown_seconds=0.2, probe_window_seconds=60)
    a.mark_unhealthy("smtp", "535")
    assert not a.is_available("smtp")
    time.sleep(0.3)
    answers = [a.is_available("smtp"), b.is_available("smtp")]
    assert sorted(answers) == [False, True]
    prober = a if answers[0] else b
    prober.record_failure("smtp", "still 535")  # the probe failed: open again
    assert not a.is_available("smtp") and not b.is_available("smtp")


def test_successful_probe_closes_for_everyone(sessions: sessionmaker[Session]) -> None:
    a, b = two_processes(sessions, cooldown_seconds=0.2, probe_window_seconds=60)
    a.mark_unhealthy("ses", "down")
    time.sleep(0.3)
    assert a.is_available("ses")  # a probes
    assert not b.is_available("ses")  # b waits for the probe
    a.mark_healthy("ses")
    assert b.is_available("ses")
