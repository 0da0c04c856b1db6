"""Assignments: by hand, or automatic for a whole call; never with a conflict."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Query, Response
from pydantic import Field, ValidationError
from sqlalchemy import select

from api import audit, evaluation, phases
from api.assignment import AssignmentPlan, AssignmentPolicy, AssignmentProblem, ConflictRecord, Consortia, assign
from api.auth import Caller, Db, Scope
from api.db import queries
from api.db.limits import Storable
from api.db.models import AssignmentRow, EvaluatorRow, ProposalRow
from api.phases import Write
from api.problems import ConflictOfInterest, NotFound
from api.routers.common import Page, Paging, count, guarded_router
from api.routers.conflicts import conflicts_of_pair, declared
from rules.errors import GrantsError, Problem

router = guarded_router(prefix="/calls/{call_id}/assignments", tags=["assignments"])


class Pair(Storable):
    proposal_id: str
    evaluator_id: str


class AssignmentOut(Pair):
    method: str
    created_by: str
    created_at: dt.datetime


class AutoAssign(Storable):
    """Overrides of the call's assignment policy for this run; omitted fields follow the policy."""

    evaluators: list[str] | None = Field(default=None, description="who may be assigned; omitted: every evaluator")
    evaluators_per_proposal: int | None = Field(default=None, ge=1, le=50)
    min_load: int | None = Field(default=None, ge=0)
    max_load: int | None = Field(default=None, ge=1)
    expertise: Literal["required", "preferred", "ignored"] | None = None


def _refusal(pair: Pair, conflicts: list[ConflictRecord]) -> ConflictOfInterest:
    reasons = "; ".join(f"{c.kind}: {c.detail or 'declared by ' + str(c.declared_by)}" for c in conflicts)
    return ConflictOfInterest(f"{pair.evaluator_id} may not evaluate {pair.proposal_id}: {reasons}")


@router.post("", status_code=201, response_model=AssignmentOut)
def assign_evaluator(call_id: str, pair: Pair, session: Db, principal: Caller, response: Response) -> AssignmentOut:
    """Assign one evaluator to one proposal; refused with the reason when they have a conflict."""
    phases.require(queries.call_row(session, call_id, principal), Write.assignments, "evaluators are assigned")
    proposal = queries.proposal_row(session, call_id, pair.proposal_id)
    evaluator = queries.evaluator_row(session, pair.evaluator_id)
    conflicts = conflicts_of_pair(session, proposal, evaluator)
    if conflicts:
        raise _refusal(pair, conflicts)
    row = session.execute(
        select(AssignmentRow).where(
            AssignmentRow.proposal_id == proposal.id, AssignmentRow.evaluator_id == evaluator.id
        )
    ).scalar_one_or_none()
    if row is not None:
        response.status_code = 200
    else:
        row = AssignmentRow(
            proposal_id=proposal.id, evaluator_id=evaluator.id, method="manual", created_by=principal.name
        )
        session.add(row)
        session.flush()
        target = f"call/{call_id}/proposal/{proposal.code}/evaluator/{evaluator.id}"
        audit.record(session, principal.name, "assignment.create", target, None, {"method": "manual"})
        session.commit()
    return AssignmentOut(**pair.model_dump(), method=row.method, created_by=row.created_by, created_at=row.created_at)


@router.delete("/{proposal_id}/{evaluator_id}", status_code=204, responses={409: {}, 422: {}})
def withdraw_assignment(
    call_id: str,
    proposal_id: str,
    evaluator_id: str,
    session: Db,
    principal: Caller,
    reason: Annotated[
        str | None, Query(max_length=2000, description="why; required when the evaluator has a sheet")
    ] = None,
) -> None:
    """Withdraw an assignment; the evaluator's sheet stops counting but stays on record, with the reason."""
    evaluation.withdraw_assignment(session, principal, call_id, proposal_id, evaluator_id, reason)


