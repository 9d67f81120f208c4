from __future__ import annotations

import threading

import pytest

from providers.health import InMemoryHealth, ProviderHealth


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unknown_providers_are_available() -> None:
    assert InMemoryHealth(cooldown_seconds=60).is_available("smtp")


def test_unhealthy_until_the_cooldown_passes_then_probed_again() -> None:
    clock = FakeClock()
    health = InMemoryHealth(cooldown_seconds=60, clock=clock)

    health.mark_unhealthy("smtp", "535 bad credentials")

    assert not health.is_available("smtp")
    assert health.is_available("outbox")
    assert health.reason("smtp") == "535 bad credentials"
    clock.now += 59.9
    assert not health.is_available("smtp")
    clock.now += 0.1
    assert health.is_available("smtp")


def test_a_failed_probe_starts_a_new_cooldown() -> None:
    clock = FakeClock()
    health = InMemoryHealth(cooldown_seconds=60, clock=clock)
    health.mark_unhealthy("smtp", "first")
    clock.now += 60

    health.mark_unhealthy("smtp", "second")

    assert not health.is_available("smtp")
    assert health.reason("smtp") == "second"
    clock.now += 60
    assert health.is_available("smtp")


def test_marking_healthy_ends_the_cooldown_early() -> None:
    health = InMemoryHealth(cooldown_seconds=60, clock=FakeClock())
    health.mark_unhealthy("smtp", "down")

    health.mark_healthy("smtp")
    health.mark_healthy("never-marked")

    assert health.is_available("smtp")
    assert health.reason("smtp") is None


def test_negative_cooldown_is_refused() -> None:
    with pytest.raises(ValueError):
        InMemoryHealth(cooldown_seconds=-1)


def test_satisfies_the_protocol_and_tolerates_threads() -> None:
    health: ProviderHealth = InMemoryHealth(cooldown_seconds=60)

    def churn(n: int) -> None:
        for _ in range(500):
            health.mark_unhealthy(f"p{n % 3}", "x")
            health.is_available(f"p{n % 3}")
            health.mark_healthy(f"p{n % 3}")

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(health.is_available(f"p{n}") for n in range(3))


def test_consecutive_failures_open_the_circuit_and_a_success_resets_the_count() -> None:
    clock = FakeClock()
    health = InMemoryHealth(cooldown_seconds=30, clock=clock, failure_threshold=3)
    health.record_failure("ses", "throttled")
    health.record_failure("ses", "throttled")
    health.mark_healthy("ses")  # a success in between: the count starts over
    health.record_failure("ses", "throttled")
    health.record_failure("ses", "throttled")
    assert health.is_available("ses")
    health.record_failure("ses", "503")
    assert not health.is_available("ses") and health.reason("ses") == "503"
    clock.now += 30
    assert health.is_available("ses")
