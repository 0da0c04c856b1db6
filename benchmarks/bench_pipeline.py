"""The whole pipeline on 10,000 scored proposals: load, check, rank, allocate.

Run by hand from the repository root: ``python -m benchmarks.bench_pipeline [N]``. Prints each stage's time; the
load is compared with bare ``json.loads`` of the same file (target: 10,000 proposals with
three evaluators' scores loaded and validated in at most 0.5 s), and the whole run with
the time a finance officer waits for ``grants allocate`` on it.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from benchmarks.bench_eligibility import SEE_CALL, generated, timed, timed_load
from evaluator.allocation import allocate
from evaluator.ranking import rank
from rules.check import check
from rules.load import load_call

EVALUATORS = 300


def scored(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """The eligibility benchmark's proposals, each scored by three of 300 evaluators on the SEE grid (1-5)."""
    call = load_call(SEE_CALL)
    rng = random.Random(seed)
    proposals = generated(n)
    for proposal in proposals:
        quality = rng.uniform(2, 5)
        proposal["evaluations"] = [
            {
                "evaluator": f"E{e:03d}",
                "scores": {c.id: max(1, min(5, round(quality + rng.gauss(0, 0.7)))) for c in call.criteria},
            }
            for e in rng.sample(range(EVALUATORS), 3)
        ]
    return proposals


def main(n: int) -> None:
    call = load_call(SEE_CALL)
    proposals, loading, bare, size_mb = timed_load(scored(n))
    print(f"{n:,} proposals with 3 evaluators each, {size_mb:.1f} MB of JSON")
    print(
        f"load + validate: {loading:.3f} s (target <= 0.5 s at 10,000); bare json.loads {bare:.3f} s; "
        f"ratio {loading / bare:.1f}x"
    )
    started = time.perf_counter()
    report, checking = timed(lambda: check(call, proposals))
    ranking, ranking_time = timed(lambda: rank(call, proposals, report))
    allocation, allocating = timed(lambda: allocate(call, ranking))
    total = time.perf_counter() - started + loading
    print(
        f"check {checking:.3f} s ({len(report.eligible_ids):,} eligible); rank {ranking_time:.3f} s "
        f"({len(ranking.fundable()):,} fundable); allocate ({call.allocation.mode}) {allocating:.3f} s "
        f"({len(allocation.grants):,} grants, {allocation.status})"
    )
    print(f"end to end {total:.2f} s = {total / bare:.0f}x the bare JSON parse")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
