"""`.env.example`, written from the settings' definitions (`mailroom config example`).

A test compares the file in the repository with this output, so a setting added to
`mailroom.config` without regenerating the file fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from mailroom.config import Settings
from mailroom.setting_fields import _Section

# Read by the libraries or the process manager, not by Settings; listed in .env.example.
LIBRARY_VARIABLES = (
    ("AWS_REGION", "boto3: the SES region when SES_REGION is unset", "eu-west-1"),
    ("AWS_ACCESS_KEY_ID", "boto3: SES credentials (or an instance role)", None),
    ("AWS_SECRET_ACCESS_KEY", "boto3: SES credentials (or an instance role)", None),
    ("GOOGLE_APPLICATION_CREDENTIALS", "google-cloud-storage: service account JSON file", None),
    ("FLOWER_BASIC_AUTH", "Flower's login, user:password (make run makes one when unset)", None),
    (
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_client: this process's metric files; unset: var/metrics",
        None,
    ),
    ("MAILROOM_ENV_FILE", "the .env file read at start-up; unset: .env", None),
)


HEADER = """\
# Mailroom's settings, written by `mailroom config example > .env.example` from
# mailroom/config.py: change them there, not here.
#
# Mailroom reads them from the environment, or from a .env file in the working folder (copy
# this file to .env and uncomment what you set). Nothing here is required: without them
# Mailroom runs on SQLite, a filesystem broker and the outbox provider under var/.
# A blank value means the default unless the description says otherwise.
"""


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Path):
        return "" if value == Path("") else str(value)
    return "" if value is None else str(value)


def _lines(field: FieldInfo) -> list[str]:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    example = extra.get("example")
    value = str(example) if example is not None else _shown(field.default)
    return [f"# {field.description}", f"# {field.validation_alias}={value}"]


def _sections() -> Iterator[tuple[str, list[str]]]:
    """(title, lines) for Mailroom's own settings, a nested section where it is declared."""
    current: list[str] = []
    for field in Settings.model_fields.values():
        kind = field.default_factory
        if isinstance(kind, type) and issubclass(kind, _Section):
            yield "Mailroom", current
            current = []
            title = (kind.__doc__ or "").split(";")[0].strip().rstrip(".")
            yield title, [line for f in kind.model_fields.values() for line in _lines(f)]
        else:
            current += _lines(field)
    yield "Mailroom", current


def names() -> list[str]:
    """Every variable the example documents, Mailroom's and the libraries'."""
    found = []
    for field in Settings.model_fields.values():
        kind = field.default_factory
        if isinstance(kind, type) and issubclass(kind, _Section):
            found += [str(f.validation_alias) for f in kind.model_fields.values()]
        else:
            found.append(str(field.validation_alias))
    return found + [name for name, _, _ in LIBRARY_VARIABLES]


def render() -> str:
    """The whole .env.example text."""
    blocks = [HEADER]
    for title, lines in _sections():
        if lines:
            blocks.append(f"\n# --- {title} ---\n" + "\n".join(lines) + "\n")
    libraries = [f"# {text}\n# {name}={example or ''}" for name, text, example in LIBRARY_VARIABLES]
    blocks.append("\n# --- Read by the libraries and tools ---\n" + "\n".join(libraries) + "\n")
    return "".join(blocks)
