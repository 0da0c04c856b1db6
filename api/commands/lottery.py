"""``grants lottery``: partial randomisation, committed before the scores are final and verifiable after.

``commit`` draws a secret seed, keeps it in a file and publishes its SHA-256;
``draw`` reveals the seed, funds the clear proposals and draws the grey zone by lot
under every rule of the call, and writes a record holding the inputs as they were;
``verify`` re-runs the draw from that record alone and says whether it agrees.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from api.commands.calls import AsJson, CallPath, ProposalsPath, console, ranked
from rules.errors import GrantsError, OutputError, Problem

if TYPE_CHECKING:
    from pydantic import BaseModel

    from evaluator.lottery import LotteryDraw, Verification

M = TypeVar("M", bound="BaseModel")
FAILED = 1
SeedFile = Annotated[Path, typer.Option("--seed-file", help="the secret seed: written by commit, read by draw")]
CommitmentFile = Annotated[Path, typer.Option("--commitment", help="the commitment file commit wrote")]

lottery_app = typer.Typer(
    help="Partial randomisation: commit to a seed, draw the grey zone by lot, verify a draw.", no_args_is_help=True
)


class LotteryError(GrantsError):
    title = "Lottery refused"


def _read_model(path: Path, model: type[M]) -> M:
    from pydantic import ValidationError

    from rules.load import read_text

    text = read_text(path, LotteryError)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise LotteryError([Problem(f"not a {model.__name__} file: {first['msg']}", where, str(path))]) from None


def _write(path: Path, text: str, secret: bool = False) -> None:
    """Write a file once: a seed or a record that already exists is never overwritten."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    except FileExistsError:
        raise OutputError(
            [Problem("exists already: a seed is drawn and a lot recorded once", file=str(path))]
        ) from None
    except OSError as exc:
        raise OutputError([Problem(f"cannot write: {exc.strerror or exc}", file=str(path))]) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@lottery_app.command("commit")
def commit_command(
    call_path: CallPath,
    seed_file: SeedFile,
    out: Annotated[Path, typer.Option("--out", help="where to write the commitment to publish")],
    as_json: AsJson = False,
) -> None:
    """Draw a secret seed into --seed-file and write its SHA-256 (the commitment to publish) to --out."""
    from evaluator.lottery import commit, new_seed
    from rules.load import call_from_text, read_text

    call = call_from_text(read_text(call_path, LotteryError), str(call_path))
    seed = new_seed()
    commitment = commit(call, seed)
    _write(seed_file, seed + "\n", secret=True)
    _write(out, commitment.model_dump_json(indent=2) + "\n")
    if as_json:
        typer.echo(commitment.model_dump_json(indent=2))
        return
    console.print(f"commitment for {escape(call.id)}: {commitment.commitment}")
    console.print(f"publish {out} now; keep {seed_file} secret until the draw")


@lottery_app.command("draw")
def draw_command(
    call_path: CallPath,
    proposals_path: ProposalsPath,
    commitment_path: CommitmentFile,
    seed_file: SeedFile,
    out: Annotated[Path, typer.Option("--out", help="where to write the record of the draw")],
    as_json: AsJson = False,
) -> None:
    """Reveal the seed, fund the clear proposals, draw the grey zone by lot; write the record to --out."""
    from evaluator.bayesian import with_funding_lines
    from evaluator.lottery import Commitment as CommitmentModel
    from evaluator.lottery import LotteryRecord, commitment_of, draw, recorded
    from rules.load import read_text

    commitment = _read_model(commitment_path, CommitmentModel)
    seed = read_text(seed_file, LotteryError).strip()
    inputs = ranked(call_path, proposals_path)
    if commitment.call_id != inputs.call.id:
        raise LotteryError(
            [Problem(f"commits to call {commitment.call_id!r}, not {inputs.call.id!r}", file=str(commitment_path))]
        )
    if commitment_of(seed) != commitment.commitment:
        raise LotteryError(
            [Problem(f"this seed does not match the commitment in {commitment_path}", file=str(seed_file))]
        )
    bayes = with_funding_lines(inputs.call, inputs.proposals, inputs.ranking)
    result = draw(inputs.call, inputs.ranking, bayes, seed)
    record = LotteryRecord(
        commitment=commitment,
        drawn_at=dt.datetime.now(dt.UTC),
        call=recorded(str(call_path), read_text(call_path, LotteryError)),
        proposals=recorded(str(proposals_path), read_text(proposals_path, LotteryError)),
        draw=result,
    )
    _write(out, record.model_dump_json(indent=2) + "\n")
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_draw(result)
    console.print(f"record written: {out} (check it with grants lottery verify {out})")


@lottery_app.command("verify")
def verify_command(
    record_path: Annotated[Path, typer.Argument(help="the record grants lottery draw wrote")],
    as_json: AsJson = False,
) -> None:
    """Re-run a draw from its record (the inputs as they were, the revealed seed) and compare."""
    from evaluator.lottery import LotteryRecord, rerun, verify

    record = _read_model(record_path, LotteryRecord)
    verification = verify(record, rerun(record))
    if as_json:
        typer.echo(verification.model_dump_json(indent=2))
    else:
        _print_verification(verification)
    if not verification.verified:
        raise typer.Exit(FAILED)


def _print_draw(result: LotteryDraw) -> None:
    table = Table(title=f"Lottery — {result.call_id} ({result.weights} lot among the grey zone)")
    for column in ("proposal", "zone", "P(above line)", "weight", "chance", "funded"):
        table.add_column(column, justify="left" if column in {"proposal", "zone"} else "right", no_wrap=True)
    for chance in result.chances:
        table.add_row(
            escape(chance.id),
            chance.zone,
            f"{chance.p_above_line:.0%}",
            f"{chance.weight:.3g}",
            f"{chance.chance:.1%}",
            "yes" if chance.funded else "",
        )
    console.print(table, crop=False)
    console.print(f"drawn order of the grey zone: {escape(', '.join(result.grey) or 'no grey zone')}")
    console.print(
        f"status {result.status}: {len(result.grants)} grants, {result.total_awarded:,.2f} awarded of "
        f"{result.budget:,.2f}; seed {result.seed} (SHA-256 {result.commitment})"
    )
    for note in result.notes:
        console.print(f"note: {escape(note)}")


def _print_verification(verification: Verification) -> None:
    for check in verification.checks:
        mark = "[green]ok[/green]" if check.passed else "[red]FAILED[/red]"
        console.print(f"{mark} {check.name}: {escape(check.detail)}")
    console.print("the draw verifies" if verification.verified else "[red]the draw does not verify[/red]")


def register(app: typer.Typer) -> None:
    app.add_typer(lottery_app, name="lottery")
