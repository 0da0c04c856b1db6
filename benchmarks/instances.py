"""Synthetic allocation instances shaped like ``/work/shared/solver-baseline.md``.

N proposals scored on three 0-5 criteria in half points, requests of EUR 100k-500k,
lead partners in 30 countries of skewed sizes, 8 topics of which one is niche. The
call funds 30% of all requests, at most 27% of the proposals, no country above 20%
of the budget and every topic at least 5% of it (when its requests allow).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from evaluator.ranking import RankedProposal, Ranking
from rules.model import Call
from rules.proposal import Evaluation, Proposal

COUNTRIES = [f"C{k:02d}" for k in range(30)]
TOPICS = [f"T{k}" for k in range(8)]
CRITERIA = ("excellence", "impact", "implementation")


def _draws(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    country_weight = 1 / np.arange(1, 31)
    topic_weight = np.array([1, 1, 1, 1, 1, 1, 1, 0.25])
    quality = rng.normal(3.2, 0.8, n)
    scores = np.clip(np.round(2 * (quality[:, None] + rng.normal(0, 0.5, (n, 3)))) / 2, 0, 5)
    return {
        "scores": scores,
        "requests": rng.integers(100_000, 500_001, n),
        "countries": rng.choice(30, n, p=country_weight / country_weight.sum()),
        "topics": rng.choice(8, n, p=topic_weight / topic_weight.sum()),
    }


def benchmark_call(requests: np.ndarray, topics: np.ndarray, **allocation: object) -> Call:
    """The call of the baseline: budget 30% of requests, 27% funded, 20% cap, 5% topic minimum."""
    budget = int(requests.sum()) * 3 // 10
    minimums = [
        {"by": "topic", "key": TOPICS[t], "min_share": "0.05"}
        for t in range(8)
        if requests[topics == t].sum() >= budget * 0.05
    ]
    settings = {
        "mode": "optimal",
        "max_grants": max(1, len(requests) * 27 // 100),
        "constraints": [{"name": "country cap", "by": "lead_country", "max_share": "0.2"}, *minimums],
        **allocation,
    }
    return Call.model_validate(
        {
            "id": "BENCH",
            "title": "Synthetic benchmark call",
            "programme": "Benchmark",
            "budget": {"total": budget, "max_grant": 500_000},
            "criteria": [{"id": c, "name": c.title()} for c in CRITERIA],
            "allocation": settings,
        }
    )


def benchmark_instance(
    n: int, seed: int = 1, per_topic_lists: bool = False, **allocation: object
) -> tuple[Call, Ranking]:
    """A call and its ranking of ``n`` fundable proposals, in rank order (per topic lists on request)."""
    d = _draws(n, seed)
    totals = d["scores"].sum(axis=1)
    order = np.lexsort((np.arange(n), -totals))
    positions = np.zeros(n, dtype=int)
    counters: dict[str, int] = {}
    entries = []
    for i in order:
        list_name = TOPICS[d["topics"][i]] if per_topic_lists else "main"
        counters[list_name] = positions[i] = counters.get(list_name, 0) + 1
        score = {c: Decimal(str(s)) for c, s in zip(CRITERIA, d["scores"][i], strict=True)}
        total = sum(score.values(), Decimal(0))
        entries.append(
            RankedProposal(
                id=f"P{i:05d}",
                topic=TOPICS[d["topics"][i]],
                list_name=list_name,
                lead_country=COUNTRIES[d["countries"][i]],
                requested_amount=Decimal(int(d["requests"][i])),
                scores=score,
                total=total,
                weighted_total=total,
                eligible=True,
                fundable=True,
                position=int(positions[i]),
            )
        )
    return benchmark_call(d["requests"], d["topics"], **allocation), Ranking(call_id="BENCH", entries=entries)


def benchmark_proposals(ranking: Ranking, evaluators: int = 3, seed: int = 1) -> list[Proposal]:
    """Proposals whose evaluators' mean is exactly the ranking's score (for Monte Carlo on evaluator noise)."""
    rng = np.random.default_rng(seed)
    proposals = []
    for entry in ranking.entries:
        sheets: list[dict[str, Decimal | None]] = [{} for _ in range(evaluators)]
        for criterion, score in entry.scores.items():
            spread = min(Decimal(str(rng.choice([0, 0.5, 1]))), score, 5 - score)
            for k, sheet in enumerate(sheets):
                sheet[criterion] = score + spread * (k % 3 - 1)
        proposals.append(
            scored_proposal(entry, [Evaluation(evaluator=f"E{k}", scores=s) for k, s in enumerate(sheets)])
        )
    return proposals


def scored_proposal(entry: RankedProposal, evaluations: list[Evaluation]) -> Proposal:
    """A one-partner proposal standing for a ranked entry, carrying the evaluations a benchmark drew for it."""
    return Proposal.model_validate(
        {
            "id": entry.id,
            "requested_amount": entry.requested_amount,
            "duration_months": 24,
            "topic": entry.topic,
            "partners": [{"name": "Lead", "country": "AT", "role": "lead"}],
            "evaluations": evaluations,
        }
    )


# Real country codes for instances written as files (the loader resolves every partner's country).
COUNTRY_CODES = [
    "DE",
    "FR",
    "IT",
    "ES",
    "PL",
    "NL",
    "BE",
    "SE",
    "AT",
    "CZ",
    "PT",
    "HU",
    "RO",
    "DK",
    "FI",
    "SK",
    "IE",
    "BG",
    "HR",
    "LT",
    "SI",
    "LV",
    "EE",
    "LU",
    "CY",
    "MT",
    "NO",
    "IS",
    "CH",
    "RS",
]


def call_data(n: int, allocation: dict[str, object] | None = None, seed: int = 1) -> dict[str, Any]:
    """The benchmark call as a call file would hold it (Horizon Europe's default ex aequo chain)."""
    d = _draws(n, seed)
    call = benchmark_call(d["requests"], d["topics"], **(allocation or {}))
    return call.model_dump(mode="json", exclude_none=True)


def proposal_data(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """The benchmark's proposals as a proposals file holds them: partners in 1-3 more countries, three evaluators.

    The evaluators' mean on each criterion is exactly the instance's score, so a
    baseline can read the scores straight from the file.
    """
    d = _draws(n, seed)
    rng = np.random.default_rng(seed + 1)
    weight = 1 / np.arange(1, 31)
    others = rng.choice(30, (n, 3), p=weight / weight.sum())
    sizes = rng.integers(1, 4, n)
    spreads = rng.choice([0.0, 0.5], (n, 3))
    proposals = []
    for i in range(n):
        places = list(dict.fromkeys([int(d["countries"][i]), *others[i, : sizes[i]].tolist()]))
        partners = [
            {"name": f"Org {i}-{k}", "country": COUNTRY_CODES[c], "role": "lead" if k == 0 else "partner"}
            for k, c in enumerate(places)
        ]
        sheets: list[dict[str, float]] = [{}, {}, {}]
        for j, criterion in enumerate(CRITERIA):
            score = float(d["scores"][i, j])
            spread = min(spreads[i, j], score, 5 - score)
            for k, sheet in enumerate(sheets):
                sheet[criterion] = score + spread * (k - 1)
        proposals.append(
            {
                "id": f"P{i:05d}",
                "acronym": f"A{i}",
                "topic": TOPICS[d["topics"][i]],
                "requested_amount": int(d["requests"][i]),
                "duration_months": 24,
                "partners": partners,
                "evaluations": [{"evaluator": f"E{k}", "scores": s} for k, s in enumerate(sheets)],
            }
        )
    return proposals
