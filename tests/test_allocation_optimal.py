"""Optimal mode against brute force, and the guarantees around it (caps, discipline, time limit, conflicts)."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from evaluator import integer_program
from evaluator.allocation import Scenario, allocate, portfolio_for
from evaluator.integer_program import quick_bound
from evaluator.portfolio import Portfolio
from evaluator.solvers import ColumnMatrix, MatrixModel, run_until, solve
from tests.test_allocation import K, funding_call, ranked, ranking_of


@st.composite
def instances(draw: st.DrawFn, partial: bool = False) -> tuple[Any, Any]:
    n = draw(st.integers(1, 7))
    requests = draw(st.lists(st.integers(5, 50), min_size=n, max_size=n))
    scores = draw(st.lists(st.integers(12, 30), min_size=n, max_size=n))
    countries = draw(st.lists(st.sampled_from(["AT", "IT", "SI"]), min_size=n, max_size=n))
    topics = draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n))
    discipline = draw(st.booleans())
    entries = [
        ranked(f"P{k}", s / 2, r * 10 * K, c, t, list_name=t if discipline else "main")
        for k, (r, s, c, t) in enumerate(zip(requests, scores, countries, topics, strict=True))
    ]
    budget = sum(requests) * 10 * K * draw(st.integers(2, 8)) // 10
    constraints: list[dict[str, Any]] = []
    if draw(st.booleans()):
        constraints.append({"name": "Italy cap", "by": "lead_country", "key": "IT", "max_share": "0.4"})
    if draw(st.booleans()):
        constraints.append(
            {"name": "topic b", "by": "topic", "key": "b", "min_amount": draw(st.integers(0, 40)) * 10 * K}
        )
    allocation: dict[str, Any] = {
        "mode": "optimal",
        "ranking_discipline": discipline,
        "max_grants": draw(st.one_of(st.none(), st.integers(1, n))),
        "constraints": constraints,
    }
    if partial:
        allocation["partial_funding"] = {"min_share": "0.8"}
    return funding_call(budget, None, **allocation), ranking_of(*entries)


def feasible_sets(p: Portfolio) -> list[np.ndarray]:
    """Every funded set that respects the grant counts and, under the discipline, is a prefix of each list."""
    found = []
    for bits in itertools.product([0, 1], repeat=p.size):
        chosen = np.array(bits, dtype=bool)
        if p.settings.ranking_discipline and any(np.any(np.diff(chosen[m].astype(int)) > 0) for m in p.lists()):
            continue
        counts = [lim for lim in p.limits if lim.measure == "grants"]
        if all(lim.violation(chosen.astype(np.int64)) == 0 for lim in counts):
            found.append(chosen)
    return found


def brute_force_binary(p: Portfolio) -> Decimal | None:
    best = None
    for chosen in feasible_sets(p):
        amounts = np.where(chosen, p.high, 0)
        if not p.violated(amounts):
            value = sum(
                (p.entries[k].weighted_total * Decimal(int(amounts[k])) / 100 for k in range(p.size)), Decimal(0)
            )
            best = value if best is None else max(best, value)
    return best


def brute_force_partial(p: Portfolio) -> float | None:
    """Each funded set's best amounts by linear programming; the best set wins."""
    best = None
    amount_rows = [lim for lim in p.limits if lim.measure == "amount"]
    for chosen in feasible_sets(p):
        rows, upper = [], []
        for lim in amount_rows:
            row = np.zeros(p.size)
            row[lim.members] = 1.0
            if lim.high is not None:
                rows.append(row)
                upper.append(lim.high)
            if lim.low is not None:
                rows.append(-row)
                upper.append(-lim.low)
        bounds = [(int(p.low[k]), int(p.high[k])) if chosen[k] else (0, 0) for k in range(p.size)]
        result = linprog(-p.score, A_ub=np.array(rows), b_ub=np.array(upper, dtype=float), bounds=bounds)
        if result.status == 0:
            value = -result.fun / 100
            best = value if best is None else max(best, value)
    return best


@pytest.mark.parametrize("small", [integer_program.SMALL, 0], ids=["whole model", "lagrangian core"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances())
def test_optimal_mode_matches_brute_force(small: int, instance: tuple[Any, Any]) -> None:
    call, ranking = instance
    with mock.patch.multiple(integer_program, SMALL=small, WHOLE_MODEL_SHARE=1.0 if small == 0 else 0.5):
        allocation = allocate(call, ranking, explain=False)
    p = portfolio_for(call, ranking.fundable(), Scenario())
    best = brute_force_binary(p)
    if best is None:
        assert allocation.status == "infeasible"
    else:
        assert allocation.status == "optimal"
        assert allocation.objective == best
        assert quick_bound(p) >= float(best) - 1e-6 * float(best)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(partial=True))
