from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    TransientError,
)
from providers.failover import FailoverSender
from providers.fake import ScriptedProvider
from providers.health import InMemoryHealth
from providers.registry import UnknownProviderError
from tests.providers.provider_testkit import MessageFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def transient(name: str) -> TransientError:
    return TransientError("connection refused", provider=name)


def test_the_first_provider_that_accepts_wins(make_message: MessageFactory) -> None:
    first = ScriptedProvider("smtp", [transient("smtp")])
    second = ScriptedProvider("ses", [None])
    third = ScriptedProvider("outbox", [])
    health = InMemoryHealth(cooldown_seconds=60)
    message = make_message()

    outcome = FailoverSender([first, second, third], health).send(message)

    assert outcome.verdict == "sent"
    assert outcome.result is not None and outcome.result.provider == "ses"
    assert outcome.error is None and outcome.ambiguous_provider is None
    assert [(a.provider, a.outcome, a.kind) for a in outcome.attempts] == [
        ("smtp", "failed", "transient"),
        ("ses", "accepted", None),
    ]
    assert outcome.attempts[0].error == "TransientError: connection refused"
    assert first.messages == [message] and second.messages == [message]
    assert third.messages == []
    # A transient failure says nothing about the provider's configuration.
    assert health.is_available("smtp")


def test_attempts_carry_utc_time_and_duration(make_message: MessageFactory) -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    timer = iter([10.0, 10.25, 20.0, 20.5])
    sender = FailoverSender(
        [ScriptedProvider("a", [transient("a")]), ScriptedProvider("b", [None])],
        InMemoryHealth(cooldown_seconds=60),
        now=lambda: moment,
        timer=lambda: next(timer),
    )

    attempts = sender.send(make_message()).attempts

    assert [a.at for a in attempts] == [moment, moment]
    assert [a.duration_seconds for a in attempts] == [0.25, 0.5]


def test_default_attempt_time_is_aware_utc(make_message: MessageFactory) -> None:
    sender = FailoverSender([ScriptedProvider("a", [None])], InMemoryHealth(cooldown_seconds=60))

    [attempt] = sender.send(make_message()).attempts

    assert attempt.at.tzinfo is UTC
    assert attempt.duration_seconds >= 0


def test_all_transient_is_exhausted(make_message: MessageFactory) -> None:
    sender = FailoverSender(
        [ScriptedProvider("a", [transient("a")]), ScriptedProvider("b", [transient("b")])],
        InMemoryHealth(cooldown_seconds=60),
    )

    outcome = sender.send(make_message())

    assert outcome.verdict == "exhausted"
    assert outcome.result is None
    assert [a.provider for a in outcome.attempts] == ["a", "b"]
    assert outcome.error is not None and "a: TransientError" in outcome.error
    assert "b: TransientError" in outcome.error


def test_configuration_error_sets_the_provider_aside_until_the_cooldown(
    make_message: MessageFactory,
) -> None:
    clock = FakeClock()
    health = InMemoryHealth(cooldown_seconds=60, clock=clock)
    smtp = ScriptedProvider(
        "smtp", [ConfigurationError("535 bad credentials", provider="smtp", status_code=535), None]
    )
    outbox = ScriptedProvider("outbox", [None, None])
    sender = FailoverSender([smtp, outbox], health)

    first = sender.send(make_message())
    reason = health.reason("smtp")
    skipped = sender.send(make_message())
    clock.now += 60
    probed = sender.send(make_message())

    assert first.verdict == "sent" and first.result is not None
    assert first.result.provider == "outbox"
    assert first.attempts[0].kind == "configuration"
    assert reason == "ConfigurationError (535): 535 bad credentials"
    # Within the cooldown smtp is not even tried.
    assert [a.provider for a in skipped.attempts] == ["outbox"]
    # After it, smtp is probed again, succeeds, and is healthy once more.
    assert [a.provider for a in probed.attempts] == ["smtp"]
    assert health.reason("smtp") is None
    assert len(smtp.messages) == 2 and len(outbox.messages) == 2


def test_when_every_provider_is_set_aside_all_are_tried_anyway(
    make_message: MessageFactory,
) -> None:
    health = InMemoryHealth(cooldown_seconds=60)
    health.mark_unhealthy("a", "x")
    health.mark_unhealthy("b", "x")
    sender = FailoverSender(
        [ScriptedProvider("a", [transient("a")]), ScriptedProvider("b", [None])], health
    )

    outcome = sender.send(make_message())

    assert outcome.verdict == "sent"
    assert [a.provider for a in outcome.attempts] == ["a", "b"]
    assert health.is_available("b") and not health.is_available("a")


