"""The api scenario: wrk against `POST /send` and a bare endpoint in the same app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

from bench.figures import Figures
from bench.scenarios import send_body
from bench.stack import Stack

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %f %f %f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages when missing (we run as root in CI)."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=True)
    return shutil.which("wrk") or "wrk"


def wrk(url: str, body: str, key: str, seconds: int, connections: int) -> Figures:
    """Requests/s and latency percentiles (ms) of wrk against `url`."""
    script = WRK_SCRIPT.format(key=key, body=body)
    assert "]==]" not in body
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            [ensure_wrk(), "-t2", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH "))
    requests, errors, duration_us, p50, p99, worst = (float(v) for v in line.split()[1:])
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": worst / 1000,
        "errors": errors,
    }


def api(stack: Stack, seconds: int = 10, connections: int = 32) -> Figures:
    """POST /send under wrk beside the bare endpoint (one INSERT + one publish), workers off.

    The workers are stopped so both endpoints have the two cores to themselves; what they
    publish is purged afterwards.
    """
    stack.kill_workers()
    try:
        stack.reset()
        bare = wrk(f"{stack.api}/bench/bare", "{}", stack.key, seconds, connections)
        bare_stored = stack.count_status("sent")
        stack.reset()
        ours = wrk(f"{stack.api}/send", json.dumps(send_body(1)), stack.key, seconds, connections)
        accepted = stack.count_status("queued")
        stack.reset()
        if bare["errors"] or ours["errors"]:
            raise RuntimeError(f"failed requests: bare {bare['errors']}, send {ours['errors']}")
    finally:
        stack.start_workers()
    return {
        "send_rps": ours["rps"],
        "send_p50_ms": ours["p50_ms"],
        "send_p99_ms": ours["p99_ms"],
        "send_errors": ours["errors"],
        "send_stored": accepted,
        "bare_stored": bare_stored,
        "bare_rps": bare["rps"],
        "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"],
        "ratio": ours["rps"] / bare["rps"],
    }


# -- 2. single sends end to end ----------------------------------------------------------------
