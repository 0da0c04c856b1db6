"""Long results on a terminal: a screen of rows and a count of the rest, never ten thousand rows of rich.

Rendering every row of a 10,000-proposal table took longer than computing it, and
nobody reads it on a terminal; ``--all`` prints every row, ``--json`` gives the document.
The document is indented for a person at a terminal and compact for a program, and
written by pydantic-core's encoder (Rust): the standard library's took 0.12 s for the
5 MB of a 10,000-proposal allocation, pydantic-core's 0.05 s (its indented one is not
slower, where the standard library's is pure Python and ten times slower).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
SCREEN_ROWS = 40
AllRows = Annotated[bool, typer.Option("--all", help="print every row (long tables show a screen of them)")]


def screenful(rows: Sequence[T], everything: bool) -> tuple[Sequence[T], str | None]:
    """The rows to print, and a line saying how many were left out (None when none were)."""
    if everything or len(rows) <= SCREEN_ROWS:
        return rows, None
    left = len(rows) - SCREEN_ROWS
    return rows[:SCREEN_ROWS], f"… and {left:,} more rows not shown (--all prints every row, --json the document)"


def print_json(document: Any) -> None:
    """One JSON document on stdout (``--json``'s contract), indented only when a person reads it."""
    from pydantic_core import to_json

    typer.echo(to_json(document, indent=2 if sys.stdout.isatty() else None).decode())
