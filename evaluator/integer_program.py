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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evaluator.portfolio import Limit, Portfolio
from evaluator.solvers import (
    ColumnMatrix,
    MatrixModel,
    SolverName,
    SolverResult,
    solve,
    solve_without_rows,
    solver_available,
)

EURO = 100.0
SMALL = 1500
WHOLE_MODEL_SHARE = 0.6
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

    def matrix(self, width: int) -> ColumnMatrix:
        if not self.rows:
            return ColumnMatrix.from_entries(*(np.zeros(0, dtype=np.int64),) * 3, (0, width))
        rows, cols, vals = (np.concatenate(part) for part in (self.rows, self.cols, self.vals))
        return ColumnMatrix.from_entries(rows, cols, vals, (self.count, width))


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


def _limit_matrix(p: Portfolio, limits: list[Limit]) -> ColumnMatrix:
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
    model, method = _relaxed_model(p, w, limits)
    return solve(model, deadline, "highs", lp_method=method)


def relaxations_without(
    p: Portfolio, w: Weights, dropped: list[list[int]], deadline: float
) -> tuple[SolverResult, list[SolverResult]]:
    """The relaxation, and the same without each set of limit rows (their duals zero), warm-started from it."""
    model, method = _relaxed_model(p, w, p.limits)
    return solve_without_rows(model, dropped, deadline, method)


def _relaxed_model(p: Portfolio, w: Weights, limits: list[Limit]) -> tuple[MatrixModel, str]:
    """The compact relaxation and the LP method measured fastest on it (the cut form is denser)."""
    if p.settings.ranking_discipline:
        model = cut_model(p, w, limits, [(0, len(members)) for members in p.lists()])
        return model.relaxed(), "simplex"
    matrix = _limit_matrix(p, limits)
    low, high = _row_bounds(limits)
    width = p.size
    cost = w.per_grant + w.per_euro * p.high / EURO
    return MatrixModel(cost, matrix, low, high, np.zeros(width), np.ones(width), np.zeros(width, dtype=bool)), "ipm"


def _row_bounds(limits: list[Limit]) -> tuple[np.ndarray, np.ndarray]:
    scaled = [_scaled(limit, EURO if limit.measure == "amount" else 1.0) for limit in limits]
    return np.array([s[0] for s in scaled]), np.array([s[1] for s in scaled])


def cut_model(p: Portfolio, w: Weights, limits: list[Limit], windows: list[tuple[int, int]]) -> MatrixModel:
    """The disciplined model with one binary per admissible cut of each list (its funded prefix length).

    A cut column carries the sums over its prefix, so every limit stays one row and
    the list's chain becomes a single row "one cut per list"; cuts outside the
    Lagrangian window of a list are left out.
    """
    dense = _limit_matrix(p, limits).dense()
    item_cost = w.per_grant + w.per_euro * p.high / EURO
    blocks, costs, picks = [np.zeros((len(limits), 0))], [np.zeros(0)], []
    for members, (first, last) in zip(p.lists(), windows, strict=True):
        cuts = np.arange(max(first, 1), last + 1)
        prefix = np.cumsum(dense[:, members], axis=1)
        blocks.append(prefix[:, cuts - 1])
        costs.append(np.cumsum(item_cost[members])[cuts - 1])
        picks.append((len(cuts), first))
    low, high = _row_bounds(limits)
    body = np.hstack(blocks)
    width = body.shape[1]
    rows, cols = np.nonzero(body)
    one_list = len(limits) + np.repeat(np.arange(len(picks)), [count for count, _ in picks])
    matrix = ColumnMatrix.from_entries(
        np.concatenate([rows, one_list]),
        np.concatenate([cols, np.arange(width)]),
        np.concatenate([body[rows, cols], np.ones(width)]),
        (len(limits) + len(picks), width),
    )
    one_cut = np.array([1.0 if first > 0 else -np.inf for _, first in picks])
    return MatrixModel(
        np.concatenate(costs),
        matrix,
        np.concatenate([low, one_cut]),
        np.concatenate([high, np.ones(len(picks))]),
        np.zeros(width),
        np.ones(width),
        np.ones(width, dtype=bool),
    )


def cut_amounts(p: Portfolio, windows: list[tuple[int, int]], values: np.ndarray) -> np.ndarray:
    """Amounts from the chosen cuts: each list's prefix is funded in full."""
    amounts = np.zeros(p.size, dtype=np.int64)
    offset = 0
    for members, (first, last) in zip(p.lists(), windows, strict=True):
        cuts = np.arange(max(first, 1), last + 1)
        chosen = np.flatnonzero(values[offset : offset + len(cuts)] > 0.5)
        funded = int(cuts[chosen[0]]) if len(chosen) else 0
        amounts[members[:funded]] = p.high[members[:funded]]
        offset += len(cuts)
    return amounts


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


