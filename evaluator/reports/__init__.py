"""Reports: the ranking and allocation as HTML with charts, CSV, XLSX and JSON.

A report is the document an agency files with its funding decision, so it is
self-contained (inline CSS and SVG), exact (amounts to the cent: strings in CSV
and JSON, number cells in XLSX), and explains itself: each proposal's page shows the scores per
evaluator, the thresholds met, the eligibility verdicts and the tie-break step.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from evaluator.ranking import RankedProposal, Ranking
from evaluator.reports.charts import Bar, funding_line, sweep
from evaluator.reports.decision_sheets import decision_sheets
from evaluator.reports.workbook import sheet_rows, workbook_bytes, write_csv
from evaluator.simulation import SweepPoint
from rules.check import EligibilityReport, ProposalEligibility
from rules.errors import OutputError, Problem
from rules.model import Call
from rules.money import format_money
from rules.proposal import Proposal

if TYPE_CHECKING:
    from evaluator.bayesian import BayesianResult


class Grant(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...


class AllocationView(Protocol):
    """What a report reads of an allocation, whatever model produced it."""

    @property
    def mode(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def total_awarded(self) -> Decimal: ...
    @property
    def budget_left(self) -> Decimal: ...
    @property
    def grants(self) -> Sequence[Grant]: ...
    @property
    def reserve(self) -> Sequence[str]: ...
    @property
    def binding(self) -> Sequence[str]: ...

    def model_dump_json(self, *, indent: int | None = None) -> str: ...


@dataclass(frozen=True)
class Decision:
    """Everything a report shows, gathered once; the lookups by id are built once too, not once per page."""

    call: Call
    proposals: list[Proposal]
    eligibility: EligibilityReport
    ranking: Ranking
    allocation: AllocationView
    budget: Decimal
    sweep: Sequence[SweepPoint] = ()
    consensus_text: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The panel's consensus comments, per proposal id and criterion."""
    bayesian: BayesianResult | None = None

    @functools.cached_property
    def granted(self) -> dict[str, Decimal]:
        return {g.id: g.amount for g in self.allocation.grants}

    @functools.cached_property
    def reserve_positions(self) -> dict[str, int]:
        return {pid: n for n, pid in enumerate(self.allocation.reserve, start=1)}

    @functools.cached_property
    def ranked(self) -> dict[str, RankedProposal]:
        return {e.id: e for e in self.ranking.entries}

    @functools.cached_property
    def verdicts(self) -> dict[str, ProposalEligibility]:
        return self.eligibility.by_id()

    def outcome(self, proposal_id: str) -> str:
        if proposal_id in self.granted:
            return "funded"
        return "reserve" if proposal_id in self.reserve_positions else "not funded"


def outcome_words(mode: str, status: str) -> str:
    """What came out, in words: "optimal" is a claim the integer program proves, never the funding line's."""
    if mode == "rank":
        return "no funding line meets the call's minimums" if status == "infeasible" else "funding line drawn"
    return {"optimal": "optimal portfolio", "feasible": "best portfolio found in the time limit"}.get(status, status)


def tie_words(key: str, detail: str) -> str:
    """An ex aequo decision for readers: the draw is named, its digests are left to the JSON files."""
    return "the documented draw (the call's reproducible lottery)" if key == "draw" else detail


