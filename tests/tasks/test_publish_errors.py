"""A publish that fails midway names the emails the broker may not have: those are the ones
the sweeper must pick up at once; the confirmed ones are in flight."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kombu.exceptions import OperationalError

from tasks.app import celery_app
from tasks.publish import CHUNK, PublishError, enqueue, publish_batches


def fail_on_call(n: int, publish: Any) -> Any:
    """`publish`, failing as a lost broker connection does on its n-th call."""
    calls: list[Any] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == n:
            raise OperationalError("connection reset by peer")
        return publish(*args, **kwargs)

    return flaky


def test_enqueue_names_the_emails_from_the_failed_one_on(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    monkeypatch.setattr(celery_app, "send_task", fail_on_call(3, celery_app.send_task))
    with pytest.raises(PublishError) as raised:
        enqueue(ids)
    assert raised.value.unpublished == ids[2:]


def test_batches_name_the_chunks_from_the_failed_one_on(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [uuid.uuid4() for _ in range(3 * CHUNK)]
    monkeypatch.setattr(celery_app, "send_task", fail_on_call(2, celery_app.send_task))
    with pytest.raises(PublishError) as raised:
        publish_batches(ids)
    assert raised.value.unpublished == ids[CHUNK:]
