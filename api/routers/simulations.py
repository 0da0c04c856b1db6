"""Simulation runs: scenarios side by side, budget sweeps, funding odds under score noise.

Like allocations, a simulation reads one snapshot, computes outside any write
transaction with ``evaluator.simulation``, and is stored with its inputs. Requests
are bounded (scenarios, sweep steps, Monte Carlo runs) so one call cannot hold a
server for long.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import Request
from pydantic import BaseModel, Field, model_validator

from api.auth import Caller, Db
from api.db.limits import Storable
from api.db.models import RunRow
from api.db.runs import RunMeta, meta, run_page, run_row, save_run
from api.routers.allocations import ScenarioRequest
from api.routers.common import Page, Paging, guarded_router
from api.routers.rankings import ranked_snapshot
from evaluator.simulation import (
    FundingOdds,
    ScenarioSummary,
    SweepPoint,
    budget_range,
    budget_sweep,
    compare,
    funding_odds,
)
from rules.money import Money

router = guarded_router(prefix="/calls/{call_id}/simulations", tags=["simulations"])
KIND = "simulation"


class Sweep(Storable):
    low: Money = Field(gt=0)
    high: Money = Field(gt=0)
    steps: int = Field(default=11, ge=1, le=101)
    base: ScenarioRequest | None = None


class OddsRequest(Storable):
    noise: Decimal | None = Field(default=None, ge=0, le=10, description="sd of each evaluator's score")
    runs: int = Field(default=1000, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="the random generator's seed")
    resample: bool = Field(default=False, description="draw each proposal's evaluators with replacement instead")


class SimulationRequest(Storable):
    scenarios: list[ScenarioRequest] = Field(default_factory=list, max_length=20, description="compared with the first")
    sweep: Sweep | None = None
    odds: OddsRequest | None = None
    calibrate: bool | None = None

    @model_validator(mode="after")
    def _asks_something(self) -> SimulationRequest:
        if not self.scenarios and self.sweep is None and self.odds is None:
            raise ValueError("ask for scenarios, a sweep or odds (or several)")
        return self


class SimulationResult(BaseModel):
    scenarios: list[ScenarioSummary] = Field(default_factory=list)
    sweep: list[SweepPoint] = Field(default_factory=list)
    odds: FundingOdds | None = None


class SimulationRun(RunMeta):
    request: SimulationRequest
    result: SimulationResult


def _out(row: RunRow) -> SimulationRun:
    return SimulationRun(
        **meta(row).model_dump(),
        request=SimulationRequest.model_validate(row.inputs["request"]),
        result=SimulationResult.model_validate(row.result),
    )


@router.post("", status_code=201, response_model=SimulationRun)
def run_simulation(call_id: str, body: SimulationRequest, request: Request, principal: Caller) -> SimulationRun:
    """Compare scenarios, sweep the budget, or estimate funding odds, on one snapshot; stored and audited."""
    store = request.app.state.store
    snap = ranked_snapshot(store, call_id, body.calibrate)
    call, ranking = snap.call, snap.ranking
    result = SimulationResult(scenarios=compare(call, ranking, body.scenarios))
    if body.sweep is not None:
        budgets = budget_range(body.sweep.low, body.sweep.high, body.sweep.steps)
        result.sweep = budget_sweep(call, ranking, budgets, body.sweep.base)
    if body.odds is not None:
        odds = body.odds
        result.odds = funding_odds(
            call, ranking, snap.proposals, noise=odds.noise, runs=odds.runs, seed=odds.seed, resample=odds.resample
        )
    inputs = {"request": body.model_dump(mode="json"), "scenario": None, "ranking": ranking.model_dump(mode="json")}
    return _out(save_run(store, principal, call_id, KIND, snap.call_version, inputs, result.model_dump(mode="json")))


@router.get("", response_model=Page[RunMeta])
def list_simulations(call_id: str, session: Db, paging: Paging) -> Page[RunMeta]:
    return run_page(session, call_id, KIND, paging)


@router.get("/{run_id}", response_model=SimulationRun)
def get_simulation(call_id: str, run_id: int, session: Db) -> SimulationRun:
    return _out(run_row(session, call_id, KIND, run_id))
