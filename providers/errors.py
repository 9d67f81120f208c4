"""One error base for the provider layer, classified by what the sender should do next.

| class               | meaning                                          | failover does           |
|---------------------|--------------------------------------------------|-------------------------|
| TransientError      | the provider did not take it; it may later       | next provider           |
| ThrottledError      | our own rate limit for it is spent (no request   | next provider; if every |
|                     | was made): a token comes in `retry_after` s      | one is, retry then      |
| ConfigurationError  | credentials or settings are wrong                | next provider, and marks|
|                     |                                                  | this one unhealthy      |
| RejectedError       | the message or its recipients are refused for    | stop: the email fails   |
|                     | good (no other provider will do better)          |                         |
| AmbiguousError      | the request reached the provider and no answer   | stop: retry the same    |
|                     | came back: it may have been accepted             | provider later          |
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider failure; carries the provider name and what it answered."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | str | None = None,
        response: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.response = response

    def describe(self) -> str:
        """A one-line reason fit for an attempt record."""
        code = f" ({self.status_code})" if self.status_code is not None else ""
        return f"{type(self).__name__}{code}: {self.message}"


class TransientError(ProviderError):
    """The provider did not accept the message now (down, throttled, 4xx/5xx of its own)."""


class ThrottledError(TransientError):
    """The provider's configured rate is spent: nothing was sent, a slot frees in `retry_after`
    seconds. Not a failure of the provider: the circuit breaker does not count it."""

    def __init__(self, message: str, *, provider: str, retry_after: float) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ConfigurationError(ProviderError):
    """The provider cannot work as configured (bad credentials, missing settings)."""


class RejectedError(ProviderError):
    """The message itself is refused for good: invalid recipient, too large, content rejected."""


class AmbiguousError(ProviderError):
    """The request was sent but no answer came: the provider may have accepted it."""
