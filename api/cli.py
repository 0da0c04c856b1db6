"""The ``grants`` command: one entry point that renders user errors once.

Commands live in ``api/commands/`` by area of work; here they are registered and
every :class:`~rules.errors.GrantsError` becomes ``file:line: field: message`` lines
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from api.commands import allocation, calls, ranking, reporting, server, tokens
from rules.errors import GrantsError

app = typer.Typer(
    help="Run public funding calls end to end: eligibility, scores, ranking, allocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
calls.register(app)
ranking.register(app)
server.register(app)
reporting.register(app)
allocation.register(app)
tokens.register(app)

USER_ERROR = 2


def main() -> None:
    try:
        app()
    except GrantsError as exc:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for problem in exc.problems:
            console.print(f"[red]error[/red] {escape(str(problem))}")
        sys.exit(USER_ERROR)
