"""Errors the suite raises on bad input.

Every message names the offending file, line or field and what was expected, so a user can fix
the input without reading the code. The CLI prints them without a traceback.
"""

from __future__ import annotations


class RecbenchError(Exception):
    """Base class for errors caused by user input, not by a bug."""


class DataError(RecbenchError):
    """A dataset file is missing, malformed or of an unknown format."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ConfigError(RecbenchError):
    """A configuration value or command-line flag is invalid."""


class UnknownNameError(RecbenchError, KeyError):
    """A registry lookup failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ResultsError(RecbenchError):
    """A results directory holds something inconsistent with the requested run."""
