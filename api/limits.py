"""Request rate limits per API key (flask-limiter), answered as 429 with Retry-After."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from api.auth import verified_key

# Open endpoints that monitoring polls; limiting them would only blind the operator.
UNLIMITED_PREFIXES = ("/health", "/ready", "/metrics", "/openapi.json", "/docs")


def _limit_key() -> str:
    """The verified key's prefix (so every process agrees), else the client's address.

    Only a key whose secret matched counts against that key: `Bearer mr_<someone's
    prefix>_junk` is unauthenticated traffic, limited per address like any other. The address
    is the proxy's unless MAILROOM_TRUSTED_PROXIES says how many proxies to look behind.
    """
    key = verified_key()
    if key is not None:
        return "key:" + key.prefix
    return "ip:" + (request.remote_addr or "unknown")


def init_limits(app: Flask) -> Limiter:
    """Apply `RATE_LIMIT` (e.g. "100/second;3000/minute") to every non-public endpoint.

    Storage is `RATELIMIT_STORAGE_URI`: memory (per process) in the embedded setup, Redis or
    Memcached shared by every API process in production.
    """
    limit = app.config.get("RATE_LIMIT") or ""
    return Limiter(
        key_func=_limit_key,
        app=app,
        default_limits=[limit] if limit else [],
        storage_uri=app.config.get("RATELIMIT_STORAGE_URI") or "memory://",
        headers_enabled=True,
        default_limits_exempt_when=lambda: request.path.startswith(UNLIMITED_PREFIXES),
    )
