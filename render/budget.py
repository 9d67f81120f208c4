"""What one render may spend: output size, characters built, operations and wall time.

Every render runs under a Budget (the one of the render_template / render_inline / finalize
call it belongs to, nested templates included). The sandbox's hooks charge it: each call,
filter, binary operator and loop iteration is an operation, each string an operation builds
counts its characters, and an operation that could multiply a value's size by a number the
template chooses is checked *before* it runs (see render.bounds). The clock is read every
few operations, so a render that runs too long stops at its next operation.

Going over raises BudgetExceeded, which the sandbox reports as a RenderError naming the
template, the part and the limit.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType

from jinja2.exceptions import SecurityError


@dataclass(frozen=True)
class RenderLimits:
    """The budget of one render (every part, nested templates included).

    ``max_output_chars``: the longest string a part, a buffer or one operation may produce;
    ``max_built_chars``: all the characters the template's own operations build, added up;
    ``max_operations``: calls, filters, operators and loop iterations (a range or a sequence
    made by the template counts its length); ``max_seconds``: wall time, read every
    ``CLOCK_EVERY`` operations.
    """

    max_output_chars: int = 5_000_000
    max_built_chars: int = 50_000_000
    max_operations: int = 1_000_000
    max_seconds: float = 5.0


DEFAULT_LIMITS = RenderLimits()
CLOCK_EVERY = 32


class BudgetExceeded(SecurityError):
    """A render went over one of its RenderLimits; the message says which."""


class Budget:
    """What is left of one render's RenderLimits."""

    __slots__ = ("limits", "operations", "built", "next_clock", "deadline")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.operations = 0
        self.built = 0
        self.next_clock = CLOCK_EVERY
        self.deadline = time.monotonic() + limits.max_seconds

    def spend(self, operations: int) -> None:
        """Count ``operations``; past the limit, or past the deadline, raise."""
        self.operations += operations
        if self.operations >= self.next_clock:
            self.next_clock = self.operations + CLOCK_EVERY
            if self.operations > self.limits.max_operations:
                raise BudgetExceeded(
                    f"more than {self.limits.max_operations:,} operations (max_operations)"
                )
            if time.monotonic() > self.deadline:
                raise BudgetExceeded(f"ran longer than {self.limits.max_seconds:g} s (max_seconds)")

    def allow(self, chars: int) -> None:
        """Raise unless a string of ``chars`` characters may be built; then count them."""
        if chars > self.limits.max_output_chars:
            raise BudgetExceeded(
                f"a result longer than {self.limits.max_output_chars:,} characters "
                "(max_output_chars)"
            )
        self.built += chars
        if self.built > self.limits.max_built_chars:
            raise BudgetExceeded(
                f"more than {self.limits.max_built_chars:,} characters built (max_built_chars)"
            )
        self.spend(1)


ACTIVE: ContextVar[Budget | None] = ContextVar("render_budget", default=None)


def current() -> Budget:
    """The budget of the render under way (one with the defaults outside any)."""
    budget = ACTIVE.get()
    return Budget(DEFAULT_LIMITS) if budget is None else budget


class budget_scope:  # noqa: N801 (used as a context manager, like a function)
    """Run a render under a new Budget of ``limits``, unless one is already under way."""

    __slots__ = ("limits", "token")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.token: Token[Budget | None] | None = None

    def __enter__(self) -> None:
        if ACTIVE.get() is None:
            self.token = ACTIVE.set(Budget(self.limits))

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.token is not None:
            ACTIVE.reset(self.token)
