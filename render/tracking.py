"""Open and click tracking applied to finished HTML: links through a redirect, a pixel at the end.

Pure string work on the HTML `finalize` produced, touching only the href of each <a> start
tag and the end of the body, so everything else stays byte for byte; the URLs come from the
caller, so this module knows nothing of tokens, settings or HTTP.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

# An <a ...> start tag (quoted values may hold ">"), and the href inside one, its value
# double-quoted, single-quoted or bare (a caller's own HTML reaches here as written when
# there is no CSS to inline).
_ANCHOR = re.compile(r"""<a\s(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# Only web links are tracked: mailto:, tel:, anchors and relative links stay as they are.
_TRACKED_SCHEMES = ("http://", "https://")
# A link whose text or URL says unsubscribe must keep working without our redirect (and
# mail providers' scanners treat a redirected unsubscribe link as suspicious).
_UNSUBSCRIBE = re.compile(r"unsubscribe|list-unsubscribe|opt-?out", re.IGNORECASE)


def is_trackable(url: str) -> bool:
    """Whether a link goes through the click redirect."""
    lowered = url.strip().lower()
    return lowered.startswith(_TRACKED_SCHEMES) and not _UNSUBSCRIBE.search(lowered)


def track_html(
    markup: str,
    *,
    click_url: Callable[[str], str | None] | None = None,
    open_url: str | None = None,
) -> str:
    """`markup` with each trackable link replaced by `click_url(original)` (when given; a None
    from it leaves that link) and a 1x1 image of `open_url` before `</body>` (when given);
    everything else unchanged."""
    if click_url is not None:
        markup = _ANCHOR.sub(lambda tag: _rewrite_anchor(tag.group(0), click_url), markup)
    if open_url is not None:
        pixel = (
            f'<img src="{html_lib.escape(open_url)}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0">'
        )
        ends = list(_BODY_END.finditer(markup))
        if ends:
            at = ends[-1].start()
            markup = markup[:at] + pixel + markup[at:]
        else:
            markup += pixel
    return markup


def _rewrite_anchor(tag: str, click_url: Callable[[str], str | None]) -> str:
    def swap(match: re.Match[str]) -> str:
        value = next(v for v in match.groups()[1:] if v is not None)
        original = html_lib.unescape(value)
        tracked = click_url(original) if is_trackable(original) else None
        if tracked is None:
            return match.group(0)
        return f'{match.group(1)}"{html_lib.escape(tracked)}"'

    return _HREF.sub(swap, tag, count=1)
