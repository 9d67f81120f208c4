"""render.tracking: which links go through the redirect, and that nothing else changes."""

from __future__ import annotations

from render.tracking import track_html


def wrap(url: str) -> str:
    return f"https://t.example/c?{url}"


def test_web_links_are_wrapped_whatever_their_quoting_and_others_stay() -> None:
    markup = (
        '<p><a title="a>b" href="https://x.example/?a=1&amp;b=2">x</a>'
        "<A HREF='http://y.example/'>y</A><a href=https://z.example/z>z</a>"
        '<a href="mailto:a@example.com">m</a><a href="tel:+1555">t</a><a href="#top">#</a>'
        '<a href="/relative">r</a><a href="https://x.example/unsubscribe?u=1">u</a>'
        '<a name="no-href">n</a></p>'
    )
    out = track_html(markup, click_url=wrap)
    assert '<a title="a>b" href="https://t.example/c?https://x.example/?a=1&amp;b=2">' in out
    assert '<A HREF="https://t.example/c?http://y.example/">' in out
    assert '<a href="https://t.example/c?https://z.example/z">' in out
    for kept in ("mailto:a@example.com", "tel:+1555", '"#top"', '"/relative"', "unsubscribe?u=1"):
        assert kept in out and f"c?{kept.strip(chr(34))}" not in out
    assert '<a name="no-href">' in out


def test_the_pixel_goes_before_the_body_end_and_nothing_changes_without_urls() -> None:
    markup = "<html><body><p>Hi</p></body></html>"
    assert track_html(markup) == markup
    out = track_html(markup, open_url="https://t.example/o/x.gif?a=1&b=2")
    assert out.startswith('<html><body><p>Hi</p><img src="https://t.example/o/x.gif?a=1&amp;b=2"')
    assert out.endswith("</body></html>")
    assert track_html("<p>Hi</p>", open_url="https://t.example/o.gif").startswith("<p>Hi</p><img ")


def test_a_link_the_maker_declines_stays() -> None:
    markup = '<a href="https://t.example/t/c/abc">x</a><a href="https://y.example/">y</a>'
    out = track_html(markup, click_url=lambda u: None if u.startswith("https://t.") else wrap(u))
    assert out == markup.replace('"https://y.example/"', '"https://t.example/c?https://y.example/"')
