"""What ranking, allocation and simulation read: the call and its scored proposals, at one instant.

A score counts when its sheet is submitted and its evaluator is assigned to the
proposal with no declared conflict with it; drafts, and withdrawn or conflicted
evaluators' sheets, stay on record but are not read. Everything is read in one
transaction (repeatable read on PostgreSQL), so a run never mixes scores from before and after a concurrent write.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from api.db import queries
from api.db.models import (
    AssignmentRow,
    ConflictRow,
    ConsensusScore,
    ConsensusSheet,
    ProposalRow,
    Score,
    ScoreSheet,
)
from rules.model import Call
from rules.proposal import Evaluation, Proposal


def _evaluations(session: Session, call_id: str) -> dict[int, list[Evaluation]]:
    counted = and_(
        exists().where(
            AssignmentRow.proposal_id == ScoreSheet.proposal_id, AssignmentRow.evaluator_id == ScoreSheet.evaluator_id
        ),
        ~exists().where(
            ConflictRow.proposal_id == ScoreSheet.proposal_id, ConflictRow.evaluator_id == ScoreSheet.evaluator_id
        ),
    )
    rows = session.execute(
        select(ScoreSheet.proposal_id, ScoreSheet.evaluator_id, Score.criterion, Score.value, Score.comment)
        .join(Score, Score.sheet_id == ScoreSheet.id)
        .join(ProposalRow, ProposalRow.id == ScoreSheet.proposal_id)
        .where(ProposalRow.call_id == call_id, ScoreSheet.state == "submitted", counted)
        .order_by(ScoreSheet.proposal_id, ScoreSheet.evaluator_id)
    )
    sheets: dict[tuple[int, str], Evaluation] = {}
    for proposal_id, evaluator_id, criterion, value, comment in rows:
        sheet = sheets.setdefault((proposal_id, evaluator_id), Evaluation(evaluator=evaluator_id, scores={}))
        sheet.scores[criterion] = value
        if comment:
            sheet.comments[criterion] = comment
    by_proposal: dict[int, list[Evaluation]] = defaultdict(list)
    for (proposal_id, _), sheet in sheets.items():
        by_proposal[proposal_id].append(sheet)
    return by_proposal


def _consensus(session: Session, call_id: str) -> dict[int, dict[str, Decimal]]:
    rows = session.execute(
        select(ConsensusSheet.proposal_id, ConsensusScore.criterion, ConsensusScore.value)
        .join(ConsensusScore, ConsensusScore.sheet_id == ConsensusSheet.id)
        .join(ProposalRow, ProposalRow.id == ConsensusSheet.proposal_id)
        .where(ProposalRow.call_id == call_id)
    )
    found: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for proposal_id, criterion, value in rows:
        found[proposal_id][criterion] = value
    return found


def consensus_text(session: Session, call_id: str) -> dict[str, dict[str, str]]:
    """The consensus comments per proposal id and criterion: what the panel wrote beside its scores."""
    rows = session.execute(
        select(ProposalRow.code, ConsensusScore.criterion, ConsensusScore.comment)
        .join(ConsensusSheet, ConsensusSheet.proposal_id == ProposalRow.id)
        .join(ConsensusScore, ConsensusScore.sheet_id == ConsensusSheet.id)
        .where(ProposalRow.call_id == call_id, ConsensusScore.comment != "")
        .order_by(ProposalRow.code, ConsensusScore.criterion)
    )
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for code, criterion, comment in rows:
        found[code][criterion] = comment
    return dict(found)


def scored_proposals(session: Session, call_id: str) -> tuple[Call, int, list[Proposal]]:
    """The current call, its version, and its proposals with the scores that count."""
    call, version = queries.current_call(session, call_id)
    evaluations = _evaluations(session, call_id)
    consensus = _consensus(session, call_id)
    rows = session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id).order_by(ProposalRow.code))
    proposals = [
        queries.proposal_model(row).model_copy(
            update={"evaluations": evaluations.get(row.id, []), "consensus": consensus.get(row.id)}
        )
        for row in rows.scalars()
    ]
    return call, version, proposals
