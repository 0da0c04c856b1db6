"""Conflicts that stay true: every assignment of a call re-checked when what decides a conflict changes.

A conflict is checked when an evaluator is assigned, but a proposal can be uploaded
again with the evaluator's organisation as a partner, a profile corrected, or the
call's policy switched to ``same_country_conflict``. After each such write the
call's assignments are checked again in the same transaction: one that has become
conflicted is suspended (the evaluator no longer sees the proposal and their sheet
stops counting, though it stays on record), one whose conflict is gone resumes, and
each change is audited and returned, so the write that caused it tells the agency.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.assignment import ConflictRecord, Consortia
from api.db import queries
from api.db.models import AssignmentRow, ConflictRow, EvaluatorRow, ProposalRow


class Suspension(BaseModel):
    """An assignment whose standing changed: suspended with the reason, or resumed (``reason`` None)."""

    proposal_id: str
    evaluator_id: str
    reason: str | None = Field(description="the conflicts that suspend it; null: the assignment resumed")


def _reason(conflicts: list[ConflictRecord]) -> str | None:
    return "; ".join(f"{c.kind}: {c.detail or 'declared by ' + str(c.declared_by)}" for c in conflicts) or None


def recheck(session: Session, call_id: str, actor: str) -> list[Suspension]:
    """Suspend or resume each assignment of the call as its conflicts now stand; audited per change."""
    proposals = {p.id: p for p in session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id)).scalars()}
    assignments = list(
        session.execute(
            select(AssignmentRow).where(AssignmentRow.proposal_id.in_(proposals)).order_by(AssignmentRow.id)
        ).scalars()
    )
    if not assignments:
        return []
    policy = queries.policy(session, call_id)
    consortia = Consortia(queries.proposal_model(p) for p in proposals.values())
    ids = {a.evaluator_id for a in assignments}
    conflicts: dict[tuple[str, str], list[ConflictRecord]] = defaultdict(list)
    for evaluator in session.execute(select(EvaluatorRow).where(EvaluatorRow.id.in_(ids))).scalars():
        for found in consortia.conflicts_of(queries.profile(evaluator), policy):
            conflicts[found.proposal_id, found.evaluator_id].append(found)
    declared = session.execute(select(ConflictRow).where(ConflictRow.proposal_id.in_(proposals))).scalars()
    for row in declared:
        conflicts[proposals[row.proposal_id].code, row.evaluator_id].append(
            ConflictRecord(
                proposal_id=proposals[row.proposal_id].code,
                evaluator_id=row.evaluator_id,
                kind=row.kind,
                detail=row.detail,
                detected=False,
                declared_by=row.declared_by,
            )
        )
    changes = []
    for assignment in assignments:
        code = proposals[assignment.proposal_id].code
        reason = _reason(conflicts.get((code, assignment.evaluator_id), []))
        if reason == assignment.suspended:
            continue
        before, assignment.suspended = assignment.suspended, reason
        target = f"call/{call_id}/proposal/{code}/evaluator/{assignment.evaluator_id}"
        action = "assignment.suspend" if reason else "assignment.resume"
        audit.record(session, actor, action, target, {"suspended": before}, {"suspended": reason})
        changes.append(Suspension(proposal_id=code, evaluator_id=assignment.evaluator_id, reason=reason))
    return changes


def recheck_evaluator(session: Session, evaluator_id: str, actor: str) -> list[Suspension]:
    """Re-check every call the evaluator is assigned in, after their profile changed."""
    calls = session.execute(
        select(ProposalRow.call_id)
        .join(AssignmentRow, AssignmentRow.proposal_id == ProposalRow.id)
        .where(AssignmentRow.evaluator_id == evaluator_id)
        .distinct()
        .order_by(ProposalRow.call_id)
    ).scalars()
    return [change for call_id in list(calls) for change in recheck(session, call_id, actor)]