@functools.cache
def _environment() -> Environment:
    """One environment for every page, so each template is compiled once, not once per proposal
    (compiling was 95% of the time: 14 s for a report on 1,000 proposals)."""
    env = Environment(
        loader=PackageLoader("evaluator.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tie_words"] = lambda tie: tie_words(tie.key, tie.detail)
    return env


NOT_IN_FILE_NAMES = frozenset('%/\\:*?"<>|')


def page_file(proposal_id: str) -> str:
    """A proposal page's file name: its id, with ``%`` and what some file system cannot hold percent-escaped.

    Accents and other scripts stay as they are, so the folder reads like the ranking.
    """
    return "".join(f"%{ord(c):02X}" if c in NOT_IN_FILE_NAMES or c < " " else c for c in proposal_id) + ".html"


def served_page(proposal_id: str) -> str:
    """The link to a page served by proposal id (the HTTP API decodes the URL once)."""
    return quote(proposal_id, safe="") + ".html"


def written_page(proposal_id: str) -> str:
    """The link to a page :func:`write_report` wrote: the URL of its file name, which a browser decodes once."""
    return quote(page_file(proposal_id))


def _bars(decision: Decision) -> list[Bar]:
    granted, reserve = decision.granted, decision.reserve_positions
    bars = []
    for entry in decision.ranking.fundable():
        amount = granted.get(entry.id)
        if amount is not None:
            status = "funded" if amount == entry.requested_amount else "partial"
        else:
            status = "reserve" if entry.id in reserve else "not fundable"
        bars.append(Bar(entry.id, entry.requested_amount, entry.weighted_total, status, amount))
    return bars


def funding_chart(decision: Decision) -> str:
    """The funding line of a decision as inline SVG: requests in rank order against the budget."""
    return funding_line(_bars(decision), decision.budget, decision.call.currency)


def render_index(decision: Decision, page_link: Callable[[str], str] = served_page) -> str:
    call = decision.call
    money = lambda amount: format_money(Decimal(amount), call.currency)  # noqa: E731 - a template filter
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            call=call,
            ranking=decision.ranking,
            allocation=decision.allocation,
            outcome=outcome_words(decision.allocation.mode, decision.allocation.status),
            budget=decision.budget,
            binding=list(decision.allocation.binding),
            limit_effects=_limit_effects(decision.allocation),
            granted=decision.granted,
            reserve=decision.reserve_positions,
            proposals_count=len(decision.proposals),
            eligible_count=len(decision.eligibility.eligible_ids),
            fundable_count=len(decision.ranking.fundable()),
            funding_chart=funding_chart(decision),
            sweep=decision.sweep,
            sweep_chart=sweep([(p.budget, p.grants) for p in decision.sweep], call.currency),
            bayesian=decision.bayesian,
            uncertainty_charts=_uncertainty_charts(decision.bayesian),
            money=money,
            page_link=page_link,
        )
    )


def _uncertainty_charts(bayesian: BayesianResult | None) -> list[str]:
    """The Bayesian ranking's charts; the model (scipy) is loaded only for a report that has one."""
    if bayesian is None:
        return []
    from evaluator.reports import uncertainty

    return uncertainty.charts(bayesian)


def render_proposal(decision: Decision, proposal: Proposal) -> str:
    call = decision.call
    entry = decision.ranked.get(proposal.id)
    return (
        _environment()
        .get_template("proposal.html.j2")
        .render(
            call=call,
            proposal=proposal,
            entry=entry,
            eligibility=decision.verdicts[proposal.id],
            granted=decision.granted.get(proposal.id),
            reserve_position=decision.reserve_positions.get(proposal.id),
            consensus_text=decision.consensus_text.get(proposal.id, {}),
            reserve_reason=getattr(decision.allocation, "reasons", {}).get(proposal.id),
            money=lambda amount: format_money(Decimal(amount), call.currency),
        )
    )


def _limit_effects(allocation: AllocationView) -> list[str]:
    """What each limit costs and what more budget buys, in words (an allocation from the store may have none)."""
    effects = [p.explanation for p in getattr(allocation, "prices", []) if p.explanation]
    more = getattr(allocation, "more_budget", None)
    return effects + ([more.explanation] if more is not None and more.explanation else [])


def write_report(decision: Decision, out_dir: Path, on_page: Callable[[int], None] | None = None) -> Path:
    """Write index.html, one page per proposal, CSV, XLSX and JSON; return the index.

    ``on_page`` hears how many proposal pages are written, after each (a progress bar).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError([Problem("is a file; the report needs a folder to write into", file=str(out_dir))])
    try:
        return _write_files(decision, out_dir, on_page)
    except OSError as exc:
        where = str(exc.filename or out_dir)
        raise OutputError([Problem(f"cannot write the report: {exc.strerror or exc}", file=where)]) from None


def _write_files(decision: Decision, out_dir: Path, on_page: Callable[[int], None] | None) -> Path:
    pages = out_dir / "proposals"
    pages.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(render_index(decision, written_page), encoding="utf-8")
    for written, proposal in enumerate(decision.proposals, start=1):
        (pages / page_file(proposal.id)).write_text(render_proposal(decision, proposal), encoding="utf-8")
        if on_page is not None:
            on_page(written)
    sheets = decision_sheets(decision)
    for name in ("eligibility", "ranking", "allocation", "reserve"):
        write_csv(out_dir / f"{name}.csv", sheet_rows(sheets[name]))
    (out_dir / "report.xlsx").write_bytes(workbook_bytes(sheets, decision.call.currency))
    (out_dir / "ranking.json").write_text(decision.ranking.model_dump_json(indent=2), encoding="utf-8")
    if decision.bayesian is not None:
        (out_dir / "bayesian.json").write_text(decision.bayesian.model_dump_json(indent=2), encoding="utf-8")
    (out_dir / "allocation.json").write_text(decision.allocation.model_dump_json(indent=2), encoding="utf-8")
    (out_dir / "eligibility.json").write_text(
        json.dumps(decision.eligibility.model_dump(mode="json"), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return index
