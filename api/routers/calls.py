"""Calls: upload the YAML, list, read a version, set the assignment policy.

A call is never replaced: uploading a changed call adds a version and keeps the old
one, so scores given under version 1 can always be read against version 1. A version
that would leave existing scores off its criteria or scales is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.assignment import AssignmentPolicy
from api.auth import Caller, Db
from api.db import limits, queries
from api.db.models import CallRow, CallVersion, ProposalRow, Score, ScoreSheet
from api.problems import Conflict, PreconditionFailed
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


def _scores_off_the_call(session: Session, call: Call) -> list[str]:
    """Existing scores the new version of the call could not read (unknown criterion, off the scale)."""
    rows = session.execute(
        select(ProposalRow.code, ScoreSheet.evaluator_id, Score.criterion, Score.value)
        .join(ScoreSheet, ScoreSheet.id == Score.sheet_id)
        .join(ProposalRow, ProposalRow.id == ScoreSheet.proposal_id)
        .where(ProposalRow.call_id == call.id)
    )
    criteria = {c.id: c for c in call.criteria}
    problems = []
    for code, evaluator_id, criterion, value in rows:
        if criterion not in criteria:
            problems.append(f"{code}/{evaluator_id}: criterion {criterion!r} is not in the new version")
        elif value is not None and not criteria[criterion].on_scale(value):
            problems.append(f"{code}/{evaluator_id}: {criterion} score {value} is off the new scale")
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
    current = session.get(CallVersion, (call.id, row.current_version)) if row else None
    expected = if_match_version(if_match, current.version if current else None)
    if expected is not None and (current is None or expected != current.version):
        raise PreconditionFailed(f"call {call.id!r} is not at version {expected}", current.version if current else None)
    if current is not None and current.parsed == parsed:
        response.status_code = 200
        response.headers["ETag"] = etag(current.version)
        return _out(current, current.version)
    off = _scores_off_the_call(session, call)
    if off:
        raise Conflict(f"this version of {call.id!r} cannot read the scores already given: " + "; ".join(off[:20]))
    version = 1 if row is None else row.current_version + 1
    if row is None:
        row = CallRow(id=call.id, title=call.title, current_version=version, policy={})
        session.add(row)
    row.title, row.current_version = call.title, version
    new = CallVersion(call_id=call.id, version=version, text=body.text, parsed=parsed, created_by=principal.name)
    session.add(new)
    session.flush()
    audit.record(session, principal.name, "call.upload", f"call/{call.id}/v{version}", None, {"version": version})
    session.commit()
    response.headers["ETag"] = etag(version)
    return _out(new, version)


@router.get("", response_model=Page[CallSummary])
def list_calls(session: Db, paging: Paging) -> Page[CallSummary]:
    rows, total = page_of(session, select(CallRow).order_by(CallRow.id), paging)
    items = [CallSummary(id=r.id, title=r.title, version=r.current_version, created_at=r.created_at) for r in rows]
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
    row = queries.call_row(session, call_id)
    before = dict(row.policy)
    row.policy = new.model_dump(mode="json")
    audit.record(session, principal.name, "call.policy", f"call/{call_id}/policy", before, row.policy)
    session.commit()
    return new
