"""What a scenario returns: named figures, those taken at a provider latency named after it."""

from __future__ import annotations

Figures = dict[str, float]


def at(name: str, latency_ms: float) -> str:
    """A figure's name at a provider latency: `emails_per_s_100ms`."""
    return f"{name}_{latency_ms:g}ms"
