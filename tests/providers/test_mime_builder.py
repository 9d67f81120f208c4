from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.base import Attachment, OutboundEmail
from providers.mime import build_mime, message_bytes, to_bytes
from tests.providers.provider_testkit import HARD_CASES, MessageFactory, rfc_addresses
from tests.providers.provider_testkit import make_message as build_message


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_text_and_html_make_an_alternative_inside_mixed_with_the_attachment(
    make_message: MessageFactory,
) -> None:
    msg = parse(to_bytes(build_mime(make_message())))

    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and text.get_content().strip() == "Thanks for your order."
    assert html is not None and html.get_content().strip() == "<p>Thanks for your order.</p>"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "receipt.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake"


def test_headers_are_set_and_bcc_is_nowhere(make_message: MessageFactory) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    raw = to_bytes(build_mime(make_message(), date=when))
    msg = parse(raw)

    assert msg["From"] == "Mailroom <sender@example.com>"
    assert msg["To"] == "alice@example.com"
    assert msg["Cc"] == "carol@example.com"
    assert msg["Reply-To"] == "support@example.com"
    assert msg["Message-ID"] == "<receipt-1@mailroom.test>"
    assert msg["Date"].datetime == when
    assert msg["X-Campaign"] == "spring"
    assert msg["Bcc"] is None
    assert b"bob-hidden" not in raw
    # Tags are Mailroom's business, not the recipient's.
    assert b"tag-receipts" not in raw
    assert msg.get_all("MIME-Version") == ["1.0"]
    assert raw.count(b"MIME-Version") == 1


def test_serialized_with_crlf_and_pure_ascii(make_message: MessageFactory) -> None:
    raw = to_bytes(build_mime(make_message(subject="Grüße", text="naïve café", html=None)))

    raw.decode("ascii")  # 7bit: quoted-printable/base64 bodies, RFC 2047 headers
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_non_ascii_subject_and_filename_round_trip(make_message: MessageFactory) -> None:
    message = make_message(
        subject="Ihre Rechnung für März — 10 €",
        attachments=(Attachment("Übersicht März.csv", "text/csv", b"a;b\n1;2\n"),),
    )
    raw = to_bytes(build_mime(message))
    msg = parse(raw)

    assert msg["Subject"] == "Ihre Rechnung für März — 10 €"
    assert b"=?utf-8?" in raw  # RFC 2047 encoded word
    attachment = list(msg.iter_attachments())[0]
    assert attachment.get_filename() == "Übersicht März.csv"
    assert b"filename*=utf-8''%C3%9Cbersicht%20M%C3%A4rz.csv" in raw  # RFC 2231
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == b"a;b\n1;2\n"


def test_only_html_gives_a_single_html_part(make_message: MessageFactory) -> None:
    msg = parse(to_bytes(build_mime(make_message(text=None, attachments=()))))

    assert msg.get_content_type() == "text/html"
    assert "<p>Thanks" in msg.get_content()


def test_only_text_without_attachments_is_a_single_text_part(make_message: MessageFactory) -> None:
    msg = parse(to_bytes(build_mime(make_message(html=None, attachments=()))))

    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().strip() == "Thanks for your order."


def test_several_recipients_are_listed_in_to(make_message: MessageFactory) -> None:
    message = make_message(to=('"Doe, Jane" <jane@example.com>', "joe@example.com"), cc=())
    msg = parse(to_bytes(build_mime(message)))

    assert [a.addr_spec for a in msg["To"].addresses] == ["jane@example.com", "joe@example.com"]
    assert msg["To"].addresses[0].display_name == "Doe, Jane"
    assert msg["Cc"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nX-Injected: 1"},
        {"to": ("alice@example.com\r\nBcc: victim@example.com",)},
        {"cc": ("carol@example.com\n",)},
        {"bcc": ("bob@example.com\r",)},
        {"from_addr": "sender@example.com\r\nX-Injected: 1"},
        {"reply_to": "support@example.com\nX-Injected: 1"},
        {"headers": (("X-Campaign", "spring\r\nBcc: victim@example.com"),)},
        {"message_id": "<id@x>\r\nX-Injected: 1"},
        {"attachments": (Attachment("a\r\n.pdf", "application/pdf", b"x"),)},
    ],
)
def test_line_breaks_anywhere_in_headers_are_refused(
    make_message: MessageFactory, overrides: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="line break|angle brackets"):
        build_mime(make_message(**overrides))


