"""Optimal mode: the integer program, and the Lagrangian core that makes it fast.

The model (written out in docs/allocation.md): a binary ``x`` per proposal, and with
partial funding an amount ``y`` in ``[low x, high x]``; one row per limit (budget,
number of grants, each quota group); with the ranking discipline, ``x`` never
increases down a ranked list. Its linear relaxation is a fractional knapsack with a
few dozen side rows, solved in milliseconds in a compact form (one column per
proposal, or per cut point of a list under the discipline). Its duals price every
proposal; a proposal whose Lagrangian profit is more than ``delta`` away from zero
cannot change its status in any solution within ``delta`` of the bound, so it is
fixed, and only the small core around the funding line goes to the MILP solver. The
core is widened until the solution found proves the fixing safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from evaluator.portfolio import Limit, Portfolio
from evaluator.solvers import MatrixModel, SolverName, SolverResult, default_solver, solve

EURO = 100.0
SMALL = 1500
FIRST_DELTA = 1e-6


@dataclass(frozen=True)
class Weights:
    """What a funded proposal adds to the objective: a fixed part per grant and a part per euro."""

    per_grant: np.ndarray
    per_euro: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """The solver's answer in portfolio terms: amounts in cents (zero when not funded)."""

    status: str
    amounts: np.ndarray | None
    bound: float | None
    gap: float
    build_seconds: float
    solve_seconds: float
    solver: str
    core: int


def weights(p: Portfolio, secondary: bool = False) -> Weights:
    zero = np.zeros(p.size)
    if secondary or p.objective == "score_weighted_funding":
        return Weights(zero, p.score)
    return Weights(p.score if p.objective == "total_score" else np.ones(p.size), zero)


class _Rows:
    """Rows collected as coordinate arrays, so a block of 10,000 two-term rows is one numpy call."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.low: list[np.ndarray] = []
        self.high: list[np.ndarray] = []
        self.count = 0

    def add(self, columns: np.ndarray, values: np.ndarray, low: float, high: float) -> None:
        self.rows.append(np.full(len(columns), self.count))
        self.cols.append(columns)
        self.vals.append(values)
        self.low.append(np.array([low]))
        self.high.append(np.array([high]))
        self.count += 1

    def add_pairs(self, first: np.ndarray, a: np.ndarray, second: np.ndarray, b: np.ndarray, low: float, high: float):
        """One row ``a[k] * x[first[k]] + b[k] * x[second[k]]`` in ``[low, high]`` for every k."""
        index = self.count + np.arange(len(first))
        self.rows += [index, index]
        self.cols += [first, second]
        self.vals += [np.broadcast_to(a, first.shape), np.broadcast_to(b, second.shape)]
        self.low.append(np.full(len(first), low))
        self.high.append(np.full(len(first), high))
        self.count += len(first)

    def matrix(self, width: int) -> sp.csr_matrix:
        if not self.rows:
            return sp.csr_matrix((0, width))
        data = (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols)))
        return sp.csr_matrix(data, shape=(self.count, width))


def formulate(p: Portfolio, w: Weights, limits: list[Limit], floor: float | None = None) -> MatrixModel:
    """The plain model: columns x (and y with partial funding, in euros), rows as in docs/allocation.md."""
    n, partial = p.size, p.partial
    high = p.high / EURO
    rows = _Rows()
    for limit in limits:
        columns, values = _limit_terms(limit, high, n, partial)
        rows.add(columns, values, *_scaled(limit, EURO if limit.measure == "amount" else 1.0))
    if partial:
        items = np.arange(n)
        rows.add_pairs(items, -high, n + items, np.ones(n), -np.inf, 0.0)
        rows.add_pairs(items, -p.low / EURO, n + items, np.ones(n), 0.0, np.inf)
    if p.settings.ranking_discipline:
        above, below = _chain(p)
        rows.add_pairs(above, np.ones(len(above)), below, -np.ones(len(below)), 0.0, np.inf)
    if floor is not None:
        rows.add(np.arange(n), weights(p).per_grant, floor, np.inf)
    width = 2 * n if partial else n
    if partial:
        cost = np.concatenate([w.per_grant, w.per_euro])
        col_high = np.concatenate([np.ones(n), high])
    else:
        cost = w.per_grant + w.per_euro * high
        col_high = np.ones(n)
    integer = np.arange(width) < n
    row_low = np.concatenate(rows.low) if rows.low else np.zeros(0)
    row_high = np.concatenate(rows.high) if rows.high else np.zeros(0)
    return MatrixModel(cost, rows.matrix(width), row_low, row_high, np.zeros(width), col_high, integer)


def _chain(p: Portfolio) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive pairs (above, below) within each ranked list."""
    pairs = [(members[:-1], members[1:]) for members in p.lists() if len(members) > 1]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])


def _limit_terms(limit: Limit, high: np.ndarray, n: int, partial: bool) -> tuple[np.ndarray, np.ndarray]:
    members = limit.members
    if limit.measure == "grants":
        return members, np.ones(len(members))
    if partial:
        return n + members, np.ones(len(members))
    return members, high[members]


