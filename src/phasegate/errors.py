"""Errors a user can act on: each names what is wrong and where."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is (file, line, field) and what is wrong."""

    message: str
    field: str | None = None
    file: str | None = None
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        place = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        if self.row is not None:
            place = f"{place} row {self.row}".strip()
        where = " ".join(p for p in (place, f"field '{self.field}'" if self.field else "") if p)
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class PhasegateError(Exception):
    """Base of the errors phasegate reports to its users."""

    status_code = 400

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class InvalidInput(PhasegateError):
    """The input does not follow the schema; nothing was written."""

    status_code = 422


class NotFound(PhasegateError):
    status_code = 404


class Conflict(PhasegateError):
    status_code = 409


class NotAuthenticated(PhasegateError):
    status_code = 401


class Forbidden(PhasegateError):
    status_code = 403


class TooManyRequests(PhasegateError):
    """A rate limit or a budget says no for now."""

    status_code = 429


@dataclass
class Outcome:
    """What a bulk operation did, row by row."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
