"""User mistakes as typed exceptions.

Every mistake a user can make with a file (a call, a proposal list, a score sheet)
is collected as a :class:`Problem` that knows where it is, so the command line and
the HTTP API can render it once, at the edge, as ``file:line: field.path: message``
or as problem+json, and never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    message: str
    path: str = ""
    file: str = ""
    line: int | None = None
    cell: str = ""
    """A spreadsheet cell (``partners!C17``, or ``C17`` in a CSV), where a line number means nothing."""

    def __str__(self) -> str:
        parts = [self.file] if self.file else []
        if self.line is not None:
            parts = [f"{self.file or '<input>'}:{self.line}"]
        if self.cell:
            parts = [f"{self.file or '<input>'}:{self.cell}"]
        if self.path:
            parts.append(self.path)
        return ": ".join([*parts, self.message])

    def as_dict(self) -> dict[str, object]:
        located = {"cell": self.cell} if self.cell else {}
        return {"file": self.file, "line": self.line, **located, "path": self.path, "message": self.message}


class GrantsError(Exception):
    """Base of every error the user can fix by changing their input."""

    title = "Invalid input"

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CallError(GrantsError):
    """The call file cannot be loaded: malformed YAML or a schema violation."""

    title = "Invalid call"


class ProposalError(GrantsError):
    """A proposal file cannot be loaded or a proposal is malformed."""

    title = "Invalid proposals"


class RegionError(GrantsError):
    """A country or region that cannot be resolved to a known place."""

    title = "Unknown place"


class AreaError(GrantsError):
    """A call refers to an area that does not exist or an area file is broken."""

    title = "Unknown area"


class OutputError(GrantsError):
    """A file or folder the user asked the engine to write cannot be written there."""

    title = "Cannot write the output"


class ScoreError(GrantsError):
    """A score that does not fit the call's criteria (scale, step, unknown criterion)."""

    title = "Invalid score"
