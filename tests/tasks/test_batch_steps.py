"""The batch's set-based writes keep the chain's compare-and-set guarantees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Email, EmailStatus, SendAttempt
from providers.base import SendResult
from providers.failover import Attempt, FailoverOutcome
from tasks import batch_steps, email_store
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
    assert sorted(c.email_id for c, _ in first) == sorted(ids)
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
    assert [c.email_id for c, _ in claimed] == [ids[1]]


def test_record_writes_sent_and_recorded_under_the_claim(
    sessions: sessionmaker[Session],
) -> None:
    ids = rendered(sessions, 3)
    with sessions() as session, session.begin():
        claims = [c for c, _ in batch_steps.claim_group(session, ids)]
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
        attempts = session.scalars(select(SendAttempt.email_id)).all()
    assert status[ids[0]] == EmailStatus.SENT and recorded[ids[0]] == "sent"
    assert event_types(sessions, ids[0]) == ["sending", "sent", "recipient_rejected", "recorded"]
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
