"""Scenario 4: renders/s on one core of the parent template with 100 nested templates and a
Draft.js document, on payloads never seen before (every memo misses), beside the same markup
rendered the hand-rolled way: a plain (unsandboxed, unchecked) Jinja2 environment, templates
compiled once, and the same Draft.js exporter.

Run as a process of its own (one core): ``python -m bench.render_scenario [seconds]``; prints
one JSON line: renders per second of wall-clock time (``*_per_s``) and per second of the
process's CPU time (``*_per_cpu_s``: per core, whatever else runs on the machine).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import jinja2
from draftjs_exporter.dom import DOM
from draftjs_exporter.html import HTML
from markupsafe import Markup

from bench.render_bench import FRESH_PAYLOADS, NOTE, PARENT, ROW, TEMPLATES, variables
from render import render_template


def rate(seconds: float, work: Callable[[int], object]) -> tuple[float, float]:
    """Calls of `work` per second over about `seconds` (after one warm-up call): per second
    of wall-clock time, and per second of this process's CPU time (the figure per core,
    which other processes on the machine do not lower)."""
    work(0)
    count = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            work(count)
            count += 1
    cpu = time.process_time() - cpu_started
    return count / (time.perf_counter() - started), count / cpu


def plain_renderer() -> Callable[[dict[str, Any]], str]:
    """The baseline: compiled Jinja2 templates, autoescape, one exporter, no checks."""
    env = jinja2.Environment(autoescape=True)
    row, note, parent = (env.from_string(spec.html or "") for spec in (ROW, NOTE, PARENT))
    exporter = HTML(
        {
            "engine": DOM.STRING,
            "entity_decorators": {
                "LINK": lambda props: DOM.create_element(
                    "a", {"href": props["url"]}, props["children"]
                ),
            },
        }
    )

    def render(payload: dict[str, Any]) -> str:
        items = []
        for item in payload["ITEMS"]:
            values = dict(item["variables"])
            if item["templateId"] == "order-note":
                values["NOTE"] = Markup(values["NOTE"]["content"])
                items.append(note.render(values))
            else:
                items.append(row.render({"QTY": 1, "CURRENCY": "EUR", **values}))
        intro = Markup(exporter.render(payload["INTRO"]["content"]))
        context = {
            **payload,
            "INTRO": intro,
            "ITEMS": Markup("".join(items)),
        }
        return str(parent.render(context))

    return render


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    fresh = [variables(serial) for serial in range(FRESH_PAYLOADS)]
    lookup = TEMPLATES.get
    plain = plain_renderer()
    ours, ours_cpu = rate(
        seconds, lambda i: render_template(PARENT, fresh[i % len(fresh)], lang=None, lookup=lookup)
    )
    same, same_cpu = rate(
        seconds, lambda i: render_template(PARENT, fresh[0], lang=None, lookup=lookup)
    )
    baseline, baseline_cpu = rate(seconds, lambda i: plain(fresh[i % len(fresh)]))
    print(
        json.dumps(
            {
                "renders_per_s": ours,
                "repeated_payload_per_s": same,
                "plain_jinja2_per_s": baseline,
                "ratio": ours / baseline,
                "renders_per_cpu_s": ours_cpu,
                "repeated_payload_per_cpu_s": same_cpu,
                "plain_jinja2_per_cpu_s": baseline_cpu,
                "cpu_ratio": ours_cpu / baseline_cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
