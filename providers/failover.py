"""Try the configured providers in order until one takes the message, and say what happened.

The walk stops at the first answer that another provider cannot improve on: an acceptance, a
refusal of the message itself, or an ambiguity. On ambiguity the message may already be on its
way, so trying elsewhere could deliver it twice; the caller retries that same provider, with
`only=`, and relies on the stable Message-ID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    ThrottledError,
    TransientError,
)
from providers.health import ProviderHealth
from providers.registry import UnknownProviderError

Verdict = Literal["sent", "rejected", "ambiguous", "exhausted", "throttled"]

_KINDS: tuple[tuple[type[ProviderError], str], ...] = (
    (ThrottledError, "throttled"),
    (TransientError, "transient"),
    (ConfigurationError, "configuration"),
    (RejectedError, "rejected"),
    (AmbiguousError, "ambiguous"),
)


@dataclass(frozen=True)
class Attempt:
    """One provider tried once; `kind` names the error class (`transient`, `rejected`, ...)."""

    provider: str
    outcome: Literal["accepted", "failed"]
    error: str | None
    kind: str | None
    at: datetime
    duration_seconds: float


@dataclass(frozen=True)
class FailoverOutcome:
    """The verdict on one message, with every attempt made to reach it."""

    result: SendResult | None
    attempts: tuple[Attempt, ...]
    verdict: Verdict
    ambiguous_provider: str | None
    error: str | None
    # With verdict "throttled" (every provider tried was over its rate): when to try again.
    retry_after: float | None = None


class FailoverSender:
    """Sends through the first provider that works, in the configured order."""

    def __init__(
        self,
        providers: Sequence[Provider],
        health: ProviderHealth,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        names = [provider.name for provider in providers]
        if not names:
            raise ValueError("failover needs at least one provider")
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique: {', '.join(names)}")
        self.providers = tuple(providers)
        self.health = health
        self._now = now
        self._timer = timer

    def send(
        self,
        message: OutboundEmail,
        only: str | None = None,
        among: Sequence[str] | None = None,
    ) -> FailoverOutcome:
        """Walk the providers (or just `only`; or those of `among`, in its order, for an email
        that chose its own); exceptions that are not ProviderErrors propagate."""
        attempts: list[Attempt] = []
        waits: list[float] = []
        for provider in self._candidates(only, among):
            attempt, answer = self._try(provider, message)
            attempts.append(attempt)
            if isinstance(answer, SendResult):
                self.health.mark_healthy(provider.name)
                return _outcome(attempts, "sent", result=answer)
            if attempt.kind == "rejected":
                return _outcome(attempts, "rejected", error=attempt.error)
            if attempt.kind == "ambiguous":
                # A provider that stops answering is failing, even if this message is pinned.
                self.health.record_failure(provider.name, answer.describe())
                return _outcome(attempts, "ambiguous", error=attempt.error, ambiguous=provider.name)
            if isinstance(answer, ThrottledError):
                waits.append(answer.retry_after)  # our own limit: the provider is fine
            elif attempt.kind == "configuration":
                self.health.mark_unhealthy(provider.name, answer.describe())
            else:
                self.health.record_failure(provider.name, answer.describe())
        if waits and len(waits) == len(attempts):
            return FailoverOutcome(
                result=None,
                attempts=tuple(attempts),
                verdict="throttled",
                ambiguous_provider=None,
                error="every provider is over its configured rate",
                retry_after=min(waits),
            )
        summary = "; ".join(f"{a.provider}: {a.error}" for a in attempts)
        return _outcome(
            attempts, "exhausted", error=f"no provider accepted the message ({summary})"
        )

    def _try(
        self, provider: Provider, message: OutboundEmail
    ) -> tuple[Attempt, SendResult | ProviderError]:
        at, started = self._now(), self._timer()
        try:
            result = provider.send(message)
        except ProviderError as err:
            return self._attempt(provider, at, started, err), err
        return self._attempt(provider, at, started, None), result

    def _attempt(
        self, provider: Provider, at: datetime, started: float, err: ProviderError | None
    ) -> Attempt:
        return Attempt(
            provider=provider.name,
            outcome="accepted" if err is None else "failed",
            error=None if err is None else err.describe(),
            kind=None if err is None else _kind(err),
            at=at,
            duration_seconds=self._timer() - started,
        )

    def _candidates(self, only: str | None, among: Sequence[str] | None) -> Sequence[Provider]:
        if only is not None:
            # The caller asked for this provider (an ambiguous retry): health does not overrule.
            for provider in self.providers:
                if provider.name == only:
                    return [provider]
            raise UnknownProviderError(only, [p.name for p in self.providers])
        pool: Sequence[Provider] = self.providers
        if among is not None:
            # The email's own choice: its order, and never a provider outside it.
            by_name = {p.name: p for p in self.providers}
            pool = [by_name[name] for name in among if name in by_name]
            if not pool:
                raise UnknownProviderError(among[0], list(by_name))
        available = [p for p in pool if self.health.is_available(p.name)]
        # With every provider set aside, trying them beats failing the message untried.
        return available or pool


def _kind(err: ProviderError) -> str:
    for cls, kind in _KINDS:
        if isinstance(err, cls):
            return kind
    return "error"  # a bare ProviderError: treated like a transient one


def _outcome(
    attempts: list[Attempt],
    verdict: Verdict,
    *,
    result: SendResult | None = None,
    error: str | None = None,
    ambiguous: str | None = None,
) -> FailoverOutcome:
    return FailoverOutcome(
        result=result,
        attempts=tuple(attempts),
        verdict=verdict,
        ambiguous_provider=ambiguous,
        error=error,
    )
