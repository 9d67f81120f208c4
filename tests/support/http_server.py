"""A restartable local HTTP server whose behaviour a test switches while it runs."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class SwitchableServer:
    """Listens on 127.0.0.1 in a thread; `mode` (one of MODES) says how it answers.

    Subclasses build their `ThreadingHTTPServer` in `_make_server`; `release` is set by
    `stop()` so a handler sleeping in a "hang" mode answers at once.
    """

    MODES: tuple[str, ...] = ()

    def __init__(self, mode: str, port: int = 0) -> None:
        self.port = port
        self.mode = mode
        self.hang_seconds = 5.0
        self.requests = 0  # every request received, whatever the mode
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str, hang_seconds: float | None = None) -> None:
        """Switch behaviour: one of MODES."""
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(self.MODES)}")
        with self.lock:
            self.mode = mode
            if hang_seconds is not None:
                self.hang_seconds = hang_seconds

    def start(self) -> Self:
        """Listen on 127.0.0.1:`port` (a free one the first time; the same one after)."""
        self.release.clear()
        self._server = self._make_server()
        self.port = self._server.server_address[1]
        # A short poll keeps stop() quick; the default half second adds up over a suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; requests still hanging are answered at once."""
        self.release.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
