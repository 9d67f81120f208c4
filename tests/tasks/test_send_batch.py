"""Bulk sends keep the chain's compare-and-set guarantees: a batch prepares its chunk in one
transaction (tasks.prepare), then claims, sends and records group by group (tasks.sending),
and two deliveries of one batch send nothing twice."""

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
from store.claims import Claim, claim
from store.outcomes import LOST_CLAIM, fail
from store.stored import StoredEmail, load
from tasks import runtime
from tasks.batch import RECORD_EVERY, send_group_task
from tasks.batch import prepare_chunk as prepare
from tasks.message import build_outbound
from tasks.outcomes import record_outcomes
from tests.store.emails import LEASE, event_types, events_of, make_email, row, rows
from tests.support.smtp_sink import SmtpSink

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


def claim_group(sessions: sessionmaker[Session], ids: list[uuid.UUID]) -> list[Claim]:
    """What a batch's group claim does: first tries only, committed before any send."""
    with sessions() as session, session.begin():
        return claim(session, ids, LEASE, first_try=True)


def test_a_group_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    ids = rendered(sessions, 3)
    first = claim_group(sessions, ids)
    again = claim_group(sessions, ids)
    assert sorted(c.email_id for c in first) == sorted(ids)
    assert again == []
    found = rows(sessions, ids)
    assert {r.status for r in found.values()} == {EmailStatus.SENDING}
    assert {r.send_tries for r in found.values()} == {1}
    assert all(event_types(sessions, eid) == ["sending"] for eid in ids)


def test_an_email_a_chain_claimed_meanwhile_is_left_to_it(
    sessions: sessionmaker[Session],
) -> None:
    ids = rendered(sessions, 2)
    with sessions() as session, session.begin():
        chain_claim = claim(session, [ids[0]], LEASE)
    assert [c.email_id for c in chain_claim] == [ids[0]]
    assert [c.email_id for c in claim_group(sessions, ids)] == [ids[1]]


def test_a_claim_is_not_taken_from_an_email_with_tries(sessions: sessionmaker[Session]) -> None:
    (eid,) = rendered(sessions, 1)
    with sessions() as session, session.begin():
        session.execute(update(Email).where(Email.id == eid).values(send_tries=1))
    assert claim_group(sessions, [eid]) == []


def test_record_writes_sent_and_recorded_under_the_claim(
    sessions: sessionmaker[Session],
) -> None:
    ids = rendered(sessions, 3)
    by_id = {c.email_id: c for c in claim_group(sessions, ids)}
    outcomes = [(by_id[ids[0]], accepted()), (by_id[ids[1]], refused())]
    # The third's lease ran out and another worker took it over before this acceptance.
    with sessions() as session, session.begin():
        session.execute(update(Email).where(Email.id == ids[2]).values(claim_token=uuid.uuid4()))
    outcomes.append((by_id[ids[2]], accepted()))
    with sessions() as session, session.begin():
        retries, throttled = record_outcomes(session, outcomes, SETTINGS, record=True)

    found = rows(sessions, ids)
    status = {eid: r.status for eid, r in found.items()}
    recorded = {eid: r.recorded_status for eid, r in found.items()}
    sent = found[ids[0]]
    with sessions() as session:
        attempts = session.scalars(select(SendAttempt.email_id)).all()
        first_attempt = session.scalars(
            select(SendAttempt).where(SendAttempt.email_id == ids[0])
        ).one()
    assert status[ids[0]] == EmailStatus.SENT and recorded[ids[0]] == "sent"
    assert (sent.provider, sent.claim_token, sent.pinned_provider) == ("smtp", None, None)
    assert (first_attempt.provider, first_attempt.outcome) == ("smtp", "accepted")
    assert first_attempt.at.tzinfo is not None and first_attempt.duration_ms == 10.0
    first = outcomes[0][1].result
    assert first is not None and sent.provider_message_id == first.message_id
    written = events_of(sessions, ids[0])
    assert [(e.type, e.provider, e.recipient, e.detail) for e in written] == [
        ("sending", None, None, {"try": 1}),
        ("sent", "smtp", None, {"providerMessageId": first.message_id}),
        ("recipient_rejected", "smtp", "gone@example.com", "550 no"),
        ("recorded", "smtp", None, {"status": "sent", "tries": 1}),
    ]
    assert all(e.at.tzinfo is not None for e in written)
    # Refused by every provider: the claim is given back and a retry is due.
    assert status[ids[1]] == EmailStatus.RENDERED and recorded[ids[1]] is None
    assert list(retries) == [ids[1]] and 0 < retries[ids[1]] <= 1.0
    assert throttled == {}
    assert event_types(sessions, ids[1]) == ["sending", "retry"]
    # The lost claim: recorded truthfully as a possible second copy, and it still ends the email.
    assert status[ids[2]] == EmailStatus.SENT and recorded[ids[2]] == "sent"
    lost = events_of(sessions, ids[2])
    assert [e.type for e in lost] == ["sending", "sent", "recipient_rejected", "recorded"]
    assert isinstance(lost[1].detail, dict) and lost[1].detail["duplicate"] == LOST_CLAIM
    assert sorted(attempts) == sorted(ids)


