"""``grants rank``: the ranked lists of a call, as a panel would read them or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from api.commands.bayesian import Bayes, Rankogram, bayesian_of, print_bayesian, ranking_json, wanted
from api.commands.calls import AsJson, CallPath, ProposalsPath, console, ranked
from api.commands.screen import AllRows, print_json, screenful

if TYPE_CHECKING:
    from evaluator.calibration import Calibration
    from evaluator.ranking import FirstStageThreshold, RankChange, RankedProposal, Ranking
    from rules.model import Call

UNLIMITED = 10_000
Calibrate = Annotated[
    bool | None,
    typer.Option(
        "--calibrate/--no-calibrate", help="correct lenient and severe evaluators (default: as the call says)"
    ),
]


def rank_command(
    call_path: CallPath,
    proposals_path: ProposalsPath,
    as_json: AsJson = False,
    calibrate: Calibrate = None,
    bayes: Bayes = None,
    rankogram: Rankogram = None,
    everything: AllRows = False,
) -> None:
    """Rank a call's proposals: thresholds, weighted totals, the ex aequo chain (and, --bayes, the grey zone)."""
    inputs = ranked(call_path, proposals_path, calibrate)
    call, ranking = inputs.call, inputs.ranking
    bayesian = bayesian_of(inputs, rankogram) if wanted(inputs, bayes) or rankogram else None
    if as_json:
        print_json(ranking_json(inputs, bayesian))
        return
    _print_ranking(call, ranking, everything)
    if bayesian is not None:
        print_bayesian(bayesian)


def _print_ranking(call: Call, ranking: Ranking, everything: bool = False) -> None:
    """The table holds the figures; reasons, ex aequo decisions and flags follow it, one line each."""
    table = Table(title=f"Ranking — {call.id} (amounts in {call.currency})")
    per_topic = call.ranking.lists == "per_topic"
    columns = ["list"] * per_topic + ["#", "proposal", "lead", "requested"]
    for column in [*columns, *(c.id for c in call.criteria), "total", "score", "fundable"]:
        left = column in {"list", "proposal", "lead"}
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    entries, rest = screenful(ranking.entries, everything)
    for entry in entries:
        table.add_row(
            *[entry.list_name] * per_topic,
            str(entry.position or ""),
            escape(entry.id),
            entry.lead_region or entry.lead_country,
            f"{entry.requested_amount:,.2f}",
            *(str(entry.scores.get(c.id, "n/a")) for c in call.criteria),
            str(entry.total),
            str(entry.weighted_total),
            "yes" if entry.fundable else "[red]no[/red]",
        )
    # Figures are never cut: wider than the terminal, the table keeps its natural width.
    natural = Measurement.get(console, console.options.update_width(UNLIMITED), table).maximum
    table.width = max(natural, console.width)
    console.print(table, crop=False)
    if rest:
        console.print(rest)
    for entry in entries:
        for note in _notes(entry):
            console.print(f"{escape(entry.id)}: {escape(note)}")
    console.print(f"{len(ranking.fundable())} of {len(ranking.entries)} proposals are fundable")
    for group in ranking.unresolved_ties:
        console.print(f"unresolved tie, broken by the documented draw: {', '.join(group)}")
    if ranking.calibration is not None:
        _print_calibration(ranking.calibration, ranking.calibration_changes)
    if ranking.first_stage is not None:
        _print_first_stage(ranking.first_stage, call)


def _notes(entry: RankedProposal) -> list[str]:
    tie = entry.ex_aequo
    ex_aequo = [f"ex aequo with {tie.other}, decided by {tie.key}: {tie.detail}"] if tie else []
    return [*entry.reasons, *ex_aequo, *entry.flags]


def _print_calibration(calibration: Calibration, changes: list[RankChange]) -> None:
    from evaluator.scoring import show

    noise = f"; noise left: sd {calibration.residual_sd}" if calibration.residual_sd is not None else ""
    table = Table(title=f"Evaluator offsets (points on a scale {show(calibration.scale_width)} wide{noise})")
    for column in ("evaluator", "offset", "scores", "group"):
        table.add_column(column, justify="left" if column == "evaluator" else "right")
    for offset in calibration.offsets:
        value = "not estimable" if offset.offset is None else f"{offset.offset:+}"
        table.add_row(escape(offset.evaluator), value, str(offset.scores), str(offset.group))
    console.print(table)
    if not calibration.connected:
        console.print(f"{len(calibration.groups)} groups of evaluators share no proposal: offsets compare only within")
    console.print(f"calibration changed the place of {len(changes)} proposals")
    for change in changes:
        console.print(f"  {change.id}: {change.uncalibrated or 'not fundable'} → {change.calibrated or 'not fundable'}")


def _print_first_stage(first_stage: FirstStageThreshold, call: Call) -> None:
    from evaluator.scoring import show
    from rules.money import format_money

    table = Table(title="First stage: candidate overall thresholds")
    for column in ("threshold", "proposals", "requested", "× budget"):
        table.add_column(column, justify="right")
    for option in first_stage.options:
        table.add_row(
            show(option.threshold),
            str(option.proposals),
            format_money(option.requested_amount, call.currency),
            str(option.oversubscription),
        )
    console.print(table)
    console.print(f"proposed: {first_stage.explanation}")


def register(app: typer.Typer) -> None:
    app.command("rank")(rank_command)
