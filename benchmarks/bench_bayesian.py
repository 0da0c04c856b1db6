"""The Bayesian ranking: its speed against the plain mean ranking, and how well it recovers a known truth.

Run by hand: ``python benchmarks/bench_bayesian.py [--validate CALLS]``. Speed: calls
of 60 x 3, 500 x 3, 5,000 x 5 (proposals x evaluators per proposal, from a pool of
evaluators who each score about 30 proposals), 4 chains x 2,000 draws after 500 of
warm-up; the yardstick in the same run is ``rank`` on the same scores (mean
consolidation, thresholds, the ex aequo chain). Validation: CALLS simulated calls
(200 by default) of 60 proposals x 3 evaluators on 4 criteria scored 0-5 in half
points, with a drawn truth (``benchmarks.simulated_scores``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.instances import CRITERIA, benchmark_instance, scored_proposal  # noqa: E402
from benchmarks.simulated_scores import validate  # noqa: E402
from evaluator.bayesian import bayesian_ranking  # noqa: E402
from evaluator.ranking import rank  # noqa: E402
from rules.model import BayesianRanking, Call  # noqa: E402
from rules.proposal import Evaluation, Proposal  # noqa: E402

SIZES = ((60, 3), (500, 3), (5_000, 5))
T = TypeVar("T")
PER_EVALUATOR = 30


def scored_call(n: int, per: int, seed: int = 1) -> tuple[Call, list[Proposal]]:
    """The allocation benchmark's call, its proposals scored by ``per`` evaluators each with their own offset."""
    call, ranking = benchmark_instance(n, seed)
    rng = np.random.default_rng(seed)
    pool = max(per, n * per // PER_EVALUATOR)
    offsets = rng.normal(0, 0.3, pool)
    proposals = []
    for entry in ranking.entries:
        quality = float(entry.total) / len(CRITERIA)
        who = rng.choice(pool, per, replace=False)
        latent = quality + offsets[who, None] + rng.normal(0, 0.5, (per, len(CRITERIA)))
        scores = np.clip(np.round(latent * 2) / 2, 0, 5)
        evaluations = [
            Evaluation(evaluator=f"E{j}", scores={c: Decimal(str(v)) for c, v in zip(CRITERIA, row, strict=True)})
            for j, row in zip(who.tolist(), scores, strict=True)
        ]
        proposals.append(scored_proposal(entry, evaluations))
    return call, proposals


def _timed(run: Callable[[], T]) -> tuple[T, float, float]:
    """The result, wall-clock seconds and CPU seconds (the machine is shared: CPU time is the steadier figure)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def speed() -> None:
    settings = BayesianRanking(chains=4, draws=2000, warmup=500)
    print("4 chains x 2,000 draws after 500 of warm-up; wall-clock (CPU) seconds")
    print(f"{'proposals x evaluators':>24} {'mean rank':>14} {'bayes':>14} {'ratio':>6}  diagnostics")
    for n, per in SIZES:
        call, proposals = scored_call(n, per)
        ranking, plain, plain_cpu = _timed(lambda: rank(call, proposals))  # noqa: B023 - called at once
        line = {"main": len(ranking.fundable()) * 27 // 100}
        result, bayes, bayes_cpu = _timed(lambda: bayesian_ranking(call, proposals, ranking, line, settings=settings))  # noqa: B023
        d = result.diagnostics
        print(
            f"{f'{n} x {per}':>24} {plain:>6.2f} ({plain_cpu:>5.2f}) {bayes:>6.2f} ({bayes_cpu:>5.2f}) "
            f"{bayes / plain:>5.1f}x  R-hat {d.max_rhat}, ESS {d.min_ess:.0f}, grey zone {len(result.zone('grey'))}"
        )


def validation(calls: int) -> None:
    began = time.perf_counter()
    found = validate(calls, seed=2022)
    seconds = time.perf_counter() - began
    coverage = np.array([r.covered for r in found])
    print(f"{calls} simulated calls of 60 proposals x 3 evaluators (4 chains x 1,000 draws): {seconds:.1f} s")
    print(
        f"90% intervals of merit cover the truth: {coverage.mean():.1%} "
        f"(calls from {coverage.min():.0%} to {coverage.max():.0%})"
    )
    error = np.array([r.offset_error for r in found])
    offset_covered = np.mean([r.offset_covered for r in found])
    print(
        f"evaluator offsets (true sd 1.2 points on a 0-20 total): RMSE {error.mean():.2f} points, "
        f"90% intervals cover {offset_covered:.1%}"
    )
    bayes, mean = np.array([r.bayes_rho for r in found]), np.array([r.mean_rho for r in found])
    print(
        f"Spearman with the true ranks: expected rank {bayes.mean():.3f}, plain mean {mean.mean():.3f}; "
        f"the expected rank is closer in {np.mean(bayes > mean):.0%} of calls"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validate", type=int, default=200, help="simulated calls (0: speed only)")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    if not args.no_speed:
        speed()
    if args.validate:
        validation(args.validate)


if __name__ == "__main__":
    main()
