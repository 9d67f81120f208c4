"""A bounded, thread-safe LRU mapping with hit and miss counters."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class CacheInfo:
    """Counters of an LRU: ``misses`` counts lookups that found nothing (compilations, renders)."""

    hits: int
    misses: int
    size: int
    max_size: int


class LRU(Generic[V]):
    """Least-recently-used cache of at most ``max_size`` entries, shared between threads."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        # Writers take the lock: storing and evicting are several steps.
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> V | None:
        """Return the value under ``key`` and mark it recently used, or None (a miss)."""
        # No lock on the read path, which runs a hundred times per email: each OrderedDict
        # operation is atomic, and an entry evicted between the two steps stays a hit.
        # The counters may lose an increment under threads; they are for tests and metrics.
        value = self._entries.get(key)
        if value is None:  # values are never None
            self._misses += 1
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:
            pass  # evicted by another thread meanwhile: it just is not refreshed
        self._hits += 1
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond the bound."""
        with self._lock:
            entries = self._entries
            size = len(entries)
            entries[key] = value  # a new key goes last already
            if len(entries) == size:
                entries.move_to_end(key)  # an existing key: refresh it (one more hashing)
            elif len(entries) > self._max_size:
                entries.popitem(last=False)

    def info(self) -> CacheInfo:
        """Return the hit and miss counters and the current size."""
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._max_size)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0