@pytest.mark.parametrize(
    "headers",
    [
        (("Bcc", "victim@example.com"),),
        (("content-type", "text/plain"),),
        (("Bad Name", "x"),),
        (("X-Colon:", "x"),),
    ],
)
def test_reserved_or_malformed_extra_headers_are_refused(
    make_message: MessageFactory, headers: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(ValueError, match="header"):
        build_mime(make_message(headers=headers))


def test_message_id_without_angle_brackets_is_refused(make_message: MessageFactory) -> None:
    with pytest.raises(ValueError, match="angle brackets"):
        build_mime(make_message(message_id="receipt-1@mailroom.test"))


def test_invalid_attachment_content_type_is_refused(make_message: MessageFactory) -> None:
    with pytest.raises(ValueError, match="content type"):
        build_mime(make_message(attachments=(Attachment("a.bin", "pdf", b"x"),)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": ("josé@example.com",)},
        {"bcc": ("a@exämple.com",)},
        {"from_addr": "Zoë <zoë@example.com>"},
    ],
)
def test_non_ascii_mailboxes_are_refused(
    make_message: MessageFactory, overrides: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="non-ASCII email addresses"):
        build_mime(make_message(**overrides))


def test_non_ascii_display_names_are_encoded(make_message: MessageFactory) -> None:
    raw = to_bytes(build_mime(make_message(from_addr="Zoë Müller <zoe@example.com>")))

    assert parse(raw)["From"].addresses[0].display_name == "Zoë Müller"
    assert b"<zoe@example.com>" in raw


# The direct writer (`message_bytes`) must say exactly what the email package's builder says.
BODIES = ["", "Thanks.", "x" * 200, "naïve café\n-- \nsig", "😀 emoji " * 30, "a\r\nb\rc", ".\n"]
SUBJECTS = ["Hi", "Grüße aus Köln", "x " * 60, "Ω" * 100, "a" * 120, "two  spaces  " * 10]
SENDERS = [
    "Mailroom <sender@example.com>",
    "Jöhn Dœ <j@example.com>",
    '"Doe, John" <j@example.com>',
]


def _summary(msg: EmailMessage) -> tuple[object, ...]:
    parts = [
        (p.get_content_type(), p.get_content(), p["Content-Transfer-Encoding"])
        for p in msg.walk()
        if not p.is_multipart()
    ]
    headers = sorted((k, str(v)) for k, v in msg.items() if k != "Content-Type")
    return msg.get_content_type(), parts, headers


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("sender", SENDERS)
def test_the_direct_writer_matches_the_email_package(
    make_message: MessageFactory, body: str, subject: str, sender: str
) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    for text, html in ((body, None), (None, f"<p>{body}</p>"), (body, f"<p>{body}</p>")):
        message = make_message(
            from_addr=sender,
            to=("alice@example.com", "Ünï <v@example.org>"),
            subject=subject,
            text=text,
            html=html,
            headers=(("X-Campaign", "spring"), ("X-Note", "héllo")),
            attachments=(),
        )
        raw = message_bytes(message, date=when)
        msg = parse(raw)
        assert _summary(msg) == _summary(parse(to_bytes(build_mime(message, date=when))))
        assert not msg.defects and not any(p.defects for p in msg.walk())
        assert raw.isascii() and b"bob-hidden" not in raw
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert str(msg["Subject"]) == subject


def test_the_direct_writer_leaves_attachments_to_the_email_package(
    make_message: MessageFactory,
) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    message = make_message()
    assert message.attachments
    assert _summary(parse(message_bytes(message, date=when))) == _summary(
        parse(to_bytes(build_mime(message, date=when)))
    )


def test_the_direct_writer_refuses_what_the_builder_refuses(make_message: MessageFactory) -> None:
    with pytest.raises(ValueError, match="line break"):
        message_bytes(make_message(subject="Hi\r\nBcc: x@example.com", attachments=()))


@pytest.mark.parametrize("subject", ["a" * 200, "a" * 990, "word " * 3 + "b" * 300])
def test_the_direct_writer_never_writes_a_line_over_78_for_long_words(
    make_message: MessageFactory, subject: str
) -> None:
    raw = message_bytes(make_message(subject=subject, attachments=()))
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in header.split(b"\r\n")) <= 78
    assert str(parse(raw)["Subject"]) == subject


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
def test_every_line_separator_is_refused_in_headers(
    make_message: MessageFactory, separator: str
) -> None:
    with pytest.raises(ValueError, match="line break"):
        message_bytes(make_message(subject=f"Hi{separator}there", attachments=()))
    with pytest.raises(ValueError, match="line break"):
        message_bytes(make_message(headers=(("X-Note", f"a{separator}b"),), attachments=()))


ADDRESS_HEADERS = (("From", "from_addr"), ("To", "to"), ("Cc", "cc"), ("Reply-To", "reply_to"))


