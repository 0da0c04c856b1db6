"""``grants allocate`` and ``grants simulate``: the funding decision and its what-ifs."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from api.commands.calls import AsJson, CallPath, ProposalsPath, console, ranked
from api.commands.progress import progress
from api.commands.screen import SCREEN_ROWS, AllRows, print_json, screenful

if TYPE_CHECKING:
    from evaluator.allocation import Allocation
    from evaluator.ranking import Ranking
    from evaluator.simulation import FundingOdds, ScenarioSummary, SweepPoint
    from rules.model import Call
    from rules.proposal import Proposal

JSON_KEYS = ("status", "objective", "total_awarded", "budget_left", "grants", "reserve", "binding")
EVEN = Decimal("0.5")
UNLIMITED = 10_000
Mode = Annotated[
    Literal["rank", "optimal"] | None, typer.Option("--mode", help="rank or optimal (default: the call's)")
]
Budget = Annotated[
    str | None, typer.Option("--budget", metavar="AMOUNT", help="total budget to allocate instead of the call's")
]


def _amount(text: str, option: str) -> Decimal:
    """A budget typed on the command line, held to the same rules as a budget in a call file."""
    from pydantic import TypeAdapter, ValidationError

    from evaluator.simulation import SimulationError
    from rules.money import PositiveMoney

    try:
        value = Decimal(text.replace("_", "").replace(",", ""))
    except InvalidOperation:
        raise SimulationError(f"{option}: {text!r} is not an amount") from None
    try:
        return TypeAdapter(PositiveMoney).validate_python(value)
    except ValidationError as exc:
        raise SimulationError(f"{option}: a budget of {text}: {exc.errors()[0]['msg']}") from None


def allocate_command(
    call_path: CallPath,
    proposals_path: ProposalsPath,
    mode: Mode = None,
    budget: Budget = None,
    as_json: AsJson = False,
    everything: AllRows = False,
    explain_share: Annotated[
        float,
        typer.Option(
            "--explain-share",
            min=0.0,
            help="time for exact explanation re-solves, as a share of the allocation's own (0: bounds only)",
        ),
    ] = 0.5,
) -> None:
    """Allocate the budget: the funding line (rank) or the integer program (optimal), explained."""
    from evaluator.allocation import Scenario, allocate

    scenario = Scenario(mode=mode, budget=_amount(budget, "--budget") if budget is not None else None)
    inputs = ranked(call_path, proposals_path, tie_breaks=False)
    call, ranking = inputs.call, inputs.ranking
    allocation = allocate(call, ranking, scenario, explain_share=explain_share)
    if as_json:
        print_json(allocation_json(allocation))
        return
    _print_allocation(call, allocation, everything)


def allocation_json(allocation: Allocation) -> dict[str, Any]:
    """The documented keys first, in order (grants as id and amount); everything else after them."""
    data = allocation.model_dump(mode="json")
    head = {key: data[key] for key in JSON_KEYS}
    head["grants"] = [{"id": g["id"], "amount": g["amount"]} for g in data["grants"]]
    tail = {key: value for key, value in data.items() if key not in JSON_KEYS}
    return {**head, **tail, "grant_details": data["grants"]}


def _print_allocation(call: Call, allocation: Allocation, everything: bool = False) -> None:
    table = Table(title=f"Allocation — {call.id} ({allocation.mode} mode, amounts in {call.currency})")
    for column in ("proposal", "list", "#", "score", "requested", "grant", "share"):
        table.add_column(column, justify="left" if column in {"proposal", "list"} else "right", no_wrap=True)
    grants, rest = screenful(allocation.grants, everything)
    for g in grants:
        table.add_row(
            escape(g.id),
            escape(g.list_name),
            str(g.position or ""),
            str(g.score),
            f"{g.requested:,.2f}",
            f"{g.amount:,.2f}",
            f"{g.share_of_request:.2%}",
        )
    _print_wide(table)
    if rest:
        console.print(rest)
    console.print(_summary(call, allocation))
    _print_explanation(allocation, everything)


STATUS_WORDS = {
    "complete": "funding line drawn in rank order",
    "optimal": "optimal portfolio (proven within the gap)",
    "feasible_time_limit": "best portfolio found before the time limit (not proven optimal)",
    "infeasible": "no allocation meets every limit",
}


def _summary(call: Call, allocation: Allocation) -> str:
    """The outcome in the call's money; the objective only where it is what was maximised, with its unit."""
    money = call.currency
    text = (
        f"{STATUS_WORDS[allocation.status]}: {len(allocation.grants)} grants, {money} "
        f"{allocation.total_awarded:,.2f} awarded of {allocation.budget:,.2f}, {allocation.budget_left:,.2f} left"
    )
    if allocation.mode == "optimal" and allocation.status != "infeasible":
        text += f"; objective {allocation.objective:,} {allocation.objective_unit}"
    return escape(text)


