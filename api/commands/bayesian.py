"""The Bayesian ranking as ``grants rank --bayes`` shows it: expected ranks, intervals, the grey zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from api.commands.calls import Ranked, console

if TYPE_CHECKING:
    from evaluator.bayesian import BayesianResult

UNLIMITED = 10_000
Bayes = Annotated[
    bool | None,
    typer.Option(
        "--bayes/--no-bayes",
        help="add ranks with credible intervals and the grey zone (default: when the call sets ranking.bayesian)",
    ),
]
Rankogram = Annotated[
    list[str] | None,
    typer.Option("--rankogram", help="a proposal whose whole rank distribution to show (repeatable)"),
]


def wanted(inputs: Ranked, bayes: bool | None) -> bool:
    return inputs.call.ranking.bayesian is not None if bayes is None else bayes


def bayesian_of(inputs: Ranked, rankograms: list[str] | None = None) -> BayesianResult:
    """Fit the model against the call's own funding lines; an unknown rankogram id is a user error."""
    from evaluator.bayesian import with_funding_lines
    from rules.errors import GrantsError

    fundable = {e.id for e in inputs.ranking.fundable()}
    unknown = [pid for pid in rankograms or [] if pid not in fundable]
    if unknown:
        raise GrantsError(f"--rankogram {', '.join(unknown)}: not a fundable proposal of this call")
    return with_funding_lines(inputs.call, inputs.proposals, inputs.ranking, rankograms or ())


def ranking_json(inputs: Ranked, bayesian: BayesianResult | None) -> dict[str, Any]:
    """The ranking's JSON as the API gives it: the Bayesian ranking under ``bayesian`` (null when not asked for)."""
    from evaluator.bayesian import RankingWithUncertainty

    data: dict[str, Any] = RankingWithUncertainty(**dict(inputs.ranking), bayesian=bayesian).model_dump(mode="json")
    return data


def print_bayesian(result: BayesianResult) -> None:
    level = f"{float(result.level):.0%}"
    table = Table(title=f"Ranks with credible intervals (grey zone: the {level} interval crosses the funding line)")
    for column in ("list", "proposal", "#", "mean score", "E(rank)", "50%", "90%", "P(above line)", "SUCRA", "zone"):
        table.add_column(column, justify="left" if column in {"list", "proposal", "zone"} else "right", no_wrap=True)
    for e in result.entries:
        zone = {"in": "in", "grey": "[yellow]grey[/yellow]", "out": "out"}[e.zone]
        table.add_row(
            escape(e.list_name),
            escape(e.id),
            str(e.position or ""),
            f"{e.mean_score:.2f}",
            f"{e.expected_rank:.1f}",
            f"{e.rank_50.low}–{e.rank_50.high}",
            f"{e.rank_90.low}–{e.rank_90.high}",
            f"{e.p_above_line:.0%}",
            f"{e.sucra:.2f}",
            zone,
        )
    natural = Measurement.get(console, console.options.update_width(UNLIMITED), table).maximum
    table.width = max(natural, console.width)
    console.print(table, crop=False)
    for line in result.lines:
        console.print(f"funding line of list {escape(line.list_name)}: {line.funded} of {line.ranked} funded")
    console.print(
        f"in beyond doubt: {len(result.zone('in'))}; grey zone: {len(result.zone('grey'))} "
        f"({escape(', '.join(result.zone('grey')) or 'none')}); out: {len(result.zone('out'))}"
    )
    d = result.diagnostics
    console.print(
        f"{d.chains} chains x {d.draws} draws (seed {d.seed}): R-hat at most {d.max_rhat}, "
        f"at least {d.min_ess:.0f} effective draws"
    )
    for pid, probabilities in result.rankograms.items():
        shown = ", ".join(f"{rank}: {p:.0%}" for rank, p in enumerate(probabilities, start=1) if p >= 0.005)
        console.print(f"rankogram {escape(pid)}: {shown}")
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(warning)}")
