"""`make bench`: start everything, run each scenario three times, print medians with min–max
beside their baselines, and write the table as JSON.

    python -m bench.run [--runs 3] [--only api,single,latency,bulk,render] [--json PATH]
                        [--bulk-count 10000] [--single-count 3000]

Figures only: nothing here asserts a time. Ratios compare figures taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from bench.stack import ROOT, Stack

SCENARIOS = ("api", "single", "latency", "bulk", "render")
# What each scenario aims for, as (figure, comparison, goal) for the table.
GOALS: dict[str, list[tuple[str, str, float]]] = {
    "api": [("ratio", ">=", 0.9), ("send_p99_ms", "<=", 25.0)],
    "single": [("ratio", ">=", 0.9)],
    "latency": [("p50_ms", "<=", 50.0)],
    "bulk": [("ratio", ">=", 1.7), ("worker_peak_rss_mb", "<=", 150.0)],
    "render": [("renders_per_s", ">=", 2000.0), ("renders_per_cpu_s", ">=", 2000.0)],
}


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per figure: median, min and max over the runs."""
    keys = [k for k in runs[0] if all(k in run for run in runs)]
    return {
        k: {
            "median": median(r[k] for r in runs),
            "min": min(r[k] for r in runs),
            "max": max(r[k] for r in runs),
        }
        for k in keys
    }


def table(results: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [f"{'scenario':<9} {'figure':<26} {'median':>10} {'min – max':>23}  goal"]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"{name:<9} FAILED: {result['error']}")
            continue
        goals = {figure: (op, goal) for figure, op, goal in GOALS.get(name, [])}
        for figure, stat in result["summary"].items():
            mark = ""
            if figure in goals:
                op, goal = goals[figure]
                met = stat["median"] >= goal if op == ">=" else stat["median"] <= goal
                mark = f"{op} {goal:g}  {'met' if met else 'NOT met'}"
            spread = f"{stat['min']:,.2f} – {stat['max']:,.2f}"
            lines.append(f"{name:<9} {figure:<26} {stat['median']:>10,.2f} {spread:>23}  {mark}")
            name = ""
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "results.json")
    parser.add_argument("--bulk-count", type=int, default=10_000)
    parser.add_argument("--single-count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    workdir = ROOT / "var" / "bench"
    stack = Stack(workdir, concurrency=args.concurrency, api_workers=args.api_workers)
    # The harness publishes the no-op chains itself: it must see the same settings.
    os.environ.update(stack.env)
    from bench import scenarios

    postoffice: Callable[[int], dict[str, float]] | None = None
    if "bulk" in chosen:
        from bench.baselines import post_office

        python = post_office.ensure_venv(workdir)

        def postoffice(count: int) -> dict[str, float]:
            return post_office.run(python, count=count, smtp_port=stack.smtp_port, pg_url=PG_PO)

    runners: dict[str, Callable[[], dict[str, float]]] = {
        "api": lambda: scenarios.api(stack),
        "single": lambda: scenarios.single(stack, args.single_count),
        "latency": lambda: scenarios.latency(stack),
        "bulk": lambda: scenarios.bulk(stack, args.bulk_count, postoffice),
        "render": lambda: scenarios.render(),
    }
    results: dict[str, Any] = {}
    stack.start()
    try:
        for name in chosen:
            runs: list[dict[str, float]] = []
            try:
                for n in range(args.runs):
                    started = time.monotonic()
                    figures = runners[name]()
                    runs.append(figures)
                    shown = ", ".join(f"{k} {v:,.2f}" for k, v in figures.items())
                    took = time.monotonic() - started
                    print(f"[{name} {n + 1}/{args.runs}, {took:.0f} s] {shown}", flush=True)
                results[name] = {"runs": runs, "summary": summarize(runs)}
            except Exception as err:  # noqa: BLE001 - report it and go on with the others
                traceback.print_exc()
                results[name] = {"runs": runs, "error": repr(err)}
    finally:
        stack.stop()
    print()
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {"concurrency": args.concurrency, "api_workers": args.api_workers},
        "results": results,
    }
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.json}")
    if any("error" in r for r in results.values()):
        sys.exit(1)


PG_PO = "postgresql://postgres@127.0.0.1:5432/mailroom_bench_postoffice"

if __name__ == "__main__":
    main()
