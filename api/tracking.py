"""`GET /t/o/<token>.gif` (the open pixel) and `GET /t/c/<token>` (the click redirect).

No API key: mail clients call these. What proves a request is ours to record is the token,
signed with MAILROOM_TRACKING_SECRET (mailroom.tracking_links); a token we did not sign is a
404 and records nothing, and the redirect goes only to the target inside a signed token, so
it cannot be used as an open redirect. An email since purged still redirects, unrecorded.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, redirect
from werkzeug.wrappers import Response as BaseResponse

from api.db import db
from api.errors import NotFound
from mailroom.tracking_links import TrackingLinks
from store.events import record_click, record_open

bp = Blueprint("tracking", __name__)

# A transparent 1x1 GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}


def _links() -> TrackingLinks:
    links = TrackingLinks.of(current_app.config["TRACKING"])
    if links is None:
        raise NotFound("Tracking is not configured")
    return links


@bp.get("/t/o/<token>.gif")
def opened(token: str) -> Response:
    """Record an open (once a minute per email) and answer the pixel."""
    email_id = _links().read_open(token)
    if email_id is None:
        raise NotFound("Unknown tracking link")
    session = db()
    record_open(session, email_id)
    session.commit()
    return Response(PIXEL, mimetype="image/gif", headers=_NO_CACHE)


@bp.get("/t/c/<token>")
def clicked(token: str) -> BaseResponse:
    """Record a click and redirect to the link's target, as the signed token names it."""
    click = _links().read_click(token)
    if click is None or not click.url.lower().startswith(("http://", "https://")):
        raise NotFound("Unknown tracking link")
    session = db()
    record_click(session, click.email_id, click.url)
    session.commit()
    answer = redirect(click.url, code=302)
    answer.headers.update(_NO_CACHE)
    return answer
