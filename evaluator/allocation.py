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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evaluator.funding_line import funding_line
from evaluator.integer_program import Weights, formulate, model_value, quick_bound, solve_optimal
from evaluator.portfolio import Limit, Portfolio, build_portfolio
from evaluator.ranking import RankedProposal, Ranking
from evaluator.solvers import SolverName, solve
from rules.model import AllocationSettings, Call, GrantCount, PartialFunding, Quota, TimeLimit
from rules.money import Money, PositiveMoney, from_cents, to_cents

Status = Literal["optimal", "feasible_time_limit", "infeasible"]


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


class ConstraintPrice(BaseModel):
    """What a portfolio constraint costs: the objective the same run reaches without it, minus this one's."""

    constraint: str
    price: Decimal | None = Field(description="None when the run without it did not finish in time")
    funds_instead: list[str] = Field(default_factory=list, description="proposals funded only without it")


class BudgetGain(BaseModel):
    """What the smallest budget increase that moves the funding line would buy."""

    extra: Money
    newly_funded: list[str]
    no_longer_funded: list[str]
    objective_gain: Decimal


class SolveStats(BaseModel):
    solver: str
    build_seconds: float
    solve_seconds: float
    core: int = Field(description="proposals left to the MILP solver after the Lagrangian fixing")


class Allocation(BaseModel):
    status: Status
    objective: Decimal
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


def allocate(
    call: Call,
    ranking: Ranking,
    scenario: Scenario | None = None,
    *,
    explain: bool = True,
    solver: SolverName | None = None,
) -> Allocation:
    """Allocate the budget; ``explain`` adds constraint prices and the budget gain (extra runs)."""
    scenario = scenario or Scenario()
    fundable = ranking.fundable()
    p = portfolio_for(call, fundable, scenario)
    deadline = time.monotonic() + float(p.settings.time_limit_seconds)
    run = execute(p, deadline, solver)
    allocation = describe(call, scenario, run)
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
    elif explain:
        allocation.prices = prices(run, deadline, solver)
        allocation.more_budget = budget_gain(run, deadline, solver)
    return allocation


def portfolio_for(call: Call, fundable: Sequence[RankedProposal], scenario: Scenario) -> Portfolio:
    budget = to_cents(scenario.budget if scenario.budget is not None else call.budget.total)
    cap = scenario.max_grant if scenario.max_grant is not None else call.budget.max_grant
    return build_portfolio(call, fundable, scenario.settings(call), budget, None if cap is None else to_cents(cap))


def execute(p: Portfolio, deadline: float, solver: SolverName | None = None) -> Run:
    """Run the portfolio's mode: the funding line or the integer program."""
    if p.settings.mode == "rank":
        began = time.monotonic()
        walk, unmet = funding_line(p, deadline)
        stats = SolveStats(solver="funding line", build_seconds=0.0, solve_seconds=time.monotonic() - began, core=0)
        if unmet:
            missing = [limit.name for limit in unmet]
            blockers = sorted({b for r, names in walk.blockers.items() for b in names})
            return Run(p, "infeasible", None, float("inf"), stats, walk.reasons, walk.notes, [*missing, *blockers])
        return Run(p, "optimal", walk.amounts, 0.0, stats, walk.reasons, walk.notes)
    outcome = solve_optimal(p, deadline, solver=solver)
    stats = SolveStats(
        solver=outcome.solver,
        build_seconds=outcome.build_seconds,
        solve_seconds=outcome.solve_seconds,
        core=outcome.core,
    )
    if outcome.status == "infeasible":
        return Run(p, "infeasible", None, float("inf"), stats)
    if outcome.status == "optimal" and outcome.amounts is not None:
        return Run(p, "optimal", outcome.amounts, outcome.gap, stats, _optimal_reasons(p, outcome.amounts))
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
    return Run(p, "feasible_time_limit", amounts, gap, stats, _optimal_reasons(p, amounts), notes)


def _optimal_reasons(p: Portfolio, amounts: np.ndarray) -> dict[str, str]:
    blocking = {k: name for k, name in _blocked(p, amounts).items()}
    return {
        p.entries[k].id: f"not in the optimal portfolio{'; ' + blocking[k] + ' is full' if k in blocking else ''}"
        for k in np.flatnonzero(amounts == 0).tolist()
    }