# -- prepare: queued -> rendered, attachments described, for a whole chunk -------------------


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def worker_runtime(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """The worker's runtime on the test database, sending to the SMTP sink, with a local
    storage root (returned)."""
    engine = sessions.kw["bind"]
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("STORAGE_LOCAL_ROOT", str(tmp_path / "storage"))
    monkeypatch.setenv("EMAIL_PROVIDERS", "smtp")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp_sink.port))
    get_settings.cache_clear()
    runtime.reset()
    runtime.get()  # built once here, not raced for by a test's threads
    yield tmp_path / "storage"
    for provider in runtime.get().sender.providers:
        provider.close()
    runtime.get().engine.dispose()  # close its connections here, not in a later test's GC
    runtime.reset()
    get_settings.cache_clear()


def send_batch(email_ids: list[str]) -> None:
    """A batch as the workers run it, in this process: its chunk prepared (the send_batch
    task), then each group of RECORD_EVERY through the send_group task it publishes."""
    ready, _ = prepare([uuid.UUID(e) for e in email_ids])
    ids = [str(e.id) for e in ready]
    for start in range(0, len(ids), RECORD_EVERY):
        send_group_task(ids[start : start + RECORD_EVERY])


def queued(sessions: sessionmaker[Session], **values: object) -> uuid.UUID:
    return make_email(
        sessions,
        **{"status": EmailStatus.QUEUED, "html": "<p>Hi {{ NAME }}</p>", "text": None, **values},
    )


def sent_ids(sink: SmtpSink) -> list[uuid.UUID]:
    """The email ids of every message the sink received, one per message."""
    with sink.lock:
        return [uuid.UUID(str(r.message["X-Mailroom-Email-Id"])) for r in sink.received]


