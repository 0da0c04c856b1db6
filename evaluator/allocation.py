"""Budget allocation: who is funded, with how much, and why the line falls where it does.

``allocate(call, ranking, scenario)`` runs the call's allocation mode — the classic
funding line (``evaluator.funding_line``) or the integer program
(``evaluator.integer_program``) — and returns an :class:`Allocation` that carries
its own explanation: the constraints that bind, what each portfolio constraint
costs, what more budget would buy, and for an infeasible call the constraints that
conflict. Amounts are exact (int cents inside, ``Money`` outside).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evaluator import explanations
from evaluator.explanations import BudgetGain, ConstraintPrice, ReserveReason
from evaluator.funding_line import funding_line
from evaluator.integer_program import Weights, formulate, model_value, quick_bound, solve_optimal
from evaluator.portfolio import Limit, Portfolio, build_portfolio
from evaluator.ranking import RankedProposal, Ranking
from evaluator.solvers import SolverName, solve
from rules.model import AllocationSettings, Call, GrantCount, PartialFunding, Quota, TimeLimit
from rules.money import Money, PositiveMoney, from_cents, to_cents

Status = Literal["complete", "optimal", "feasible_time_limit", "infeasible"]
"""``complete``: rank mode walked the whole list; ``optimal`` is kept for a proven optimum in optimal mode."""

GAP = 1e-4
MIN_EXPLAIN_SECONDS = 0.25


class Scenario(BaseModel):
    """A variation of the call's allocation settings; what is left out keeps the call's value.

    So a misspelt field (``budjet``) is refused: ignored, it would run the call's own budget unnoticed.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "call"
    budget: PositiveMoney | None = None
    max_grant: PositiveMoney | None = None
    max_grants: GrantCount | None = Field(default=None, ge=1)
    mode: Literal["rank", "optimal"] | None = None
    objective: Literal["score_weighted_funding", "total_score", "grants"] | None = None
    partial_funding: PartialFunding | Literal[False] | None = Field(
        default=None, description="a range to allow partial funding, false to forbid it"
    )
    ranking_discipline: bool | None = None
    funding_line_tie: Literal["rank", "most_proposals"] | None = None
    constraints: list[Quota] = Field(default_factory=list, description="added to the call's, or replacing them")
    replace_constraints: bool = False
    time_limit_seconds: TimeLimit | None = None

    def settings(self, call: Call) -> AllocationSettings:
        base = call.allocation
        update: dict[str, object] = {
            key: value
            for key in (
                "max_grants",
                "mode",
                "objective",
                "ranking_discipline",
                "funding_line_tie",
                "time_limit_seconds",
            )
            if (value := getattr(self, key)) is not None
        }
        if self.partial_funding is not None:
            update["partial_funding"] = self.partial_funding or None
        if self.constraints or self.replace_constraints:
            kept = [] if self.replace_constraints else base.constraints
            update["constraints"] = [*kept, *self.constraints]
        return base.model_copy(update=update)


class Grant(BaseModel):
    id: str
    amount: Money
    requested: Money
    share_of_request: Decimal = Field(description="amount / requested, four decimals")
    position: int | None = Field(description="rank in its list")
    list_name: str
    score: Decimal


class SolveStats(BaseModel):
    solver: str
    build_seconds: float
    solve_seconds: float
    core: int = Field(description="proposals left to the MILP solver after the Lagrangian fixing")


class Allocation(BaseModel):
    status: Status
    objective: Decimal = Field(description="what optimal mode maximises, in objective_unit")
    objective_unit: str = Field(default="", description="what the objective counts, e.g. score × EUR granted")
    total_awarded: Money
    budget_left: Money
    grants: list[Grant]
    reserve: list[str] = Field(description="fundable proposals not funded, in rank order")
    binding: list[str]
    call_id: str
    scenario: str
    mode: str
    budget: Money
    gap: Decimal | None = Field(description="relative distance to the proven bound; None without a solution")
    reasons: dict[str, str] = Field(default_factory=dict, description="why a proposal is not funded")
    reserve_reasons: list[ReserveReason] = Field(
        default_factory=list, description="for each reserve proposal: what keeps it out, what would make room"
    )
    prices: list[ConstraintPrice] = Field(default_factory=list)
    more_budget: BudgetGain | None = None
    conflicts: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    stats: SolveStats

    @property
    def funded(self) -> set[str]:
        return {g.id for g in self.grants}


@dataclass
class Run:
    """One allocation run in portfolio terms, before it is explained."""

    p: Portfolio
    status: Status
    amounts: np.ndarray | None
    gap: float
    stats: SolveStats
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def objective(self) -> Decimal:
        return objective_value(self.p, self.amounts)

    def objective_float(self) -> float:
        return 0.0 if self.amounts is None else model_value(self.p, self.amounts)

    def tolerance(self) -> float:
        """What the solve may leave between its allocation and the optimum (the gap it was asked for)."""
        return GAP * max(abs(self.objective_float()), 1.0)


