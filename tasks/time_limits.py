"""How long each task may run: Celery's `soft_time_limit` and `time_limit`, per task.

Sized from what the task waits on, so no email can hold a worker forever:

- render: a worker renders an email's template and finalizes it, each under its own render
  budget (render.budget's `max_seconds`); the soft limit is two budgets and a margin for the
  database, or MAILROOM_RENDER_TIME_LIMIT_SECONDS. Going over fails the email with the reason.
- send: one failover walk (every provider's timeouts, as in the claim's lease) and a margin.
- batches: a chunk renders or sends each of its emails in turn.

The hard limit (the pool process is killed) comes HARD_MARGIN later: only a task that ignored
its soft limit reaches it. Time limits hold on prefork pools; a threads pool (the sending lanes)
has none, and there every provider call has its own timeout.
"""

from __future__ import annotations

from mailroom.config import Settings
from render.budget import DEFAULT_LIMITS

# What a task needs beyond what it waits on: database reads and writes, a slow commit.
MARGIN = 20.0
HARD_MARGIN = 15.0
# Emails per batch task message (prepared together), and per group (sent and recorded
# together: bounds what a worker killed mid-group may send twice); tasks.publish uses them.
CHUNK = 100
GROUP = 10
# Reading an email's attachments from object storage; a callback's POST has its own timeout.
FETCH_SECONDS = 120.0
OTHER_SECONDS = 300.0


def send_timeout(settings: Settings, provider: str) -> float:
    """The longest one attempt on `provider` can take before it gives up."""
    return {
        "smtp": settings.smtp.timeout,
        "ses": settings.ses.connect_timeout + settings.ses.read_timeout,
        "sendgrid": settings.sendgrid.timeout,
    }.get(provider, 0.0)


def walk_seconds(settings: Settings) -> float:
    """The longest one failover walk over every configured provider can take."""
    return sum(send_timeout(settings, name) for name in settings.email_providers)


def render_seconds(settings: Settings) -> float:
    """The soft time limit of one email's render in a worker."""
    if settings.render_time_limit_seconds:
        return settings.render_time_limit_seconds
    return 2 * DEFAULT_LIMITS.max_seconds + MARGIN


def task_annotations(settings: Settings) -> dict[str, dict[str, float]]:
    """Celery's `task_annotations`: the soft and hard time limit of each task."""
    render = render_seconds(settings)
    send = walk_seconds(settings) + MARGIN
    soft = {
        "mailroom.render": render,
        "mailroom.fetch_attachments": FETCH_SECONDS,
        "mailroom.send": send,
        "mailroom.record_status": MARGIN,
        "mailroom.send_batch": CHUNK * render + FETCH_SECONDS,
        "mailroom.send_group": GROUP * send,
        "mailroom.deliver_callback": MARGIN,
        "mailroom.sweep": OTHER_SECONDS,
    }
    return {
        name: {"soft_time_limit": seconds, "time_limit": seconds + HARD_MARGIN}
        for name, seconds in soft.items()
    }