def test_prepare_renders_a_chunk_and_describes_its_attachments(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    runtime.get().storage.write("files/a.txt", b"hello", "text/plain")
    runtime.get().storage.write("files/b.txt", b"hi!", "text/plain")
    plain = [queued(sessions) for _ in range(3)]
    with_file = queued(sessions, attachment_keys=["files/a.txt"])
    # Another manifest in the same statement: each row gets its own.
    with_other = queued(sessions, attachment_keys=["files/b.txt"])

    ready, leftovers = prepare([*plain, with_file, with_other])

    assert sorted(e.id for e in ready) == sorted([*plain, with_file, with_other])
    assert leftovers == []
    storage = runtime.get().storage
    with sessions() as session:
        stored = {e.id: e for e in load(session, [*plain, with_file, with_other])}
    # What the batch will send is exactly what it stored.
    for email in ready:
        assert email == stored[email.id]
        assert build_outbound(email, storage) == build_outbound(stored[email.id], storage)
    found = rows(sessions, [*plain, with_file, with_other])
    for eid in [*plain, with_file, with_other]:
        assert found[eid].status == EmailStatus.RENDERED
        assert found[eid].text  # the text part was made from the HTML
        assert event_types(sessions, eid) == ["rendered", "attachments_ready"]
    assert found[plain[0]].attachment_manifest == []
    for eid, size in ((with_file, 5), (with_other, 3)):
        manifest = found[eid].attachment_manifest
        assert manifest is not None and [m["size"] for m in manifest] == [size]
        assert events_of(sessions, eid)[-1].detail == {"count": 1, "bytes": size}
    assert build_outbound(stored[with_file], storage).attachments[0].content == b"hello"
    assert build_outbound(stored[with_other], storage).attachments[0].content == b"hi!"


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

    prepared, _ = prepare([mine, retrying, done, ready])

    assert sorted(e.id for e in prepared) == sorted([mine, ready])
    assert event_types(sessions, retrying) == []
    assert event_types(sessions, done) == []
    assert event_types(sessions, ready) == []


def test_prepare_fails_an_email_whose_attachment_is_missing(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    good = queued(sessions)
    missing = queued(sessions, attachment_keys=["files/nowhere.pdf"])

    ready, _ = prepare([good, missing])

    assert [e.id for e in ready] == [good]
    email = row(sessions, missing)
    assert email.status == EmailStatus.FAILED and email.recorded_status == "failed"
    assert "files/nowhere.pdf" in (email.last_error or "")
    assert event_types(sessions, missing) == ["rendered", "failed", "recorded"]


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


# Row locks are PostgreSQL's; SQLite's writers queue for the database's one write lock.
@pytest.mark.parametrize(
    "sessions", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_prepare_waits_for_a_locked_row_and_keeps_what_its_holder_wrote(
    sessions: sessionmaker[Session], worker_runtime: Path
) -> None:
    ids = [queued(sessions) for _ in range(3)]
    results: list[list[StoredEmail]] = []
    with sessions() as holder, holder.begin():
        # Another writer (a chain, or an operator) holds one row and fails it meanwhile.
        assert fail(holder, {ids[1]: "stopped by an operator"}) == [ids[1]]
        worker = threading.Thread(target=lambda: results.append(prepare(ids)[0]))
        worker.start()
        # Until prepare either finishes or shows up in PostgreSQL waiting for a lock.
        while worker.is_alive() and not lock_waiters(sessions):
            time.sleep(0.01)
        assert lock_waiters(sessions) == 1, "prepare must wait for the row lock, not overwrite it"
    worker.join(timeout=30)

    assert sorted(e.id for e in results[0]) == sorted([ids[0], ids[2]])
    email = row(sessions, ids[1])
    assert email.status == EmailStatus.FAILED
    assert email.html == "<p>Hi {{ NAME }}</p>"
    assert event_types(sessions, ids[1]) == ["failed"]


# -- the whole batch: prepare, then claim, send and record group by group --------------------


def test_a_batch_sends_each_email_once_and_records_it(
    sessions: sessionmaker[Session], worker_runtime: Path, smtp_sink: SmtpSink
) -> None:
    ids = [queued(sessions, html=f"<p>Hi n{n}</p>") for n in range(2 * RECORD_EVERY + 3)]

    send_batch([str(eid) for eid in ids])

    assert sorted(sent_ids(smtp_sink)) == sorted(ids)
    found = rows(sessions, ids)
    for eid in ids:
        assert (found[eid].status, found[eid].recorded_status) == (EmailStatus.SENT, "sent")
        assert found[eid].provider == "smtp" and found[eid].claim_token is None
        assert event_types(sessions, eid) == [
            "rendered",
            "attachments_ready",
            "sending",
            "sent",
            "recorded",
        ]
    # Each message carries its own email's content.
    for received in smtp_sink.received:
        n = ids.index(uuid.UUID(str(received.message["X-Mailroom-Email-Id"])))
        html = received.message.get_body(("html",))
        assert html is not None and f"<p>Hi n{n}</p>" in html.get_content()


def test_a_batch_leaves_alone_what_is_not_its_own(
    sessions: sessionmaker[Session], worker_runtime: Path, smtp_sink: SmtpSink
) -> None:
    mine = queued(sessions)
    retrying = make_email(
        sessions, status=EmailStatus.RENDERED, attachment_manifest=[], send_tries=1
    )
    done = make_email(sessions, status=EmailStatus.SENT, attachment_manifest=[])
    ready = make_email(sessions, status=EmailStatus.RENDERED, attachment_manifest=[])

    send_batch([str(eid) for eid in (mine, retrying, done, ready)])

    assert sorted(sent_ids(smtp_sink)) == sorted([mine, ready])
    assert event_types(sessions, retrying) == event_types(sessions, done) == []
    assert row(sessions, retrying).status == EmailStatus.RENDERED


def test_a_redelivered_batch_sends_nothing_twice(
    sessions: sessionmaker[Session], worker_runtime: Path, smtp_sink: SmtpSink
) -> None:
    ids = [queued(sessions) for _ in range(RECORD_EVERY + 2)]
    # The first delivery's worker claimed a group and was still sending it.
    held = claim_group(sessions, rendered(sessions, 2))

    send_batch([str(eid) for eid in ids])
    send_batch([str(eid) for eid in [*ids, *(c.email_id for c in held)]])

    assert sorted(sent_ids(smtp_sink)) == sorted(ids)
    assert all(row(sessions, c.email_id).status == EmailStatus.SENDING for c in held)
    assert all(event_types(sessions, eid).count("sending") == 1 for eid in ids)


def test_two_deliveries_of_one_batch_at_once_send_each_email_once(
    sessions: sessionmaker[Session], worker_runtime: Path, smtp_sink: SmtpSink
) -> None:
    ids = [queued(sessions) for _ in range(2 * RECORD_EVERY + 5)]
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            send_batch([str(eid) for eid in ids])
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    received = sent_ids(smtp_sink)
    assert sorted(received) == sorted(ids), "each email sent exactly once"
    found = rows(sessions, ids)
    assert {(r.status, r.recorded_status) for r in found.values()} == {(EmailStatus.SENT, "sent")}
    with sessions() as session:
        sending = session.scalars(
            select(EmailEvent.email_id).where(EmailEvent.type == "sending")
        ).all()
    assert sorted(sending) == sorted(ids)
