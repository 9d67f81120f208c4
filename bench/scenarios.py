"""The scenarios of `make bench`. Each run returns figures: Mailroom's and its baseline's,
measured one after the other in the same run so that their ratio holds on a noisy machine.

Figures taken at a provider latency carry it in their name (`emails_per_s_100ms`). Every run
that waits for deliveries stops at a time cap: a run cut short reports what was delivered by then
(`delivered_…`) and the rate so far, and the workers are replaced before the next run so that
what it left in flight does not count there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from statistics import median
from typing import Any

from bench.figures import Figures, at
from bench.memory import RssSampler
from bench.sink import TRACK_HEADER, ceiling
from bench.stack import ROOT, Stack, http_json, wait_until

PostOffice = Callable[[int, int, float], Figures]

RECIPIENTS = ["ann@example.com", "bob@example.org", "cy@example.net"]
# A transactional email of a few KB, the same for every scenario that sends inline content.
PARAGRAPH = (
    "<p>Thank you for your order. We are getting it ready and will let you know as soon as it "
    "ships. You can follow it at any time from your account page.</p>"
)
INLINE_HTML = "<h1>Your order {{ ORDER }}</h1>" + PARAGRAPH * 12
INLINE_TEXT = "Your order {{ ORDER }}\n\n" + re.sub("<[^>]+>", "", PARAGRAPH) * 12


def send_body(serial: int, track: bool = False) -> dict[str, Any]:
    """`POST /send` with inline content and 3 recipients; `track`: the sink notes when it
    answered this one (the header marks single sends among bulk ones)."""
    body: dict[str, Any] = {
        "to": RECIPIENTS,
        "subject": "Your order {{ ORDER }}",
        "html": INLINE_HTML,
        "text": INLINE_TEXT,
        "variables": {"ORDER": f"#{serial}"},
    }
    if track:
        body["headers"] = {TRACK_HEADER: "single"}
    return body


def delivery(stack: Stack, count: int, started: float, deadline: float) -> tuple[int, float]:
    """Wait (until `deadline`, time.monotonic()) for `count` emails at the sink; (delivered,
    emails/s). Complete: from `started` (time.time()) to the last `sent` recorded. Cut short:
    what the sink answered, from `started` to now."""
    delivered = stack.wait_delivered(count, deadline)
    if delivered < count:
        return delivered, delivered / (time.time() - started)
    try:
        wait_until(lambda: stack.count_status("sent") >= count, 60, "every email recorded sent")
    except RuntimeError:
        # Delivered but not all recorded within a minute: rate the deliveries.
        return delivered, delivered / (float(stack.sink_stats()["last"]) - started)
    return delivered, count / (stack.last_sent_at() - started)


def cut_short(name: str, delivered: int, count: int, rate: float, cap: float) -> None:
    """Say that a run hit its time cap."""
    print(
        f"  {name}: stopped at the {cap:.0f} s cap, {delivered:,} of {count:,} delivered, "
        f"{rate:,.2f}/s so far",
        flush=True,
    )


# -- 1. API ------------------------------------------------------------------------------------


def post_many(
    stack: Stack, count: int, deadline: float, threads: int = 8
) -> list[tuple[str, float]]:
    """POST /send up to `count` times from `threads` clients, stopping at `deadline`
    (time.monotonic()); (email id, time sent) of each."""
    out: list[tuple[str, float]] = []
    failures: list[str] = []
    lock = threading.Lock()
    serials = iter(range(count))

    def client() -> None:
        for serial in serials:
            if time.monotonic() >= deadline or failures:
                return
            started = time.time()
            status, answer = http_json("POST", f"{stack.api}/send", send_body(serial), stack.auth())
            with lock:
                if status != 200:
                    failures.append(f"POST /send answered {status}: {answer}")
                    return
                out.append((answer["data"]["emailId"], started))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(failures[0])
    return out


def noop_chains(stack: Stack, count: int, cap: float) -> float:
    """Chains of four no-op tasks per second on the same workers (published first, then timed
    from the first publish to the last chain's end, or to the cap)."""
    from bench.noop import publish_noop_chains

    stack.reset()
    started = time.time()
    deadline = time.monotonic() + cap
    publish_noop_chains(count)

    def done() -> int:
        return stack.noop_file.stat().st_size if stack.noop_file.exists() else 0

    while done() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    if done() < count:
        rate = done() / (time.time() - started)
        cut_short("no-op chains", done(), count, rate, cap)
        stack.reset(fresh_workers=True)
        return rate
    return count / (stack.noop_file.stat().st_mtime - started)


def cpu_per_email(before: dict[str, float], after: dict[str, float], count: int) -> Figures:
    """CPU milliseconds per email of each process group between two `Stack.cpu()` readings,
    and their sum (`cpu_ms`)."""
    groups = {
        f"{name}_cpu_ms": 1000 * (after[name] - before[name]) / max(count, 1) for name in after
    }
    return {**groups, "cpu_ms": sum(groups.values())}


def single(stack: Stack, count: int, latencies: list[float], cap: float) -> Figures:
    """`count` emails through the API, each its own chain, to the sink, at each provider
    latency; beside the no-op chain (no provider: measured once). With the CPU each process
    group spent per email. `hiding_ratio`: the rate at the highest latency over the rate at 0."""
    stack.set_latency(0)
    before = stack.cpu()
    baseline = noop_chains(stack, count, cap)
    figures: Figures = {
        "noop_chains_per_s": baseline,
        "noop_worker_cpu_ms": cpu_per_email(before, stack.cpu(), count)["worker_cpu_ms"],
    }
    for latency in latencies:
        stack.reset()
        stack.set_latency(latency)
        before = stack.cpu()
        started = time.time()
        deadline = time.monotonic() + cap
        posted = post_many(stack, count, deadline)
        delivered, rate = delivery(stack, len(posted), started, deadline)
        cpu = cpu_per_email(before, stack.cpu(), delivered)
        if delivered < count:
            cut_short(f"single at {latency:g} ms", delivered, count, rate, cap)
            stack.reset(fresh_workers=True)
        figures[at("emails_per_s", latency)] = rate
        figures[at("cpu_ms", latency)] = cpu["cpu_ms"]
        for group in ("worker", "api", "postgres", "sink"):
            figures[at(f"{group}_cpu_ms", latency)] = cpu[f"{group}_cpu_ms"]
        figures[at("delivered", latency)] = delivered
    if 0 in latencies:
        figures["ratio"] = figures[at("emails_per_s", 0)] / baseline
    _hiding_ratio(figures, latencies)
    stack.set_latency(0)
    return figures


def _hiding_ratio(figures: Figures, latencies: list[float]) -> None:
    """`hiding_ratio`: the rate at the highest latency over the rate at 0 ms, when both ran."""
    high = max(latencies)
    if 0 in latencies and high > 0 and figures[at("emails_per_s", 0)]:
        figures["hiding_ratio"] = figures[at("emails_per_s", high)] / figures[at("emails_per_s", 0)]


def paced_sends(
    stack: Stack, rate: float, seconds: float, stop: threading.Event | None = None
) -> list[tuple[str, float]]:
    """POST /send (tracked by the sink) `rate` times a second for `seconds` (or until `stop`);
    (email id, time the request started) of each."""
    sent: list[tuple[str, float]] = []
    began = time.monotonic()
    for serial in range(int(rate * seconds)):
        # Paced from the start so a slow request does not slow the rate down.
        delay = began + serial / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if stop is not None and stop.is_set():
            break
        started = time.time()
        body = send_body(serial, track=True)
        status, answer = http_json("POST", f"{stack.api}/send", body, stack.auth())
        if status != 200:
            raise RuntimeError(f"POST /send answered {status}: {answer}")
        sent.append((answer["data"]["emailId"], started))
    return sent


def waits_ms(
    stack: Stack, sent: list[tuple[str, float]], deadline: float
) -> tuple[list[float], int]:
    """POST -> the sink's answer of each tracked email, sorted, once all arrived or at
    `deadline` (time.monotonic()); one that has not arrived counts with its wait so far (a
    lower bound). Also how many had not arrived."""
    wanted = {email_id for email_id, _ in sent}
    while True:
        arrivals = stack.sink_arrivals()
        if wanted <= arrivals.keys() or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    now = time.time()
    waits = sorted((arrivals.get(eid, now) - posted) * 1000 for eid, posted in sent)
    return waits, len(wanted - arrivals.keys())


def percentile(sorted_values: list[float], share: float) -> float:
    """The value below which `share` of them fall (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


def latency(stack: Stack, rate: float = 10.0, seconds: float = 20.0) -> Figures:
    """POST -> arrival at the sink (provider latency 0), one email every 1/rate s."""
    stack.reset()
    stack.set_latency(0)
    sent = paced_sends(stack, rate, seconds)
    waits, late = waits_ms(stack, sent, time.monotonic() + 120)
    if late:
        raise RuntimeError(f"{late} of {len(sent)} emails did not arrive within 120 s")
    return {"p50_ms": median(waits), "p90_ms": percentile(waits, 0.9), "max_ms": waits[-1]}


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


def post_batches(
    stack: Stack,
    template: str,
    count: int,
    per_request: int = 1000,
    stop: threading.Event | None = None,
) -> None:
    """`POST /send/batch` of `count` recipients, `per_request` at a time (until `stop`)."""
    for start in range(0, count, per_request):
        if stop is not None and stop.is_set():
            return
        recipients = [
            {"to": f"user{n}@example.com", "variables": {"NAME": f"User {n}"}}
            for n in range(start, min(count, start + per_request))
        ]
        status, answer = http_json(
            "POST",
            f"{stack.api}/send/batch",
            {"templateId": template, "recipients": recipients},
            stack.auth(),
        )
        if status not in (200, 202):
            raise RuntimeError(f"POST /send/batch answered {status}: {answer}")


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


POST_OFFICE_DEFAULT = (2, 5)
POST_OFFICE_FASTEST = (4, 5)


def bulk(
    stack: Stack,
    count: int,
    latencies: list[float],
    cap: float,
    postoffice: PostOffice | None = None,
) -> Figures:
    """`POST /send/batch` with `count` recipients (1,000 per request) at each provider latency,
    each beside django-post_office at the same latency and the sink's own ceiling there.

    Fresh workers before each of Mailroom's runs, so the memory figures cover those sends only.
    """
    figures: Figures = {}
    for latency in latencies:
        stack.set_latency(latency)
        baseline: Figures = {}
        if postoffice:
            stack.reset()
            baseline[at("post_office_per_s", latency)] = postoffice(*POST_OFFICE_DEFAULT, cap)[
                "emails_per_s"
            ]
            if latency == 0:
                stack.reset()
                baseline["post_office_4x5_per_s_0ms"] = postoffice(*POST_OFFICE_FASTEST, cap)[
                    "emails_per_s"
                ]
        stack.reset()
        # As many connections as keep the sink busy at this latency (200 in flight at 100 ms).
        connections = 4 if latency == 0 else 200
        sink_ceiling = ceiling(stack.smtp_port, bulk_message(), count=4000, connections=connections)
        stack.reset(fresh_workers=True)
        template = bulk_template(stack)
        before = stack.cpu()
        started = time.time()
        deadline = time.monotonic() + cap
        with RssSampler(stack) as sampler:
            post_batches(stack, template, count)
            delivered, rate = delivery(stack, count, started, deadline)
        # Read before the workers of a run cut short are replaced.
        cpu = cpu_per_email(before, stack.cpu(), delivered)
        memory = sampler.figures(latency)
        if delivered < count:
            cut_short(f"bulk at {latency:g} ms", delivered, count, rate, cap)
            stack.reset(fresh_workers=True)
        figures[at("emails_per_s", latency)] = rate
        figures[at("delivered", latency)] = delivered
        figures |= baseline
        if baseline:
            figures[at("ratio_po", latency)] = rate / baseline[at("post_office_per_s", latency)]
        if "post_office_4x5_per_s_0ms" in baseline:
            figures["ratio_po4x5_0ms"] = rate / baseline["post_office_4x5_per_s_0ms"]
        figures[at("cpu_ms", latency)] = cpu["cpu_ms"]
        for group in ("worker", "api", "postgres", "sink"):
            figures[at(f"{group}_cpu_ms", latency)] = cpu[f"{group}_cpu_ms"]
        figures |= memory
        figures[at("sink_ceiling_per_s", latency)] = sink_ceiling
    _hiding_ratio(figures, latencies)
    stack.set_latency(0)
    return figures


# -- 6. lanes: single sends while a batch is in flight -----------------------------------------


def render(seconds: float = 3.0) -> Figures:
    """Renders/s on one core of the 100-nested + Draft.js template, fresh payloads; beside the
    same markup rendered by a plain (unsandboxed, unchecked) Jinja2 environment."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.render_scenario", str(seconds)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.splitlines()[-1]))
