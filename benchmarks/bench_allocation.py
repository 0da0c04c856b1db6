"""Optimal-mode allocation against its yardsticks, on the instances of solver-baseline.md.

Run by hand: ``python benchmarks/bench_allocation.py [variant ...]`` with variants
``binary-10000``, ``binary-50000``, ``partial-10000``, ``discipline-10000`` (all by
default). Each line times ``allocate()`` from the ranked proposals to the result
(build, solve, extraction; explanations off) and, in the same run, the naive PuLP
build with Python's ``sum()`` and ``scipy.optimize.milp`` on the same model.

This measures the solver core in process. The naive ``sum()`` build is a STRAW MAN
(quadratic in PuLP; nobody should build a model that way) kept only to show what the
array build avoids. What the user waits for, against the best pipelines (the fast PuLP
build solved by CBC and by HiGHS, as whole processes), is ``benchmarks.bench_commands``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pulp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_array

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.instances import benchmark_instance  # noqa: E402
from evaluator.allocation import Scenario, allocate, portfolio_for  # noqa: E402
from evaluator.integer_program import formulate, weights  # noqa: E402
from evaluator.portfolio import Portfolio  # noqa: E402

VARIANTS: dict[str, tuple[int, dict[str, Any]]] = {
    "binary-10000": (10_000, {}),
    "binary-50000": (50_000, {}),
    "partial-10000": (10_000, {"partial_funding": {"min_share": "0.8"}}),
    "discipline-10000": (10_000, {"ranking_discipline": True}),
}
NAIVE_LIMIT = 10_000
MILP_SECONDS = 60.0


def naive_pulp_build(p: Portfolio) -> float:
    """The textbook build: one ``sum()`` per row over Python objects (quadratic in PuLP)."""
    began = time.perf_counter()
    problem = pulp.LpProblem("naive", pulp.LpMaximize)
    x = [problem.add_variable(f"x{k}", 0, 1, pulp.LpInteger) for k in range(p.size)]
    high = (p.high / 100).tolist()
    if p.partial:
        y = [problem.add_variable(f"y{k}", 0, high[k]) for k in range(p.size)]
        low = (p.low / 100).tolist()
        for k in range(p.size):
            problem += y[k] <= high[k] * x[k]
            problem += y[k] >= low[k] * x[k]
        amount = y
    else:
        amount = [high[k] * x[k] for k in range(p.size)]
    score = p.score.tolist()
    problem += sum(score[k] * amount[k] for k in range(p.size))
    for limit in p.limits:
        terms = amount if limit.measure == "amount" else x
        total = sum(terms[k] for k in limit.members.tolist())
        scale = 100 if limit.measure == "amount" else 1
        if limit.high is not None:
            problem += total <= limit.high / scale
        if limit.low is not None:
            problem += total >= limit.low / scale
    if p.settings.ranking_discipline:
        for members in p.lists():
            for above, below in zip(members[:-1].tolist(), members[1:].tolist(), strict=True):
                problem += x[above] >= x[below]
    return time.perf_counter() - began


def scipy_milp(p: Portfolio) -> tuple[float, str, float | None]:
    """The same plain model given to scipy's bundled HiGHS, with the gap and limit of the baseline."""
    model = formulate(p, weights(p), p.limits)
    matrix = model.matrix
    columns = (matrix.value, matrix.index, matrix.start)
    began = time.perf_counter()
    result = milp(
        -model.cost,
        constraints=LinearConstraint(csc_array(columns, shape=matrix.shape), model.row_low, model.row_high),
        integrality=model.integer.astype(int),
        bounds=Bounds(model.col_low, model.col_high),
        options={"time_limit": MILP_SECONDS, "mip_rel_gap": 1e-4},
    )
    objective = None if result.x is None else float(model.cost @ result.x)
    return time.perf_counter() - began, result.message.split(".")[0][:40], objective


def run(name: str) -> None:
    size, extra = VARIANTS[name]
    call, ranking = benchmark_instance(size, per_topic_lists="ranking_discipline" in extra, **extra)
    began = time.perf_counter()
    allocation = allocate(call, ranking, explain=False)
    ours = time.perf_counter() - began
    stats = allocation.stats
    print(
        f"{name}: allocate {ours:.2f} s (status {allocation.status}, gap {allocation.gap}, solver {stats.solver}, "
        f"core {stats.core} of {size}, build {stats.build_seconds:.3f} s, solve {stats.solve_seconds:.2f} s)"
    )
    p = portfolio_for(call, ranking.fundable(), Scenario())
    if size <= NAIVE_LIMIT:
        naive = naive_pulp_build(p)
        print(f"  straw man, naive PuLP sum() build alone: {naive:.2f} s = {naive / ours:.1f}x our allocation")
    else:
        print(f"  naive PuLP sum() build: skipped above {NAIVE_LIMIT:,} proposals (quadratic: minutes)")
    seconds, message, objective = scipy_milp(p)
    ours_value = float(sum(float(g.score) * float(g.amount) for g in allocation.grants))
    versus = "no solution" if objective is None else f"objective {objective / max(ours_value, 1):.6f} of ours"
    print(f"  scipy.optimize.milp: {seconds:.2f} s = {seconds / ours:.1f}x ours ({message}; {versus})")


def main() -> None:
    names = sys.argv[1:] or list(VARIANTS)
    np.random.seed(0)
    for name in names:
        run(name)


if __name__ == "__main__":
    main()
