"""Lookups the routers share, each raising NotFound with the id it could not find.

An evaluator's view is narrowed here, once: a proposal outside their assignments,
or one they have a declared conflict with, does not exist for them (404, not 403,
so ids of other proposals do not leak). So is everyone's view of calls: given the
caller, :func:`call_row` finds only a call of their agency.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from api.assignment import AssignmentPolicy, EvaluatorProfile
from api.auth import Principal, Scope
from api.db.limits import MAX_ROW_ID, findable
from api.db.models import AssignmentRow, CallRow, CallVersion, ConflictRow, EvaluatorRow, ProposalRow
from api.db.session import PARSED_CALLS, ParsedCalls
from api.problems import NotFound
from rules.model import Call
from rules.proposal import Proposal


def call_row(session: Session, call_id: str, principal: Principal | None = None) -> CallRow:
    """The call; for a caller, only one of their agency (and of their token's call): any other is not found."""
    row = session.get(CallRow, call_id) if findable(call_id) else None
    if row is None or (principal is not None and not principal.reaches(row.id, row.agency_id)):
        raise NotFound(f"no call {call_id!r}")
    return row


def call_version(session: Session, call_id: str, version: int | None = None) -> CallVersion:
    """A version of the call; the current one when none is named."""
    number = call_row(session, call_id).current_version if version is None else version
    row = session.get(CallVersion, (call_id, number)) if 0 < number <= MAX_ROW_ID else None
    if row is None:
        raise NotFound(f"call {call_id!r} has no version {number}")
    return row


def current_call(session: Session, call_id: str) -> tuple[Call, int]:
    """The current version of a call as a model, with its version number."""
    row = call_version(session, call_id)
    return Call.model_validate(row.parsed), row.version


def shared_call(session: Session, call_id: str, version: int, uploaded: dt.datetime) -> Call:
    """A version of the call as a model shared with other requests (do not change it), parsed once per store.

    A stored version never changes; its number and upload time are the key, so a database
    emptied and filled again under the same store is not read from the old one's models.
    """
    cache: ParsedCalls | None = session.info.get(PARSED_CALLS)
    key = (call_id, version, uploaded)
    model = cache.get(key) if cache is not None else None
    if model is None:
        model = Call.model_validate(call_version(session, call_id, version).parsed)
        if cache is not None:
            cache.put(key, model)
    return model


def policy(session: Session, call_id: str) -> AssignmentPolicy:
    return AssignmentPolicy.model_validate(call_row(session, call_id).policy)


def assigned(evaluator_id: str | ColumnElement[str]) -> Select[int]:
    """Ids of the proposals assigned to an evaluator, not suspended and not under a declared conflict."""
    conflicted = (
        exists()
        .where(ConflictRow.proposal_id == AssignmentRow.proposal_id)
        .where(ConflictRow.evaluator_id == evaluator_id)
        .correlate_except(ConflictRow)  # the evaluator's column may come from a query two levels out
    )
    return (
        select(AssignmentRow.proposal_id)
        .where(AssignmentRow.evaluator_id == evaluator_id, AssignmentRow.suspended.is_(None))
        .where(~conflicted)
    )


def visible_proposals(principal: Principal, call_id: str) -> Select[ProposalRow]:
    query = select(ProposalRow).where(ProposalRow.call_id == call_id)
    if principal.scope is Scope.assigned:
        query = query.where(ProposalRow.id.in_(assigned(principal.evaluator_id or "")))
    return query


def proposal_row(session: Session, call_id: str, code: str, principal: Principal | None = None) -> ProposalRow:
    query = select(ProposalRow).where(ProposalRow.call_id == call_id, ProposalRow.code == code)
    if principal is not None:
        call_row(session, call_id, principal)
        query = visible_proposals(principal, call_id).where(ProposalRow.code == code)
    row = session.execute(query).scalar_one_or_none() if findable(code) else None
    if row is None:
        call_row(session, call_id)
        raise NotFound(f"no proposal {code!r} in call {call_id!r}")
    return row


def proposal_model(row: ProposalRow) -> Proposal:
    return Proposal.model_validate(row.data)


def evaluator_row(session: Session, evaluator_id: str, agency_id: str) -> EvaluatorRow:
    """An evaluator the agency registered; another agency's does not exist for it."""
    row = session.get(EvaluatorRow, evaluator_id) if findable(evaluator_id) else None
    if row is None or row.agency_id != agency_id:
        raise NotFound(f"no evaluator {evaluator_id!r}; an agency registers evaluators with POST /evaluators")
    return row


def agency_evaluators(agency_id: str) -> Select[EvaluatorRow]:
    return select(EvaluatorRow).where(EvaluatorRow.agency_id == agency_id).order_by(EvaluatorRow.id)


def profile(row: EvaluatorRow) -> EvaluatorProfile:
    return EvaluatorProfile(
        id=row.id,
        name=row.name,
        organisation=row.organisation,
        organisation_id=row.organisation_id,
        country=row.country,
        topics=list(row.topics),
    )
