"""Celery settings, lowercase, read from the environment through mailroom.config.

Why these values (see docs/reliability.md):
- acks_late + reject_on_worker_lost: a task is acknowledged only after it ran, so a killed
  worker's task is redelivered; every task is idempotent (it claims its row) so that is safe.
- prefetch 1 per pool slot: a large prefetch strands messages on a dead worker. Rendering runs
  on prefork processes; sending, which waits on providers, on a threads pool whose size is the
  sends in flight (`MAILROOM_SEND_CONCURRENCY`). Kombu 5.7's hub wakes its loop when a thread
  acknowledges, so late acks from threads go out at once (the delay of celery/celery#6941).
- lanes: transactional and bulk mail travel on separate queues, each split into its CPU part
  (render, prepare) and its sending part, so a 10,000-recipient batch never queues a password
  reset behind it; operators run the lanes on separate workers (docs/deployment.md).
- publisher confirms on AMQP: `apply_async` returns only once the broker has the message.
- time limits per task (tasks/time_limits.py), so a hostile template cannot hold a worker.
- results ignored: an email's status lives in our database, not in a result backend.
"""

from __future__ import annotations

from kombu.entity import Exchange as _Exchange
from kombu.entity import Queue as _Queue

from mailroom.config import settings_or_exit as _settings_or_exit
from tasks.time_limits import task_annotations as _task_annotations

# A bad setting ends the worker (or beat, or Flower) with one line, not a traceback.
_settings = _settings_or_exit()

broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
broker_connection_timeout = _settings.publish_timeout_seconds
broker_heartbeat = 30

if broker_url.startswith("filesystem"):
    _folder = _settings.var_dir / "broker"
    broker_transport_options = {
        "data_folder_in": str(_folder / "queue"),
        "data_folder_out": str(_folder / "queue"),
        "control_folder": str(_folder / "control"),
        "processed_folder": str(_folder / "processed"),
        "store_processed": False,
    }
else:
    broker_transport_options = {"confirm_publish": True}

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_pool = "prefork"
worker_max_tasks_per_child = 10_000
task_default_delivery_mode = "persistent"

_queue_arguments = {"x-queue-type": "quorum"} if _settings.queue_type == "quorum" else None
_base = _settings.queue_name
# The four lanes: (transactional | bulk) x (CPU work | sending); and status callbacks, whose
# POSTs wait on callers' endpoints and so get workers of their own (a slow or hostile endpoint
# then delays only other callbacks, never a send).
LANES = {
    "transactional": _base,
    "transactional.send": f"{_base}.send",
    "bulk": f"{_base}.bulk",
    "bulk.send": f"{_base}.bulk.send",
    "callbacks": f"{_base}.callbacks",
}
task_default_queue = _base
task_default_exchange = _base
task_default_routing_key = _base
# Quorum queues: Celery's native delayed delivery (countdown retries without holding the
# message in a worker) needs a topic exchange.
_exchange = _Exchange(  # type: ignore[no-untyped-call]
    _base, type="topic" if _settings.queue_type == "quorum" else "direct", durable=True
)
task_queues = tuple(
    _Queue(  # type: ignore[no-untyped-call]
        name, _exchange, routing_key=name, durable=True, queue_arguments=_queue_arguments
    )
    for name in LANES.values()
)
# Only the provider calls go to the sending lanes: a chain's other steps are short, and on the
# prefork processes their CPU spreads over every core instead of one threaded process's GIL.
task_routes = {
    "mailroom.render": {"queue": LANES["transactional"]},
    "mailroom.fetch_attachments": {"queue": LANES["transactional"]},
    "mailroom.send": {"queue": LANES["transactional.send"]},
    "mailroom.record_status": {"queue": LANES["transactional"]},
    "mailroom.send_batch": {"queue": LANES["bulk"]},
    "mailroom.send_list": {"queue": LANES["bulk"]},
    "mailroom.send_group": {"queue": LANES["bulk.send"]},
    # A purge run can take MAILROOM_PURGE_MAX_SECONDS: never ahead of a password reset.
    "mailroom.purge": {"queue": LANES["bulk"]},
    "mailroom.deliver_callback": {"queue": LANES["callbacks"]},
}

# No task holds a worker forever: each has a soft and a hard time limit sized from what it
# waits on (tasks/time_limits.py); a render over its limit fails its email with the reason.
task_annotations = _task_annotations(_settings)

# A publish that cannot reach the broker gives up quickly: the email is stored (the API answers
# 200) and the sweeper publishes it at its next run once the broker is back.
task_publish_retry = True
task_publish_retry_policy = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}

# Flower shows tasks from these events.
worker_send_task_events = True
task_send_sent_event = True

beat_schedule = {
    "mailroom-sweep": {
        "task": "mailroom.sweep",
        "schedule": _settings.sweep_interval_seconds,
        # A sweep that waited behind a backlog is stale: drop it instead of piling them up.
        "options": {"expires": _settings.sweep_interval_seconds},
    },
    "mailroom-purge": {
        "task": "mailroom.purge",
        "schedule": _settings.retention.interval_seconds,
        "options": {"expires": _settings.retention.interval_seconds},
    },
}
beat_schedule_filename = str(_settings.var_dir / "celerybeat-schedule")