def _scaled(limit: Limit, scale: float) -> tuple[float, float]:
    low = -np.inf if limit.low is None else limit.low / scale
    high = np.inf if limit.high is None else limit.high / scale
    return low, high


def _limit_matrix(p: Portfolio, limits: list[Limit]) -> sp.csr_matrix:
    """Rows of the limits over x alone (amount rows weigh a proposal by its highest grant, in euros)."""
    high = p.high / EURO
    rows = _Rows()
    for limit in limits:
        rows.add(*_limit_terms(limit, high, p.size, partial=False), 0.0, 0.0)
    return rows.matrix(p.size)


def relaxation(p: Portfolio, w: Weights, limits: list[Limit], deadline: float) -> SolverResult:
    """The linear relaxation in its compact form; its row duals (first ``len(limits)``) price the limits.

    Without the discipline it has one column per proposal funded in full; with it,
    one column per cut point of each list (the prefix above the cut is funded), so
    the chain rows disappear and the relaxation keeps only the limit rows and one
    row per list.
    """
    matrix = _limit_matrix(p, limits)
    cost = w.per_grant + w.per_euro * p.high / EURO
    scaled = [_scaled(limit, EURO if limit.measure == "amount" else 1.0) for limit in limits]
    low = np.array([s[0] for s in scaled])
    high = np.array([s[1] for s in scaled])
    if p.settings.ranking_discipline:
        lists = p.lists()
        blocks = [np.cumsum(matrix[:, members].toarray(), axis=1) for members in lists]
        gub = sp.block_diag([np.ones((1, len(members))) for members in lists], format="csr")
        matrix = sp.vstack([sp.csr_matrix(np.hstack(blocks)), gub], format="csr")
        cost = np.concatenate([np.cumsum(cost[members]) for members in lists])
        low = np.concatenate([low, np.full(len(lists), -np.inf)])
        high = np.concatenate([high, np.ones(len(lists))])
    width = matrix.shape[1]
    model = MatrixModel(cost, matrix, low, high, np.zeros(width), np.ones(width), np.zeros(width, dtype=bool))
    return solve(model, deadline, "highs")


def item_values(p: Portfolio, w: Weights, limits: list[Limit], prices: np.ndarray) -> np.ndarray:
    """Each proposal's Lagrangian profit (euros) at the limit prices: its best grant minus what it uses."""
    per_euro = w.per_euro.copy()
    per_grant = w.per_grant.copy()
    for limit, price in zip(limits, prices, strict=True):
        if price != 0:
            target = per_euro if limit.measure == "amount" else per_grant
            np.subtract.at(target, limit.members, price)
    best_amount = np.maximum(p.low * per_euro, p.high * per_euro) / EURO
    return per_grant + best_amount


def lagrangian_bound(p: Portfolio, limits: list[Limit], prices: np.ndarray, values: np.ndarray) -> float:
    """An upper bound on every solution's objective, valid for any prices of the right sign."""
    rhs = 0.0
    for limit, price in zip(limits, prices, strict=True):
        scale = EURO if limit.measure == "amount" else 1.0
        bound = limit.high if price > 0 else limit.low
        if price != 0 and bound is not None:
            rhs += price * bound / scale
    if not p.settings.ranking_discipline:
        return float(np.maximum(values, 0).sum()) + rhs
    return sum(float(np.max(_prefix(values[members]))) for members in p.lists()) + rhs


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(values)])


def signed_prices(limits: list[Limit], duals: np.ndarray) -> np.ndarray:
    """Row duals as prices of a maximisation: positive on a cap, negative on a minimum, zero where invalid."""
    prices = np.asarray(duals[: len(limits)], dtype=np.float64).copy()
    for k, limit in enumerate(limits):
        if limit.high is None:
            prices[k] = min(prices[k], 0.0)
        if limit.low is None:
            prices[k] = max(prices[k], 0.0)
    return prices


