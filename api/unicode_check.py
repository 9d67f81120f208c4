"""Request JSON that is valid Unicode, or a 400.

JSON may spell a lone UTF-16 surrogate (`"\\ud800"`), which Python decodes into a string that
no encoder accepts: left in, it would fail far from the request (in the database driver, the
HTML cleaner, the MIME writer) as a 500. Refusing it before any view parses the body gives
the client a 400 in the envelope and leaves nothing stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request

from api.errors import BadRequest

# What a surrogate can look like in a JSON body: an escape, or (Python's JSON decoder passes
# them) the three UTF-8-style bytes of one. Only a body that has one is decoded and walked.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MESSAGE = "request body: a string holds a lone UTF-16 surrogate, which is not valid Unicode"


def init_unicode_check(app: Flask) -> None:
    """Refuse JSON bodies whose strings are not valid Unicode."""

    @app.before_request
    def _refuse_lone_surrogates() -> None:
        if not request.is_json:
            return
        raw = request.get_data(cache=True)
        if not _MAYBE_SURROGATE.search(raw):
            return
        try:
            data = json.loads(raw)
        except ValueError:
            return  # malformed JSON: the view's parser answers that one
        if _holds_lone_surrogate(data):
            raise BadRequest(MESSAGE)


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_LONE_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False
