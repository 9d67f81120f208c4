"""Counters and reset for every cache of the render layer (for metrics and tests)."""

from __future__ import annotations

from render import draft, html_clean, nested, sandbox
from render.lru import CacheInfo


def cache_info() -> dict[str, CacheInfo]:
    """Return hits, misses and size of each cache, by name."""
    return {
        "templates": sandbox.TEMPLATES.lru.info(),
        "inline": sandbox.INLINE.lru.info(),
        "nested": nested.NESTED_MEMO.info(),
        "draft": draft.MEMO.info(),
        "html": html_clean.MEMO.info(),
    }


def clear_caches() -> None:
    """Empty every cache and reset its counters."""
    sandbox.TEMPLATES.lru.clear()
    sandbox.INLINE.lru.clear()
    nested.NESTED_MEMO.clear()
    draft.MEMO.clear()
    html_clean.MEMO.clear()
