"""Rate limits count against a key only once its secret matched; anything else counts against
the client's address, which is the proxy's unless MAILROOM_TRUSTED_PROXIES says otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from api import create_app
from tests.conftest import Keys


def limited_app(sqlite_url: str, storage_root: Path, **config: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "RATE_LIMIT": "3/minute",
            **config,
        }
    )


def forged(header: dict[str, str]) -> dict[str, str]:
    """The victim's public prefix with a made-up secret."""
    prefix = header["Authorization"].removeprefix("Bearer mr_").split("_", 1)[0]
    return {"Authorization": f"Bearer mr_{prefix}_junk"}


def test_a_forged_prefix_flood_leaves_the_victims_budget_alone(
    sqlite_url: str, storage_root: Path
) -> None:
    app = limited_app(sqlite_url, storage_root)
    client = app.test_client()
    victim = Keys(app).header("read")
    attacker = {"REMOTE_ADDR": "203.0.113.9"}

    flood = [
        client.get("/emails", headers=forged(victim), environ_base=attacker).status_code
        for _ in range(10)
    ]

    assert flood == [401, 401, 401] + [429] * 7  # limited per address, not per claimed key
    victim_calls = [
        client.get("/emails", headers=victim, environ_base={"REMOTE_ADDR": "198.51.100.2"})
        for _ in range(3)
    ]
    assert [r.status_code for r in victim_calls] == [200, 200, 200]


def test_a_verified_key_keeps_its_budget_across_addresses(
    sqlite_url: str, storage_root: Path
) -> None:
    app = limited_app(sqlite_url, storage_root)
    client = app.test_client()
    key = Keys(app).header("read")
    statuses = [
        client.get("/emails", headers=key, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
        for n in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]


def test_unauthenticated_traffic_is_limited_per_address(
    sqlite_url: str, storage_root: Path
) -> None:
    client = limited_app(sqlite_url, storage_root).test_client()

    def get(addr: str) -> int:
        return client.get("/emails", environ_base={"REMOTE_ADDR": addr}).status_code

    assert [get("203.0.113.1") for _ in range(4)] == [401, 401, 401, 429]
    assert get("203.0.113.2") == 401  # another client, its own budget


def test_without_trusted_proxies_x_forwarded_for_is_ignored(
    sqlite_url: str, storage_root: Path
) -> None:
    client = limited_app(sqlite_url, storage_root).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    statuses = [
        client.get(
            "/emails", headers={"X-Forwarded-For": f"203.0.113.{n}"}, environ_base=proxy
        ).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # a client cannot pick a fresh address per request


def test_behind_one_trusted_proxy_the_client_is_the_last_forwarded_address(
    sqlite_url: str, storage_root: Path
) -> None:
    client = limited_app(sqlite_url, storage_root, TRUSTED_PROXIES=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.5"}

    def get(forwarded: str) -> int:
        return client.get(
            "/emails", headers={"X-Forwarded-For": forwarded}, environ_base=proxy
        ).status_code

    # The client wrote the first address itself; our proxy appended the one it saw.
    assert [get(f"1.2.3.{n}, 203.0.113.7") for n in range(4)] == [401, 401, 401, 429]
    assert get("203.0.113.8") == 401  # another client behind the same proxy
