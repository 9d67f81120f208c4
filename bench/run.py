"""`make bench`: start everything, run each scenario three times, print medians with min–max
beside their baselines and goals, and write the table as JSON.

    python -m bench.run [--runs 3] [--only api,single,latency,bulk,lanes,render,purge]
                        [--provider-latency-ms 0,100] [--cap-s 120] [--json PATH]
                        [--bulk-emails 10000] [--single-emails 3000] [--lanes-batch 10000]
                        [--purge-emails 1000000]
                        [--worker SPEC ...] [--worker-env NAME=VALUE ...] [--provider smtp]

Without --only, every scenario but purge (a million rows: `make bench-purge`).
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
from bench.workers import DEFAULT_WORKERS, WorkerSpec, parse

SCENARIOS = ("api", "single", "latency", "bulk", "lanes", "render", "purge")
# What `make bench` runs; the purge scenario (a million rows) only when asked for.
DEFAULT_SCENARIOS = SCENARIOS[:-1]
Goal = tuple[str, str, float]


def goals(latencies: list[float]) -> dict[str, list[Goal]]:
    """What each scenario aims for, as (figure, comparison, goal) for the table; the latency
    goals are at the highest provider latency of the run (`high`)."""
    high = f"{max(latencies):g}ms"
    return {
        "api": [("ratio", ">=", 0.9), ("send_p99_ms", "<=", 25.0)],
        "single": [("ratio", ">=", 0.9), ("hiding_ratio", ">=", 0.7)],
        "latency": [("p50_ms", "<=", 50.0)],
        "bulk": [
            ("ratio_po4x5_0ms", ">=", 1.7),
            (f"ratio_po_{high}", ">=", 5.0),
            ("hiding_ratio", ">=", 0.8),
            ("worker_peak_rss_mb_0ms", "<=", 150.0),
            (f"worker_rss_total_peak_mb_{high}", "<=", 400.0),
        ],
        "lanes": [
            ("p50_ms", "<=", 250.0),
            ("p90_ms", "<=", 250.0),
            ("p50_vs_no_batch", "<=", 2.0),
            ("p90_vs_no_batch", "<=", 2.0),
        ],
        "render": [("renders_per_s", ">=", 2000.0), ("renders_per_cpu_s", ">=", 2000.0)],
        "purge": [("p90_vs_no_purge", "<=", 2.0)],
    }


# Figures kept in the JSON but left out of the printed table (the table stays readable).
QUIET = ("api_cpu_ms_", "postgres_cpu_ms_", "sink_cpu_ms_", "worker_rss_total_first_mb_",
         "worker_rss_total_last_mb_", "worker_processes_", "noop_worker_cpu_ms")  # fmt: skip


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


def table(results: dict[str, Any], latencies: list[float]) -> str:
    """The human-readable table."""
    lines = [f"{'scenario':<9} {'figure':<30} {'median':>10} {'min – max':>23}  goal"]
    every_goal = goals(latencies)
    for name, result in results.items():
        if "error" in result:
            lines.append(f"{name:<9} FAILED: {result['error']}")
            continue
        targets = {figure: (op, goal) for figure, op, goal in every_goal.get(name, [])}
        for figure, stat in result["summary"].items():
            if figure.startswith(QUIET):
                continue
            mark = ""
            if figure in targets:
                op, goal = targets[figure]
                met = stat["median"] >= goal if op == ">=" else stat["median"] <= goal
                mark = f"{op} {goal:g}  {'met' if met else 'NOT met'}"
            spread = f"{stat['min']:,.2f} – {stat['max']:,.2f}"
            lines.append(f"{name:<9} {figure:<30} {stat['median']:>10,.2f} {spread:>23}  {mark}")
            name = ""
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(DEFAULT_SCENARIOS), help=", ".join(SCENARIOS))
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "results.json")
    parser.add_argument(
        "--provider-latency-ms", default="0,100",
        help="comma-separated: the sink answers each message after this delay; single and bulk "
        "run at each, lanes at the highest (default 0,100)",
    )  # fmt: skip
    parser.add_argument(
        "--cap-s", type=float, default=120.0,
        help="a run waiting for deliveries stops after this long and reports the rate so far",
    )  # fmt: skip
    parser.add_argument("--bulk-emails", "--bulk-count", type=int, default=10_000)
    parser.add_argument("--single-emails", "--single-count", type=int, default=3000)
    parser.add_argument("--lanes-batch", type=int, default=10_000)
    parser.add_argument("--lanes-seconds", type=float, default=20.0)
    parser.add_argument("--purge-emails", type=int, default=1_000_000)
    parser.add_argument(
        "--worker", action="append", type=parse, metavar="SPEC",
        help="one worker process (repeatable), e.g. 'pool=prefork,concurrency=4,queues=a+b'; "
        "see bench/workers.py. Default: " + DEFAULT_WORKERS[0].describe(),
    )  # fmt: skip
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE",
        help="an environment variable for the workers and the API (repeatable)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, help="shorthand: the default worker's")
    parser.add_argument("--provider", choices=("smtp", "sendgrid"), default="smtp")
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    latencies = sorted({float(v) for v in args.provider_latency_ms.split(",") if v.strip()})
    workers: list[WorkerSpec] = args.worker or list(DEFAULT_WORKERS)
    if args.concurrency is not None:
        if args.worker:
            parser.error("--concurrency is for the default worker; say it in --worker instead")
        workers = [WorkerSpec(pool=w.pool, concurrency=args.concurrency) for w in workers]
    extra_env = dict(item.split("=", 1) for item in args.worker_env)

    workdir = ROOT / "var" / "bench"
    stack = Stack(
        workdir, workers=workers, api_workers=args.api_workers, provider=args.provider,
        extra_env=extra_env,
    )  # fmt: skip
    # The harness publishes the no-op chains itself: it must see the same settings.
    os.environ.update(stack.env)
    from bench import api_load, lanes, purge_bench, scenarios

    postoffice: scenarios.PostOffice | None = None
    if "bulk" in chosen:
        from bench.baselines import post_office

        python = post_office.ensure_venv(workdir)

        def postoffice(processes: int, threads: int, cap: float) -> dict[str, float]:
            return post_office.run(
                python, count=args.bulk_emails, smtp_port=stack.smtp_port, pg_url=PG_PO,
                processes=processes, threads=threads, cap=cap,
                delivered=lambda: int(stack.sink_stats()["count"]),
            )  # fmt: skip

    cap = args.cap_s
    runners: dict[str, Callable[[], dict[str, float]]] = {
        "api": lambda: api_load.api(stack),
        "single": lambda: scenarios.single(stack, args.single_emails, latencies, cap),
        "latency": lambda: scenarios.latency(stack),
        "bulk": lambda: scenarios.bulk(stack, args.bulk_emails, latencies, cap, postoffice),
        "lanes": lambda: lanes.lanes(
            stack, max(latencies), cap, batch=args.lanes_batch, seconds=args.lanes_seconds
        ),
        "render": lambda: scenarios.render(),
        "purge": lambda: purge_bench.purge(stack, args.purge_emails, cap),
    }
    settings = {
        "workers": [w.describe() for w in workers],
        "worker_env": extra_env,
        "api_workers": args.api_workers,
        "provider": args.provider,
        "provider_latency_ms": latencies,
        "cap_s": cap,
        "bulk_emails": args.bulk_emails,
        "single_emails": args.single_emails,
        "lanes_batch": args.lanes_batch,
        "purge_emails": args.purge_emails,
    }
    print(f"settings: {json.dumps(settings)}", flush=True)
    results: dict[str, Any] = {}
    try:
        # Inside the try: what started before a failure to start is stopped too.
        stack.start()
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
    print(table(results, latencies))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": settings,
        "results": results,
    }
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.json}")
    if any("error" in r for r in results.values()):
        sys.exit(1)


PG_PO = "postgresql://postgres@127.0.0.1:5432/" + os.environ.get(
    "BENCH_PO_DATABASE", "mailroom_bench_postoffice"
)

if __name__ == "__main__":
    main()