def _print_explanation(allocation: Allocation, everything: bool) -> None:
    reserve, rest = screenful(allocation.reserve, everything)
    for id in reserve:
        console.print(f"reserve {escape(id)}: {escape(allocation.reasons.get(id, ''))}")
    if rest:
        console.print(rest.replace("rows", "reserve proposals", 1))
    if allocation.binding:
        console.print(f"holding the allocation back: {escape(', '.join(allocation.binding))}")
    for price in allocation.prices:
        if price.binds or not price.exact:
            console.print(escape(price.explanation))
    quiet = [p.constraint for p in allocation.prices if not p.binds and p.exact]
    if quiet:
        console.print(escape(f"without {', '.join(quiet)} the same proposals would be funded"))
    if allocation.more_budget is not None:
        console.print(escape(allocation.more_budget.explanation))
    for conflict in allocation.conflicts:
        console.print(f"[red]conflict[/red] {escape(conflict)}")
    for note in allocation.notes:
        console.print(f"note: {escape(note)}")
    stats = allocation.stats
    timing = f"build {stats.build_seconds:.3f} s, solve {stats.solve_seconds:.3f} s"
    console.print(f"solver {stats.solver}: {timing}, gap {allocation.gap}")


def parse_budgets(text: str) -> list[Decimal]:
    """``FROM:TO:STEPS`` as a list of budgets, or a clear error."""
    from evaluator.simulation import SimulationError, budget_range

    parts = text.split(":")
    if len(parts) != 3:
        raise SimulationError(f"--budgets: expected FROM:TO:STEPS, got {text!r}")
    low, high = _amount(parts[0], "--budgets"), _amount(parts[1], "--budgets")
    if not parts[2].strip().isdigit():
        raise SimulationError(f"--budgets: the number of steps must be a whole number of at least 1, got {parts[2]!r}")
    return budget_range(low, high, int(parts[2]))


def simulate_command(
    call_path: CallPath,
    proposals_path: ProposalsPath,
    budgets: Annotated[
        str | None, typer.Option("--budgets", metavar="FROM:TO:STEPS", help="a budget sweep FROM:TO:STEPS")
    ] = None,
    noise: Annotated[
        str | None, typer.Option("--noise", metavar="SD", help="sd of each evaluator's score (Monte Carlo)")
    ] = None,
    resample: Annotated[bool, typer.Option("--resample", help="Monte Carlo by resampling evaluators")] = False,
    runs: Annotated[int, typer.Option("--runs", metavar="N", help="Monte Carlo draws")] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="random seed (same seed, same odds)")] = 0,
    scenarios: Annotated[
        Path | None, typer.Option("--scenarios", metavar="FILE", help="a YAML list of scenarios")
    ] = None,
    as_json: AsJson = False,
    everything: AllRows = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="the odds of every proposal, also those funded in every draw or in none"),
    ] = False,
) -> None:
    """Budget sweeps, Monte Carlo funding odds, or scenarios side by side."""
    from evaluator.simulation import SimulationError, budget_sweep, compare, load_scenarios

    chosen = [
        name
        for name, on in (
            ("--budgets", budgets),
            ("--noise", noise),
            ("--resample", resample),
            ("--scenarios", scenarios),
        )
        if on
    ]
    if len(chosen) != 1:
        raise SimulationError("choose one of --budgets FROM:TO:STEPS, --noise SD, --resample or --scenarios FILE")
    sweep = parse_budgets(budgets) if budgets else None
    planned = load_scenarios(scenarios) if scenarios else None
    sd = _noise(noise) if noise is not None else None
    inputs = ranked(call_path, proposals_path, tie_breaks=False)
    call, proposals, ranking = inputs.call, inputs.proposals, inputs.ranking
    if sweep is not None:
        with progress("Budget sweep", len(sweep)) as bar:
            points = budget_sweep(call, ranking, sweep, on_step=bar)
        _show(points, as_json, _print_sweep)
    elif planned is not None:
        with progress("Scenarios", len(planned)) as bar:
            summaries = compare(call, ranking, planned, on_step=bar)
        _show(summaries, as_json, _print_scenarios)
    else:
        odds = _odds_with_progress(call, ranking, proposals, sd, runs, seed, resample, full)
        _show(odds, as_json, lambda result: _print_odds(result, everything))


