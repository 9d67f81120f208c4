"""An import whose task fails for good ends `failed` with a reason, not `running` forever."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailroom.config import get_settings
from mailroom.migrate import upgrade
from models import ImportState, ListImport, RecipientList
from models.db import make_engine, make_session_factory
from tasks import list_imports, runtime


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'imports.sqlite3'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    runtime.reset()
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()
    runtime.get().engine.dispose()
    runtime.reset()
    get_settings.cache_clear()


def pending_import(session: Session) -> uuid.UUID:
    recipients = RecipientList(name="imported", member_count=0)
    session.add(recipients)
    session.flush()
    job = list_imports.create_import(session, recipients.id, b"email\nada@example.com\n")
    session.commit()
    return job.id


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (RuntimeError("boom"), "RuntimeError"),
        # Retried (autoretry_for) until max_retries, then given up.
        (
            OperationalError("SELECT 1", {}, Exception("server closed the connection")),
            "OperationalError",
        ),
    ],
)
def test_a_task_that_gives_up_fails_the_import(
    session: Session, monkeypatch: pytest.MonkeyPatch, error: Exception, name: str
) -> None:
    import_id = pending_import(session)
    runs: list[uuid.UUID] = []

    def broken(_session: Session, job: ListImport, *_: object) -> None:
        runs.append(job.id)
        raise error

    monkeypatch.setattr(list_imports, "run_import", broken)

    result = list_imports.import_list.apply((str(import_id),))

    assert result.failed()
    job = session.get(ListImport, import_id, populate_existing=True)
    assert job is not None
    assert job.state == ImportState.FAILED
    assert job.failure == (
        f"the import stopped on an unexpected error ({name}); upload the file again"
    )
    assert job.data is None and job.finished_at is not None
    assert len(runs) == (1 if name == "RuntimeError" else 1 + list_imports.import_list.max_retries)


def test_an_import_that_ended_is_left_alone(session: Session) -> None:
    import_id = pending_import(session)
    assert list_imports.import_step(import_id) == ImportState.DONE

    list_imports.fail_import(import_id, "late")

    job = session.get(ListImport, import_id, populate_existing=True)
    assert job is not None and job.state == ImportState.DONE and job.failure is None