def allocate(
    call: Call,
    ranking: Ranking,
    scenario: Scenario | None = None,
    *,
    explain: bool = True,
    solver: SolverName | None = None,
    explain_share: float = 0.5,
) -> Allocation:
    """Allocate the budget; ``explain`` adds what each limit costs and what more budget would buy.

    Exact re-solves for the explanations may take ``explain_share`` times as long as the
    allocation itself took (at least half a second, never past the call's time limit);
    what is not re-solved in that time is given as a bound.
    """
    scenario = scenario or Scenario()
    fundable = ranking.fundable()
    p = portfolio_for(call, fundable, scenario)
    began = time.monotonic()
    deadline = began + float(p.settings.time_limit_seconds)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The explanations are mostly solver time, which runs without the interpreter lock: their
        # relaxation bounds need only the portfolio, so they are solved beside the allocation,
        # and the re-solves beside its description, which is mostly Python (on two cores, at
        # 10,000 proposals, half a second each). No thread starts when nothing is submitted.
        bounding = pool.submit(explanations.relaxed_bounds, p, deadline) if explain else None
        run = execute(p, deadline, solver)
        spent = time.monotonic() - began
        explaining = None
        if bounding is not None and run.status != "infeasible":
            share = min(deadline, time.monotonic() + _explain_seconds(explain_share, spent))
            explaining = pool.submit(_explanations, run, solver, bounding, share, call.currency)
        allocation = describe(call, scenario, run)
        if explaining is not None:
            allocation.prices, allocation.more_budget = explaining.result()
    if call.allocation.randomise is not None:
        allocation.notes.append("this call funds its grey zone by lot: grants lottery draw makes the decision")
    if not fundable:
        allocation.notes.append(
            f"no proposal is fundable ({len(ranking.entries)} ranked, none eligible and above every threshold)"
        )
    if run.status == "infeasible":
        allocation.conflicts = run.conflicts or conflicts(p, deadline)
        why = f"nobody is funded: the call's limits cannot all hold ({', '.join(allocation.conflicts)})"
        allocation.reasons = {**dict.fromkeys(allocation.reserve, why), **allocation.reasons}
    return allocation


def _explain_seconds(share: float, spent: float) -> float:
    """The time exact re-solves may take: ``share`` of the allocation's own, at least half a second (0: none)."""
    return max(share * spent, MIN_EXPLAIN_SECONDS) if share > 0 else 0.0


def _explanations(
    run: Run, solver: SolverName | None, bounding: Future[explanations.Bounds], share: float, currency: str
) -> tuple[list[ConstraintPrice], BudgetGain | None]:
    """What each limit costs and what more budget buys, exact where re-solved before ``share`` ends."""

    def rerun(variant: Portfolio, until: float, start: np.ndarray | None) -> Run:
        return execute(variant, until, solver, start)

    return (
        explanations.prices(run, rerun, bounding.result(), share, currency),
        explanations.budget_gain(run, rerun, share, currency),
    )


def portfolio_for(call: Call, fundable: Sequence[RankedProposal], scenario: Scenario) -> Portfolio:
    budget = to_cents(scenario.budget if scenario.budget is not None else call.budget.total)
    cap = scenario.max_grant if scenario.max_grant is not None else call.budget.max_grant
    return build_portfolio(call, fundable, scenario.settings(call), budget, None if cap is None else to_cents(cap))


def execute(p: Portfolio, deadline: float, solver: SolverName | None = None, start: np.ndarray | None = None) -> Run:
    """Run the portfolio's mode: the funding line or the integer program (warm-started from ``start``, cents)."""
    if p.settings.mode == "rank":
        began = time.monotonic()
        walk, unmet = funding_line(p, deadline)
        stats = SolveStats(solver="funding line", build_seconds=0.0, solve_seconds=time.monotonic() - began, core=0)
        if unmet:
            missing = [limit.name for limit in unmet]
            blockers = sorted({b for r, names in walk.blockers.items() for b in names})
            return Run(p, "infeasible", None, float("inf"), stats, walk.reasons, walk.notes, [*missing, *blockers])
        return Run(p, "complete", walk.amounts, 0.0, stats, walk.reasons, walk.notes)
    outcome = solve_optimal(p, deadline, solver=solver, start=start)
    stats = SolveStats(
        solver=outcome.solver,
        build_seconds=outcome.build_seconds,
        solve_seconds=outcome.solve_seconds,
        core=outcome.core,
    )
    if outcome.status == "infeasible":
        return Run(p, "infeasible", None, float("inf"), stats)
    if outcome.status == "optimal" and outcome.amounts is not None:
        return Run(p, "optimal", outcome.amounts, outcome.gap, stats)
    return _best_in_time(p, outcome.amounts, outcome.bound, stats, deadline)


