"""Conflicts of interest: declared ones, stored with who and when, and detected ones.

Declaring a conflict on an assigned pair withdraws the assignment in the same
transaction: from then on the evaluator neither sees the proposal nor counts in its
ranking, and the audit log says who withdrew it and why.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.assignment import ConflictKind, ConflictRecord, Consortia
from api.auth import Caller, Db, Principal, Scope
from api.db import queries
from api.db.limits import Storable, findable
from api.db.models import AssignmentRow, ConflictRow, EvaluatorRow, ProposalRow
from api.problems import Forbidden, NotFound
from api.routers.common import Page, Paging, guarded_router
from rules.errors import GrantsError

router = guarded_router(prefix="/calls/{call_id}/conflicts", tags=["conflicts"])


class Declaration(Storable):
    proposal_id: str
    evaluator_id: str | None = Field(default=None, description="omitted by an evaluator declaring their own")
    kind: Literal["personal", "professional", "same_organisation", "same_country"]
    detail: str = Field(default="", max_length=2000)


def _record(row: ConflictRow, code: str) -> ConflictRecord:
    return ConflictRecord(
        proposal_id=code,
        evaluator_id=row.evaluator_id,
        kind=ConflictKind(row.kind),
        detail=row.detail,
        detected=False,
        declared_by=row.declared_by,
        declared_at=row.declared_at,
    )


def declared(session: Session, call_id: str, evaluator_id: str | None = None) -> list[ConflictRecord]:
    query = (
        select(ConflictRow, ProposalRow.code)
        .join(ProposalRow, ProposalRow.id == ConflictRow.proposal_id)
        .where(ProposalRow.call_id == call_id)
        .order_by(ProposalRow.code, ConflictRow.evaluator_id, ConflictRow.kind)
    )
    if evaluator_id is not None:
        query = query.where(ConflictRow.evaluator_id == evaluator_id)
    return [_record(row, code) for row, code in session.execute(query)]


def detected(session: Session, call_id: str, evaluators: list[EvaluatorRow]) -> list[ConflictRecord]:
    rows = session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id)).scalars()
    consortia = Consortia(queries.proposal_model(r) for r in rows)
    policy = queries.policy(session, call_id)
    return [c for e in evaluators for c in consortia.conflicts_of(queries.profile(e), policy)]


def conflicts_of_pair(session: Session, proposal: ProposalRow, evaluator: EvaluatorRow) -> list[ConflictRecord]:
    """Why this evaluator may not evaluate this proposal (empty when they may)."""
    policy = queries.policy(session, proposal.call_id)
    found = Consortia([queries.proposal_model(proposal)]).conflicts_of(queries.profile(evaluator), policy)
    rows = session.execute(
        select(ConflictRow).where(ConflictRow.proposal_id == proposal.id, ConflictRow.evaluator_id == evaluator.id)
    )
    return found + [_record(row, proposal.code) for row in rows.scalars()]


def _declarable(session: Session, call_id: str, code: str, principal: Principal) -> ProposalRow:
    """The proposal a conflict is declared on; for an evaluator, one assigned to them or already declared.

    Any other proposal does not exist for them, as everywhere else (404, its id not confirmed).
    """
    if principal.scope is Scope.all:
        return queries.proposal_row(session, call_id, code)
    evaluator_id = principal.evaluator_id
    assigned = select(AssignmentRow.proposal_id).where(AssignmentRow.evaluator_id == evaluator_id)
    declared_on = select(ConflictRow.proposal_id).where(ConflictRow.evaluator_id == evaluator_id)
    query = select(ProposalRow).where(
        ProposalRow.call_id == call_id,
        ProposalRow.code == code,
        ProposalRow.id.in_(assigned) | ProposalRow.id.in_(declared_on),
    )
    row = session.execute(query).scalar_one_or_none() if findable(code) else None
    if row is None:
        queries.call_row(session, call_id)
        raise NotFound(f"no proposal {code!r} in call {call_id!r}")
    return row


def _reachable(session: Session, call_id: str, evaluator_id: str) -> set[str]:
    """The proposals an evaluator may hear of conflicts on: assigned to them (suspended too) or declared by them.

    Any other proposal does not exist for them, so neither does a conflict on it.
    """
    assigned = select(AssignmentRow.proposal_id).where(AssignmentRow.evaluator_id == evaluator_id)
    declared_on = select(ConflictRow.proposal_id).where(ConflictRow.evaluator_id == evaluator_id)
    query = select(ProposalRow.code).where(
        ProposalRow.call_id == call_id, ProposalRow.id.in_(assigned) | ProposalRow.id.in_(declared_on)
    )
    return set(session.execute(query).scalars())


@router.post("", status_code=201, response_model=ConflictRecord, responses={200: {"description": "already declared"}})
def declare_conflict(
    call_id: str, declaration: Declaration, session: Db, principal: Caller, response: Response
) -> ConflictRecord:
    """Declare a conflict; an assignment of the pair is withdrawn. Evaluators declare only their own."""
    evaluator_id = declaration.evaluator_id or principal.evaluator_id
    if principal.scope is Scope.own and evaluator_id != principal.evaluator_id:
        raise Forbidden("an evaluator declares only their own conflicts")
    if evaluator_id is None:
        raise GrantsError("name the evaluator_id the conflict is about")
    proposal = _declarable(session, call_id, declaration.proposal_id, principal)
    evaluator = queries.evaluator_row(session, evaluator_id, principal.agency_id)
    same = select(ConflictRow).where(
        ConflictRow.proposal_id == proposal.id,
        ConflictRow.evaluator_id == evaluator.id,
        ConflictRow.kind == declaration.kind,
    )
    row = session.execute(same).scalar_one_or_none()
    if row is not None:
        response.status_code = 200
        return _record(row, proposal.code)
    row = ConflictRow(
        proposal_id=proposal.id,
        evaluator_id=evaluator.id,
        kind=declaration.kind,
        detail=declaration.detail,
        declared_by=principal.name,
    )
    session.add(row)
    session.flush()
    record = _record(row, proposal.code)
    target = f"call/{call_id}/proposal/{proposal.code}/evaluator/{evaluator.id}"
    audit.record(session, principal.name, "conflict.declare", target, None, record)
    assignment = session.execute(
        select(AssignmentRow).where(
            AssignmentRow.proposal_id == proposal.id, AssignmentRow.evaluator_id == evaluator.id
        )
    ).scalar_one_or_none()
    if assignment is not None:
        session.delete(assignment)
        audit.record(session, principal.name, "assignment.withdraw", target, {"method": assignment.method}, None)
    session.commit()
    return record


@router.get("", response_model=Page[ConflictRecord])
def list_conflicts(call_id: str, session: Db, principal: Caller, paging: Paging) -> Page[ConflictRecord]:
    """Declared conflicts, then the ones detected from profiles and consortia; an evaluator sees their own."""
    queries.call_row(session, call_id)
    own = principal.evaluator_id if principal.scope is Scope.own else None
    agency_id = principal.agency_id
    evaluators = (
        [queries.evaluator_row(session, own, agency_id)]
        if own
        else list(session.execute(queries.agency_evaluators(agency_id)).scalars())
    )
    records = declared(session, call_id, own) + detected(session, call_id, evaluators)
    if own is not None:
        records = [r for r in records if r.proposal_id in _reachable(session, call_id, own)]
    items = records[paging.offset : paging.offset + paging.limit]
    return Page(items=items, total=len(records), limit=paging.limit, offset=paging.offset)
