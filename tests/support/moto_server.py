"""Amazon SES for tests: moto's server mode in its own process, and a front that can misbehave.

`MotoServer` runs `moto_server` as a subprocess, so that stopping it really closes every
connection (SES down) and starting it again brings an empty SES back on the same port, with
the identities verified before re-verified. What moto accepted is read back over HTTP from
`/moto-api/data.json`, so any process can check it.

`SesFront` stands between a client and moto: it forwards, or answers like SES under load
(429 `TooManyRequestsException`), or fails (500), or reads the request and never answers in
time ("hang"), which moto cannot be made to do.
"""

from __future__ import annotations

import email
import email.policy
import http.client
import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from tests.support.http_server import SwitchableServer
from tests.support.net import free_port, wait_for_port

REGION = "us-east-1"
# moto accepts any credentials; these keep boto3 from looking for real ones.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


@dataclass
class SentRaw:
    """One raw message moto recorded: envelope sender, every destination, parsed MIME."""

    message_id: str
    source: str
    destinations: list[str]
    raw: bytes
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed


class MotoServer:
    """moto's server mode on 127.0.0.1:`port`; `stop()`, then `start()`, to simulate SES down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.verified: set[str] = set()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        """Start moto and verify again every identity verified before a restart."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise
        for identity in sorted(self.verified):
            self._create_identity(identity)
        return self

    def stop(self) -> None:
        """End the process; its connections and everything it recorded go with it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def client(self, endpoint_url: str | None = None) -> Any:
        """A boto3 SES v2 client for moto (or for a front before it)."""
        return boto3.session.Session().client(
            "sesv2",
            region_name=REGION,
            endpoint_url=endpoint_url or self.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def verify(self, identity: str) -> None:
        """Make `identity` (an address or a domain) a verified sender; moto refuses others."""
        self._create_identity(identity)
        self.verified.add(identity)

    def _create_identity(self, identity: str) -> None:
        client = self.client()
        try:
            client.create_email_identity(EmailIdentity=identity)
        finally:
            client.close()

    def sent(self) -> list[SentRaw]:
        """Every raw message moto accepted since it started, oldest first."""
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=10) as resp:
            data = json.load(resp)
        return [
            SentRaw(m["id"], m["source"], list(m["destinations"]), m["raw_data"].encode())
            for m in data.get("ses", {}).get("RawMessage", [])
        ]

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


FRONT_MODES = ("forward", "throttle", "error", "hang")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _FrontHandler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so stop() leaves no kept-alive connection behind.
    server: _FrontServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's method name
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - http.server's method name
        self._handle()

    def _handle(self) -> None:
        front = self.server.front
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with front.lock:
            front.requests += 1
            front.bodies.append(body)
            mode = front.mode
        if mode == "hang":
            # The request was read in full; a client that gives up now cannot know the outcome.
            front.release.wait(front.hang_seconds)
            self._answer(500, {"__type": "InternalFailure", "message": "answered too late"})
        elif mode == "throttle":
            self._answer(429, {"__type": "TooManyRequestsException",
                               "message": "Maximum sending rate exceeded."})  # fmt: skip
        elif mode == "error":
            self._answer(500, {"__type": "InternalFailure", "message": "internal failure (test)"})
        else:
            self._forward(body)

    def _forward(self, body: bytes) -> None:
        port = self.server.front.upstream_port
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for name, value in resp.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self._answer(502, {"__type": "InternalFailure", "message": "upstream unreachable"})
        finally:
            upstream.close()

    def _answer(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            # The REST-JSON protocol's error code; botocore reads it from here or from __type.
            self.send_header("x-amzn-ErrorType", body["__type"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the tests."""


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, front: SesFront) -> None:
        super().__init__(("127.0.0.1", front.port), _FrontHandler)
        self.front = front


class SesFront(SwitchableServer):
    """An HTTP front for moto; `mode` is one of FRONT_MODES, switchable while running."""

    MODES = FRONT_MODES

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        super().__init__("forward", port)
        self.upstream_port = upstream_port
        self.bodies: list[bytes] = []  # their bodies, in order: what the client really sent

    def _make_server(self) -> _FrontServer:
        return _FrontServer(self)
