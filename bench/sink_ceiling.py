"""How many messages/s the sink answers at a provider latency, with many connections at once.

    python -m bench.sink_ceiling [--latency-ms 100] [--connections 4,50,200] [--count 4000]

Starts `bench.sink` in a process of its own and feeds it from bare smtplib clients (up to four
processes, threads beyond that, one reused connection each). At latency L and C connections no
sender can beat C / L messages/s; the sink's own CPU caps it below that. `max_in_flight` is the
most messages the sink held at once: C when it serves every connection concurrently.
"""

from __future__ import annotations

import argparse
import subprocess

from bench.sink import ceiling
from bench.stack import BIN, ROOT, free_port, http_json, wait_until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--connections", default="4,50,200")
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    from bench.scenarios import bulk_message

    smtp_port, stats_port = free_port(), free_port()
    stats = f"http://127.0.0.1:{stats_port}"
    sink = subprocess.Popen(
        [str(BIN / "python"), "-m", "bench.sink", "--smtp-port", str(smtp_port),
         "--stats-port", str(stats_port), "--latency-ms", str(args.latency_ms)],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_until(lambda: _up(stats), 20, "the sink")
        message = bulk_message()
        for connections in (int(c) for c in args.connections.split(",")):
            http_json("POST", f"{stats}/reset")
            # Enough messages for each connection to send about 20 at the delay.
            count = min(args.count, connections * 20) if args.latency_ms else args.count
            rate = ceiling(smtp_port, message, count=count, connections=connections)
            seen = http_json("GET", f"{stats}/stats")[1]
            bound = f"{connections * 1000 / args.latency_ms:,.0f}/s" if args.latency_ms else "none"
            print(
                f"latency {args.latency_ms:g} ms, {connections} connections: {rate:,.0f}/s "
                f"(bound {bound}), {seen['count']} answered, "
                f"max_in_flight {seen['max_in_flight']}",
                flush=True,
            )
    finally:
        sink.terminate()
        sink.wait(10)


def _up(url: str) -> bool:
    try:
        return http_json("GET", f"{url}/stats")[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