def fixing(p: Portfolio, values: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Proposals whose status no solution within ``delta`` of the bound can change: (funded, not funded).

    Without the discipline a proposal is fixed when its profit is beyond ``delta``;
    with it, a list's cut points whose prefix falls more than ``delta`` short of the
    list's best prefix are ruled out, which fixes the head and the tail of the list.
    """
    if not p.settings.ranking_discipline:
        return values > delta, values < -delta
    funded = np.zeros(p.size, dtype=bool)
    unfunded = np.zeros(p.size, dtype=bool)
    for members in p.lists():
        prefix = _prefix(values[members])
        window = np.flatnonzero(prefix >= prefix.max() - delta)
        funded[members[: window.min()]] = True
        unfunded[members[window.max() :]] = True
    return funded, unfunded


def _core_bounds(model: MatrixModel, p: Portfolio, funded: np.ndarray, unfunded: np.ndarray) -> MatrixModel:
    low, high = model.col_low.copy(), model.col_high.copy()
    n = p.size
    low[:n][funded] = 1.0
    high[:n][unfunded] = 0.0
    if p.partial:
        high[n:][unfunded] = 0.0
    return model.with_bounds(low, high)


def solve_optimal(p: Portfolio, deadline: float, gap: float = 1e-4, solver: SolverName | None = None) -> Outcome:
    """Solve optimal mode; a second stage maximises score-weighted funding when the objective counts grants."""
    began = time.monotonic()
    chosen = solver or default_solver(p.partial)
    first = _solve_stage(p, weights(p), None, deadline, gap, chosen, began)
    if p.objective == "score_weighted_funding" or first.amounts is None:
        return first
    floor = float(weights(p).per_grant @ (first.amounts > 0)) - 1e-6
    second = _solve_stage(p, weights(p, secondary=True), floor, deadline, gap, chosen, time.monotonic())
    if second.amounts is None:
        return first
    return Outcome(
        first.status if second.status == "optimal" else second.status,
        second.amounts,
        first.bound,
        first.gap,
        first.build_seconds + second.build_seconds,
        first.solve_seconds + second.solve_seconds,
        chosen,
        first.core,
    )


def _solve_stage(
    p: Portfolio, w: Weights, floor: float | None, deadline: float, gap: float, solver: SolverName, began: float
) -> Outcome:
    model = formulate(p, w, p.limits, floor)
    built = time.monotonic()
    if p.size <= SMALL or floor is not None:
        result = solve(model, deadline, solver, gap)
        return _outcome(p, model, result, result.bound, built - began, built, p.size)
    relaxed = relaxation(p, w, p.limits, deadline)
    if relaxed.status == "infeasible" or relaxed.duals is None:
        return _outcome(p, model, relaxed, None, built - began, built, 0)
    prices = signed_prices(p.limits, relaxed.duals)
    values = item_values(p, w, p.limits, prices)
    bound = lagrangian_bound(p, p.limits, prices, values)
    return _core_search(p, model, values, bound, deadline, gap, solver, built - began, built)


def _core_search(
    p: Portfolio,
    model: MatrixModel,
    values: np.ndarray,
    bound: float,
    deadline: float,
    gap: float,
    solver: SolverName,
    build_seconds: float,
    started: float,
) -> Outcome:
    """Widen the core until the best solution in it is within ``delta`` of the Lagrangian bound."""
    delta = max(abs(bound) * FIRST_DELTA, 1.0)
    start: np.ndarray | None = None
    while True:
        funded, unfunded = fixing(p, values, delta)
        core = p.size - int(funded.sum() + unfunded.sum())
        result = solve(_core_bounds(model, p, funded, unfunded), deadline, solver, gap, start)
        whole = not (funded.any() or unfunded.any())
        if result.objective is not None and result.objective >= bound - delta:
            proven = max(result.bound if result.bound is not None else bound, bound - delta)
            return _outcome(p, model, result, min(proven, bound), build_seconds, started, core)
        if whole or time.monotonic() >= deadline:
            return _outcome(p, model, result, bound if result.found else None, build_seconds, started, core)
        if result.objective is not None:
            delta, start = max(bound - result.objective, 2 * delta) * 1.0001, result.values
        else:
            delta *= 16


def _outcome(
    p: Portfolio,
    model: MatrixModel,
    result: SolverResult,
    bound: float | None,
    build_seconds: float,
    started: float,
    core: int,
) -> Outcome:
    solve_seconds = time.monotonic() - started
    if result.values is None:
        status = "infeasible" if result.status == "infeasible" else "no_solution"
        return Outcome(status, None, None, float("inf"), build_seconds, solve_seconds, result.solver, core)
    amounts = extract_amounts(p, result.values)
    objective = float(model.cost @ result.values)
    found_gap = 0.0 if bound is None else max(bound - objective, 0.0) / max(abs(objective), 1.0)
    status = "optimal" if result.status == "optimal" else "feasible"
    return Outcome(status, amounts, bound, found_gap, build_seconds, solve_seconds, result.solver, core)


def extract_amounts(p: Portfolio, values: np.ndarray) -> np.ndarray:
    """Grants in exact cents from the solver's floats, nudged by the few cents rounding may cost a limit."""
    funded = values[: p.size] > 0.5
    if not p.partial:
        return np.where(funded, p.high, 0)
    cents = np.rint(values[p.size :] * EURO).astype(np.int64)
    amounts = np.where(funded, np.clip(cents, p.low, p.high), 0)
    return settle(p, amounts)


def settle(p: Portfolio, amounts: np.ndarray) -> np.ndarray:
    """Move the cents rounding left over a cap or under a minimum to proposals that have room."""
    amounts = amounts.copy()
    for limit in p.limits:
        if limit.measure != "amount":
            continue
        members = limit.members[amounts[limit.members] > 0]
        total = int(amounts[members].sum())
        if limit.high is not None and total > limit.high:
            _shift(amounts, members[np.argsort(p.score[members])], total - limit.high, p.low, -1)
        if limit.low is not None and total < limit.low:
            _shift(amounts, members[np.argsort(-p.score[members])], limit.low - total, p.high, +1)
    return amounts


def _shift(amounts: np.ndarray, order: np.ndarray, cents: int, stop: np.ndarray, sign: int) -> None:
    for k in order:
        room = abs(int(stop[k]) - int(amounts[k]))
        step = min(room, cents)
        amounts[k] += sign * step
        cents -= step
        if cents == 0:
            return
