"""`transition`, the one UPDATE of an email's status: set-based, compare-and-set, held to the
transition table, with one callback delivery per moved email and endpoint."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from models import CallbackDelivery, EmailStatus, WebhookEndpoint
from store import outbox
from store.outbox import PENDING_KEY, forget_endpoints
from store.tables import EMAILS
from store.transitions import per_email, transition
from tests.store.emails import make_email, rows

S = EmailStatus


def statuses(sessions: sessionmaker[Session], ids: list[uuid.UUID]) -> dict[uuid.UUID, S]:
    return {eid: email.status for eid, email in rows(sessions, ids).items()}


def test_only_rows_in_an_expected_state_move_and_are_returned(
    sessions: sessionmaker[Session],
) -> None:
    queued = [make_email(sessions, status=S.QUEUED, send_tries=n) for n in range(3)]
    rendered = make_email(sessions, status=S.RENDERED)
    failed = make_email(sessions, status=S.FAILED)
    ids = [*queued, rendered, failed, uuid.uuid4()]  # and one that does not exist
    with sessions() as session, session.begin():
        moved = transition(
            session,
            ids,
            expected=[S.QUEUED],
            to=S.RENDERED,
            where=[EMAILS.c.send_tries < 2],
            returning=[EMAILS.c.send_tries],
        )
    assert sorted((r[0], r[1]) for r in moved) == sorted([(queued[0], 0), (queued[1], 1)])
    assert statuses(sessions, ids) == {
        queued[0]: S.RENDERED,
        queued[1]: S.RENDERED,
        queued[2]: S.QUEUED,  # in the expected state, but not matching `where`
        rendered: S.RENDERED,
        failed: S.FAILED,
    }
    # A second pass finds nothing left to move.
    with sessions() as session, session.begin():
        assert transition(session, ids, expected=[S.QUEUED], to=S.RENDERED, where=[]) == [
            (queued[2],)
        ]
        assert transition(session, ids, expected=[S.QUEUED], to=S.RENDERED) == []


def test_values_without_a_status_change_leave_the_status(sessions: sessionmaker[Session]) -> None:
    a, b = (make_email(sessions, status=S.RENDERED) for _ in range(2))
    c = make_email(sessions, status=S.SENT)
    with sessions() as session, session.begin():
        moved = transition(
            session, [a, b, c], expected=[S.RENDERED], values={"last_error": "noted"}
        )
    assert sorted(r[0] for r in moved) == sorted([a, b])
    found = rows(sessions, [a, b, c])
    assert {eid: (e.status, e.last_error) for eid, e in found.items()} == {
        a: (S.RENDERED, "noted"),
        b: (S.RENDERED, "noted"),
        c: (S.SENT, None),
    }


def test_per_email_values_land_on_their_own_rows(sessions: sessionmaker[Session]) -> None:
    ids = [make_email(sessions, status=S.QUEUED, subject=f"old {n}") for n in range(3)]
    subjects = {ids[0]: "new 0", ids[1]: "new 1", ids[2]: "new 2"}
    with sessions() as session, session.begin():
        transition(
            session,
            ids,
            expected=[S.QUEUED],
            to=S.RENDERED,
            values={"subject": per_email("subject", subjects)},
        )
    assert {eid: e.subject for eid, e in rows(sessions, ids).items()} == subjects


def test_a_subset_mapping_leaves_the_others_columns_alone(
    sessions: sessionmaker[Session],
) -> None:
    ids = [make_email(sessions, status=S.QUEUED, subject=f"old {n}") for n in range(3)]
    # One value for a subset: it must not spread to the rows the mapping does not name.
    same = {ids[0]: "new", ids[2]: "new"}
    manifests = {ids[1]: [{"key": "k", "size": 3}]}
    with sessions() as session, session.begin():
        moved = transition(
            session,
            ids,
            expected=[S.QUEUED],
            to=S.RENDERED,
            values={
                "subject": per_email("subject", same, ids),
                "attachment_manifest": per_email("attachment_manifest", manifests, ids),
            },
        )
    assert len(moved) == 3
    found = rows(sessions, ids)
    assert [found[eid].subject for eid in ids] == ["new", "old 1", "new"]
    assert [found[eid].attachment_manifest for eid in ids] == [
        None,
        [{"key": "k", "size": 3}],
        None,
    ]


def test_a_move_the_table_forbids_is_refused(sessions: sessionmaker[Session]) -> None:
    sent = make_email(sessions, status=S.SENT)
    queued = make_email(sessions, status=S.QUEUED)
    with sessions() as session, session.begin():
        # Backwards: nothing moves, even when the caller lists the state as expected.
        assert transition(session, [sent], expected=[S.SENT], to=S.QUEUED) == []
        # Listed beside an allowed move, the forbidden one is dropped, the allowed one runs.
        moved = transition(session, [sent, queued], expected=[S.SENT, S.QUEUED], to=S.RENDERED)
    assert [r[0] for r in moved] == [queued]
    assert statuses(sessions, [sent, queued]) == {sent: S.SENT, queued: S.RENDERED}
    for final in (S.FAILED, S.COMPLAINED, S.SUPPRESSED):
        eid = make_email(sessions, status=final)
        with sessions() as session, session.begin():
            for target in S:
                assert transition(session, [eid], expected=[final], to=target) == []
        assert statuses(sessions, [eid]) == {eid: final}


def add_endpoint(sessions: sessionmaker[Session], events: list[str]) -> uuid.UUID:
    endpoint = WebhookEndpoint(url="http://127.0.0.1:9/hook", events=events, secret="s")
    with sessions() as session, session.begin():
        session.add(endpoint)
    forget_endpoints()  # the process caches the list for a second
    return endpoint.id


def deliveries(sessions: sessionmaker[Session]) -> list[CallbackDelivery]:
    with sessions() as session:
        return list(session.scalars(select(CallbackDelivery)))


@pytest.mark.parametrize("wanted", [[], ["rendered"]])
def test_each_moved_email_gets_one_callback_delivery(
    sessions: sessionmaker[Session], wanted: list[str]
) -> None:
    endpoint = add_endpoint(sessions, wanted)
    queued = [make_email(sessions, status=S.QUEUED) for _ in range(3)]
    sent = make_email(sessions, status=S.SENT)
    with sessions() as session, session.begin():
        transition(session, [*queued, sent], expected=[S.QUEUED, S.SENT], to=S.RENDERED)
        pending = list(session.info[PENDING_KEY])
    found = deliveries(sessions)
    assert sorted(d.email_id for d in found) == sorted(queued)
    assert sorted(pending) == sorted(d.id for d in found)
    for d in found:
        assert (d.endpoint_id, d.event, d.state, d.attempts) == (endpoint, "rendered", "pending", 0)
        assert d.payload["emailId"] == str(d.email_id) and d.payload["status"] == "rendered"
    # No status change (only columns), or nothing moved: no delivery.
    with sessions() as session, session.begin():
        transition(session, queued, expected=[S.RENDERED], values={"last_error": "x"})
        transition(session, queued, expected=[S.QUEUED], to=S.RENDERED)
    assert len(deliveries(sessions)) == 3


def test_an_endpoint_gets_only_the_statuses_it_asked_for(
    sessions: sessionmaker[Session],
) -> None:
    add_endpoint(sessions, ["failed"])
    ids = [make_email(sessions, status=S.QUEUED) for _ in range(2)]
    with sessions() as session, session.begin():
        transition(session, ids, expected=[S.QUEUED], to=S.RENDERED)
    assert deliveries(sessions) == []
    with sessions() as session, session.begin():
        transition(session, ids, expected=[S.RENDERED], to=S.FAILED)
    assert sorted((d.email_id, d.event) for d in deliveries(sessions)) == sorted(
        (eid, "failed") for eid in ids
    )


def test_no_delivery_without_an_endpoint(sessions: sessionmaker[Session]) -> None:
    ids = [make_email(sessions, status=S.QUEUED) for _ in range(2)]
    with sessions() as session, session.begin():
        assert len(transition(session, ids, expected=[S.QUEUED], to=S.RENDERED)) == 2
    assert deliveries(sessions) == []


def test_a_rolled_back_transition_leaves_no_delivery(sessions: sessionmaker[Session]) -> None:
    add_endpoint(sessions, [])
    eid = make_email(sessions, status=S.QUEUED)
    with sessions() as session:
        assert transition(session, [eid], expected=[S.QUEUED], to=S.RENDERED)
        session.rollback()
    assert deliveries(sessions) == []
    assert statuses(sessions, [eid]) == {eid: S.QUEUED}


def test_a_status_change_survives_an_endpoint_deleted_elsewhere(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API deletes an endpoint and forgets it in its own process; a worker's cached list
    (a second long) still names it. The worker's status change must still commit: it records
    provider acceptances, and one left unrecorded is sent again once its claim expires."""
    monkeypatch.setattr(outbox, "ENDPOINT_CACHE_SECONDS", 3600.0)  # this process is the worker
    endpoint = add_endpoint(sessions, [])
    first, second = (make_email(sessions, status=S.QUEUED) for _ in range(2))
    with sessions() as session, session.begin():
        transition(session, [first], expected=[S.QUEUED], to=S.RENDERED)  # caches the list
    with sessions() as session, session.begin():
        session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint))

    with sessions() as session, session.begin():
        moved = transition(session, [second], expected=[S.QUEUED], to=S.RENDERED)

    assert [r[0] for r in moved] == [second]
    assert statuses(sessions, [second]) == {second: S.RENDERED}
    assert deliveries(sessions) == []  # the first's went with its endpoint
