"""The chaos harness's own checks can fail: a `failed` email, an email no provider received, an
unexplained copy, and the tasks a killed worker held. Runs without the chaos services."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from mailroom.migrate import upgrade
from models import Email, EmailEvent, EmailStatus
from models.db import make_engine, make_session_factory
from tests.chaos.harness import Census, HeldTask, held_tasks, tally

pytestmark = pytest.mark.postgres


@pytest.fixture
def census(pg_url: str) -> Census:
    upgrade(pg_url)
    return Census(pg_url)


def add(census: Census, status: EmailStatus, *events: str) -> str:
    engine = make_engine(census.url.replace("postgresql://", "postgresql+psycopg://"))
    with make_session_factory(engine)() as session:
        email = Email(
            from_addr="a@example.com",
            to_addrs=["b@example.com"],
            cc_addrs=[],
            bcc_addrs=[],
            subject="s",
            html="<p>x</p>",
            variables={},
            attachment_keys=[],
            headers={},
            message_id=f"<{uuid.uuid4()}@example.com>",
            status=status,
        )
        session.add(email)
        session.flush()
        session.add_all(EmailEvent(email_id=email.id, type=e) for e in events)
        session.commit()
        email_id = str(email.id)
    engine.dispose()
    return email_id


def test_every_accepted_email_sent_once_passes(census: Census) -> None:
    ids = [add(census, EmailStatus.SENT) for _ in range(3)]
    result = tally("ok", census, None, ids, {"smtp": ids}, time.monotonic())
    result.assert_delivered()


def test_a_failed_email_is_not_delivered_though_final(census: Census) -> None:
    sent, failed = add(census, EmailStatus.SENT), add(census, EmailStatus.FAILED)
    result = tally("failed", census, None, [sent, failed], {"smtp": [sent]}, time.monotonic())

    assert (result.lost, result.not_sent, result.unreached) == (0, 1, 1)
    with pytest.raises(AssertionError, match="not_sent=1"):
        result.assert_delivered()


def test_an_email_no_provider_received_is_not_delivered(census: Census) -> None:
    ids = [add(census, EmailStatus.SENT) for _ in range(2)]
    result = tally("unreached", census, None, ids, {"smtp": ids[:1]}, time.monotonic())

    assert (result.not_sent, result.unreached) == (0, 1)
    with pytest.raises(AssertionError, match="unreached=1"):
        result.assert_delivered()


def test_a_copy_is_explained_only_by_reclaimed_or_ambiguous_events(census: Census) -> None:
    bare = add(census, EmailStatus.SENT, "sending", "sent")
    reclaimed = add(census, EmailStatus.SENT, "reclaimed")
    ambiguous = add(census, EmailStatus.SENT, "ambiguous", "ambiguous")
    received = {"smtp": [bare, bare, reclaimed, reclaimed, ambiguous], "sendgrid": [ambiguous] * 2}
    ids = [bare, reclaimed, ambiguous]

    result = tally("copies", census, None, ids, received, time.monotonic())

    assert (result.duplicates, result.unexplained) == (4, 1)
    assert result.problems["unexplained"] == {bare: 1}
    with pytest.raises(AssertionError, match="unexplained=1"):
        result.assert_delivered()
    # One reclaim explains one copy, not two.
    received["smtp"].append(reclaimed)
    assert tally("copies", census, None, ids, received, time.monotonic()).unexplained == 1 + 1


def log_line(message: str, **extra: object) -> str:
    return json.dumps(
        {"time": "t", "level": "INFO", "logger": "celery", "message": message, **extra}
    )


def test_held_tasks_are_those_received_without_an_outcome(tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    log = tmp_path / "w1.log"
    log.write_text(
        "\n".join(
            [
                "celery banner, not JSON",
                log_line(f"Task mailroom.render[{ids[0]}] received", data={"args": "('e0',)"}),
                log_line(f"Task mailroom.render[{ids[0]}] succeeded in 0.1s: None"),
                log_line(f"Task mailroom.send[{ids[1]}] received", data={"args": "('e1',)"}),
                log_line(f"Task mailroom.send[{ids[1]}] retry: Retry in 2s"),
                log_line(f"Task mailroom.send[{ids[1]}] received", data={"args": "('e1',)"}),
                log_line(f"Task mailroom.render[{ids[2]}] received", data={"args": "('e2',)"}),
                log_line(f"Task mailroom.send[{ids[3]}] received", data={"args": "('e3',)"}),
                log_line(f"Task mailroom.send[{ids[3]}] raised unexpected: OSError()"),
                '{"message": "half a line',
            ]
        )
    )

    assert held_tasks(log) == [
        HeldTask("mailroom.send", ids[1], "('e1',)"),
        HeldTask("mailroom.render", ids[2], "('e2',)"),
    ]
