"""Allocation runs: the budget allocated on a consistent snapshot of the scores, and kept.

The ranking and the allocation are computed by ``evaluator`` (``rank`` then
``allocate``) from one repeatable-read snapshot, outside any write transaction;
the run is then stored with its inputs, so it can be read and reported later
exactly as it was.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request
from pydantic import Field

from api import decisions
from api.auth import Caller, Db, Principal
from api.db.limits import Storable
from api.db.models import RunRow
from api.db.runs import RunMeta, meta, run_page, run_row, save_run
from api.disclosure import ranking_for
from api.routers.common import Page, Paging, guarded_router
from api.routers.rankings import ranked_snapshot
from evaluator.allocation import Allocation, Scenario, allocate
from evaluator.ranking import Ranking

router = guarded_router(prefix="/calls/{call_id}/allocations", tags=["allocations"])
KIND = "allocation"


class ScenarioRequest(Scenario, Storable):
    """A scenario as a client sends it: a misspelt setting or an amount beyond the store is refused."""


class AllocationRequest(Storable):
    scenario: ScenarioRequest = Field(
        default_factory=ScenarioRequest, description="changes to the call's settings; empty: as is"
    )
    calibrate: bool | None = Field(default=None, description="rank on calibrated scores; omitted: as the call says")
    explain: bool = Field(default=True, description="also price each constraint and what more budget would buy")
    decision: bool = Field(
        default=False,
        description="the agency's deciding run, on the ranking frozen at the rank transition (the call must be "
        "ranked; it moves to allocated); false: a what-if on the live scores, at any phase",
    )


class AllocationRun(RunMeta):
    request: AllocationRequest
    decision: bool = Field(description="the run that decides the call's allocation")
    ranking: Ranking
    allocation: Allocation


def _out(row: RunRow, principal: Principal) -> AllocationRun:
    inputs = row.inputs
    return AllocationRun(
        **meta(row).model_dump(),
        request=AllocationRequest.model_validate(inputs["request"]),
        decision=bool(inputs.get("decision", False)),
        ranking=ranking_for(principal, Ranking.model_validate(inputs["ranking"])),
        allocation=Allocation.model_validate(row.result),
    )


@router.post("", status_code=201, response_model=AllocationRun)
def run_allocation(
    call_id: str, request: Request, principal: Caller, body: Annotated[AllocationRequest | None, Body()] = None
) -> AllocationRun:
    """Rank and allocate on one snapshot of the scores (decision: on the frozen ranking); stored and audited."""
    body = body or AllocationRequest()
    store = request.app.state.store
    if body.decision:
        decisions.no_calibration_override(body.calibrate)
        given = {"request": body.model_dump(mode="json"), "scenario": body.scenario.name}
        run, _ = decisions.decide_allocation(store, principal, call_id, body.scenario, given, body.explain)
        return _out(run, principal)
    snap = ranked_snapshot(store, call_id, body.calibrate)
    allocation = allocate(snap.call, snap.ranking, body.scenario, explain=body.explain)
    inputs = {
        "request": body.model_dump(mode="json"),
        "scenario": body.scenario.name,
        "ranking": snap.ranking.model_dump(mode="json"),
        "proposals": [p.model_dump(mode="json") for p in snap.proposals],
        "consensus_text": snap.consensus_text,
    }
    result = allocation.model_dump(mode="json")
    return _out(save_run(store, principal, call_id, KIND, snap.call_version, inputs, result), principal)


@router.get("", response_model=Page[RunMeta])
def list_allocations(call_id: str, session: Db, paging: Paging) -> Page[RunMeta]:
    return run_page(session, call_id, KIND, paging)


@router.get("/{run_id}", response_model=AllocationRun)
def get_allocation(call_id: str, run_id: int, session: Db, principal: Caller) -> AllocationRun:
    return _out(run_row(session, call_id, KIND, run_id), principal)
