"""How ``rank()`` grows with the number of proposals: the ex aequo ordering must stay near N log N.

Run by hand: ``python -m benchmarks.bench_ranking [N ...]`` (default 1,000 to 50,000). The call
ranks on three 0-5 criteria in half points, so groups of hundreds of proposals tie on the
score and go through Horizon Europe's chain (topic not yet covered, each criterion, gender
balance, countries new to the list, SME share). Each line gives the time per proposal
against the first size's, so N log N shows as a slowly growing figure and N² as one
that grows with N.
"""

from __future__ import annotations

import math
import sys
import time

from benchmarks.instances import call_data, proposal_data
from evaluator.ranking import rank
from rules.model import Call
from rules.proposal import Proposal


def timed_rank(n: int) -> tuple[float, int]:
    call = Call.model_validate(call_data(n))
    proposals = [Proposal.model_validate(p) for p in proposal_data(n)]
    started = time.perf_counter()
    ranking = rank(call, proposals)
    seconds = time.perf_counter() - started
    return seconds, len(ranking.unresolved_ties)


def main(sizes: list[int]) -> None:
    print("| proposals | rank() s | µs per proposal | per proposal / log N, vs the first | draws |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    first: float | None = None
    for n in sizes:
        seconds, draws = timed_rank(n)
        per = seconds / n / math.log(n)
        first = first or per
        print(f"| {n:,} | {seconds:.2f} | {seconds / n * 1e6:.0f} | {per / first:.2f} | {draws} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000, 2_500, 5_000, 10_000, 25_000, 50_000])
