"""Request JSON that is valid Unicode and can be stored, or a 400.

JSON may spell a lone UTF-16 surrogate (`"\\ud800"`), which Python decodes into a string that
no encoder accepts: left in, it would fail far from the request (in the database driver, the
HTML cleaner, the MIME writer) as a 500. Refusing it before any view parses the body gives
the client a 400 in the envelope and leaves nothing stored.

A NUL (`"\\u0000"`) is valid Unicode, but PostgreSQL refuses it in any text column: anywhere in
the body (an HTML part, a variable) it is a 400 naming where it is, as a NUL in a header
field is (api/header_text.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, request

from api.errors import BadRequest
from api.header_text import character_error, shown

# What a surrogate can look like in a JSON body: an escape, or (Python's JSON decoder passes
# them) the three UTF-8-style bytes of one. Only a body that has one is decoded and walked.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON can only spell a NUL as an escape (a raw control character in a string is malformed).
_MAYBE_NUL = re.compile(rb"\\u0000")
MESSAGE = "request body: a string holds a lone UTF-16 surrogate, which is not valid Unicode"


def init_unicode_check(app: Flask) -> None:
    """Refuse JSON bodies whose strings are not valid Unicode."""

    @app.before_request
    def _refuse_lone_surrogates_and_nul() -> None:
        if not request.is_json:
            return
        raw = request.get_data(cache=True)
        maybe_surrogate = _MAYBE_SURROGATE.search(raw) is not None
        maybe_nul = _MAYBE_NUL.search(raw) is not None
        if not (maybe_surrogate or maybe_nul):
            return
        try:
            data = json.loads(raw)
        except ValueError:
            return  # malformed JSON: the view's parser answers that one
        if maybe_surrogate and _holds_lone_surrogate(data):
            raise BadRequest(MESSAGE)
        where = _where_nul(data, "") if maybe_nul else None
        if where is not None:
            raise BadRequest(character_error(where or "request body", "\x00"))


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_LONE_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def _where_nul(value: Any, path: str) -> str | None:
    """The path (`recipients[2].variables.NAME`) of the first string holding a NUL, if any.

    The body's depth is bounded before this runs (api/body_shape.py), so recursion is safe.
    """
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{shown(key)}" if path else shown(key)
            if "\x00" in key:
                return inner
            if (found := _where_nul(item, inner)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _where_nul(item, f"{path}[{index}]")) is not None:
                return found
    return None
