"""The ``grants`` command: one entry point that renders user errors once.

Commands live in ``api/commands/`` by area of work; here they are registered and
every :class:`~rules.errors.GrantsError` becomes ``file:line: field: message`` lines
on stderr and exit code 2, never a traceback. Importing this module loads no engine,
store or solver (a test holds it to that): each command imports what it runs.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from importlib import metadata
from typing import Annotated

import typer
from typer._click import Context
from typer.core import TyperGroup

from api.commands import allocation, audit_log, calls, ending, lottery, ranking, reporting, server, spreadsheets, tokens
from rules.errors import GrantsError

PIPELINE = ("validate", "check", "rank", "allocate", "simulate", "report", "demo", "schema")
"""Commands in the order a call goes through them; the server's commands follow."""
USER_ERROR = 2


class PipelineOrder(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: PIPELINE.index(name) if name in PIPELINE else len(PIPELINE))


app = typer.Typer(
    cls=PipelineOrder,
    help="Run public funding calls end to end: eligibility, scores, ranking, allocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
calls.register(app)
ranking.register(app)
server.register(app)
reporting.register(app)
allocation.register(app)
spreadsheets.register(app)
lottery.register(app)
tokens.register(app)
server.audit_app.command("head")(audit_log.audit_head)


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"grants {metadata.version('grants')}")
        raise typer.Exit


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Write the solvers' logs to stderr.")] = False,
) -> None:
    """Run public funding calls end to end: eligibility, scores, ranking, allocation."""
    if verbose:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(name)s: %(message)s")


def main(exiting: bool = False) -> None:
    """Run one command with the cyclic collector off (``serve`` turns it back on).

    A command's inputs and results live until it ends, so the collector would only walk
    them again and again: at 50,000 proposals that was a third of an allocation's time.
    What the command held to the end (``api.commands.ending``) is let go here, and the collector
    turned back on, unless the process is ``exiting`` right after without freeing anything
    (:func:`run`): turned on there, it walked the millions of objects the command had built
    (0.4 s after checking 100,000 proposals) on the way out.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        app()
    except GrantsError as exc:
        from rich.console import Console
        from rich.markup import escape

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for problem in exc.problems:
            console.print(f"[red]error[/red] {escape(str(problem))}")
        sys.exit(USER_ERROR)
    finally:
        if not exiting:
            ending.HELD.clear()
            if collecting:  # in-process callers (the tests) get their collector back
                gc.enable()


def run() -> None:
    """The installed ``grants``: :func:`main`, then out without freeing the heap object by object.

    After checking 100,000 proposals the process holds millions of objects, and a normal exit
    frees each one: a tenth of the command's time, for memory the kernel takes back at
    once anyway. So the streams are flushed and the process ends there (as mypy does), and
    the commands' inputs are held to the end rather than freed on return (``api.commands.ending``);
    in-process callers use :func:`main`, which returns or raises as usual. For the same
    reason the memory a command frees is kept for its next arrays (``ending.keep_freed_memory``).
    """
    code: int | str | None = 0
    ending.keep_freed_memory()
    try:
        main(exiting=True)
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that went away (``| head``): what Python's own exit returns then
        code = 120
    os._exit(code or 0)
