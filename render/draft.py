"""Draft.js raw content state (``{"blocks": [...], "entityMap": {...}}``) to HTML.

The state comes as an object or as its JSON text, which is what the RFC's
``FormattedVar.content: string`` carries (``JSON.stringify(convertToRaw(state))``).

One exporter for the process, on draftjs_exporter's string engine: it builds no DOM tree,
so it is the fastest of its engines and needs neither lxml nor html5lib.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from draftjs_exporter.constants import BLOCK_TYPES, ENTITY_TYPES, INLINE_STYLES
from draftjs_exporter.defaults import BLOCK_MAP, STYLE_MAP
from draftjs_exporter.dom import DOM
from draftjs_exporter.engines.string import DOMString
from draftjs_exporter.error import ExporterException
from draftjs_exporter.html import HTML

from render.errors import RenderError
from render.html_clean import URL_SCHEMES, clean_html
from render.lru import LRU

# Draft.js editors nest lists a handful of levels; the exporter builds one wrapper per level,
# so an absurd depth would be a cheap way to burn CPU.
MAX_DEPTH = 10
# The exporter's work grows with the square of a block's style and entity ranges (8,000 in
# one block take most of a second): a block has at most this many, a document ten times it.
MAX_BLOCK_RANGES = 1_000
MAX_RANGES = 10 * MAX_BLOCK_RANGES

_IMAGE_SCHEMES = frozenset({"http", "https", "cid"})
_INVISIBLE = dict.fromkeys(range(0x21))  # whitespace and control characters browsers skip


def _safe_url(url: object, schemes: frozenset[str]) -> str | None:
    """Return ``url`` if its scheme is allowed (or it is relative), else None."""
    if not isinstance(url, str):
        return None
    # Browsers ignore tabs and newlines inside a scheme ("java\tscript:"), so judge without them.
    scheme = urlsplit(url.translate(_INVISIBLE)).scheme.lower()
    if scheme and scheme not in schemes:
        return None
    return url


def _children(props: dict[str, Any]) -> Any:
    return props["children"]


def _link(props: dict[str, Any]) -> Any:
    href = _safe_url(props.get("url"), URL_SCHEMES)
    if href is None:
        return props["children"]
    return DOM.create_element("a", {"href": href}, props["children"])


def _image(props: dict[str, Any]) -> Any:
    src = _safe_url(props.get("src"), _IMAGE_SCHEMES)
    if src is None:
        return None
    alt = props.get("alt")
    return DOM.create_element("img", {"src": src, "alt": alt if isinstance(alt, str) else ""})


def _horizontal_rule(props: dict[str, Any]) -> Any:
    return DOM.create_element("hr")


_CONFIG: dict[str, Any] = {
    # Unknown block types (custom editor blocks) become paragraphs rather than an error.
    "block_map": {**BLOCK_MAP, BLOCK_TYPES.FALLBACK: "p"},
    # Unknown inline styles and entities keep their text and drop the decoration.
    "style_map": {**STYLE_MAP, INLINE_STYLES.FALLBACK: _children},
    "entity_decorators": {
        ENTITY_TYPES.LINK: _link,
        ENTITY_TYPES.IMAGE: _image,
        ENTITY_TYPES.HORIZONTAL_RULE: _horizontal_rule,
        ENTITY_TYPES.FALLBACK: _children,
    },
    "engine": DOM.STRING,
}

_EXPORTER = HTML(_CONFIG)


class DraftError(RenderError):
    """A Draft.js document the exporter cannot read; ``detail`` says what is wrong with it."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid Draft.js document: {detail}")
        self.detail = detail


# What malformed ranges and entity maps make the exporter raise (besides KeyError); anything
# else is a bug.
_EXPORT_ERRORS = (ExporterException, TypeError, ValueError, IndexError, AttributeError)


def _parse(content: object) -> object:
    """The raw state of ``content``: itself, or what its JSON text holds."""
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except ValueError as err:  # json.JSONDecodeError is one
        raise DraftError(f"content is not the JSON text of a Draft.js raw state ({err})") from err
    except RecursionError as err:  # "[[[[…" nested past the C parser's depth
        raise DraftError("content is nested too deeply") from err


def check_document(content: object) -> Mapping[str, Any]:
    """Return the raw state of ``content`` (an object or its JSON text) once its shape is
    the one the exporter trusts, so bad input is a DraftError and not a crash."""
    content = _parse(content)
    if not isinstance(content, Mapping):
        raise DraftError(
            "content must be a Draft.js raw state: an object or its JSON text, "
            '{"blocks": [...], "entityMap": {...}}'
        )
    blocks = content.get("blocks")
    if not isinstance(blocks, list):
        raise DraftError("`blocks` must be an array")
    entity_map = content.get("entityMap", {})
    if not isinstance(entity_map, Mapping):
        raise DraftError("`entityMap` must be an object")
    total = 0
    for index, block in enumerate(blocks):
        if not isinstance(block, Mapping) or not isinstance(block.get("text"), str):
            raise DraftError(f"block {index} has no text")
        depth = block.get("depth", 0)
        if type(depth) is not int or not 0 <= depth <= MAX_DEPTH:
            raise DraftError(f"block {index} depth must be 0 to {MAX_DEPTH}")
        ranges = _ranges(block)
        if ranges > MAX_BLOCK_RANGES:
            raise DraftError(
                f"block {index} has more than {MAX_BLOCK_RANGES:,} style and entity ranges"
            )
        total += ranges
        if total > MAX_RANGES:
            raise DraftError(f"the document has more than {MAX_RANGES:,} style and entity ranges")
    return content


def _ranges(block: Mapping[str, Any]) -> int:
    """How many style and entity ranges ``block`` has (a malformed list is the exporter's)."""
    return sum(
        len(ranges)
        for ranges in (block.get("inlineStyleRanges"), block.get("entityRanges"))
        if isinstance(ranges, list)
    )


# Exporting costs far more than serialising the document to find it again: bulk sends repeat
# the same document, and the export is pure. Large documents are not kept, to bound memory.
MEMO_MAX_CHARS = 32_768  # bytes of the serialised document; 256 x ~64 KB at worst
MEMO = LRU[str](256)


def draft_to_html(content: object) -> str:
    """Render a Draft.js raw content state (an object or its JSON text) to cleaned HTML."""
    key = _memo_key(content)
    if key is None or len(key) > MEMO_MAX_CHARS:
        return _export(content)
    markup = MEMO.get(key)
    if markup is None:
        markup = _export(content)
        MEMO.put(key, markup)
    return markup


def _memo_key(content: object) -> bytes | None:
    """The document serialised, or None when it cannot be.

    pickle, only ever written here and never loaded, is six times cheaper than sorted JSON
    (a fresh document pays for its key on a miss) and stricter: types and key order are kept,
    so 1, 1.0 and true differ, and so do {0: ...} and {"0": ...}. Equal bytes mean an equal
    document; a document given with its keys in another order, or as JSON text rather than
    an object, only misses.
    """
    try:
        return pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not plain data: never kept; check_document says what is wrong
        return None


def _export(content: object) -> str:
    document = check_document(content)
    # The engine is a class attribute of DOM (typed as an instance, holding a class): put ours
    # back if another exporter in the process replaced it.
    if cast(object, DOM.dom) is not DOMString:
        DOM.use(DOM.STRING)
    try:
        markup = _EXPORTER.render(document)
    except KeyError as err:
        raise DraftError(f"missing key {err}") from err
    except _EXPORT_ERRORS as err:
        raise DraftError(str(err)) from err
    return clean_html(markup, memo=False)  # draft_to_html keeps the result
