"""The RFC's template requests end to end: API → RabbitMQ → worker → SMTP, message checked."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

DRAFT = {
    "blocks": [
        {
            "key": "a",
            "text": "Big news",
            "type": "header-two",
            "depth": 0,
            "inlineStyleRanges": [],
            "entityRanges": [],
        },
        {
            "key": "b",
            "text": "Read the terms",
            "type": "unstyled",
            "depth": 0,
            "inlineStyleRanges": [{"offset": 0, "length": 4, "style": "BOLD"}],
            "entityRanges": [{"offset": 9, "length": 5, "key": 0}],
        },
    ],
    "entityMap": {
        "0": {"type": "LINK", "mutability": "MUTABLE", "data": {"url": "https://example.com/terms"}}
    },
}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_rfc_requests_end_to_end(stack: Stack, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    stack.send_through_smtp(smtp_sink.port)
    terms = Path(stack.env["STORAGE_LOCAL_ROOT"]) / "legal" / "terms.pdf"
    terms.parent.mkdir(parents=True)
    terms.write_bytes(b"%PDF terms")
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()

    def create(path: str, body: dict[str, Any]) -> str:
        status, answer = stack.request("POST", path, body)
        assert status == 201, answer
        data = answer["data"]
        return str(data.get("templateId") or data.get("brandId"))

    brand = create(
        "/brands",
        {
            "name": "Acme",
            "header": "<div class='top'>ACME</div>",
            "footer": "<p class='legal'>Acme Inc.</p>",
            "css": ".top { color: #ff0000 } .legal { font-size: 10px }",
        },
    )
    welcome = create(
        "/templates",
        {
            "name": "welcome",
            "subject": "Welcome {{ CLIENT_NAME }}",
            "html": "<p>Hello {{ CLIENT_NAME }}</p>{{ BODY }}<ul>{{ ITEMS }}</ul>",
            "variables": [
                {"name": "CLIENT_NAME", "required": True},
                {"name": "BODY", "type": "html", "default": ""},
                {"name": "ITEMS", "type": "template"},
            ],
            "attachments": ["legal/terms.pdf"],
            "brandId": brand,
            "translations": {
                "es": {
                    "subject": "Bienvenido {{ CLIENT_NAME }}",
                    "html": "<p>Hola {{ CLIENT_NAME }}</p>{{ BODY }}<ul>{{ ITEMS }}</ul>",
                }
            },
        },
    )
    item = create(
        "/templates",
        {
            "name": "item",
            "subject": "-",
            "html": "<li>{{ NAME }}: {{ PRICE }}</li>",
            "variables": [{"name": "NAME"}, {"name": "PRICE"}],
            "translations": {"es": {"subject": "-", "html": "<li>{{ NAME }} a {{ PRICE }}</li>"}},
        },
    )
    news = create(
        "/templates",
        {
            "name": "news",
            "subject": "News",
            "html": "<section>{{ STORY }}</section>",
            "variables": [{"name": "STORY", "type": "draft", "required": True}],
        },
    )

    base = {"from": "Acme <hello@example.com>", "to": "ann@example.com"}
    requests: dict[str, dict[str, Any]] = {
        "standard": {
            **base,
            "templateId": welcome,
            "lang": "es",
            "variables": {"CLIENT_NAME": "Ana <3"},
        },
        "html variable": {
            **base,
            "templateId": welcome,
            "brandStyles": True,
            "variables": {
                "CLIENT_NAME": "Bo",
                "BODY": {
                    "format": "html",
                    "content": "<p class='x' onclick='evil()'>Sale <b>50%</b></p>"
                    "<script>alert(1)</script>",
                },
            },
        },
        "nested template": {
            **base,
            "templateId": welcome,
            "variables": {
                "CLIENT_NAME": "Cy",
                "ITEMS": {"templateId": item, "variables": {"NAME": "Tea", "PRICE": "3 €"}},
            },
        },
        "array of nested templates": {
            **base,
            "templateId": welcome,
            "lang": "es",
            "variables": {
                "CLIENT_NAME": "Di",
                "ITEMS": [
                    {"templateId": item, "variables": {"NAME": f"item{i}", "PRICE": i}}
                    for i in range(3)
                ],
            },
        },
        "draft": {
            **base,
            "templateId": news,
            "variables": {"STORY": {"format": "draft", "content": DRAFT}},
        },
    }
    ids = {name: stack.send(body) for name, body in requests.items()}
    finals = stack.wait_for(ids.values())
    assert {name: finals[eid]["status"] for name, eid in ids.items()} == dict.fromkeys(ids, "sent")
    got = {name: smtp_sink.by_header("X-Mailroom-Email-Id", eid) for name, eid in ids.items()}
    assert all(len(messages) == 1 for messages in got.values()), got
    msg = {name: messages[0].message for name, messages in got.items()}

    standard = msg["standard"]
    assert standard["Subject"] == "Bienvenido Ana <3"
    assert "<p>Hola Ana &lt;3</p>" in html_of(standard)
    assert "Hola Ana <3" in text_of(standard)
    [attachment] = list(standard.iter_attachments())
    assert attachment.get_filename() == "terms.pdf" and attachment.get_content() == b"%PDF terms"
    assert "ACME" not in html_of(standard)  # brandStyles defaults to false

    branded = html_of(msg["html variable"])
    assert '<div class="top" style="color: #ff0000;">ACME</div>' in branded
    assert '<p class="legal" style="font-size: 10px;">Acme Inc.</p>' in branded
    assert "<b>50%</b>" in branded
    assert "onclick" not in branded and "<script" not in branded and "alert" not in branded

    assert "<ul><li>Tea: 3 €</li></ul>" in html_of(msg["nested template"])
    assert "<ul><li>item0 a 0</li><li>item1 a 1</li><li>item2 a 2</li></ul>" in html_of(
        msg["array of nested templates"]
    )

    draft = html_of(msg["draft"])
    assert "<h2>Big news</h2>" in draft
    assert "<strong>Read</strong>" in draft
    assert '<a href="https://example.com/terms" rel="noopener noreferrer">terms</a>' in draft

    email = stack.email(ids["standard"])
    assert (email["templateId"], email["templateVersion"]) == (welcome, 1)
