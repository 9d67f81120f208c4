"""The worker processes `make bench` starts: the one place to say which, and how.

Each `WorkerSpec` is one `celery worker` process (its pool's children included). The default is
the deployment's worker: prefork, 4 processes, on the default queue. To benchmark something else,
edit `DEFAULT_WORKERS` or pass `--worker SPEC` (repeatable, one per worker process) to
`python -m bench.run`, e.g.

    --worker "pool=prefork,concurrency=2,queues=mailroom-bench"
    --worker "pool=threads,concurrency=50,queues=mailroom-bench.bulk,args=-O fair"
    --worker "concurrency=2,env:MAILROOM_SEND_THREADS=64"

Keys: `pool`, `concurrency`, `queues` (``+``-separated; empty: every queue of the app; a name
starting with "." is a lane of the benchmark's queue, e.g. ".send"),
`env:NAME` (an environment variable for that worker only) and, last, `args` (more `celery worker`
arguments, shell-quoted: it takes the rest of the spec). `--worker-env NAME=VALUE` sets one
for every worker and the API, e.g. a setting the code under test reads to name its queues.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class WorkerSpec:
    """One `celery worker` process of the benchmark."""

    pool: str = "prefork"
    concurrency: int = 4
    # -Q; empty: the app's default queue (MAILROOM_QUEUE, "mailroom-bench" in the bench).
    queues: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def command(self, celery: str, app: str, node: str) -> list[str]:
        """The command line of this worker, named `node` (unique per worker process)."""
        queues = ["-Q", ",".join(self.queues)] if self.queues else []
        return [
            celery, "-A", app, "worker", "-n", node, "--pool", self.pool,
            "--concurrency", str(self.concurrency), "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat", *queues, *self.args,
        ]  # fmt: skip

    def on_queue(self, base: str) -> WorkerSpec:
        """This spec with each queue that starts with "." (a lane: ".send") named after
        `base`, and "" for `base` itself."""
        return replace(
            self, queues=tuple(base + q if q.startswith(".") or not q else q for q in self.queues)
        )

    def describe(self) -> str:
        """A short form for the report."""
        parts = [f"pool={self.pool}", f"concurrency={self.concurrency}"]
        if self.queues:
            parts.append("queues=" + "+".join(self.queues))
        parts += [f"env:{k}={v}" for k, v in self.env.items()]
        if self.args:
            # Last: `args` takes the rest of a spec.
            parts.append("args=" + shlex.join(self.args))
        return ",".join(parts)


# What `make bench` runs unless told otherwise: the deployment's workers (the Procfile's
# `worker` and `sender`): rendering on prefork, provider calls on a threads pool.
DEFAULT_WORKERS: tuple[WorkerSpec, ...] = (
    WorkerSpec(pool="prefork", concurrency=2, queues=("", ".bulk")),
    WorkerSpec(pool="threads", concurrency=50, queues=(".send", ".bulk.send")),
    WorkerSpec(pool="threads", concurrency=10, queues=(".callbacks",)),
)


def parse(spec: str) -> WorkerSpec:
    """A `WorkerSpec` from "key=value,key=value" (see the module's docstring)."""
    values: dict[str, str] = {}
    env: dict[str, str] = {}
    # `args` takes the rest of the spec: its value may hold commas.
    head, _, args = spec.partition("args=")
    for item in (part.strip() for part in head.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if key.startswith("env:"):
            env[key[4:]] = value
        elif sep and key in ("pool", "concurrency", "queues"):
            values[key] = value
        else:
            raise ValueError(f"unknown worker setting {item!r} in {spec!r}")
    return WorkerSpec(
        pool=values.get("pool", "prefork"),
        concurrency=int(values.get("concurrency", "4")),
        queues=tuple(q for q in values.get("queues", "").split("+") if q),
        args=tuple(shlex.split(args)),
        env=env,
    )
