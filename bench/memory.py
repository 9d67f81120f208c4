"""The workers' memory: RSS and PSS of every worker process, sampled while a scenario runs."""

from __future__ import annotations

import threading
from pathlib import Path

from bench.figures import Figures, at
from bench.stack import Stack


class RssSampler:
    """Samples the memory of every worker process (main processes, pool children and below)
    while a scenario runs: the total RSS, the total PSS (shared pages counted once, split
    between the processes sharing them) and, at the end, the highest peak (VmHWM) of any one."""

    def __init__(self, stack: Stack, every: float = 0.5) -> None:
        self.stack = stack
        self.every = every
        self.rss_totals: list[float] = []
        self.pss_totals: list[float] = []
        self.processes = 0
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
            pids = self.stack.worker_pids()
            self.processes = max(self.processes, len(pids))
            self.rss_totals.append(sum(_status_kb(pid, "VmRSS") for pid in pids) / 1024)
            self.pss_totals.append(sum(_pss_kb(pid) for pid in pids) / 1024)

    def peak_mb(self) -> float:
        """The highest peak RSS (VmHWM) of any one worker process, in MB."""
        return max((_status_kb(pid, "VmHWM") for pid in self.stack.worker_pids()), default=0) / 1024

    def figures(self, latency: float) -> Figures:
        return {
            at("worker_rss_total_peak_mb", latency): max(self.rss_totals, default=0.0),
            at("worker_pss_total_peak_mb", latency): max(self.pss_totals, default=0.0),
            at("worker_peak_rss_mb", latency): self.peak_mb(),
            at("worker_rss_total_first_mb", latency): self.rss_totals[0] if self.rss_totals else 0,
            at("worker_rss_total_last_mb", latency): self.rss_totals[-1] if self.rss_totals else 0,
            at("worker_processes", latency): float(self.processes),
        }


def _status_kb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _pss_kb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


# post_office as issue 16 sets it (2 processes × its default 5 threads; `send_queued_mail`
# itself defaults to 1 process), and the bench's earlier baseline (4 × 5, its fastest setting
# here) at 0 ms. Batches of 5,000 for both (bench/baselines/post_office.py says why).
