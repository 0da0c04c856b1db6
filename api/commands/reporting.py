"""``grants report`` and ``grants demo``: the whole pipeline, written down.

``demo`` is what a newcomer runs first: it validates the cluster call shipped in
``calls/``, checks, ranks and allocates its sample, writes the report, and says
where to look, so one command shows every stage working on real-shaped data. The
call is package data (``api/demo_call`` links to ``calls/cosme_cluster_2020``), so
the demo runs from an installed package as from a checkout.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from api.commands.bayesian import Bayes, Rankogram, bayesian_of, wanted
from api.commands.calls import CallPath, ProposalsPath, ranked
from api.commands.progress import progress
from rules.errors import CallError

if TYPE_CHECKING:
    from evaluator.reports import Decision

console = Console(highlight=False, soft_wrap=True)
SWEEP_STEPS = 11


def decide(
    call_path: Path, proposals_path: Path, bayes: bool | None = None, rankograms: list[str] | None = None
) -> Decision:
    """Check, rank and allocate with the call's own settings, sweep the budget around it (and, asked, rank by the
    Bayesian model)."""
    from evaluator.allocation import allocate
    from evaluator.reports import Decision
    from evaluator.simulation import budget_range, budget_sweep

    inputs = ranked(call_path, proposals_path)
    call, ranking = inputs.call, inputs.ranking
    allocation = allocate(call, ranking)
    budget = call.budget.total
    with progress("Budget sweep", SWEEP_STEPS) as bar:
        points = budget_sweep(
            call, ranking, budget_range(budget / 2, budget * Decimal("1.5"), SWEEP_STEPS), on_step=bar
        )
    bayesian = bayesian_of(inputs, rankograms) if wanted(inputs, bayes) or rankograms else None
    return Decision(call, inputs.proposals, inputs.eligibility, ranking, allocation, budget, points, bayesian=bayesian)


def report(
    call_path: CallPath,
    proposals_path: ProposalsPath,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="folder to write the report into")] = Path("report"),
    bayes: Bayes = None,
    rankogram: Rankogram = None,
) -> None:
    """Write the ranking and allocation report: HTML with charts, one page per proposal, CSV, XLSX, JSON."""
    from evaluator.reports import write_report

    decision = decide(call_path, proposals_path, bayes, rankogram)
    with progress("Writing the report", len(decision.proposals)) as bar:
        index = write_report(decision, out, on_page=bar)
    console.print(f"report written: {index}")


def demo(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="folder to write the report into")] = Path(
        "demo-report"
    ),
) -> None:
    """Run the whole pipeline on the European Strategic Cluster Partnerships sample and write its report."""
    from evaluator.reports import outcome_words, write_report
    from rules.lint import lint_text
    from rules.load import read_text

    with resources.as_file(resources.files("api") / "demo_call") as folder:
        decision = decide(folder / "call.yaml", folder / "proposals.yaml")
        warnings = lint_text(decision.call, read_text(folder / "call.yaml", CallError), "call.yaml")
    allocation, call = decision.allocation, decision.call
    console.print(f"[bold]{escape(call.title)}[/bold] ({call.id})")
    console.print(f"1. validate: valid call, {len(warnings)} lint warnings")
    console.print(
        f"2. check:    {len(decision.eligibility.eligible_ids)} of {len(decision.proposals)} proposals eligible"
    )
    console.print(f"3. rank:     {len(decision.ranking.fundable())} proposals above every threshold")
    console.print(
        f"4. allocate: {outcome_words(allocation.mode, allocation.status)}: {len(allocation.grants)} grants, "
        f"{call.currency} {allocation.total_awarded:,.2f} awarded of {call.currency} {call.budget.total:,.2f}, "
        f"{len(allocation.reserve)} on the reserve list"
    )
    with progress("Writing the report", len(decision.proposals)) as bar:
        index = write_report(decision, out, on_page=bar)
    console.print(f"5. report:   {index.resolve()}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("demo")(demo)