def windows(p: Portfolio, values: np.ndarray, delta: float) -> list[tuple[int, int]]:
    """For each list, the funded-prefix lengths whose Lagrangian value is within ``delta`` of the list's best."""
    found = []
    for members in p.lists():
        prefix = _prefix(values[members])
        window = np.flatnonzero(prefix >= prefix.max() - delta)
        found.append((int(window.min()), int(window.max())))
    return found


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
    for members, (first, last) in zip(p.lists(), windows(p, values, delta), strict=True):
        funded[members[:first]] = True
        unfunded[members[last:]] = True
    return funded, unfunded


@dataclass(frozen=True)
class Core:
    """The MILP left once the Lagrangian has fixed what it can, and how to read its solution."""

    model: MatrixModel
    amounts: Callable[[np.ndarray], np.ndarray]
    size: int
    whole: bool
    same_columns: bool


def core(p: Portfolio, w: Weights, model: MatrixModel, values: np.ndarray, delta: float) -> Core:
    funded, unfunded = fixing(p, values, delta)
    size = p.size - int(funded.sum() + unfunded.sum())
    whole = not (funded.any() or unfunded.any())
    if p.settings.ranking_discipline and not p.partial:
        cuts = windows(p, values, delta)
        return Core(cut_model(p, w, p.limits, cuts), lambda v: cut_amounts(p, cuts, v), size, whole, False)
    low, high = model.col_low.copy(), model.col_high.copy()
    n = p.size
    low[:n][funded] = 1.0
    high[:n][unfunded] = 0.0
    if p.partial:
        high[n:][unfunded] = 0.0
    return Core(model.with_bounds(low, high), lambda v: extract_amounts(p, v), size, whole, True)


def solve_optimal(
    p: Portfolio,
    deadline: float,
    gap: float = 1e-4,
    solver: SolverName | None = None,
    start: np.ndarray | None = None,
) -> Outcome:
    """Solve optimal mode; a second stage maximises score-weighted funding when the objective counts grants.

    ``start`` (amounts in cents) is a feasible allocation to warm-start from, as when an
    explanation re-solves the same call without one of its limits.
    """
    began = time.monotonic()
    first = _solve_stage(p, weights(p), None, deadline, gap, solver, began, start_values(p, start))
    if p.objective == "score_weighted_funding" or first.amounts is None:
        return first
    floor = float(weights(p).per_grant @ (first.amounts > 0)) - 1e-6
    second = _solve_stage(p, weights(p, secondary=True), floor, deadline, gap, solver, time.monotonic())
    if second.amounts is None:
        return first
    return Outcome(
        first.status if second.status == "optimal" else second.status,
        second.amounts,
        first.bound,
        first.gap,
        first.build_seconds + second.build_seconds,
        first.solve_seconds + second.solve_seconds,
        second.solver,
        first.core,
    )


def pick_solver(requested: SolverName | None, p: Portfolio, whole: bool) -> SolverName:
    """Measured on the benchmark instances: CBC on the whole binary model and the cut form, HiGHS elsewhere."""
    wanted: SolverName = "highs"
    if not p.partial and (whole or p.settings.ranking_discipline):
        wanted = "cbc"
    wanted = requested or wanted
    if solver_available(wanted):
        return wanted
    return "cbc" if wanted == "highs" else "highs"


def start_values(p: Portfolio, amounts: np.ndarray | None) -> np.ndarray | None:
    """The plain model's column values for an allocation: x funded or not, and y in euros with partial funding."""
    if amounts is None:
        return None
    funded = (amounts > 0).astype(np.float64)
    return np.concatenate([funded, amounts / EURO]) if p.partial else funded


def rounded_relaxation(p: Portfolio, relaxed: SolverResult) -> np.ndarray | None:
    """The compact relaxation's solution as grants (cents), or None if rounding breaks a limit.

    Each proposal funded at a share of its request that partial funding allows keeps
    that amount, the others get nothing, unless a minimum needs them back at their
    smallest grant (a cap that breaks then gives way: cents where grants have room, or
    its lowest-scoring grants); the room left is filled best score first. Only the few
    proposals the relaxation leaves fractional change, so the result is within a hair of
    the optimum, often within the gap of the bound (then no search is needed); given it
    as a start, HiGHS proves the gap at its root instead of searching for an incumbent
    (9 s against 0.7 s at 10,000 proposals with partial funding).
    """
    if relaxed.values is None:
        return None
    asked = np.clip(relaxed.values[: p.size], 0.0, 1.0) * p.high
    amounts = np.where(asked >= p.low - 0.5, np.clip(np.rint(asked), p.low, p.high), 0).astype(np.int64)
    for limit in p.limits:  # a minimum the dropped ones leave short takes them back at their smallest grant
        if limit.low is None or limit.measure != "amount" or limit.total(amounts) >= limit.low:
            continue
        dropped = limit.members[(amounts[limit.members] == 0) & (asked[limit.members] > 0)]
        for k in dropped[np.argsort(-p.score[dropped])].tolist():
            amounts[k] = p.low[k]
            if limit.total(amounts) >= limit.low:
                break
    amounts = _topped_up(p, _within_caps(p, settle(p, amounts)))
    return amounts if all(limit.violation(amounts) == 0 for limit in p.limits) else None


