"""The lanes scenario: single sends while a large batch is in flight."""

from __future__ import annotations

import threading
import time
from statistics import median

from bench.figures import Figures
from bench.scenarios import bulk_template, paced_sends, percentile, post_batches, waits_ms
from bench.stack import Stack


def lanes(
    stack: Stack,
    latency: float,
    cap: float,
    batch: int = 10_000,
    rate: float = 10.0,
    seconds: float = 20.0,
) -> Figures:
    """Single sends at `rate`/s for `seconds`, first alone, then while a batch of `batch`
    recipients (requests of 1,000) is in flight, at the provider latency `latency`: POST ->
    the sink's answer of each single send (marked by a header), median and p90.

    A single send that has not arrived `cap` s after the batch began counts with its wait so
    far (a lower bound) and in `singles_late`.
    """
    stack.reset(fresh_workers=True)
    stack.set_latency(latency)
    alone = paced_sends(stack, rate, seconds)
    alone_waits, alone_late = waits_ms(stack, alone, time.monotonic() + cap)
    stack.reset()
    template = bulk_template(stack)
    began = time.monotonic()
    failures: list[BaseException] = []
    first_accepted, stop = threading.Event(), threading.Event()

    def post_batch() -> None:
        try:
            post_batches(stack, template, min(batch, 1000))
            first_accepted.set()
            if batch > 1000:
                post_batches(stack, template, batch - 1000, stop=stop)
        except BaseException as err:  # noqa: BLE001 - reported by the caller
            failures.append(err)
            first_accepted.set()

    poster = threading.Thread(target=post_batch, daemon=True)
    poster.start()
    first_accepted.wait(cap)
    # The single sends start once the batch's first request is in: the batch is in flight.
    during = paced_sends(stack, rate, seconds)
    # What of the batch the sink answered while the single sends went on.
    batch_rate = (int(stack.sink_stats()["count"]) - len(stack.sink_arrivals())) / (
        time.monotonic() - began
    )
    waits, late = waits_ms(stack, during, began + cap)
    stop.set()
    poster.join()
    if failures:
        raise RuntimeError(f"the batch failed: {failures[0]!r}")
    batch_delivered = int(stack.sink_stats()["count"]) - (len(during) - late)
    figures = {
        "no_batch_p50_ms": median(alone_waits),
        "no_batch_p90_ms": percentile(alone_waits, 0.9),
        "p50_ms": median(waits),
        "p90_ms": percentile(waits, 0.9),
        "p50_vs_no_batch": median(waits) / median(alone_waits),
        "p90_vs_no_batch": percentile(waits, 0.9) / percentile(alone_waits, 0.9),
        "max_ms": waits[-1],
        "singles": float(len(during)),
        "singles_late": float(late + alone_late),
        "batch_delivered": float(batch_delivered),
        "batch_per_s_during_singles": batch_rate,
    }
    # What is left of the batch must not reach the next scenario.
    stack.reset(fresh_workers=True)
    stack.set_latency(0)
    return figures


# -- 4. render ---------------------------------------------------------------------------------