def _blocked(p: Portfolio, amounts: np.ndarray) -> dict[int, str]:
    """For each unfunded proposal, the first cap that leaves it no room."""
    found: dict[int, str] = {}
    for limit in p.limits:
        if limit.high is None:
            continue
        left = limit.high - limit.total(amounts)
        unfunded = limit.members[amounts[limit.members] == 0]
        need = p.low[unfunded] if limit.measure == "amount" else np.ones(len(unfunded), dtype=np.int64)
        for k in unfunded[need > left].tolist():
            found.setdefault(k, limit.name)
    return found


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
    return Allocation(
        status=run.status,
        objective=run.objective(),
        total_awarded=from_cents(awarded),
        budget_left=from_cents(p.budget - awarded),
        grants=[_grant(p, k, int(amounts[k])) for k in np.flatnonzero(amounts > 0).tolist()],
        reserve=[p.entries[k].id for k in np.flatnonzero(amounts == 0).tolist()],
        binding=[] if run.amounts is None else binding(p, amounts),
        call_id=call.id,
        scenario=scenario.name,
        mode=p.settings.mode,
        budget=from_cents(p.budget),
        gap=Decimal(format(float(run.gap), ".3g")) if np.isfinite(run.gap) else None,
        reasons={**run.reasons, **p.excluded} if run.amounts is not None else dict(p.excluded),
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


def binding(p: Portfolio, amounts: np.ndarray) -> list[str]:
    """Caps that leave an unfunded proposal no room, and minimums no funded proposal could be dropped from."""
    names = dict.fromkeys(_blocked(p, amounts).values())
    for limit in p.limits:
        if not limit.low:  # a minimum of zero holds whatever is funded
            continue
        funded = limit.members[amounts[limit.members] > 0]
        smallest = int(amounts[funded].min()) if limit.measure == "amount" and len(funded) else 1
        if limit.total(amounts) - limit.low < smallest:
            names[limit.name] = None
    return [limit.name for limit in p.limits if limit.name in names]


def prices(run: Run, deadline: float, solver: SolverName | None) -> list[ConstraintPrice]:
    """Re-run without each portfolio constraint (quotas, the grant count, the discipline) and compare."""
    p = run.p
    quotas = list(dict.fromkeys(limit.quota for limit in p.limits if limit.quota != "budget"))
    variants = [(name, p.without(name)) for name in quotas]
    if p.settings.ranking_discipline:
        free = p.settings.model_copy(update={"ranking_discipline": False})
        variants.append(("ranking_discipline", Portfolio(**{**p.__dict__, "settings": free})))
    return [_price(run, name, variant, deadline, solver) for name, variant in variants]


def _price(run: Run, name: str, variant: Portfolio, deadline: float, solver: SolverName | None) -> ConstraintPrice:
    if time.monotonic() >= deadline:
        return ConstraintPrice(constraint=name, price=None)
    other = execute(variant, deadline, solver)
    if other.status != "optimal" or run.status != "optimal":
        return ConstraintPrice(constraint=name, price=None)
    return ConstraintPrice(constraint=name, price=other.objective() - run.objective(), funds_instead=_newly(run, other))


def _newly(before: Run, after: Run) -> list[str]:
    if before.amounts is None or after.amounts is None:
        return []
    return [before.p.entries[k].id for k in np.flatnonzero((after.amounts > 0) & (before.amounts == 0)).tolist()]


def budget_gain(run: Run, deadline: float, solver: SolverName | None) -> BudgetGain | None:
    """Fund the first proposal in rank order that the budget alone keeps out, and see what moves."""
    p = run.p
    if run.amounts is None or time.monotonic() >= deadline:
        return None
    left = p.budget - int(run.amounts.sum())
    waiting = [k for k in np.flatnonzero(run.amounts == 0).tolist() if p.low[k] > left]
    if not waiting:
        return None
    extra = int(p.low[waiting[0]]) - left
    budget_limit = Limit("budget", "budget", np.arange(p.size), "amount", high=p.budget + extra)
    richer = Portfolio(**{**p.__dict__, "budget": p.budget + extra, "limits": [budget_limit, *p.limits[1:]]})
    other = execute(richer, deadline, solver)
    if other.amounts is None:
        return None
    return BudgetGain(
        extra=from_cents(extra),
        newly_funded=_newly(run, other),
        no_longer_funded=_newly(other, run),
        objective_gain=other.objective() - run.objective(),
    )


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