def _within_caps(p: Portfolio, amounts: np.ndarray) -> np.ndarray:
    """Drop the lowest-scoring grants over a cap, each only if no minimum it counts towards would break."""
    amounts = amounts.copy()
    minimums = [(limit, np.isin(np.arange(p.size), limit.members)) for limit in p.limits if limit.low is not None]
    for limit in p.limits:
        if limit.high is None or limit.total(amounts) <= limit.high:
            continue
        members = limit.members[amounts[limit.members] > 0]
        for k in members[np.argsort(p.score[members], kind="stable")].tolist():
            if all(_spares(m, amounts, k) for m, inside in minimums if inside[k]):
                amounts[k] = 0
            if limit.total(amounts) <= limit.high:
                break
    return amounts


def _spares(minimum: Limit, amounts: np.ndarray, k: int) -> bool:
    """Whether the minimum still holds without proposal ``k``'s grant."""
    assert minimum.low is not None
    return minimum.total(amounts) - (int(amounts[k]) if minimum.measure == "amount" else 1) >= minimum.low


def _topped_up(p: Portfolio, amounts: np.ndarray) -> np.ndarray:
    """Fill what every limit over a proposal has left, best score first: raise partial grants, fund new ones.

    Rounding leaves room under the budget and the caps; the objective pays by score
    per euro, so the best-scoring proposals take it, each up to its request.
    """
    caps = [limit for limit in p.limits if limit.high is not None]
    room = [int(limit.high) - limit.total(amounts) for limit in caps if limit.high is not None]
    over: list[list[int]] = [[] for _ in range(p.size)]
    for c, limit in enumerate(caps):
        for k in limit.members.tolist():
            over[k].append(c)
    amounts = amounts.copy()
    open_ = np.flatnonzero(amounts < p.high)
    for k in open_[np.argsort(-p.score[open_], kind="stable")].tolist():
        new = amounts[k] == 0
        if new and any(caps[c].measure == "grants" and room[c] < 1 for c in over[k]):
            continue
        money = [room[c] for c in over[k] if caps[c].measure == "amount"]
        raise_by = min([int(p.high[k] - amounts[k]), *money])
        if raise_by <= 0 or (new and raise_by < p.low[k]):
            continue
        amounts[k] += raise_by
        for c in over[k]:
            room[c] -= raise_by if caps[c].measure == "amount" else int(new)
    return amounts


def _solve_stage(
    p: Portfolio,
    w: Weights,
    floor: float | None,
    deadline: float,
    gap: float,
    solver: SolverName | None,
    began: float,
    start: np.ndarray | None = None,
) -> Outcome:
    model = formulate(p, w, p.limits, floor)
    built = time.monotonic()
    if p.size <= SMALL or floor is not None:
        exact = 0.0 if p.size <= SMALL else gap
        result = solve(model, deadline, pick_solver(solver, p, p.size > SMALL), exact, start)
        amounts = extract_amounts(p, result.values) if result.values is not None else None
        upper = _upper(result, exact) if result.objective is not None else None
        return _outcome(result, amounts, upper, built - began, built, p.size, max(exact, 1e-9))
    relaxed = relaxation(p, w, p.limits, deadline)
    if relaxed.duals is None:
        return _outcome(relaxed, None, None, built - began, built, 0, gap)
    prices = signed_prices(p.limits, relaxed.duals)
    values = item_values(p, w, p.limits, prices)
    bound = lagrangian_bound(p, p.limits, prices, values)
    rounded = rounded_relaxation(p, relaxed) if not p.settings.ranking_discipline else None
    if rounded is not None:
        found = SolverResult("optimal", None, model_value(p, rounded, w), bound, 0.0, "rounded relaxation")
        proven = _outcome(found, rounded, bound, built - began, built, 0, gap)
        if proven.status == "optimal":  # within the gap of the Lagrangian bound: no search can do better
            return proven
        start = start if start is not None else start_values(p, rounded)
    weak = p.partial and p.settings.ranking_discipline
    if weak or core(p, w, model, values, abs(bound) * gap / 2).size > p.size * WHOLE_MODEL_SHARE:
        result = solve(model, deadline, pick_solver(solver, p, True), gap, start)
        amounts = extract_amounts(p, result.values) if result.values is not None else None
        upper = min(_upper(result, gap), bound) if result.objective is not None else None
        return _outcome(result, amounts, upper, built - began, built, p.size, gap)
    return _core_search(p, w, model, values, bound, (deadline, gap, solver), built - began, built, start)


