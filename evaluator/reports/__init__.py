"""Reports: the ranking and allocation as HTML with charts, CSV, XLSX and JSON.

A report is the document an agency files with its funding decision, so it is
self-contained (inline CSS and SVG), exact (amounts to the cent, as strings in
CSV and JSON), and explains itself: each proposal's page shows the scores per
evaluator, the thresholds met, the eligibility verdicts and the tie-break step.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook

from evaluator.ranking import Ranking
from evaluator.reports.charts import Bar, funding_line, sweep
from evaluator.simulation import SweepPoint
from rules.check import EligibilityReport
from rules.model import Call
from rules.money import format_money
from rules.proposal import Proposal


class Grant(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...


class AllocationView(Protocol):
    """What a report reads of an allocation, whatever model produced it."""

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
    """Everything a report shows, gathered once."""

    call: Call
    proposals: list[Proposal]
    eligibility: EligibilityReport
    ranking: Ranking
    allocation: AllocationView
    budget: Decimal
    sweep: Sequence[SweepPoint] = ()

    @property
    def granted(self) -> dict[str, Decimal]:
        return {g.id: g.amount for g in self.allocation.grants}

    @property
    def reserve_positions(self) -> dict[str, int]:
        return {pid: n for n, pid in enumerate(self.allocation.reserve, start=1)}

    def outcome(self, proposal_id: str) -> str:
        if proposal_id in self.granted:
            return "funded"
        return "reserve" if proposal_id in self.reserve_positions else "not funded"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("evaluator.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlencode"] = lambda value: quote(str(value), safe="")
    return env


def _bars(decision: Decision) -> list[Bar]:
    granted, reserve = decision.granted, decision.reserve_positions
    bars = []
    for entry in decision.ranking.fundable():
        amount = granted.get(entry.id)
        if amount is not None:
            status = "funded" if amount == entry.requested_amount else "partial"
        else:
            status = "reserve" if entry.id in reserve else "not fundable"
        bars.append(Bar(entry.id, entry.requested_amount, entry.weighted_total, status))
    return bars


def render_index(decision: Decision) -> str:
    call = decision.call
    money = lambda amount: format_money(Decimal(amount), call.currency)  # noqa: E731 - a template filter
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            call=call,
            ranking=decision.ranking,
            allocation=decision.allocation,
            budget=decision.budget,
            binding=list(decision.allocation.binding),
            granted=decision.granted,
            reserve=decision.reserve_positions,
            proposals_count=len(decision.proposals),
            eligible_count=len(decision.eligibility.eligible_ids),
            fundable_count=len(decision.ranking.fundable()),
            funding_chart=funding_line(_bars(decision), decision.budget, call.currency),
            sweep=decision.sweep,
            sweep_chart=sweep([(p.budget, p.grants) for p in decision.sweep], call.currency),
            money=money,
        )
    )


def render_proposal(decision: Decision, proposal: Proposal) -> str:
    call = decision.call
    entry = next((e for e in decision.ranking.entries if e.id == proposal.id), None)
    return (
        _environment()
        .get_template("proposal.html.j2")
        .render(
            call=call,
            proposal=proposal,
            entry=entry,
            eligibility=decision.eligibility.by_id()[proposal.id],
            granted=decision.granted.get(proposal.id),
            reserve_position=decision.reserve_positions.get(proposal.id),
            money=lambda amount: format_money(Decimal(amount), call.currency),
        )
    )


def ranking_rows(decision: Decision) -> list[list[str]]:
    """The ranking as a table: one row per proposal, exact amounts as strings."""
    criteria = [c.id for c in decision.call.criteria]
    header = [
        "position",
        "list",
        "id",
        "acronym",
        "lead_country",
        *criteria,
        "total",
        "weighted_total",
        "requested_amount",
        "eligible",
        "fundable",
        "outcome",
        "granted",
        "reasons",
        "ex_aequo",
    ]
    rows = [header]
    for e in decision.ranking.entries:
        granted = decision.granted.get(e.id)
        tie = f"{e.ex_aequo.key} vs {e.ex_aequo.other}: {e.ex_aequo.detail}" if e.ex_aequo else ""
        rows.append(
            [
                str(e.position or ""),
                e.list_name,
                e.id,
                e.acronym,
                e.lead_country,
                *(str(e.scores.get(c, "")) for c in criteria),
                str(e.total),
                str(e.weighted_total),
                str(e.requested_amount),
                str(e.eligible).lower(),
                str(e.fundable).lower(),
                decision.outcome(e.id),
                "" if granted is None else str(granted),
                "; ".join(e.reasons),
                tie,
            ]
        )
    return rows


def allocation_rows(decision: Decision) -> list[list[str]]:
    rows = [["id", "outcome", "amount", "reserve_position"]]
    rows += [[g.id, "funded", str(g.amount), ""] for g in decision.allocation.grants]
    rows += [[pid, "reserve", "", str(n)] for pid, n in decision.reserve_positions.items()]
    return rows


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def _write_xlsx(path: Path, sheets: dict[str, list[list[str]]]) -> None:
    """Amounts stay text in the workbook: a spreadsheet's floats would round the cents."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)


def write_report(decision: Decision, out_dir: Path) -> Path:
    """Write index.html, one page per proposal, CSV, XLSX and JSON; return the index."""
    pages = out_dir / "proposals"
    pages.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(render_index(decision), encoding="utf-8")
    for proposal in decision.proposals:
        (pages / f"{quote(proposal.id, safe='')}.html").write_text(
            render_proposal(decision, proposal), encoding="utf-8"
        )
    ranking, allocation = ranking_rows(decision), allocation_rows(decision)
    _write_csv(out_dir / "ranking.csv", ranking)
    _write_csv(out_dir / "allocation.csv", allocation)
    _write_xlsx(out_dir / "report.xlsx", {"ranking": ranking, "allocation": allocation})
    (out_dir / "ranking.json").write_text(decision.ranking.model_dump_json(indent=2), encoding="utf-8")
    (out_dir / "allocation.json").write_text(decision.allocation.model_dump_json(indent=2), encoding="utf-8")
    (out_dir / "eligibility.json").write_text(
        json.dumps(decision.eligibility.model_dump(mode="json"), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return index