def test_partial_funding_matches_brute_force_and_stays_within_its_range(instance: tuple[Any, Any]) -> None:
    call, ranking = instance
    allocation = allocate(call, ranking, explain=False)
    best = brute_force_partial(portfolio_for(call, ranking.fundable(), Scenario()))
    if best is None:
        assert allocation.status == "infeasible"
        return
    assert float(allocation.objective) == pytest.approx(best, abs=1.0)
    for grant in allocation.grants:
        assert Decimal("0.8") * grant.requested <= grant.amount <= grant.requested


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=st.one_of(instances(), instances(partial=True)))
def test_the_rounded_relaxation_keeps_every_limit_and_is_trusted_only_within_the_gap(
    instance: tuple[Any, Any],
) -> None:
    call, ranking = instance
    p = portfolio_for(call, ranking.fundable(), Scenario())
    relaxed = integer_program.relaxation(p, integer_program.weights(p), p.limits, time.monotonic() + 10)
    rounded = integer_program.rounded_relaxation(p, relaxed)
    if rounded is not None:
        assert all(limit.violation(rounded) == 0 for limit in p.limits)
        assert np.all((rounded == 0) | ((p.low <= rounded) & (rounded <= p.high)))
    with mock.patch.multiple(integer_program, SMALL=0):
        allocation = allocate(call, ranking, explain=False)
    best = brute_force_partial(p) if p.partial else brute_force_binary(p)
    if best is not None:
        assert float(allocation.objective) >= float(best) * (1 - 1e-4) - 1.0


def test_ranking_discipline_holds_within_each_topic_list() -> None:
    entries = [ranked(f"A{k}", 15 - k, (100 + 90 * k) * K, topic="a", list_name="a") for k in range(5)]
    entries += [ranked(f"B{k}", 14.5 - k, (450 - 80 * k) * K, topic="b", list_name="b") for k in range(5)]
    call = funding_call(1_200 * K, None, mode="optimal", ranking_discipline=True)
    allocation = allocate(call, ranking_of(*entries))
    funded = allocation.funded
    for prefix in ("A", "B"):
        flags = [f"{prefix}{k}" in funded for k in range(5)]
        assert flags == sorted(flags, reverse=True), flags
    free = next(p for p in allocation.prices if p.constraint == "ranking_discipline")
    assert free.price is not None and free.price >= 0


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_cbc_and_highs_find_the_same_optimum(solver: str) -> None:
    entries = [ranked(f"P{k}", 10 + (k * 7) % 6, (120 + (k * 53) % 380) * K, ["AT", "IT"][k % 2]) for k in range(12)]
    cap = {"by": "lead_country", "max_share": "0.6"}
    call = funding_call(2_000 * K, 500 * K, mode="optimal", max_grants=6, constraints=[cap])
    allocation = allocate(call, ranking_of(*entries), explain=False, solver=solver)  # type: ignore[arg-type]
    reference = allocate(call, ranking_of(*entries), explain=False, solver="highs")
    assert allocation.stats.solver == solver
    assert allocation.objective == reference.objective
    assert len(allocation.grants) <= 6


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_a_model_that_cbc_preprocessing_gets_wrong_is_solved_exactly(solver: str) -> None:
    """CBC 2.10's preprocessing calls (x1, x2) optimal here; the best is (x0, x3), 2,460,000."""
    rows = np.array([[70, 120, 220, 270, 320], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1]], dtype=np.float64)
    scaled = rows * np.array([[1000], [1], [1]])
    rows_at, cols_at = np.nonzero(scaled)
    model = MatrixModel(
        cost=np.array([595, 895, 1540, 1865, 2165], dtype=np.float64) * 1000,
        matrix=ColumnMatrix.from_entries(rows_at, cols_at, scaled[rows_at, cols_at], (3, 5)),
        row_low=np.array([-np.inf, 1, 1]),
        row_high=np.array([352_000, 1, 1]),
        col_low=np.zeros(5),
        col_high=np.ones(5),
        integer=np.ones(5, dtype=bool),
    )
    result = solve(model, time.monotonic() + 10, solver)  # type: ignore[arg-type]
    assert result.status == "optimal"
    assert result.values is not None and result.values.round().tolist() == [1, 0, 0, 1, 0]
    assert result.objective == 2_460_000


