"""Score sheets and consensus over HTTP: the ETag is the sheet's version (see :mod:`api.evaluation`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Header, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api import evaluation
from api.auth import Caller, Db, Recheck, WriteCaller, WriteCallerDep, authorize
from api.db.limits import Storable
from api.evaluation import Saved, SheetIn, SheetOut, SheetWrite
from api.routers.common import etag, grouped_write_router, guarded_router
from api.write_groups import WriteGroups

PREFIX = "/calls/{call_id}/proposals/{proposal_id}"
router = guarded_router(prefix=PREFIX, tags=["scores"])
writes = grouped_write_router(prefix=PREFIX, tags=["scores"])
IfMatch = Annotated[str | None, Header(description="the sheet's ETag; required to replace an existing sheet")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the call's phase does not allow this write"},
    412: {"description": "stale If-Match: the body's `current` is the sheet now"},
    428: {},
}


class Reopening(Storable):
    reason: str = Field(min_length=1, max_length=2000, description="why the sheet is reopened, kept in the audit log")


async def _answer(
    request: Request, response: Response, save: evaluation.Save, caller: WriteCaller, *args: Any
) -> SheetOut:
    """The sheet ``save`` stored, with its ETag, 201 when it is the first.

    The routes are coroutines that open no session: the write waits for the next group of
    writes (:mod:`api.write_groups`), whose session and worker thread it shares, and reads
    its caller's token there. A token that is no longer what the caller was scoped as is
    checked again the ordinary way (a refusal is counted and audited), and the write then
    waits for the next group with the caller that check gives.
    """
    writes: WriteGroups = request.app.state.writes
    queued = SheetWrite(save, caller, *args)
    try:
        saved: Saved = await writes.write(queued)
    except Recheck:
        request.app.state.recent_bearers.drop(caller.key)
        principal = await run_in_threadpool(authorize, request, caller.credentials)
        saved = await writes.write(replace(queued, caller=principal))
    response.headers["ETag"] = etag(saved.sheet.version)
    if saved.created:
        response.status_code = 201
    return saved.sheet


@writes.put("/scores", response_model=SheetOut, responses={201: {"description": "first sheet"}, **CONFLICT})
async def put_scores(
    call_id: str,
    proposal_id: str,
    sheet: SheetIn,
    caller: WriteCallerDep,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> SheetOut:
    """Save your sheet for a proposal assigned to you, as a draft or submitted (If-Match to replace)."""
    return await _answer(request, response, evaluation.save_scores, caller, call_id, proposal_id, sheet, if_match)


@router.get("/scores", response_model=list[SheetOut])
def get_scores(call_id: str, proposal_id: str, session: Db, principal: Caller) -> list[SheetOut]:
    """Every evaluator's sheet for the proposal, drafts included; an evaluator gets their own."""
    return evaluation.read_scores(session, principal, call_id, proposal_id)


@router.post("/scores/{evaluator_id}/reopen", response_model=SheetOut, responses={409: {}})
def reopen_scores(
    call_id: str,
    proposal_id: str,
    evaluator_id: str,
    body: Reopening,
    session: Db,
    principal: Caller,
    response: Response,
) -> SheetOut:
    """After the close, reopen one submitted sheet with a reason: it is a draft its evaluator may write again."""
    sheet = evaluation.reopen_sheet(session, principal, call_id, proposal_id, evaluator_id, body.reason)
    response.headers["ETag"] = etag(sheet.version)
    return sheet


@writes.put("/consensus", response_model=SheetOut, responses={201: {"description": "first consensus"}, **CONFLICT})
async def put_consensus(
    call_id: str,
    proposal_id: str,
    sheet: SheetIn,
    caller: WriteCallerDep,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> SheetOut:
    """Record the panel's consensus score per criterion; it overrides consolidation in the ranking."""
    save = evaluation.save_consensus
    return await _answer(request, response, save, caller, call_id, proposal_id, sheet, if_match)


@router.get("/consensus", response_model=SheetOut)
def get_consensus(call_id: str, proposal_id: str, session: Db, principal: Caller, response: Response) -> SheetOut:
    found = evaluation.read_consensus(session, principal, call_id, proposal_id)
    response.headers["ETag"] = etag(found.version)
    return found
