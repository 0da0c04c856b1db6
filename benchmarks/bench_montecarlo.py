"""Monte Carlo funding odds under rank-mode rules with caps, against two yardsticks.

Run by hand: ``python benchmarks/bench_montecarlo.py [proposals] [draws]`` (10,000 and
1,000 by default). The instance is solver-baseline.md's: a 20% country cap, topic
minimums ring-fenced first, at most 27% of proposals funded. Yardsticks measured in
the same run: the budget-only argsort + cumsum of the baseline (no caps, no
minimums: the floor of what any exact walk can cost; counted with ``bincount``), and the
exact funding line walked one draw at a time in Python (timed on a few draws, scaled to
all), a STRAW MAN kept to show what the vectorised walk replaces. The whole command
against the baseline as processes is ``benchmarks.bench_commands``.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.instances import benchmark_instance  # noqa: E402
from evaluator.allocation import Scenario, portfolio_for  # noqa: E402
from evaluator.funding_line import funding_line  # noqa: E402
from evaluator.simulation import funding_odds  # noqa: E402

NOISE = 0.5
SLOW_DRAWS = 10


def budget_only(score: np.ndarray, amounts: np.ndarray, budget: int, draws: int, sd: float) -> float:
    """The baseline's vectorised line: sort noisy scores, fund while the cumulative request fits."""
    began = time.perf_counter()
    rng = np.random.default_rng(0)
    funded = np.zeros(len(score), dtype=np.int64)
    for start in range(0, draws, 500):
        size = min(500, draws - start)
        keys = score + rng.standard_normal((size, len(score))) * sd
        order = np.argsort(-keys, axis=1)
        inside = np.cumsum(amounts[order], axis=1) <= budget
        funded += np.bincount(order[inside], minlength=len(score))
    return time.perf_counter() - began


def one_draw_at_a_time(call: object, ranking: object, draws: int) -> float:
    """The exact rules, one Python walk per draw (what the vectorised walk replaces)."""
    p = portfolio_for(call, ranking.fundable(), Scenario(mode="rank"))  # type: ignore[arg-type, attr-defined]
    rng = np.random.default_rng(0)
    began = time.perf_counter()
    for _ in range(draws):
        order = np.argsort(-(p.score + rng.standard_normal(p.size) * NOISE * np.sqrt(3)))
        shuffled = type(p)(**{**p.__dict__, "entries": [p.entries[k] for k in order]})
        funding_line(shuffled, time.monotonic() + 60)
    return time.perf_counter() - began


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    draws = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    call, ranking = benchmark_instance(size, mode="rank")
    began = time.perf_counter()
    odds = funding_odds(call, ranking, noise=Decimal(str(NOISE)), runs=draws, seed=1)
    ours = time.perf_counter() - began
    share = odds.uncertain / size
    print(f"funding odds, {size:,} proposals x {draws:,} draws: {ours:.2f} s ({share:.0%} between 5% and 95%)")
    p = portfolio_for(call, ranking.fundable(), Scenario(mode="rank"))
    floor = budget_only(p.score, p.high, p.budget, draws, NOISE * np.sqrt(3))
    print(f"  budget-only argsort + cumsum (no caps, no minimums): {floor:.2f} s = {ours / floor:.1f}x as long as it")
    slow = one_draw_at_a_time(call, ranking, SLOW_DRAWS) * draws / SLOW_DRAWS
    print(f"  exact rules, one Python walk per draw: {slow:.1f} s (scaled from {SLOW_DRAWS}) = {slow / ours:.0f}x ours")


if __name__ == "__main__":
    main()
