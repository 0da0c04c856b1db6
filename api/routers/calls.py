"""Calls: upload the YAML, list, read a version, set the assignment policy.

A call is never replaced: uploading a changed call adds a version and keeps the old
one, so scores given under version 1 can always be read against version 1. A version
that would leave existing scores off its criteria or scales is refused.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from api import audit, phases
from api.assignment import AssignmentPolicy
from api.auth import Caller, Db
from api.db import limits, queries
from api.db.models import CallRow, CallVersion, ConsensusScore, ConsensusSheet, ProposalRow, Score, ScoreSheet
from api.phases import Phase, Write
from api.problems import Conflict, Forbidden, NotFound, PreconditionFailed
from api.routers.common import Page, Paging, RawBody, etag, guarded_router, if_match_version, page_of, text_body
from rules.errors import CallError, Problem
from rules.load import call_from_text
from rules.model import Call
from rules.yamlio import line_map, locate, path_key

router = guarded_router(prefix="/calls", tags=["calls"])
SOURCE = "<request body>"


class CallSummary(BaseModel):
    id: str
    title: str
    version: int
    phase: Phase
    created_at: dt.datetime


class CallOut(BaseModel):
    id: str
    version: int
    current_version: int
    created_by: str
    created_at: dt.datetime
    text: str
    call: dict[str, Any]


def _out(row: CallVersion, current: int) -> CallOut:
    return CallOut(
        id=row.call_id,
        version=row.version,
        current_version=current,
        created_by=row.created_by,
        created_at=row.created_at,
        text=row.text,
        call=row.parsed,
    )


def _given(session: Session, call_id: str) -> Iterator[tuple[str, bool, str, Decimal | None]]:
    """Every score given in the call: whose sheet, whether an evaluator's, criterion and value."""
    for sheet, value in ((ScoreSheet, Score), (ConsensusSheet, ConsensusScore)):
        owner = ScoreSheet.evaluator_id if sheet is ScoreSheet else literal("consensus")
        yield from session.execute(
            select(ProposalRow.code + "/" + owner, literal(sheet is ScoreSheet), value.criterion, value.value)
            .join(sheet, sheet.id == value.sheet_id)
            .join(ProposalRow, ProposalRow.id == sheet.proposal_id)
            .where(ProposalRow.call_id == call_id)
        )


def _scores_off_the_call(session: Session, call: Call) -> list[str]:
    """Scores given that the new version could not read: unknown criterion, off the scale, or missing.

    A consensus may cover only some criteria, so only an evaluator's sheet lacks a new criterion.
    """
    criteria = {c.id: c for c in call.criteria}
    problems = []
    sheets: dict[str, set[str]] = defaultdict(set)
    for sheet, complete, criterion, value in _given(session, call.id):
        if complete:
            sheets[sheet].add(criterion)
        if criterion not in criteria:
            problems.append(f"{sheet}: criterion {criterion!r} is not in the new version")
        elif value is not None and not criteria[criterion].on_scale(value):
            problems.append(f"{sheet}: {criterion} score {value} is off the new scale")
    for sheet, given in sheets.items():
        problems += [f"{sheet}: no score for the new criterion {c!r}" for c in criteria if c not in given]
    return problems


@router.post(
    "",
    status_code=201,
    response_model=CallOut,
    openapi_extra=text_body("application/yaml"),
    responses={200: {"description": "the same call was already uploaded"}},
)
def upload_call(
    body: RawBody,
    session: Db,
    principal: Caller,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> CallOut:
    """Upload a call's YAML: a new call, or a new version of one (the old version is kept)."""
    call = call_from_text(body.text, SOURCE)
    unstorable = limits.call_problems(call)
    if unstorable:
        lines = line_map(body.text)
        raise CallError([Problem(p.message, p.path, SOURCE, locate(lines, path_key(p.path))) for p in unstorable])
    parsed = call.model_dump(mode="json")
    row = session.get(CallRow, call.id)
    if row is not None and not principal.reaches(row.id, row.agency_id):
        raise NotFound(f"no call {call.id!r} of agency {principal.agency_id!r}; a new call needs an id of its own")
    if row is None and principal.call_id is not None:
        raise Forbidden(f"a token for call {principal.call_id!r} uploads versions of that call only")
    current = session.get(CallVersion, (call.id, row.current_version)) if row else None
    now = current.version if current else None
    expected = if_match_version(if_match, now, now)
    if expected is not None and expected != now:
        raise PreconditionFailed(f"call {call.id!r} is not at version {expected}", now)
    if current is not None and current.parsed == parsed:
        response.status_code = 200
        response.headers["ETag"] = etag(current.version)
        return _out(current, current.version)
    if row is not None:
        phases.require(row, Write.call_version, "a new version of the call is uploaded")
    off = _scores_off_the_call(session, call)
    if off:
        raise Conflict(f"this version of {call.id!r} cannot read the scores already given: " + "; ".join(off[:20]))
    version = 1 if row is None else row.current_version + 1
    if row is None:
        row = CallRow(
            id=call.id,
            title=call.title,
            current_version=version,
            policy={},
            agency_id=principal.agency_id,
            phase=phases.Phase.draft.value,
        )
        session.add(row)
    row.title, row.current_version = call.title, version
    new = CallVersion(call_id=call.id, version=version, text=body.text, parsed=parsed, created_by=principal.name)
    session.add(new)
    session.flush()
    after = {"version": version, "agency": row.agency_id, "phase": row.phase}
    audit.record(session, principal.name, "call.upload", f"call/{call.id}/v{version}", None, after)
    session.commit()
    response.headers["ETag"] = etag(version)
    return _out(new, version)


@router.get("", response_model=Page[CallSummary])
def list_calls(session: Db, principal: Caller, paging: Paging) -> Page[CallSummary]:
    """The calls of the caller's agency (a call's token: that one call)."""
    query = select(CallRow).where(CallRow.agency_id == principal.agency_id).order_by(CallRow.id)
    if principal.call_id is not None:
        query = query.where(CallRow.id == principal.call_id)
    rows, total = page_of(session, query, paging)
    items = [
        CallSummary(id=r.id, title=r.title, version=r.current_version, phase=r.phase, created_at=r.created_at)
        for r in rows
    ]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{call_id}", response_model=CallOut)
def get_call(call_id: str, session: Db, response: Response) -> CallOut:
    row = queries.call_version(session, call_id)
    response.headers["ETag"] = etag(row.version)
    return _out(row, row.version)


@router.get("/{call_id}/versions/{version}", response_model=CallOut)
def get_call_version(call_id: str, version: int, session: Db) -> CallOut:
    return _out(queries.call_version(session, call_id, version), queries.call_row(session, call_id).current_version)


@router.get("/{call_id}/policy", response_model=AssignmentPolicy)
def get_policy(call_id: str, session: Db) -> AssignmentPolicy:
    return queries.policy(session, call_id)


@router.put("/{call_id}/policy", response_model=AssignmentPolicy)
def set_policy(call_id: str, new: AssignmentPolicy, session: Db, principal: Caller) -> AssignmentPolicy:
    """Set how evaluators are assigned: per-proposal count, load bounds, expertise, same-country conflicts."""
    row = queries.call_row(session, call_id, principal)
    phases.require(row, Write.assignments, "the assignment policy is set")
    before = dict(row.policy)
    row.policy = new.model_dump(mode="json")
    audit.record(session, principal.name, "call.policy", f"call/{call_id}/policy", before, row.policy)
    session.commit()
    return new
