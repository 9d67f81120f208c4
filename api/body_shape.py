"""Request JSON that Python's parser reads without recursing too deep or refusing a number.

``json.loads`` recurses once per ``[`` or ``{``: a body of 100,000 ``[`` (300 kB) raises
RecursionError, and an integer of more than 4,300 digits raises a ValueError that JSON
parsers further on (webargs, the SNS parser) do not expect: both were 500s. This check runs
before any view, on every body that may be JSON (the webhooks' too, whatever their content
type), and answers a 400 in the path's error shape instead.

It costs a few C-speed passes over the body, and nothing more when the body holds fewer
brackets than the depth allowed (most do).
"""

from __future__ import annotations

import re
import sys
from itertools import accumulate

from flask import Flask, request

from api.errors import BadRequest

MAX_DEPTH = 100  # a Draft.js document in a nested template value is about 8 deep
MAX_DIGITS = sys.get_int_max_str_digits() or 4300  # what int() of a decimal string takes
DEPTH_MESSAGE = f"request body: JSON nested more than {MAX_DEPTH} levels deep"
DIGITS_MESSAGE = f"request body: a number has more than {MAX_DIGITS} digits"

_LONG_NUMBER = re.compile(rb"\d{%d}" % (MAX_DIGITS + 1))
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_STEP = tuple(1 if byte == ord("[") else -1 if byte == ord("]") else 0 for byte in range(256))
_JSON_TYPES = frozenset({"text/plain", ""})  # SNS posts JSON as text/plain


def check_body_shape(raw: bytes) -> None:
    """Raise BadRequest when ``raw`` nests deeper than MAX_DEPTH or holds a number of more
    than MAX_DIGITS digits; anything else (malformed JSON too) is the parser's to judge."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH and len(raw) <= MAX_DIGITS:
        return
    # Strings are text: their brackets and digits do not count. Once escaped backslashes
    # and quotes are gone, every '"' opens or closes one, so every other piece is outside.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b" ".join(unescaped.split(b'"')[::2])
    if _LONG_NUMBER.search(outside):
        raise BadRequest(DIGITS_MESSAGE)
    if _depth(outside.translate(_AS_SQUARE, _NOT_BRACKETS)) > MAX_DEPTH:
        raise BadRequest(DEPTH_MESSAGE)


def _depth(brackets: bytes) -> int:
    """How deep ``brackets`` (only "[" and "]") nest: each round of removing the innermost
    pairs is one level (a few C-speed passes for a usual body), then whatever is left
    unpaired (an unclosed run) counts by its prefix."""
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
        depth += 1
    if brackets:
        depth += max(0, *accumulate(map(_STEP.__getitem__, brackets)))
    return depth


def init_body_shape_check(app: Flask) -> None:
    """Check every body that may be JSON before a view parses it."""

    @app.before_request
    def _refuse_unparseable_json() -> None:
        if not request.is_json and request.mimetype not in _JSON_TYPES:
            return  # forms, uploads and CSV streams are no JSON
        if not request.content_length and request.mimetype == "":
            return
        check_body_shape(request.get_data(cache=True))
