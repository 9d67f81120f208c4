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
    # "failover" when this attempt tried another provider after the previous one failed;
    # "ambiguous" when the provider may have sent it (never failed over from).
    flag: str | None = None


def timeline(email: Email) -> list[Entry]:
    """Events and attempts by time; each attempt says whether it was a failover hop."""
    entries = [
        Entry(e.at, "event", e.type, e.provider, recipient=e.recipient, detail=e.detail)
        for e in email.events
    ]
    previous = None
    for a in email.attempts:
        flag = None
        if a.error_kind == "ambiguous":
            flag = "ambiguous"
        elif (
            previous is not None
            and previous.outcome == "failed"
            and (previous.provider != a.provider)
        ):
            flag = "failover"
        entries.append(
            Entry(
                a.at,
                "attempt",
                f"attempt via {a.provider}",
                a.provider,
                outcome=a.outcome,
                error=a.error,
                duration_ms=a.duration_ms,
                flag=flag,
            )
        )
        previous = a
    entries.sort(key=lambda entry: entry.at)
    return entries
