"""The `mailroom` command as operators run it: a real process on a configured database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from api import create_app

MAILROOM = str(Path(sys.executable).parent / "mailroom")


def run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [MAILROOM, *args],
        env={**os.environ, "MAILROOM_ENV_FILE": "/dev/null", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
    }


def app_on(env: dict[str, str]) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": env["DATABASE_URL"]})


def test_keys_create_prints_the_key_alone_on_the_last_line(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    out = run(env, "keys", "create", "--name", "billing", "--scopes", "send,read").stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("mr_") and " " not in key

    client = app_on(env).test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/emails", headers=auth).status_code == 200
    assert client.get("/emails", headers={"Authorization": f"Bearer {key}x"}).status_code == 401

    listed = run(env, "keys", "list").stdout
    prefix = key.split("_")[1]
    assert prefix in listed and "billing" in listed and "send,read" in listed
    assert key.split("_", 2)[2] not in listed  # the secret is never shown again

    run(env, "keys", "revoke", prefix)
    assert client.get("/emails", headers=auth).status_code == 401
    assert "revoked" in run(env, "keys", "list").stdout


def test_keys_are_stored_hashed(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    key = run(env, "keys", "create", "--name", "x", "--scopes", "admin").stdout.split()[-1]
    raw = Path(env["DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    assert key.split("_", 2)[2].encode() not in raw


def test_bad_scopes_and_unknown_prefix_fail_clearly(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    bad = run(env, "keys", "create", "--name", "x", "--scopes", "send,root", ok=False)
    assert bad.returncode != 0 and "unknown scopes root" in bad.stderr
    missing = run(env, "keys", "revoke", "nope", ok=False)
    assert missing.returncode == 1 and "no key with prefix nope" in missing.stderr
