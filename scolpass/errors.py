"""The one exception family scolpass raises on purpose.

Every error a registrar can cause (bad input, bad configuration, a state that
forbids the run) is a :class:`ScolpassError`; the CLI prints its message and
exits 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ScolpassError(Exception):
    """Base of every error scolpass raises on purpose."""


class ConfigError(ScolpassError):
    """The configuration (file, keys, values, templates) is unusable."""


class StateError(ScolpassError):
    """The registry or the output folder forbids the run."""


class NoRegistry(StateError):
    """The location holds no registry yet (no file, an empty file, a database without the schema)."""


class ConflictError(StateError):
    """Something recorded twice in the registry (a login, a student): another run recorded it first."""


class ServiceError(ScolpassError):
    """A server scolpass talks to (Pégase) is down, refuses, or answers what it should not."""


def shown(value: str, limit: int = 200, keep: int = 60) -> str:
    """``value`` as a problem shows it: whole up to ``limit`` characters, else cut to ``keep`` (a pasted
    megabyte must not fill the terminal)."""
    return value if len(value) <= limit else value[: keep - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located precisely enough to fix it."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(repr(self.value))
        parts.append(self.reason)
        return ": ".join(parts)


class InputError(ScolpassError):
    """An input file has problems; all of them are listed, so one pass fixes them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} problems in the input; nothing was written:")
        super().__init__("\n".join(lines))