def _overridden(policy: AssignmentPolicy, request: AutoAssign) -> AssignmentPolicy:
    """The call's policy with this run's overrides, which together must still make sense."""
    overrides = request.model_dump(exclude={"evaluators"}, exclude_none=True)
    try:
        return policy.model_validate({**policy.model_dump(), **overrides})
    except ValidationError as exc:
        reasons = [str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()]
        raise GrantsError([Problem(f"with the call's policy: {reason}") for reason in reasons]) from None


def _problem(call_id: str, request: AutoAssign, session: Db) -> AssignmentProblem:
    policy = _overridden(queries.policy(session, call_id), request)
    proposals = list(session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id)).scalars())
    query = select(EvaluatorRow).order_by(EvaluatorRow.id)
    if request.evaluators is not None:
        query = query.where(EvaluatorRow.id.in_(request.evaluators))
    evaluators = list(session.execute(query).scalars())
    missing = set(request.evaluators or []) - {e.id for e in evaluators}
    if missing:
        raise NotFound(f"no evaluators {', '.join(sorted(missing))}")
    consortia = Consortia(queries.proposal_model(p) for p in proposals)
    forbidden = {
        (c.proposal_id, c.evaluator_id)
        for c in declared(session, call_id)
        + [c for e in evaluators for c in consortia.conflicts_of(queries.profile(e), policy)]
    }
    code = {p.id: p.code for p in proposals}
    existing = session.execute(
        select(AssignmentRow.proposal_id, AssignmentRow.evaluator_id).where(AssignmentRow.proposal_id.in_(code))
    )
    return AssignmentProblem(
        proposals={p.code: p.topic for p in proposals},
        evaluators=[queries.profile(e) for e in evaluators],
        existing={(code[p], e) for p, e in existing},
        forbidden=forbidden,
        policy=policy,
    )


@router.post("/auto", response_model=AssignmentPlan)
def assign_automatically(call_id: str, request: AutoAssign, session: Db, principal: Caller) -> AssignmentPlan:
    """Give every proposal k evaluators within load bounds, no conflicts, expertise matched; report empty slots."""
    phases.require(queries.call_row(session, call_id, principal), Write.assignments, "evaluators are assigned")
    problem = _problem(call_id, request, session)
    plan = assign(problem)
    ids = {
        code: pk
        for code, pk in session.execute(select(ProposalRow.code, ProposalRow.id).where(ProposalRow.call_id == call_id))
    }
    for proposal_id, evaluator_id in plan.assigned:
        session.add(
            AssignmentRow(
                proposal_id=ids[proposal_id], evaluator_id=evaluator_id, method="automatic", created_by=principal.name
            )
        )
    after = {"assigned": plan.assigned, "unfilled": [u.model_dump() for u in plan.unfilled]}
    audit.record(session, principal.name, "assignment.auto", f"call/{call_id}/assignments", None, after)
    session.commit()
    return plan


@router.get("", response_model=Page[AssignmentOut])
def list_assignments(call_id: str, session: Db, principal: Caller, paging: Paging) -> Page[AssignmentOut]:
    """Every assignment of the call; an evaluator sees their own."""
    queries.call_row(session, call_id)
    query = (
        select(AssignmentRow, ProposalRow.code)
        .join(ProposalRow, ProposalRow.id == AssignmentRow.proposal_id)
        .where(ProposalRow.call_id == call_id)
        .order_by(ProposalRow.code, AssignmentRow.evaluator_id)
    )
    if principal.scope is Scope.own:
        query = query.where(AssignmentRow.evaluator_id == principal.evaluator_id)
    total = count(session, query)
    rows = session.execute(query.limit(paging.limit).offset(paging.offset))
    items = [
        AssignmentOut(
            proposal_id=code,
            evaluator_id=row.evaluator_id,
            method=row.method,
            created_by=row.created_by,
            created_at=row.created_at,
        )
        for row, code in rows
    ]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)