def test_rejection_stops_the_walk(make_message: MessageFactory) -> None:
    later = ScriptedProvider("later", [None])
    sender = FailoverSender(
        [
            ScriptedProvider(
                "smtp", [RejectedError("550 no such user", provider="smtp", status_code=550)]
            ),
            later,
        ],
        InMemoryHealth(cooldown_seconds=60),
    )

    outcome = sender.send(make_message())

    assert outcome.verdict == "rejected"
    assert outcome.result is None
    assert outcome.error == "RejectedError (550): 550 no such user"
    assert [a.kind for a in outcome.attempts] == ["rejected"]
    assert later.messages == []


def test_ambiguity_stops_the_walk_and_names_the_provider(make_message: MessageFactory) -> None:
    later = ScriptedProvider("later", [None])
    health = InMemoryHealth(cooldown_seconds=60)
    sender = FailoverSender(
        [ScriptedProvider("smtp", [AmbiguousError("no reply", provider="smtp")]), later], health
    )

    outcome = sender.send(make_message())

    assert outcome.verdict == "ambiguous"
    assert outcome.ambiguous_provider == "smtp"
    assert outcome.error == "AmbiguousError: no reply"
    assert later.messages == []
    assert health.is_available("smtp")


def test_only_retries_the_named_provider_even_when_set_aside(
    make_message: MessageFactory,
) -> None:
    first = ScriptedProvider("first", [])
    smtp = ScriptedProvider("smtp", [transient("smtp"), None])
    health = InMemoryHealth(cooldown_seconds=60)
    health.mark_unhealthy("smtp", "x")
    sender = FailoverSender([first, smtp], health)

    failed = sender.send(make_message(), only="smtp")
    sent = sender.send(make_message(), only="smtp")

    assert failed.verdict == "exhausted"
    assert [(a.provider, a.outcome) for a in failed.attempts] == [("smtp", "failed")]
    assert sent.verdict == "sent" and sent.result is not None
    assert sent.result.provider == "smtp"
    assert first.messages == []


def test_only_an_unknown_provider_raises(make_message: MessageFactory) -> None:
    sender = FailoverSender([ScriptedProvider("a", [])], InMemoryHealth(cooldown_seconds=60))

    with pytest.raises(UnknownProviderError, match="'gone'"):
        sender.send(make_message(), only="gone")


def test_a_bug_in_a_provider_propagates(make_message: MessageFactory) -> None:
    later = ScriptedProvider("later", [None])
    sender = FailoverSender(
        [ScriptedProvider("buggy", [KeyError("oops")]), later],
        InMemoryHealth(cooldown_seconds=60),
    )

    with pytest.raises(KeyError, match="oops"):
        sender.send(make_message())

    assert later.messages == []


def test_a_bare_provider_error_moves_on_like_a_transient_one(make_message: MessageFactory) -> None:
    sender = FailoverSender(
        [
            ScriptedProvider("a", [ProviderError("odd", provider="a")]),
            ScriptedProvider("b", [None]),
        ],
        InMemoryHealth(cooldown_seconds=60),
    )

    outcome = sender.send(make_message())

    assert outcome.verdict == "sent"
    assert [a.kind for a in outcome.attempts] == ["error", None]


@pytest.mark.parametrize("names", [[], ["a", "a"]])
def test_providers_must_be_present_and_unique(names: list[str]) -> None:
    with pytest.raises(ValueError):
        FailoverSender(
            [ScriptedProvider(n, []) for n in names], InMemoryHealth(cooldown_seconds=60)
        )


def test_an_emails_own_providers_set_the_order_and_the_bounds(
    make_message: MessageFactory,
) -> None:
    smtp = ScriptedProvider("smtp", [None])
    ses = ScriptedProvider("ses", [transient("ses")])
    sendgrid = ScriptedProvider("sendgrid", [transient("sendgrid"), None])
    health = InMemoryHealth(cooldown_seconds=60)
    sender = FailoverSender([smtp, ses, sendgrid], health)

    outcome = sender.send(make_message(), among=["sendgrid", "ses"])

    # Its order, not the configured one, and never smtp though smtp would have taken it.
    assert outcome.verdict == "exhausted"
    assert [a.provider for a in outcome.attempts] == ["sendgrid", "ses"]
    assert smtp.messages == []
    # The circuit still applies inside the choice: a provider set aside is skipped.
    health.mark_unhealthy("ses", "bad key")
    outcome = sender.send(make_message(), among=["ses", "sendgrid"])
    assert [(a.provider, a.outcome) for a in outcome.attempts] == [("sendgrid", "accepted")]
    with pytest.raises(UnknownProviderError):
        sender.send(make_message(), among=["postmark"])
