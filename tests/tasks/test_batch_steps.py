"""The batch's set-based writes keep the chain's compare-and-set guarantees."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from mailroom.config import get_settings
from models import Email, EmailEvent, EmailStatus, SendAttempt
from providers.base import SendResult
from providers.failover import Attempt, FailoverOutcome
from tasks import batch_steps, email_store, runtime
from tasks.message import build_outbound, with_attachments
from tests.tasks.test_email_store import LEASE, make_email
from tests.tasks.test_email_store import events as event_types

SETTINGS = SimpleNamespace(
    send_max_retries=3, retry_backoff_seconds=1.0, retry_backoff_max_seconds=10.0
)


def rendered(sessions: sessionmaker[Session], count: int) -> list[uuid.UUID]:
    return [
        make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])
        for _ in range(count)
    ]


def accepted(provider: str = "smtp") -> FailoverOutcome:
    at = datetime.now(UTC)
    return FailoverOutcome(
        result=SendResult(provider, f"id-{uuid.uuid4()}", {"gone@example.com": "550 no"}),
        attempts=(Attempt(provider, "accepted", None, None, at, 0.01),),
        verdict="sent",
        ambiguous_provider=None,
        error=None,
    )


def refused() -> FailoverOutcome:
    at = datetime.now(UTC)
    attempt = Attempt("smtp", "failed", "451 later", "transient", at, 0.01)
    return FailoverOutcome(None, (attempt,), "exhausted", None, "no provider accepted")


def test_a_group_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    ids = rendered(sessions, 3)
    with sessions() as session, session.begin():
        first = batch_steps.claim_group(session, ids)
    with sessions() as session, session.begin():
        again = batch_steps.claim_group(session, ids)
    assert sorted(c.email_id for c in first) == sorted(ids)
    assert again == []
    with sessions() as session:
        rows = session.scalars(select(Email).where(Email.id.in_(ids))).all()
    assert {r.status for r in rows} == {EmailStatus.SENDING}
    assert {r.send_tries for r in rows} == {1}
    assert all(event_types(sessions, eid) == ["sending"] for eid in ids)


def test_an_email_a_chain_claimed_meanwhile_is_left_to_it(
    sessions: sessionmaker[Session],
) -> None:
    ids = rendered(sessions, 2)
    with sessions() as session, session.begin():
        chain_claim = email_store.claim_for_send(session, ids[0], LEASE)
    assert chain_claim is not None
    with sessions() as session, session.begin():
        claimed = batch_steps.claim_group(session, ids)
    assert [c.email_id for c in claimed] == [ids[1]]


def test_record_writes_sent_and_recorded_under_the_claim(
    sessions: sessionmaker[Session],
) -> None:
    ids = rendered(sessions, 3)
    with sessions() as session, session.begin():
        claims = batch_steps.claim_group(session, ids)
    by_id = {c.email_id: c for c in claims}
    outcomes = [(by_id[ids[0]], accepted()), (by_id[ids[1]], refused())]
    # The third's lease ran out and another worker took it over before this acceptance.
    with sessions() as session, session.begin():
        taken = email_store.transition(
            session,
            ids[2],
            expected=[EmailStatus.SENDING],
            values={"claim_token": uuid.uuid4()},
        )
    assert taken
    outcomes.append((by_id[ids[2]], accepted()))
    with sessions() as session, session.begin():
        result = batch_steps.record(session, outcomes, SETTINGS)

    with sessions() as session:
        rows = session.scalars(select(Email).where(Email.id.in_(ids))).all()
        status = {r.id: r.status for r in rows}
        recorded = {r.id: r.recorded_status for r in rows}
        sent = next(r for r in rows if r.id == ids[0])
        attempts = session.scalars(select(SendAttempt.email_id)).all()
        first_attempt = session.scalars(
            select(SendAttempt).where(SendAttempt.email_id == ids[0])
        ).one()
    assert status[ids[0]] == EmailStatus.SENT and recorded[ids[0]] == "sent"
    assert (sent.provider, sent.claim_token, sent.pinned_provider) == ("smtp", None, None)
    assert (first_attempt.provider, first_attempt.outcome) == ("smtp", "accepted")
    assert first_attempt.at.tzinfo is not None and first_attempt.duration_ms == 10.0
    assert event_types(sessions, ids[0]) == ["sending", "sent", "recipient_rejected", "recorded"]
    first = outcomes[0][1].result
    assert first is not None and sent.provider_message_id == first.message_id
    with sessions() as session:
        written = session.scalars(
            select(EmailEvent).where(EmailEvent.email_id == ids[0]).order_by(EmailEvent.id)
        ).all()
    assert [(e.provider, e.recipient, e.detail) for e in written] == [
        (None, None, {"try": 1}),
        ("smtp", None, {"providerMessageId": first.message_id}),
        ("smtp", "gone@example.com", "550 no"),
        ("smtp", None, {"status": "sent", "tries": 1}),
    ]
    assert all(e.at.tzinfo is not None for e in written)
    # Refused by every provider: the claim is given back and a retry is due.
    assert status[ids[1]] == EmailStatus.RENDERED
    assert [eid for eid, _ in result.retries] == [ids[1]]
    # The lost claim: recorded truthfully as a possible second copy, then recorded per email.
    assert status[ids[2]] == EmailStatus.SENT
    assert result.to_record == [ids[2]]
    assert sorted(attempts) == sorted(ids)


def test_a_claim_is_not_taken_from_an_email_with_tries(sessions: sessionmaker[Session]) -> None:
    (eid,) = rendered(sessions, 1)
    with sessions() as session, session.begin():
        session.execute(update(Email).where(Email.id == eid).values(send_tries=1))
    with sessions() as session, session.begin():
        assert batch_steps.claim_group(session, [eid]) == []


# -- prepare: queued -> rendered, attachments described, for a whole chunk -------------------


@pytest.fixture
def worker_runtime(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The worker's runtime on the test database, with a local storage root (returned)."""
    engine = sessions.kw["bind"]
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("STORAGE_LOCAL_ROOT", str(tmp_path / "storage"))
    monkeypatch.setenv("EMAIL_PROVIDERS", "outbox")
    get_settings.cache_clear()
    runtime.reset()
    yield tmp_path / "storage"
    runtime.get().engine.dispose()  # close its connections here, not in a later test's GC
    runtime.reset()
    get_settings.cache_clear()