def _core_search(
    p: Portfolio,
    w: Weights,
    model: MatrixModel,
    values: np.ndarray,
    bound: float,
    budget: tuple[float, float, SolverName | None],
    build_seconds: float,
    started: float,
    start: np.ndarray | None = None,
) -> Outcome:
    """Widen the core until the best solution in it is within ``delta`` of the Lagrangian bound.

    Any solution that differs from a fixed proposal loses more than ``delta`` against
    the bound, so once the core's solution reaches ``bound - delta`` nothing outside
    the core can beat it by more than the core's own gap. ``delta`` starts small (a
    core of a few thousand proposals solved in a fraction of a second gives a good
    incumbent) and then grows to the gap that incumbent leaves.
    """
    deadline, gap, requested = budget
    solver = pick_solver(requested, p, False)
    delta = max(abs(bound) * FIRST_DELTA, 1.0)
    while True:
        reduced = core(p, w, model, values, delta)
        result = solve(reduced.model, deadline, solver, gap, start if reduced.same_columns else None)
        amounts = reduced.amounts(result.values) if result.values is not None else None
        if result.objective is not None and result.objective >= bound - delta:
            proven = max(_upper(result, gap), bound - delta)
            return _outcome(result, amounts, min(proven, bound), build_seconds, started, reduced.size, gap)
        if reduced.whole and result.objective is not None:
            return _outcome(result, amounts, min(_upper(result, gap), bound), build_seconds, started, p.size, gap)
        if reduced.whole or time.monotonic() >= deadline:
            return _outcome(result, amounts, bound, build_seconds, started, reduced.size, gap)
        if result.objective is not None:
            delta, start = max(bound - result.objective, 2 * delta) * 1.0001, result.values
        else:
            delta *= 16


def _upper(result: SolverResult, gap: float) -> float:
    """The solver's bound; a solver that reports none is trusted only as far as the gap it was asked for."""
    assert result.objective is not None
    if result.bound is not None and np.isfinite(result.bound):
        return result.bound
    return result.objective + gap * abs(result.objective)


def _outcome(
    result: SolverResult,
    amounts: np.ndarray | None,
    bound: float | None,
    build_seconds: float,
    started: float,
    core: int,
    gap: float,
) -> Outcome:
    solve_seconds = time.monotonic() - started
    if amounts is None or result.objective is None:
        status = "infeasible" if result.status == "infeasible" else "no_solution"
        kept = None if status == "infeasible" else bound
        return Outcome(status, None, kept, float("inf"), build_seconds, solve_seconds, result.solver, core)
    objective = result.objective
    found_gap = 0.0 if bound is None else max(bound - objective, 0.0) / max(abs(objective), 1.0)
    status = "optimal" if found_gap <= gap * 1.000001 else "feasible"
    return Outcome(status, amounts, bound, found_gap, build_seconds, solve_seconds, result.solver, core)


def quick_bound(p: Portfolio) -> float:
    """A valid upper bound without any solve: the Lagrangian with the budget priced at the fractional break-even.

    Proposals are sorted by value per euro; the one the budget would split sets the
    price of a euro. Weaker than the relaxation, but always at hand when time is out.
    """
    w = weights(p)
    euros = np.maximum(p.high / EURO, 1e-9)
    ratio = (w.per_grant + w.per_euro * euros) / euros
    order = np.argsort(-ratio, kind="stable")
    over = np.flatnonzero(np.cumsum(euros[order]) > p.budget / EURO)
    prices = np.zeros(len(p.limits))
    budget_row = next((r for r, limit in enumerate(p.limits) if limit.name == "budget"), None)
    if len(over) and budget_row is not None:
        prices[budget_row] = max(float(ratio[order[over[0]]]), 0.0)
    return lagrangian_bound(p, p.limits, prices, item_values(p, w, p.limits, prices))


def model_value(p: Portfolio, amounts: np.ndarray, w: Weights | None = None) -> float:
    """An allocation's objective in the model's units, by the first stage's weights unless ``w`` is given."""
    w = weights(p) if w is None else w
    return float(w.per_grant @ (amounts > 0) + w.per_euro @ amounts / EURO)


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
