"""The five scenarios of `make bench`. Each run returns figures: Mailroom's and its baseline's,
measured one after the other in the same run so that their ratio holds on a noisy machine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from bench.sink import ceiling
from bench.stack import ROOT, Stack, http_json, wait_until

Figures = dict[str, float]

RECIPIENTS = ["ann@example.com", "bob@example.org", "cy@example.net"]
# A transactional email of a few KB, the same for every scenario that sends inline content.
PARAGRAPH = (
    "<p>Thank you for your order. We are getting it ready and will let you know as soon as it "
    "ships. You can follow it at any time from your account page.</p>"
)
INLINE_HTML = "<h1>Your order {{ ORDER }}</h1>" + PARAGRAPH * 12
INLINE_TEXT = "Your order {{ ORDER }}\n\n" + re.sub("<[^>]+>", "", PARAGRAPH) * 12


def send_body(serial: int) -> dict[str, Any]:
    """`POST /send` with inline content and 3 recipients."""
    return {
        "to": RECIPIENTS,
        "subject": "Your order {{ ORDER }}",
        "html": INLINE_HTML,
        "text": INLINE_TEXT,
        "variables": {"ORDER": f"#{serial}"},
    }


# -- 1. API ------------------------------------------------------------------------------------

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
    stack.kill("worker")
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
        stack.start_worker()
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


def post_many(stack: Stack, count: int, threads: int = 8) -> list[tuple[str, float]]:
    """POST /send `count` times from `threads` clients; (email id, time sent) of each."""
    out: list[tuple[str, float]] = []
    lock = threading.Lock()
    serials = iter(range(count))

    def client() -> None:
        for serial in serials:
            started = time.time()
            status, answer = http_json("POST", f"{stack.api}/send", send_body(serial), stack.auth())
            if status != 200:
                raise RuntimeError(f"POST /send answered {status}: {answer}")
            with lock:
                out.append((answer["data"]["emailId"], started))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if len(out) != count:
        raise RuntimeError(f"only {len(out)} of {count} requests succeeded")
    return out


def noop_chains(stack: Stack, count: int) -> float:
    """Chains of four no-op tasks per second on the same worker (published first, then timed
    from the first publish to the last chain's end)."""
    from bench.noop import publish_noop_chains

    stack.reset()
    started = time.time()
    publish_noop_chains(count)
    wait_until(
        lambda: stack.noop_file.exists() and stack.noop_file.stat().st_size >= count,
        600, f"{count} no-op chains", 0.05,
    )  # fmt: skip
    return count / (stack.noop_file.stat().st_mtime - started)


def cpu_per_email(before: dict[str, float], after: dict[str, float], count: int) -> Figures:
    """CPU milliseconds per email of each process group between two `Stack.cpu()` readings."""
    return {f"{name}_cpu_ms": 1000 * (after[name] - before[name]) / count for name in after}


def single(stack: Stack, count: int = 3000) -> Figures:
    """3,000 emails through the API, each its own chain, to the sink; beside the no-op chain.
    With the CPU each process group spent per email (and the worker's per no-op chain)."""
    before = stack.cpu()
    baseline = noop_chains(stack, count)
    noop_cpu = cpu_per_email(before, stack.cpu(), count)
    stack.reset()
    before = stack.cpu()
    started = time.time()
    post_many(stack, count)
    stack.wait_sink(count, 900)
    wait_until(lambda: stack.count_status("sent") >= count, 120, "every email recorded sent")
    ours = count / (stack.last_sent_at() - started)
    return {
        "emails_per_s": ours,
        "noop_chains_per_s": baseline,
        "ratio": ours / baseline,
        **cpu_per_email(before, stack.cpu(), count),
        "noop_worker_cpu_ms": noop_cpu["worker_cpu_ms"],
    }


def latency(stack: Stack, rate: float = 10.0, seconds: float = 20.0) -> Figures:
    """POST -> arrival at the sink, one email every 1/rate s (light load)."""
    stack.reset()
    sent: list[tuple[str, float]] = []
    total = int(rate * seconds)
    began = time.monotonic()
    for serial in range(total):
        # Paced from the start so a slow request does not slow the rate down.
        delay = began + serial / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        status, answer = http_json("POST", f"{stack.api}/send", send_body(serial), stack.auth())
        if status != 200:
            raise RuntimeError(f"POST /send answered {status}: {answer}")
        sent.append((answer["data"]["emailId"], at))
    stack.wait_sink(total, 120)
    arrivals = stack.sink_arrivals()
    waits = sorted((arrivals[eid] - at) * 1000 for eid, at in sent if eid in arrivals)
    return {
        "p50_ms": median(waits),
        "p90_ms": waits[int(len(waits) * 0.9)],
        "max_ms": waits[-1],
    }


# -- 3. bulk, and 5. memory --------------------------------------------------------------------

BULK_HTML = "<h1>Hello {{ NAME }}</h1>" + PARAGRAPH * 12
BULK_TEXT = "Hello {{ NAME }}\n\n" + re.sub("<[^>]+>", "", PARAGRAPH) * 12


def bulk_template(stack: Stack) -> str:
    """A stored template with one per-recipient variable; its id."""
    status, answer = http_json(
        "POST",
        f"{stack.api}/templates",
        {
            "name": f"bulk {time.time()}",
            "subject": "News for {{ NAME }}",
            "html": BULK_HTML,
            "text": BULK_TEXT,
            "variables": [{"name": "NAME", "required": True}],
        },
        stack.auth(),
    )
    if status != 201 and status != 200:
        raise RuntimeError(f"POST /templates answered {status}: {answer}")
    return str(answer["data"]["templateId"])


def bulk_message() -> bytes:
    """One bulk email as the worker writes it (about 6 KB, html and text)."""
    from providers.base import OutboundEmail
    from providers.mime import message_bytes

    return message_bytes(
        OutboundEmail(
            from_addr="bench@example.com",
            to=("ceiling@example.com",),
            subject="News for User 0",
            message_id="<ceiling@example.com>",
            html=BULK_HTML.replace("{{ NAME }}", "User 0"),
            text=BULK_TEXT.replace("{{ NAME }}", "User 0"),
        )
    )


class RssSampler:
    """Samples the RSS of the worker's pool processes while a scenario runs."""

    def __init__(self, stack: Stack, every: float = 0.5) -> None:
        self.stack = stack
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            rss = [_status_kb(pid, "VmRSS") for pid in self.stack.worker_children()]
            if rss:
                self.samples.append(max(rss) / 1024)

    def peak_mb(self) -> float:
        """The highest peak RSS (VmHWM) of any pool process, in MB."""
        return (
            max((_status_kb(pid, "VmHWM") for pid in self.stack.worker_children()), default=0)
            / 1024
        )


def _status_kb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def bulk(
    stack: Stack, count: int = 10_000, postoffice: Callable[[int], Figures] | None = None
) -> Figures:
    """`POST /send/batch` with `count` recipients (1,000 per request) beside post_office.

    A fresh worker first, so its memory figures cover exactly these `count` sends.
    """
    baseline = postoffice(count) if postoffice else {}
    stack.reset()
    sink_ceiling = ceiling(stack.smtp_port, bulk_message())
    stack.reset()
    stack.restart_worker()
    template = bulk_template(stack)
    before = stack.cpu()
    started = time.time()
    with RssSampler(stack) as sampler:
        for start in range(0, count, 1000):
            recipients = [
                {"to": f"user{n}@example.com", "variables": {"NAME": f"User {n}"}}
                for n in range(start, min(count, start + 1000))
            ]
            status, answer = http_json(
                "POST",
                f"{stack.api}/send/batch",
                {"templateId": template, "recipients": recipients},
                stack.auth(),
            )
            if status not in (200, 202):
                raise RuntimeError(f"POST /send/batch answered {status}: {answer}")
        stack.wait_sink(count, 1800)
        wait_until(lambda: stack.count_status("sent") >= count, 120, "every email recorded sent")
    ours = count / (stack.last_sent_at() - started)
    figures = {
        "emails_per_s": ours,
        **cpu_per_email(before, stack.cpu(), count),
        "worker_peak_rss_mb": sampler.peak_mb(),
        "worker_rss_first_mb": sampler.samples[0] if sampler.samples else 0.0,
        "worker_rss_last_mb": sampler.samples[-1] if sampler.samples else 0.0,
    }
    figures["sink_ceiling_per_s"] = sink_ceiling
    if baseline:
        figures["post_office_per_s"] = baseline["emails_per_s"]
        figures["ratio"] = ours / baseline["emails_per_s"]
    return figures


# -- 4. render ---------------------------------------------------------------------------------


def render(seconds: float = 3.0) -> Figures:
    """Renders/s on one core of the 100-nested + Draft.js template, fresh payloads; beside the
    same markup rendered by a plain (unsandboxed, unchecked) Jinja2 environment."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.render_scenario", str(seconds)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.splitlines()[-1]))