def queued(sessions: sessionmaker[Session], **values: object) -> uuid.UUID:
    return make_email(
        sessions,
        **{"status": EmailStatus.QUEUED, "html": "<p>Hi {{ NAME }}</p>", "text": None, **values},
    )


def test_prepare_renders_a_chunk_and_describes_its_attachments(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    runtime.get().storage.write("files/a.txt", b"hello", "text/plain")
    plain = [queued(sessions) for _ in range(3)]
    with_file = queued(sessions, attachment_keys=["files/a.txt"])

    prepared = batch_steps.prepare([*plain, with_file])

    assert sorted(prepared.ready) == sorted([*plain, with_file])
    assert prepared.leftovers == []
    storage = runtime.get().storage
    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(Email)).all()}
        # What the batch will send is exactly what it stored.
        for eid, ready in prepared.ready.items():
            stored = build_outbound(rows[eid], rows[eid].tags, storage)
            assert with_attachments(ready.message, ready.manifest, storage) == stored
    for eid in [*plain, with_file]:
        assert rows[eid].status == EmailStatus.RENDERED
        assert rows[eid].text  # the text part was made from the HTML
        assert event_types(sessions, eid) == ["rendered", "attachments_ready"]
    assert rows[plain[0]].attachment_manifest == []
    manifest = rows[with_file].attachment_manifest
    assert manifest is not None and [m["size"] for m in manifest] == [5]


def test_prepare_leaves_alone_what_is_not_its_own(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    mine = queued(sessions)
    retrying = make_email(
        sessions, status=EmailStatus.RENDERED, attachment_manifest=[], send_tries=1
    )
    done = make_email(sessions, status=EmailStatus.SENT, attachment_manifest=[])
    # Rendered and described by a chain, not yet claimed: only the send is left to do.
    ready = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])

    prepared = batch_steps.prepare([mine, retrying, done, ready])

    assert sorted(prepared.ready) == sorted([mine, ready])
    assert event_types(sessions, retrying) == []
    assert event_types(sessions, done) == []
    assert event_types(sessions, ready) == []


def test_prepare_fails_an_email_whose_attachment_is_missing(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    good = queued(sessions)
    missing = queued(sessions, attachment_keys=["files/nowhere.pdf"])

    prepared = batch_steps.prepare([good, missing])

    assert list(prepared.ready) == [good]
    with sessions() as session:
        row = session.get(Email, missing)
        assert row is not None
        assert row.status == EmailStatus.FAILED and row.recorded_status == "failed"
        assert "files/nowhere.pdf" in (row.last_error or "")


def lock_waiters(sessions: sessionmaker[Session]) -> int:
    """Sessions of this database that PostgreSQL shows waiting for a lock."""
    with sessions() as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


# Row locks are PostgreSQL's; on SQLite each row moves with its own compare-and-set.
@pytest.mark.parametrize(
    "sessions", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_prepare_waits_for_a_locked_row_and_keeps_what_its_holder_wrote(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    ids = [queued(sessions) for _ in range(3)]
    results: list[batch_steps.Prepared] = []
    with sessions() as holder, holder.begin():
        # Another writer (a chain, or an operator) holds one row and fails it meanwhile.
        assert email_store.fail(holder, ids[1], "stopped by an operator")
        worker = threading.Thread(target=lambda: results.append(batch_steps.prepare(ids)))
        worker.start()
        # Until prepare either finishes or shows up in PostgreSQL waiting for a lock.
        while worker.is_alive() and not lock_waiters(sessions):
            time.sleep(0.01)
        assert lock_waiters(sessions) == 1, "prepare must wait for the row lock, not overwrite it"
    worker.join(timeout=30)

    assert sorted(results[0].ready) == sorted([ids[0], ids[2]])
    with sessions() as session:
        row = session.get(Email, ids[1])
        assert row is not None and row.status == EmailStatus.FAILED
        assert row.html == "<p>Hi {{ NAME }}</p>"
    assert event_types(sessions, ids[1]) == ["failed"]
