"""Evaluators: the experts an agency registers, with organisation, country and topics.

Each agency has its own register: another agency's evaluators are not listed, not
found, and cannot be assigned or given a token.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, Field

from api import audit
from api.assignment import EvaluatorProfile
from api.auth import Caller, Db, Scope
from api.conflict_recheck import Suspension, recheck_evaluator
from api.db import queries
from api.db.models import EvaluatorRow
from api.problems import Conflict, NotFound
from api.routers.common import Page, Paging, guarded_router, page_of
from rules.errors import GrantsError
from rules.regions import resolve_country

router = guarded_router(prefix="/evaluators", tags=["evaluators"])


class Registered(BaseModel):
    evaluator: EvaluatorProfile
    created: bool


@router.post(
    "", status_code=201, response_model=EvaluatorProfile, responses={200: {"description": "already registered"}}
)
def register_evaluator(new: EvaluatorProfile, session: Db, principal: Caller, response: Response) -> EvaluatorProfile:
    """Register an evaluator, its country stored as an ISO code; the same profile again is a no-op (200)."""
    profile = new.model_copy(update={"country": resolve_country(new.country)})
    row = session.get(EvaluatorRow, profile.id)
    if row is not None and row.agency_id != principal.agency_id:
        raise Conflict(f"evaluator id {profile.id!r} is taken; register them under an id of your agency's own")
    if row is not None:
        if queries.profile(row) == profile:
            response.status_code = 200
            return profile
        raise Conflict(f"evaluator {profile.id!r} is already registered with another profile")
    session.add(EvaluatorRow(**profile.model_dump(), agency_id=principal.agency_id))
    session.flush()
    audit.record(session, principal.name, "evaluator.register", f"evaluator/{profile.id}", None, profile)
    session.commit()
    return profile


class Updated(BaseModel):
    evaluator: EvaluatorProfile
    suspended: list[Suspension] = Field(description="assignments the new profile puts in conflict (or frees)")


@router.put("/{evaluator_id}", response_model=Updated)
def update_evaluator(evaluator_id: str, new: EvaluatorProfile, session: Db, principal: Caller) -> Updated:
    """Correct an evaluator's profile; their assignments are checked for conflicts again at once."""
    if new.id != evaluator_id:
        raise GrantsError(f"the body is evaluator {new.id!r}, the URL {evaluator_id!r}: an id cannot change")
    row = queries.evaluator_row(session, evaluator_id, principal.agency_id)
    before = queries.profile(row)
    profile = new.model_copy(update={"country": resolve_country(new.country)})
    if profile == before:
        return Updated(evaluator=profile, suspended=[])
    for field, value in profile.model_dump(exclude={"id"}).items():
        setattr(row, field, value)
    audit.record(session, principal.name, "evaluator.update", f"evaluator/{evaluator_id}", before, profile)
    suspended = recheck_evaluator(session, evaluator_id, principal.name)
    session.commit()
    return Updated(evaluator=profile, suspended=suspended)


@router.get("", response_model=Page[EvaluatorProfile])
def list_evaluators(session: Db, principal: Caller, paging: Paging) -> Page[EvaluatorProfile]:
    """The evaluators the caller's agency registered."""
    rows, total = page_of(session, queries.agency_evaluators(principal.agency_id), paging)
    return Page(items=[queries.profile(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{evaluator_id}", response_model=EvaluatorProfile)
def get_evaluator(evaluator_id: str, session: Db, principal: Caller) -> EvaluatorProfile:
    """An evaluator may read their own profile only."""
    if principal.scope is Scope.own and evaluator_id != principal.evaluator_id:
        raise NotFound(f"no evaluator {evaluator_id!r}")
    return queries.profile(queries.evaluator_row(session, evaluator_id, principal.agency_id))