def _noise(text: str) -> Decimal:
    from evaluator.simulation import SimulationError

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SimulationError(f"--noise: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise SimulationError(f"--noise: the standard deviation must be zero or more, got {text}")
    return value


def _odds_with_progress(
    call: Call,
    ranking: Ranking,
    proposals: list[Proposal],
    sd: Decimal | None,
    runs: int,
    seed: int,
    resample: bool,
    full: bool,
) -> FundingOdds:
    from evaluator.simulation import funding_odds

    with progress("Monte Carlo", runs) as bar:
        return funding_odds(
            call, ranking, proposals, noise=sd, runs=runs, seed=seed, resample=resample, full=full, on_chunk=bar
        )


def _show(result: Any, as_json: bool, printer: Any) -> None:
    """A model or a list of them, written by pydantic itself as ``print_json`` writes every document.

    Funding odds list thousands of proposals: dumping them to dicts first and then to
    text took six times as long as pydantic's own writer (tests/test_simulate_cli.py
    holds the two to the same bytes).
    """
    if as_json:
        print_json(result)
    else:
        printer(result)


def _print_wide(table: Table) -> None:
    """Figures and ids are never cut: a table wider than the terminal keeps its natural width."""
    for column in table.columns:
        column.no_wrap = True
    natural = Measurement.get(console, console.options.update_width(UNLIMITED), table).maximum
    table.width = max(natural, console.width)
    console.print(table, crop=False)


def _print_sweep(points: list[SweepPoint]) -> None:
    table = Table(title="Budget sweep")
    for column in ("budget", "status", "grants", "awarded", "total score", "last funded"):
        table.add_column(column, justify="left" if column in {"status", "last funded"} else "right")
    for p in points:
        table.add_row(
            f"{p.budget:,.2f}",
            p.status,
            str(p.grants),
            f"{p.total_awarded:,.2f}",
            str(p.total_score),
            p.last_funded or "",
        )
    _print_wide(table)


def _print_scenarios(rows: list[ScenarioSummary]) -> None:
    table = Table(title="Scenarios")
    for column in ("scenario", "status", "grants", "awarded", "left", "objective", "binding", "changes"):
        table.add_column(column, justify="right" if column in {"grants", "awarded", "left", "objective"} else "left")
    for r in rows:
        changes = " ".join([*(f"+{i}" for i in r.only_here), *(f"-{i}" for i in r.not_here)])
        table.add_row(
            escape(r.scenario),
            r.status,
            str(r.grants),
            f"{r.total_awarded:,.2f}",
            f"{r.budget_left:,.2f}",
            str(r.objective),
            escape(", ".join(r.binding)),
            escape(changes),
        )
    _print_wide(table)


def _print_odds(odds: FundingOdds, everything: bool = False) -> None:
    """The proposals whose funding is in doubt, counts of the safe and the out; a screen of rows unless ``--all``.

    A screen shows the proposals nearest even odds (the ones a decision hangs on),
    in rank order; ``--full`` also lists those funded in every draw or in none.
    """
    title = f"Funding odds — {odds.runs} draws, " + (
        f"evaluator noise sd {odds.noise}" if odds.method == "noise" else "evaluators resampled"
    )
    table = Table(title=title)
    for column in ("proposal", "score", "funded now", "probability"):
        table.add_column(column, justify="left" if column == "proposal" else "right")
    rows = odds.odds
    if not everything and len(rows) > SCREEN_ROWS:
        nearest = sorted(range(len(rows)), key=lambda k: (abs(rows[k].probability - EVEN), k))[:SCREEN_ROWS]
        rows = [rows[k] for k in sorted(nearest)]
    for o in rows:
        table.add_row(escape(o.id), str(o.score), "yes" if o.funded_now else "no", f"{o.probability:.1%}")
    _print_wide(table)
    if len(rows) < len(odds.odds):
        console.print(
            f"… and {len(odds.odds) - len(rows):,} more rows not shown (shown: the {len(rows)} nearest even odds; "
            "--all prints every row, --json the document)"
        )
    between = odds.proposals - odds.always_funded - odds.never_funded
    console.print(
        f"{odds.always_funded:,} proposals are funded in every draw, {odds.never_funded:,} in none"
        + ("" if odds.full else " (--full lists them)")
        + f"; {between:,} in some draws but not all, {odds.uncertain:,} of them in 5% to 95% (seed {odds.seed})"
    )
    if odds.infeasible_draws:
        console.print(f"{odds.infeasible_draws} draws could not meet a minimum and fund nobody")


def register(app: typer.Typer) -> None:
    app.command("allocate")(allocate_command)
    app.command("simulate")(simulate_command)