def expected_addresses(message: OutboundEmail, field: str) -> list[tuple[str, str]]:
    value = getattr(message, field)
    values = [value] if isinstance(value, str) else list(value or ())
    return [parseaddr(v) for v in values]


@pytest.mark.parametrize("case", list(HARD_CASES))
def test_addresses_and_message_ids_are_never_encoded_by_either_writer(
    make_message: MessageFactory, case: str
) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    message = make_message(attachments=(), **HARD_CASES[case])
    direct = message_bytes(message, date=when)
    general = to_bytes(build_mime(message, date=when))
    for raw in (direct, general):
        msg = parse(raw)
        assert not msg.defects and not any(p.defects for p in msg.walk())
        assert raw.isascii()
        for header, field in ADDRESS_HEADERS:
            expected = expected_addresses(message, field)
            assert rfc_addresses(raw, header) == expected, header
            parsed = msg[header].addresses if msg[header] is not None else ()
            assert [a.addr_spec for a in parsed] == [addr for _, addr in expected], header
            for _, addr in expected:
                assert f"{addr}".encode() in raw  # written as it is, never encoded
        assert msg["Message-ID"].strip() == message.message_id
        assert message.message_id.encode() in raw
        assert str(msg["Subject"]) == message.subject
        for name, value in message.headers:
            assert str(msg[name]) == value
            if not name.lower().startswith("x-"):
                assert re.sub(rb"\r\n ", b" ", raw).count(value.encode()) == 1
        header_block = raw.split(b"\r\n\r\n", 1)[0]
        for line in header_block.split(b"\r\n"):
            # Past 78 columns only for a word that no line can hold (an address, a URL).
            assert len(line) <= 78 or max(len(w) for w in line.split(b" ")) >= 72, line
            assert len(line) <= 998
    assert _summary(parse(direct))[:2] == _summary(parse(general))[:2]


NAME_CHARS = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="\x85"
)
LOCAL_PARTS = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,62}[a-z0-9]", fullmatch=True).filter(
    lambda s: ".." not in s
)
DOMAINS = st.from_regex(
    r"(xn--)?[a-z0-9]{1,40}(\.[a-z0-9-]{1,30}[a-z0-9])?\.[a-z]{2,6}", fullmatch=True
)


@st.composite
def mailboxes(draw: st.DrawFn) -> str:
    addr = f"{draw(LOCAL_PARTS)}@{draw(DOMAINS)}"
    name = draw(st.text(NAME_CHARS, max_size=60)).strip()
    return str(HeaderAddress(display_name=name, addr_spec=addr)) if name else addr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sender=mailboxes(),
    to=st.lists(mailboxes(), min_size=1, max_size=12),
    subject=st.text(NAME_CHARS, max_size=120),
)
def test_random_addresses_survive_both_writers(sender: str, to: list[str], subject: str) -> None:
    message = build_message(
        from_addr=sender, to=tuple(to), cc=(), reply_to=None, subject=subject, attachments=()
    )
    direct = message_bytes(message)
    for raw in (direct, to_bytes(build_mime(message))):
        assert rfc_addresses(raw, "From") == [parseaddr(sender)]
        assert rfc_addresses(raw, "To") == [parseaddr(v) for v in to]
        assert str(parse(raw)["Subject"]) == subject
    for line in direct.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        assert len(line) <= 78 or max(len(w) for w in line.split(b" ")) >= 72, line


@pytest.mark.parametrize(
    "to", ['"john doe"@example.com', "Jo <jo@[192.0.2.1]>", 'Ünï <"a b"@example.org>']
)
def test_addresses_the_field_writer_does_not_know_go_to_the_email_package(
    make_message: MessageFactory, to: str
) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    message = make_message(to=(to, "Zoë <z@example.com>"), html=None, attachments=())
    raw = message_bytes(message, date=when)

    assert raw == to_bytes(build_mime(message, date=when))  # text only: no random boundary
    assert [a.addr_spec for a in parse(raw)["To"].addresses] == [
        parseaddr(to)[1],
        "z@example.com",
    ]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"message_id": "<a b@example.com>"}, "printable ASCII without spaces"),
        ({"message_id": "<ünï@example.com>"}, "printable ASCII without spaces"),
        ({"headers": (("List-Unsubscribe", "<https://exämple.com/u>"),)}, "must be ASCII"),
    ],
)
def test_message_ids_and_structured_headers_are_never_encoded_so_must_be_ascii(
    make_message: MessageFactory, overrides: dict[str, object], error: str
) -> None:
    for attachments in ((), make_message().attachments):
        with pytest.raises(ValueError, match=error):
            message_bytes(make_message(attachments=attachments, **overrides))
