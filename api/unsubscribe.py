"""`/u/<token>`: one-click unsubscribe (RFC 8058), open to anyone holding a signed link.

Mail providers POST here without an API key when a recipient presses "Unsubscribe"; the token
(see `mailroom.unsubscribe`) is the only proof, and it names the address and the list or
sender. A GET only shows a page with a button that POSTs: link scanners follow GETs, and must
never unsubscribe anyone. Requests are rate limited per client address like any traffic
without a key.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template_string, request
from sqlalchemy import update

from api.db import db
from api.errors import BadRequest
from api.schemas import success
from mailroom.config import get_settings
from mailroom.unsubscribe import BadToken, Unsubscribe, read_token
from models import ListMember
from store.suppressions import suppress

bp = Blueprint("unsubscribe", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
</head><body style="font-family: sans-serif; max-width: 32rem; margin: 4rem auto">
<h1>{{ title }}</h1>
{% if done %}<p>{{ address }} will get no more of these emails.</p>
{% else %}<p>Stop sending these emails to {{ address }}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{% endif %}
</body></html>"""


def _read(token: str) -> Unsubscribe:
    try:
        return read_token(get_settings(), token)
    except BadToken as err:
        raise BadRequest(str(err)) from err


def _page(found: Unsubscribe, *, done: bool) -> Response:
    title = "Unsubscribed" if done else "Unsubscribe"
    html = render_template_string(_PAGE, title=title, address=found.address, done=done)
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/u/<token>")
def confirm(token: str) -> Response:
    """The confirmation page: a button that POSTs; changes nothing."""
    return _page(_read(token), done=False)


@bp.post("/u/<token>")
def unsubscribe(token: str) -> Response:
    """Suppress the token's address (source `unsubscribe`); 200 every time it is valid."""
    found = _read(token)
    session = db()
    suppress(
        session,
        found.address,
        reason="unsubscribe",
        source="unsubscribe",
        detail=f"one-click unsubscribe ({found.scope})",
    )
    # The suppression list is global (store.accept drops the address from every send), so
    # every list's member shows it, as a list import of the address would.
    session.execute(
        update(ListMember).where(ListMember.email == found.address).values(suppressed=True)
    )
    session.commit()
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return _page(found, done=True)
    return jsonify(success("Unsubscribed", {"address": found.address, "scope": found.scope}))
