"""The exception hierarchy: one root, a scenario error that knows where in the file each problem is, and the did-you-mean hint every message uses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class QueuesimError(Exception):
    """Root of every error queuesim raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where it is and what is wrong.

    ``source`` is the file name (or ``--set`` / ``<string>``), ``line`` is 1-based or None when
    the problem has no single line (a missing required key is reported at its parent's line).
    ``field`` is the dotted path of the offending key (``workers.fulfil.count``).
    """

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ScenarioError(QueuesimError):
    """A scenario (file, overrides or sweep arguments) that cannot be run; one problem per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close."""
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), options, n=1, cutoff=0.6)
    # An abbreviation ('expo') is too short for difflib's ratio but unambiguous as a prefix.
    prefixed = [c for c in options if len(str(name)) >= 2 and c.startswith(str(name))]
    if not close and len(prefixed) == 1:
        close = prefixed
    return f" (did you mean {close[0]!r}?)" if close else ""