def test_quotas_that_cannot_hold_together_are_named_as_the_conflict() -> None:
    entries = [ranked(f"A{k}", 14, 300 * K, topic="a") for k in range(4)] + [
        ranked(f"B{k}", 13, 300 * K, topic="b") for k in range(4)
    ]
    minimums = [{"name": f"topic {t} minimum", "by": "topic", "key": t, "min_share": "0.6"} for t in "ab"]
    minimums.append({"name": "Austria cap", "by": "lead_country", "key": "AT", "max_share": "1"})
    allocation = allocate(funding_call(1_000 * K, mode="optimal", constraints=minimums), ranking_of(*entries))
    assert allocation.status == "infeasible"
    assert allocation.grants == []
    assert allocation.conflicts == ["budget", "topic a minimum", "topic b minimum"]


def test_a_minimum_beyond_the_group_requests_conflicts_alone() -> None:
    niche = {"name": "niche minimum", "by": "topic", "key": "niche", "min_amount": 900 * K}
    entries = [ranked("N1", 12, 300 * K, topic="niche"), ranked("M1", 14, 300 * K, topic="main")]
    allocation = allocate(funding_call(mode="optimal", constraints=[niche]), ranking_of(*entries))
    assert allocation.conflicts == ["niche minimum"]


def test_time_limit_returns_the_best_solution_found_with_its_gap() -> None:
    rng = np.random.default_rng(7)
    entries = [
        ranked(
            f"P{k:04d}",
            float(rng.integers(20, 31)) / 2,
            int(rng.integers(100, 501)) * K,
            f"C{k % 9}",
            f"T{k % 4}",
            f"T{k % 4}",
        )
        for k in range(1500)
    ]
    cap = {"by": "lead_country", "max_share": "0.15"}
    call = funding_call(
        sum(int(e.requested_amount) for e in entries) * 3 // 10,
        None,
        mode="optimal",
        partial_funding={"min_share": "0.8"},
        ranking_discipline=True,
        constraints=[cap],
        time_limit_seconds="0.1",
    )
    allocation = allocate(call, ranking_of(*entries), explain=False)
    assert allocation.status == "feasible_time_limit"
    assert allocation.grants
    assert allocation.gap is not None and allocation.gap > 0


def test_a_solver_process_that_ignores_its_limit_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    """CBC once ran on past its own limit; the engine interrupts it (here a process that would run a minute)."""
    code = run_until(["sleep", "60"], tmp_path / "log", time.monotonic() + 0.1)
    assert code < 0


def test_cbc_under_a_tiny_limit_still_returns_a_portfolio() -> None:
    entries = [ranked(f"P{k:03d}", 10 + (k * 7) % 11 / 2, (100 + (k * 37) % 400) * K, f"C{k % 5}") for k in range(400)]
    call = funding_call(20_000 * K, None, mode="optimal", max_grants=60, time_limit_seconds="0.01")
    allocation = allocate(call, ranking_of(*entries), explain=False, solver="cbc")
    assert allocation.status in {"optimal", "feasible_time_limit"}
    assert allocation.grants and len(allocation.grants) <= 60


def test_a_warm_start_highs_calls_optimal_without_searching_is_solved_again() -> None:
    """HiGHS 1.16 returns this start (1, 1, 1, 1, 0) as optimal, its dual bound 1,760,000; the best is 1,370,000."""
    requests = np.array([50_000, 50_000, 60_000, 50_000, 70_000], dtype=np.float64)
    rows_at, cols_at = np.zeros(5, dtype=np.int64), np.arange(5)
    model = MatrixModel(
        cost=requests * np.array([6.5, 6.5, 6.5, 6.0, 6.0]),
        matrix=ColumnMatrix.from_entries(rows_at, cols_at, requests, (1, 5)),
        row_low=np.array([-np.inf]),
        row_high=np.array([224_000.0]),
        col_low=np.zeros(5),
        col_high=np.ones(5),
        integer=np.ones(5, dtype=bool),
    )
    result = solve(model, time.monotonic() + 10, "highs", start=np.array([1.0, 1.0, 1.0, 1.0, 0.0]))
    assert result.status == "optimal"
    assert result.objective == 1_370_000
    assert result.values is not None and result.values.round().tolist() == [1, 1, 0, 1, 1]