def _best_in_time(
    p: Portfolio, found: np.ndarray | None, bound: float | None, stats: SolveStats, deadline: float
) -> Run:
    """When time ran out: the solver's best solution or the funding line (always feasible here), whichever is better.

    A solver stopped early may hold nothing better than funding nobody; the funding
    line in rank order takes milliseconds and respects every cap, so it is the floor.
    """
    walk, unmet = funding_line(p, deadline)
    candidates: list[tuple[float, np.ndarray, list[str]]] = []
    if found is not None:
        candidates.append((model_value(p, found), found, []))
    if not unmet:
        note = "the solver's best was below the funding line in rank order, which is returned instead"
        candidates.append((model_value(p, walk.amounts), walk.amounts, [note]))
    if not candidates:
        return Run(p, "feasible_time_limit", None, float("inf"), stats, notes=["no solution was found in time"])
    value, amounts, notes = max(candidates, key=lambda c: c[0])
    proven = quick_bound(p) if bound is None else bound
    gap = max(proven - value, 0.0) / max(abs(value), 1.0)
    return Run(p, "feasible_time_limit", amounts, gap, stats, notes=notes)


def objective_value(p: Portfolio, amounts: np.ndarray | None) -> Decimal:
    """The objective in exact decimals: score times euros, total score, or number of grants."""
    if amounts is None:
        return Decimal(0)
    funded = np.flatnonzero(amounts > 0).tolist()
    if p.objective == "grants":
        return Decimal(len(funded))
    if p.objective == "total_score":
        return sum((p.entries[k].weighted_total for k in funded), Decimal(0))
    return sum((p.entries[k].weighted_total * from_cents(int(amounts[k])) for k in funded), Decimal(0))


def describe(call: Call, scenario: Scenario, run: Run) -> Allocation:
    p = run.p
    amounts = run.amounts if run.amounts is not None else np.zeros(p.size, dtype=np.int64)
    awarded = int(amounts.sum())
    reserve = explanations.reserve_reasons(p, amounts, call.currency) if run.amounts is not None else []
    read_off = {r.id: r.explanation for r in reserve} if p.settings.mode == "optimal" else {}
    return Allocation(
        status=run.status,
        objective=run.objective(),
        objective_unit=explanations.objective_unit(p, call.currency),
        total_awarded=from_cents(awarded),
        budget_left=from_cents(p.budget - awarded),
        grants=[_grant(p, k, int(amounts[k])) for k in np.flatnonzero(amounts > 0).tolist()],
        reserve=[p.entries[k].id for k in np.flatnonzero(amounts == 0).tolist()],
        binding=[] if run.amounts is None else binding(p, amounts, reserve),
        call_id=call.id,
        scenario=scenario.name,
        mode=p.settings.mode,
        budget=from_cents(p.budget),
        gap=Decimal(format(float(run.gap), ".3g")) if np.isfinite(run.gap) else None,
        reasons={**read_off, **run.reasons, **p.excluded} if run.amounts is not None else dict(p.excluded),
        reserve_reasons=reserve,
        notes=run.notes,
        stats=run.stats,
    )


def _grant(p: Portfolio, k: int, cents: int) -> Grant:
    entry = p.entries[k]
    amount = from_cents(cents)
    share = (amount / entry.requested_amount).quantize(Decimal("0.0001")) if entry.requested_amount else Decimal(1)
    return Grant(
        id=entry.id,
        amount=amount,
        requested=entry.requested_amount,
        share_of_request=share,
        position=entry.position,
        list_name=entry.list_name,
        score=entry.weighted_total,
    )


def binding(p: Portfolio, amounts: np.ndarray, reserve: Sequence[ReserveReason]) -> list[str]:
    """Caps that leave an unfunded proposal no room, and minimums no funded proposal could be dropped from."""
    names = dict.fromkeys(name for r in reserve for name in r.kept_out_by)
    for limit in p.limits:
        if not limit.low:  # a minimum of zero holds whatever is funded
            continue
        funded = limit.members[amounts[limit.members] > 0]
        smallest = int(amounts[funded].min()) if limit.measure == "amount" and len(funded) else 1
        if limit.total(amounts) - limit.low < smallest:
            names[limit.name] = None
    return [limit.name for limit in p.limits if limit.name in names]


def conflicts(p: Portfolio, deadline: float) -> list[str]:
    """An irreducible set of limits that cannot hold together (a deletion filter over the rows).

    Each row is dropped in turn, the call's own quotas before the budget and the grant
    count; if the rest is still infeasible the row is not needed to explain the
    conflict and stays out. What remains is a minimal conflicting set.
    """
    kept = list(p.limits)
    if _feasible(p, kept, deadline) is not False:
        return []
    for limit in reversed(p.limits):
        trial = [other for other in kept if other is not limit]
        if _feasible(p, trial, deadline) is False:
            kept = trial
    return [limit.name for limit in kept]


def _feasible(p: Portfolio, limits: list[Limit], deadline: float) -> bool | None:
    """Whether some allocation meets these limits (None: not decided in time)."""
    model = formulate(p, Weights(np.zeros(p.size), np.zeros(p.size)), limits)
    result = solve(model, max(deadline, time.monotonic() + 5.0), "highs", 1.0)
    if result.status == "infeasible":
        return False
    return True if result.found else None
