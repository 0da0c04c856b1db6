"""How far the evaluation of a call has come: sheets per proposal, and what needs the agency's eye.

A sheet counts when it is submitted, its evaluator is still assigned and has no
declared conflict with the proposal (as :mod:`api.db.snapshot` reads them). The
progress says, per proposal, how many sheets count, which are drafts, which
assigned evaluators have none, which sheets were set aside by a withdrawal and why,
and flags what a panel secretary would chase.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.db import queries
from api.db.models import AssignmentRow, ConflictRow, ProposalRow, ScoreSheet, Withdrawal
from api.phases import Phase, phase_of


class WithdrawnSheet(BaseModel):
    evaluator_id: str
    sheet_state: str
    reason: str
    withdrawn_by: str
    withdrawn_at: dt.datetime


class ProposalProgress(BaseModel):
    proposal_id: str
    assigned: list[str] = Field(description="evaluators assigned now, without a conflict")
    submitted: list[str] = Field(description="evaluators whose submitted sheet counts")
    drafts: list[str] = Field(description="assigned evaluators whose sheet is still a draft")
    missing: list[str] = Field(description="assigned evaluators with no sheet yet")
    reopened: dict[str, str] = Field(default_factory=dict, description="evaluator -> why the agency reopened it")
    not_counted: dict[str, str] = Field(default_factory=dict, description="evaluator -> why their sheet is not read")
    withdrawn: list[WithdrawnSheet] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)


class Progress(BaseModel):
    call_id: str
    phase: Phase
    sheets_submitted: int
    sheets_expected: int
    proposals: list[ProposalProgress]


def _flags(entry: ProposalProgress, minimum: int) -> list[str]:
    flags = []
    if len(entry.submitted) < minimum:
        flags.append(f"{len(entry.submitted)} submitted sheets, fewer than the {minimum} the call asks for")
    flags += [f"{e}'s sheet is a draft" for e in entry.drafts]
    flags += [f"{e} has not started" for e in entry.missing]
    flags += [f"{e}'s sheet was reopened: {why}" for e, why in entry.reopened.items()]
    flags += [f"{e}'s sheet does not count: {why}" for e, why in entry.not_counted.items()]
    flags += [f"{w.evaluator_id} was withdrawn with a {w.sheet_state} sheet: {w.reason}" for w in entry.withdrawn]
    return flags


def progress(session: Session, principal: Principal, call_id: str) -> Progress:
    """The evaluation's progress, proposal by proposal."""
    call = queries.call_row(session, call_id, principal)
    model, _ = queries.current_call(session, call_id)
    proposals = {
        row.id: ProposalProgress(proposal_id=row.code, assigned=[], submitted=[], drafts=[], missing=[])
        for row in session.execute(
            select(ProposalRow).where(ProposalRow.call_id == call_id).order_by(ProposalRow.code)
        ).scalars()
    }
    ids = list(proposals)
    pairs = select(ConflictRow.proposal_id, ConflictRow.evaluator_id).where(ConflictRow.proposal_id.in_(ids))
    conflicted = {(proposal_id, evaluator_id) for proposal_id, evaluator_id in session.execute(pairs)}
    assigned: dict[int, set[str]] = defaultdict(set)
    for proposal_id, evaluator_id in session.execute(
        select(AssignmentRow.proposal_id, AssignmentRow.evaluator_id).where(AssignmentRow.proposal_id.in_(ids))
    ):
        assigned[proposal_id].add(evaluator_id)
    sheets = session.execute(
        select(ScoreSheet).where(ScoreSheet.proposal_id.in_(ids)).order_by(ScoreSheet.evaluator_id)
    ).scalars()
    have: dict[int, set[str]] = defaultdict(set)
    for sheet in sheets:
        entry, evaluator_id = proposals[sheet.proposal_id], sheet.evaluator_id
        have[sheet.proposal_id].add(evaluator_id)
        if sheet.reopened_reason and sheet.state == "draft":
            entry.reopened[evaluator_id] = sheet.reopened_reason
        if (sheet.proposal_id, evaluator_id) in conflicted:
            entry.not_counted[evaluator_id] = "a conflict of interest"
        elif evaluator_id not in assigned[sheet.proposal_id]:
            entry.not_counted[evaluator_id] = "no longer assigned"
        elif sheet.state == "submitted":
            entry.submitted.append(evaluator_id)
        else:
            entry.drafts.append(evaluator_id)
    for proposal_id, entry in proposals.items():
        entry.assigned = sorted(e for e in assigned[proposal_id] if (proposal_id, e) not in conflicted)
        entry.missing = [e for e in entry.assigned if e not in have[proposal_id]]
    for row in session.execute(
        select(Withdrawal).where(Withdrawal.proposal_id.in_(ids)).order_by(Withdrawal.id)
    ).scalars():
        proposals[row.proposal_id].withdrawn.append(
            WithdrawnSheet(
                evaluator_id=row.evaluator_id,
                sheet_state=row.sheet_state,
                reason=row.reason,
                withdrawn_by=row.withdrawn_by,
                withdrawn_at=row.withdrawn_at,
            )
        )
    for entry in proposals.values():
        entry.flags = _flags(entry, model.scoring.min_evaluators)
    return Progress(
        call_id=call_id,
        phase=phase_of(call),
        sheets_submitted=sum(len(e.submitted) for e in proposals.values()),
        sheets_expected=sum(len(e.assigned) for e in proposals.values()),
        proposals=list(proposals.values()),
    )
