"""A sender's signature appended to both parts of an email.

HTML: inside the body, before ``</body>`` when the markup is a whole document, else at the end.
Text: after the usual signature separator, a line holding ``-- `` (RFC 3676 4.3), which mail
clients recognise to fold or grey out what follows and to leave out of replies.
"""

from __future__ import annotations

import html as html_lib
import re

from render.text import html_to_text

Signature = tuple[str | None, str | None]
SEPARATOR = "\n-- \n"

_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
# A signature saved with its own separator must not get a second one.
_OWN_SEPARATOR = re.compile(r"\A--[ \t]*\r?\n")


def complete(signature: Signature | None) -> Signature:
    """Both halves: text derived from the HTML one, HTML built from the text one, when missing."""
    if signature is None:
        return None, None
    sig_html, sig_text = (part if part and part.strip() else None for part in signature)
    if sig_text is None and sig_html is not None:
        sig_text = html_to_text(sig_html) or None
    if sig_html is None and sig_text is not None:
        lines = html_lib.escape(_OWN_SEPARATOR.sub("", sig_text.strip())).splitlines()
        sig_html = "<div>" + "<br>".join(lines) + "</div>"
    return sig_html, sig_text


def append_html(markup: str, sig_html: str | None) -> str:
    """``markup`` with the signature before its last ``</body>``, or at its end."""
    if not sig_html:
        return markup
    matches = list(_BODY_CLOSE.finditer(markup))
    closing = matches[-1] if matches else None  # the last </body>
    if closing is None:
        return markup + sig_html
    return markup[: closing.start()] + sig_html + markup[closing.start() :]


def append_text(text: str, sig_text: str | None) -> str:
    """``text``, the separator line, then the signature."""
    if not sig_text:
        return text
    body = _OWN_SEPARATOR.sub("", sig_text.strip("\r\n"))
    # A blank line, then the separator line: the signature reads apart from the message.
    before = text.rstrip() + "\n" if text.strip() else ""
    return before + SEPARATOR + body
