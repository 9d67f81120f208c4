"""How a setting that does not parse is told: one line naming the variable and its form."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_core import ErrorDetails

_EXPECTED = {
    "int_parsing": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false (also 1/0, yes/no, on/off)",
}


def describe_error(error: ErrorDetails, aliases: Mapping[str, str] | None = None) -> str:
    """One invalid setting in a line: the variable, what it was given, the form it takes.

    `aliases` names the variable of a field whose default failed (its location is the field's
    name, not the variable's)."""
    name = str(error["loc"][0]) if error["loc"] else "a setting"
    name = (aliases or {}).get(name, name)
    given = error.get("input")
    given = "" if given == () else given
    if error["type"] == "literal_error":
        expected = "one of " + str(error.get("ctx", {}).get("expected", "")).replace("'", "")
    elif error["type"] == "value_error":
        expected = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        expected = _EXPECTED.get(error["type"], error["msg"])
    expected = expected.removeprefix("expected ")
    if not error["loc"]:
        # A check across a section's settings: its input is every value, secrets included.
        return f"settings are not valid: expected {expected}"
    return f"{name}={given!s} is not valid: expected {expected}"
