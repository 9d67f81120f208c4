"""A provider whose outcomes a test writes in advance, for testing the code that sends."""

from __future__ import annotations

from providers.base import OutboundEmail, Provider, SendResult


class ScriptedProvider(Provider):
    """Plays `script` one entry per send: None accepts, an exception is raised as it is."""

    def __init__(self, name: str, script: list[Exception | None]) -> None:
        self.name = name
        self.script = list(script)  # a copy: the caller's list stays as written
        self.messages: list[OutboundEmail] = []  # every message given, accepted or not
        self.closed = False

    def send(self, message: OutboundEmail) -> SendResult:
        """Record the message, then play the next scripted outcome."""
        self.messages.append(message)
        if not self.script:
            # Running out means the test sent more than it expected: fail loudly, not quietly.
            raise AssertionError(f"ScriptedProvider {self.name!r} has no outcome left to play")
        outcome = self.script.pop(0)
        if outcome is not None:
            raise outcome
        return SendResult(provider=self.name, message_id=f"{self.name}-{len(self.messages)}")

    def close(self) -> None:
        """Remember that the caller released the provider."""
        self.closed = True
