"""Rate limits shared by API processes through Redis (RATELIMIT_STORAGE_URI=redis://...)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from api import create_app
from tests.conftest import Keys

REDIS_URL = os.environ.get("MAILROOM_TEST_REDIS", "redis://127.0.0.1:6379")


def instance(sqlite_url: str, storage_root: Path, storage_uri: str) -> Flask:
    """One API process's app: its own Limiter, on the shared database."""
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "RATE_LIMIT": "3/minute",
            "RATELIMIT_STORAGE_URI": storage_uri,
        }
    )


def statuses(one: Flask, two: Flask, header: dict[str, str]) -> list[int]:
    """Requests alternating between the two instances with one key."""
    return [
        app.test_client().get("/emails", headers=header).status_code
        for app in (one, two, one, two, one)
    ]


@pytest.mark.redis
def test_two_instances_share_one_budget_through_redis(sqlite_url: str, storage_root: Path) -> None:
    one = instance(sqlite_url, storage_root, REDIS_URL)
    two = instance(sqlite_url, storage_root, REDIS_URL)
    header = Keys(one).header("read")  # a fresh key: its counter starts at zero in Redis
    assert statuses(one, two, header) == [200, 200, 200, 429, 429]
    limited = two.test_client().get("/emails", headers=header)
    assert limited.get_json()["error"] == "rate limit exceeded: 3 per 1 minute"


def test_memory_storage_counts_per_instance(sqlite_url: str, storage_root: Path) -> None:
    """The control: with memory:// each instance has its own three requests."""
    one = instance(sqlite_url, storage_root, "memory://")
    two = instance(sqlite_url, storage_root, "memory://")
    header = Keys(one).header("read")
    assert statuses(one, two, header) == [200, 200, 200, 200, 200]
