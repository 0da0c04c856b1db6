"""A call's phase and the evaluation's progress: read them, and move the call on."""

from __future__ import annotations

from api import decisions, progress
from api.auth import Caller, Db
from api.db import queries
from api.phases import PhaseOut, TransitionRequest, phase_out
from api.routers.common import guarded_router

router = guarded_router(prefix="/calls/{call_id}", tags=["phases"])


@router.get("/phase", response_model=PhaseOut)
def get_phase(call_id: str, session: Db, principal: Caller) -> PhaseOut:
    """Where the call is, and the transitions possible from there."""
    return phase_out(queries.call_row(session, call_id, principal))


@router.post("/phase", response_model=PhaseOut, responses={409: {"description": "not from the call's phase"}})
def move_phase(call_id: str, request: TransitionRequest, session: Db, principal: Caller) -> PhaseOut:
    """Make a named transition (open_evaluation, close_evaluation, reopen_evaluation, rank, decide); audited."""
    return decisions.advance(session, principal, call_id, request)


@router.get("/progress", response_model=progress.Progress)
def get_progress(call_id: str, session: Db, principal: Caller) -> progress.Progress:
    """Sheets submitted per proposal, drafts, missing and withdrawn sheets, and what to chase."""
    return progress.progress(session, principal, call_id)
