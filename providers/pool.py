"""A pool of provider instances, for providers whose connection serves one send at a time.

An SMTP session carries one transaction at a time, so a process sending from many threads
needs one session per concurrent send. `PooledProvider` hands each send an instance of its own,
opening new ones lazily up to `size`, and keeps them (and their connections) for later sends.
A send that finds every instance busy waits for one: the pool is sized to the process's send
concurrency, so it waits only when the process runs more sends than it was configured for.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from providers.base import OutboundEmail, Provider, SendResult


class PooledProvider(Provider):
    """Up to `size` instances from `factory`, each used by one send at a time."""

    def __init__(self, factory: Callable[[], Provider], size: int) -> None:
        if size < 1:
            raise ValueError("a provider pool needs at least one instance")
        self._factory = factory
        self._size = size
        self._idle: queue.LifoQueue[Provider] = queue.LifoQueue()
        self._made: list[Provider] = []
        self._lock = threading.Lock()
        first = factory()
        self.name = first.name
        self._made.append(first)
        self._idle.put(first)

    def send(self, message: OutboundEmail) -> SendResult:
        """Send over an idle instance (the most recently used: its connection is the likeliest
        to be alive), or a new one while the pool has room."""
        instance = self._checkout()
        try:
            return instance.send(message)
        finally:
            self._idle.put(instance)

    def _checkout(self) -> Provider:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._made) < self._size:
                instance = self._factory()
                self._made.append(instance)
                return instance
        return self._idle.get()

    @property
    def size(self) -> int:
        """How many instances there are now (at most the pool's size)."""
        return len(self._made)

    def close(self) -> None:
        """Close every instance's connection."""
        with self._lock:
            for instance in self._made:
                instance.close()
