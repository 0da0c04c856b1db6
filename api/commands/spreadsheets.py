"""``grants template`` and ``grants convert``: spreadsheets (and YAML or JSON) for people to fill in.

The writing is in :mod:`evaluator.reports.proposal_files`, imported when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.commands.calls import CallPath
from rules.errors import CallError, GrantsError

console = Console(highlight=False, soft_wrap=True)
template = typer.Typer(help="Write an empty spreadsheet in the layout the engine reads.", no_args_is_help=True)


@template.command("proposals")
def template_proposals(
    call_path: CallPath,
    xlsx: Annotated[bool, typer.Option("--xlsx", help="an XLSX workbook (the default)")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="CSV files: proposals and evaluations")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="file to write; default proposals.xlsx or .csv")] = None,
) -> None:
    """Write a proposals template for a call: the columns, the call's criteria, one example row."""
    from evaluator.reports.proposal_files import example_proposal, write_proposals
    from rules.load import call_from_text, read_text

    call = call_from_text(read_text(call_path, CallError), str(call_path))
    if csv and xlsx:
        raise GrantsError("choose one of --xlsx and --csv")
    suffix = "csv" if csv else "xlsx"
    path = out or Path(f"proposals.{suffix}")
    for written in write_proposals([example_proposal(call)], path, call):
        console.print(f"template written: {written}")


def convert(
    proposals_path: Annotated[Path, typer.Argument(help="proposals in any format the engine reads")],
    out: Annotated[Path, typer.Argument(help="file to write: .xlsx, .csv, .yaml or .json")],
    call_path: Annotated[Path | None, typer.Option("--call", help="the call, for its criteria and currency")] = None,
) -> None:
    """Write proposals (with their evaluations) in another format; a CSV's evaluations go beside it."""
    from evaluator.reports.proposal_files import write_proposals
    from rules.load import call_from_text, load_proposals, read_text

    call = call_from_text(read_text(call_path, CallError), str(call_path)) if call_path else None
    for written in write_proposals(load_proposals(proposals_path, call), out, call):
        console.print(f"written: {written}")


def register(app: typer.Typer) -> None:
    app.add_typer(template, name="template")
    app.command("convert")(convert)
