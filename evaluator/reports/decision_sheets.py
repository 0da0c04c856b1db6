"""A funding decision as typed tables: summary, eligibility, ranking, allocation and reserve list.

The same tables feed the XLSX workbook (typed cells) and the CSV files (exact text),
so both say the same thing; ``grants report`` and the API's report downloads write them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from evaluator.reports.workbook import Column, Sheet
from rules.money import CENT

if TYPE_CHECKING:
    from evaluator.reports import Decision

SHARE = Decimal("0.0001")


def _lead(decision: Decision) -> dict[str, tuple[str, str]]:
    return {p.id: (p.lead.name, p.lead.country) for p in decision.proposals}


def summary_sheet(decision: Decision) -> Sheet:
    call, allocation = decision.call, decision.allocation
    deadline = call.dates.deadline
    if isinstance(deadline, dt.datetime):
        deadline = deadline.replace(tzinfo=None)  # Excel has no time zones: the call's local time is shown
    columns = [
        Column("call"),
        Column("title"),
        Column("budget", "money"),
        Column("awarded", "money"),
        Column("budget_left", "money"),
        Column("grants", "count"),
        Column("reserve", "count"),
        Column("proposals", "count"),
        Column("eligible", "count"),
        Column("deadline", "date"),
    ]
    row = [
        call.id,
        call.title,
        decision.budget,
        allocation.total_awarded,
        allocation.budget_left,
        len(allocation.grants),
        len(allocation.reserve),
        len(decision.proposals),
        len(decision.eligibility.eligible_ids),
        deadline,
    ]
    return Sheet(columns, [row])


def eligibility_sheet(decision: Decision) -> Sheet:
    """One row per failed rule with its reason; an eligible proposal has one row and no rule."""
    leads = _lead(decision)
    acronyms = {p.id: p.acronym for p in decision.proposals}
    columns = [Column("id"), Column("acronym"), Column("lead"), Column("lead_country"), Column("eligible", "flag")]
    columns += [Column("rule"), Column("reason"), Column("call_text")]
    rows = []
    for result in decision.eligibility.results:
        start = [result.id, acronyms.get(result.id, ""), *leads.get(result.id, ("", "")), result.eligible]
        rows += [[*start, f.rule, f.reason, f.source or ""] for f in result.failures] or [[*start, "", "", ""]]
    return Sheet(columns, rows)


def ranking_sheet(decision: Decision) -> Sheet:
    criteria = [c.id for c in decision.call.criteria]
    columns = [Column("position", "count"), Column("list"), Column("id"), Column("acronym"), Column("lead_country")]
    columns += [Column(c, "score") for c in criteria]
    columns += [Column("total", "score"), Column("weighted_total", "score"), Column("requested_amount", "money")]
    columns += [Column("eligible", "flag"), Column("fundable", "flag"), Column("outcome"), Column("granted", "money")]
    columns += [Column("reasons"), Column("ex_aequo")]
    rows = []
    for e in decision.ranking.entries:
        tie = f"{e.ex_aequo.key} vs {e.ex_aequo.other}: {e.ex_aequo.detail}" if e.ex_aequo else ""
        rows.append(
            [
                e.position,
                e.list_name,
                e.id,
                e.acronym,
                e.lead_country,
                *(e.scores.get(c) for c in criteria),
                e.total,
                e.weighted_total,
                e.requested_amount.quantize(CENT),
                e.eligible,
                e.fundable,
                decision.outcome(e.id),
                decision.granted.get(e.id),
                "; ".join(e.reasons),
                tie,
            ]
        )
    return Sheet(columns, rows)


def _share(granted: Decimal, requested: Decimal) -> Decimal:
    return (granted / requested).quantize(SHARE) if requested else Decimal(0)


def allocation_sheet(decision: Decision) -> Sheet:
    """The grants in the order awarded: what was asked, what was granted, and the share of the request."""
    leads, ranked = _lead(decision), decision.ranked
    columns = [Column("id"), Column("acronym"), Column("lead"), Column("lead_country"), Column("score", "score")]
    columns += [Column("requested", "money"), Column("granted", "money"), Column("share", "share")]
    rows = []
    for grant in decision.allocation.grants:
        entry = ranked.get(grant.id)
        requested = entry.requested_amount if entry else grant.amount
        rows.append(
            [
                grant.id,
                entry.acronym if entry else "",
                *leads.get(grant.id, ("", "")),
                entry.weighted_total if entry else None,
                requested.quantize(CENT),
                grant.amount.quantize(CENT),
                _share(grant.amount, requested),
            ]
        )
    return Sheet(columns, rows)


def reserve_sheet(decision: Decision) -> Sheet:
    leads, ranked = _lead(decision), decision.ranked
    columns = [Column("reserve_position", "count"), Column("id"), Column("acronym"), Column("lead")]
    columns += [Column("lead_country"), Column("score", "score"), Column("requested", "money")]
    rows = []
    for position, pid in enumerate(decision.allocation.reserve, start=1):
        entry = ranked.get(pid)
        rows.append(
            [
                position,
                pid,
                entry.acronym if entry else "",
                *leads.get(pid, ("", "")),
                entry.weighted_total if entry else None,
                entry.requested_amount.quantize(CENT) if entry else None,
            ]
        )
    return Sheet(columns, rows)


def decision_sheets(decision: Decision) -> dict[str, Sheet]:
    return {
        "summary": summary_sheet(decision),
        "eligibility": eligibility_sheet(decision),
        "ranking": ranking_sheet(decision),
        "allocation": allocation_sheet(decision),
        "reserve": reserve_sheet(decision),
    }
