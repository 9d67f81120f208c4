"""An email's timeline: its events and provider attempts in one order, hops called out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Email


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str  # "event" or "attempt"
    what: str
    provider: str | None = None
    outcome: str | None = None
    error: str | None = None
    duration_ms: float | None = None
    recipient: str | None = None
    detail: Any = None
    # This attempt tried another provider after the previous one failed.
    failover: bool = False
    # The provider may have sent it (timed out mid-send): never failed over from.
    ambiguous: bool = False


def timeline(email: Email) -> list[Entry]:
    """Events and attempts by time; each attempt says whether it was a failover hop."""
    entries = [
        Entry(
            e.at,
            "event",
            e.type,
            e.provider,
            recipient=e.recipient,
            detail=e.detail,
            ambiguous=e.type == "ambiguous",
        )
        for e in email.events
    ]
    previous = None
    for a in email.attempts:
        hop = previous is not None and previous.outcome == "failed"
        entries.append(
            Entry(
                a.at,
                "attempt",
                f"attempt via {a.provider}",
                a.provider,
                outcome=a.outcome,
                error=a.error,
                duration_ms=a.duration_ms,
                failover=hop and previous is not None and previous.provider != a.provider,
                ambiguous=a.error_kind == "ambiguous",
            )
        )
        previous = a
    entries.sort(key=lambda entry: entry.at)
    return entries
