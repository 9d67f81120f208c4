"""How a setting is declared: the variable it reads, its description, how blank and lists parse.

Shared by every settings section (mailroom.config and the groups kept in modules of their own).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(raw: Any, *, lower: bool) -> Any:
    if not isinstance(raw, str):
        return raw
    return tuple(p.strip().lower() if lower else p.strip() for p in raw.split(",") if p.strip())


# Comma-separated values, lower-cased (names, hosts) or kept as written (ARNs).
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(lambda v: _split(v, lower=True))]
Items = Annotated[tuple[str, ...], NoDecode, BeforeValidator(lambda v: _split(v, lower=False))]
Lower = Annotated[str, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)]
_upper = BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], _upper]


def setting(
    default: Any,
    env: str,
    description: str,
    *,
    example: str | None = None,
    secret: bool = False,
    checked: bool = False,
) -> Any:
    """A field read from the variable `env`; `example` is what .env.example shows for it.
    `checked`: its validators run on the default too (a setting required in some setups)."""
    extra: JsonDict | None = {"example": example} if example is not None else None
    return Field(
        default,
        validation_alias=env,
        description=description,
        json_schema_extra=extra,
        repr=not secret,  # kept out of logs and tracebacks
        validate_default=checked,
    )


class _Section(BaseSettings):
    """Frozen, read from the exact variable names; a blank value means the default."""

    # Only the exact variable names: with populate_by_name, pydantic-settings would also read
    # `port` or `host` from the environment for SmtpSettings.
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, extra="ignore")
    # Variables whose blank value means something (an empty list, "off") rather than the default.
    blank_is_value: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        keep = cls.blank_is_value
        return {
            k: v
            for k, v in data.items()
            if not (isinstance(v, str) and not v.strip() and k not in keep)
        }
