"""Statement parameters never reach error messages (so neither logs nor stored errors)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models.db import make_engine

SECRET = "mr_prefix_the-secret-part"


@pytest.mark.parametrize(
    "which", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_failed_statement_hides_its_parameters(
    which: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if which == "sqlite" else "pg_url")
    engine = make_engine(url)
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT no_such_column FROM api_keys WHERE prefix = :p"), {"p": SECRET})
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert "parameters hidden" in str(caught.value)
    engine.dispose()
