"""Proposals as spreadsheets: the layout ``rules.spreadsheet`` reads, written back.

An XLSX file has three sheets (``proposals``, one row each; ``partners``, joined by
``proposal_id``; ``evaluations``, one row per proposal and evaluator, the panel's
consensus as evaluator ``consensus``). A CSV holds one table, so proposals are one
row per partner with the proposal's columns repeated, and evaluations go to a second
file. What is written reads back to the same proposals.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from evaluator.reports.workbook import Column, Kind, Sheet
from rules.model import Call
from rules.proposal import Partner, Proposal

PROPOSAL: list[tuple[str, Kind]] = [
    ("id", "text"),
    ("acronym", "text"),
    ("title", "text"),
    ("topic", "text"),
    ("requested_amount", "money"),
    ("total_cost", "money"),
    ("duration_months", "count"),
    ("gender_balance", "score"),
]
PARTNER: list[tuple[str, Kind]] = [
    ("partner", "text"),
    ("country", "text"),
    ("region", "text"),
    ("city", "text"),
    ("type", "text"),
    ("role", "text"),
    ("headcount", "score"),
    ("turnover", "money"),
    ("balance_sheet", "money"),
    ("budget", "money"),
]
NOT_APPLICABLE = "n/a"
CONSENSUS = "consensus"


def _proposal_values(p: Proposal) -> list[Any]:
    return [p.id, p.acronym, p.title, p.topic, p.requested_amount, p.total_cost, p.duration_months, p.gender_balance]


def _partner_values(partner: Partner) -> list[Any]:
    return [
        partner.name,
        partner.country,
        partner.region,
        partner.city,
        partner.type.value,
        partner.role.value,
        partner.headcount,
        partner.turnover,
        partner.balance_sheet,
        partner.budget,
    ]


def _columns(spec: list[tuple[str, Kind]]) -> list[Column]:
    return [Column(name, kind) for name, kind in spec]


def criteria_of(proposals: Sequence[Proposal], call: Call | None = None) -> list[str]:
    """The call's criteria, or else every criterion the proposals' scores name, in order of appearance."""
    if call is not None:
        return [c.id for c in call.criteria]
    seen: dict[str, None] = {}
    for p in proposals:
        for evaluation in p.evaluations:
            seen.update(dict.fromkeys(evaluation.scores))
        seen.update(dict.fromkeys(p.consensus or {}))
    return list(seen)


def proposals_sheet(proposals: Sequence[Proposal]) -> Sheet:
    return Sheet(_columns(PROPOSAL), [_proposal_values(p) for p in proposals])


def partners_sheet(proposals: Sequence[Proposal]) -> Sheet:
    columns = [Column("proposal_id"), *_columns(PARTNER)]
    return Sheet(columns, [[p.id, *_partner_values(partner)] for p in proposals for partner in p.partners])


def one_row_per_partner(proposals: Sequence[Proposal]) -> Sheet:
    """The layout a CSV can hold: the proposal's columns repeated on each of its partners' rows."""
    rows = [[*_proposal_values(p), *_partner_values(partner)] for p in proposals for partner in p.partners]
    return Sheet(_columns(PROPOSAL + PARTNER), rows)


def _score(value: Decimal | None) -> Decimal | str:
    return NOT_APPLICABLE if value is None else value


def evaluations_sheet(proposals: Sequence[Proposal], criteria: list[str]) -> Sheet:
    columns = [Column("proposal_id"), Column("evaluator"), *(Column(c, "score") for c in criteria)]
    columns += [Column(f"{c}_comment") for c in criteria]
    rows = []
    for p in proposals:
        for e in p.evaluations:
            scores = [_score(e.scores[c]) if c in e.scores else None for c in criteria]
            rows.append([p.id, e.evaluator, *scores, *(e.comments.get(c) for c in criteria)])
        if p.consensus:
            rows.append([p.id, CONSENSUS, *(p.consensus.get(c) for c in criteria), *([None] * len(criteria))])
    return Sheet(columns, rows)


def proposal_sheets(proposals: Sequence[Proposal], call: Call | None = None) -> dict[str, Sheet]:
    """The XLSX layout: proposals, partners and (when there are any, or a call names criteria) evaluations."""
    sheets = {"proposals": proposals_sheet(proposals), "partners": partners_sheet(proposals)}
    criteria = criteria_of(proposals, call)
    if criteria:
        sheets["evaluations"] = evaluations_sheet(proposals, criteria)
    return sheets
