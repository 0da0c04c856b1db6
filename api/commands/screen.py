"""Long results on a terminal: a screen of rows and a count of the rest, never ten thousand rows of rich.

Rendering every row of a 10,000-proposal table took longer than computing it, and
nobody reads it on a terminal; ``--all`` prints every row, ``--json`` gives the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

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
