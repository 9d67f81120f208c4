"""Publishing emails to the workers, and what happens when the broker does not take them.

The API, the CLI, list sends and the sweeper publish through `publish`: after a failure the
unpublished emails are made due for the sweeper's next run, which publishes them once the
broker is back, so a stored email is never stranded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from tasks.pipeline import PublishError, enqueue


def publish(
    session: Session,
    email_ids: Iterable[uuid.UUID],
    *,
    bulk: bool = False,
    correlation: Mapping[str, str | None] | None = None,
    eta: datetime | None = None,
) -> list[uuid.UUID]:
    """Publish the emails (committed already): a chain each, or batch tasks when `bulk`.

    The emails the broker did not confirm are returned, after being made due for the
    sweeper in `session` (committed here).
    """
    ids = list(email_ids)
    if not ids:
        return []
    try:
        if bulk:
            from tasks.batch import publish_batches

            publish_batches(ids, correlation)
        else:
            enqueue(ids, correlation, eta)
    except PublishError as err:
        from tasks.email_store import forget_publish

        forget_publish(session, err.unpublished)
        session.commit()
        return err.unpublished
    return []
