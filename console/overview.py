"""The overview: recent volume as SVG charts, queue depth per lane, providers, failure reasons."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from flask import g, render_template
from sqlalchemy import ColumnElement, func, select

from api.db import db
from console.blueprint import bp
from console.charts import Chart, bar_chart
from mailroom.config import get_settings
from models import Email, EmailStatus, ProviderState, SendAttempt, utcnow
from tasks.app import celery_app
from tasks.throttle import parse_rates

log = logging.getLogger(__name__)
# A chart reads at most this many rows: the overview stays quick on a busy day.
CHART_ROWS = 50_000


def _series(since: datetime, step: timedelta, buckets: int, column: str) -> Chart:
    """Emails created since `since`, per `step`, split by `column` (status or provider)."""
    key = Email.status if column == "status" else Email.provider
    rows = db().execute(
        select(Email.created_at, key).where(Email.created_at >= since, _in_mode()).limit(CHART_ROWS)
    )
    counts: dict[str, list[int]] = {}
    for created_at, value in rows:
        index = min(int((created_at - since) / step), buckets - 1)
        name = str(value.value if isinstance(value, EmailStatus) else value or "none")
        counts.setdefault(name, [0] * buckets)[index] += 1
    return Chart(counts, buckets)


def _in_mode() -> ColumnElement[bool]:
    """The signed-in key's emails only: test-mode and live figures are never mixed."""
    return Email.is_test.is_(bool(g.api_key.is_test))


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each lane's queue; None where the broker does not say."""
    names = [queue.name for queue in celery_app.conf.task_queues]
    depths: dict[str, int | None] = {}
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            for name in names:
                try:
                    _, depth, _ = conn.default_channel.queue_declare(queue=name, passive=True)
                    depths[name] = int(depth)
                except Exception:  # noqa: BLE001 - a missing queue or a transport without counts
                    depths[name] = None
    except Exception:  # noqa: BLE001 - the page answers even when the broker does not
        log.debug("queue depth unavailable", exc_info=True)
        depths = dict.fromkeys(names)
    return depths


def failure_reasons(since: datetime, limit: int = 10) -> list[tuple[str, int]]:
    """The most frequent errors of failed attempts since `since`."""
    rows = db().execute(
        select(SendAttempt.error, func.count())
        .where(SendAttempt.outcome == "failed", SendAttempt.at >= since)
        .group_by(SendAttempt.error)
        .order_by(func.count().desc())
        .limit(limit)
    )
    return [(error or "(no message)", n) for error, n in rows]


@bp.get("/")
def overview() -> str:
    """Volume, queues, providers and failures at a glance."""
    now = utcnow()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    by_status_day = Counter(
        {
            str(s.value): n
            for s, n in db().execute(
                select(Email.status, func.count())
                .where(Email.created_at >= day, _in_mode())
                .group_by(Email.status)
            )
        }
    )
    charts = {
        "Last hour by status (per minute)": bar_chart(
            _series(hour, timedelta(minutes=1), 60, "status")
        ),
        "Last hour by provider (per minute)": bar_chart(
            _series(hour, timedelta(minutes=1), 60, "provider")
        ),
        "Last day by status (per hour)": bar_chart(_series(day, timedelta(hours=1), 24, "status")),
        "Last day by provider (per hour)": bar_chart(
            _series(day, timedelta(hours=1), 24, "provider")
        ),
    }
    settings = get_settings()
    states = {p.name: p for p in db().scalars(select(ProviderState))}
    names = list(dict.fromkeys([*settings.email_providers, *sorted(states)]))
    rates = parse_rates(settings.provider_rates)
    providers = [(name, states.get(name), rates.get(name)) for name in names]
    return render_template(
        "console/overview.html",
        charts=charts,
        by_status_day=by_status_day,
        depths=queue_depths(),
        providers=providers,
        now=now,
        reasons=failure_reasons(day),
    )
