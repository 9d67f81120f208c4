"""The normalized event value and its vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from providers.events import (
    CONTRACT_STATUS,
    EVENT_TYPES,
    FINAL_TYPES,
    INFORMATIONAL_TYPES,
    CertificateUnavailable,
    DeliveryEvent,
    MalformedEvent,
    SignatureError,
    WebhookError,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(**overrides: Any) -> DeliveryEvent:
    """A delivered event, with `overrides`."""
    fields: dict[str, Any] = {
        "provider": "ses",
        "type": "delivered",
        "provider_message_id": "m-1",
        "recipient": "alice@example.com",
        "at": AT,
    }
    return DeliveryEvent(**{**fields, **overrides})


def test_every_type_is_either_final_or_informational() -> None:
    assert FINAL_TYPES | INFORMATIONAL_TYPES == EVENT_TYPES
    assert not FINAL_TYPES & INFORMATIONAL_TYPES
    assert FINAL_TYPES == {"delivered", "bounced", "complained", "rejected", "dropped"}
    assert len(EVENT_TYPES) == 11


def test_final_types_point_to_contract_statuses() -> None:
    assert set(CONTRACT_STATUS) == FINAL_TYPES
    contract = {"delivered", "bounced", "complained", "failed"}
    assert set(CONTRACT_STATUS.values()) <= contract


def test_only_hard_bounces_complaints_and_unsubscribes_suppress() -> None:
    suppressing = {
        kind for kind in EVENT_TYPES if event(type=kind, permanent=kind == "bounced").suppresses
    }

    assert suppressing == {"bounced", "complained", "unsubscribed"}
    assert not event(type="complained", recipient=None).suppresses


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "exploded"},
        {"at": datetime(2024, 5, 1, 12, 0)},
        {"at": datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))},
        {"type": "bounced", "permanent": False},
        {"type": "soft_bounced", "permanent": True},
    ],
    ids=repr,
)
def test_inconsistent_events_cannot_be_built(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        event(**overrides)


def test_an_event_is_frozen_and_its_detail_read_only() -> None:
    detail = {"smtpResponse": "250 OK"}
    built = event(detail=detail)
    detail["smtpResponse"] = "changed"

    assert built.detail == {"smtpResponse": "250 OK"}
    with pytest.raises(AttributeError):
        built.type = "bounced"  # type: ignore[misc]
    with pytest.raises(TypeError):
        built.detail["x"] = 1  # type: ignore[index]
    assert hash(built) == hash(event(detail={"other": 1}))


def test_errors_share_one_base_and_carry_the_provider() -> None:
    error = CertificateUnavailable("cannot fetch", provider="ses")

    assert isinstance(error, SignatureError) and isinstance(error, WebhookError)
    assert issubclass(MalformedEvent, WebhookError)
    assert not issubclass(MalformedEvent, SignatureError)
    assert (error.provider, error.message, str(error)) == ("ses", "cannot fetch", "cannot fetch")
