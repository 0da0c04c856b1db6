"""Partial randomisation: fund the clear proposals, draw the rest of the budget by lot among the grey zone.

The SNSF draws lots among proposals whose rank interval crosses the funding line;
the British Academy and the Health Research Council of New Zealand fund by lot above
a quality bar. Here the lot decides the *order* in which the grey zone is offered the
budget left once the proposals in beyond doubt are funded: the call's funding line
then walks that order under every limit of the call (budget, grant count, caps,
ring-fenced minimums, partial funding), so a lottery never breaks a rule the
ordinary decision keeps. Proposals out beyond doubt come last, as a reserve list.

A draw is verifiable: a random seed is generated and its SHA-256 published (the
commitment) before the scores are final; at the draw the seed is revealed. Each
grey-zone proposal's ticket is ``SHA-256(seed ":" id)`` read as a number, so
anyone can recompute the order with any SHA-256 tool: the largest ticket is drawn
first (uniform lot), or, weighted by the odds of funding ``w``, the largest
``log(u) / w`` with ``u`` the ticket as a fraction (Efraimidis and Spirakis 2006,
sampling without replacement with probability proportional to ``w``). Each
proposal's chance of being funded by the lot is estimated over many draws from a
generator seeded by the same seed, walked by the vectorised funding line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from evaluator.bayesian import BayesianResult, Zone
from evaluator.funding_line import funding_line
from evaluator.monte_carlo import Walker
from evaluator.portfolio import Portfolio, build_portfolio
from evaluator.ranking import RankedProposal, Ranking
from rules.model import Call, Randomise
from rules.money import Money, from_cents, to_cents

SCHEME = "grants-lottery/1"
SIMULATIONS = 10_000
LEAST_WEIGHT = 1e-4
"""A grey-zone proposal keeps a ticket even when the model gives it almost no chance of ranking above the line."""
TIME_LIMIT = 60.0
CLEAR, OUT = 1e12, -1e12


class Commitment(BaseModel):
    """What is published before the scores are final: the call and the seed's hash, never the seed."""

    scheme: str = SCHEME
    call_id: str
    commitment: str = Field(description="SHA-256 of the seed, hexadecimal")
    committed_at: dt.datetime


class DrawnGrant(BaseModel):
    id: str
    amount: Money
    zone: Zone


class Chance(BaseModel):
    id: str
    zone: Zone
    p_above_line: float
    weight: float = Field(description="the ticket's weight in the lot (1 for a uniform lot)")
    ticket: str | None = Field(default=None, description="SHA-256(seed:id), hexadecimal; grey zone only")
    chance: float = Field(description="share of simulated lots that fund it")
    funded: bool


class LotteryDraw(BaseModel):
    call_id: str
    status: Literal["drawn", "infeasible"]
    weights: Literal["uniform", "probability"]
    level: Decimal
    commitment: str
    seed: str
    clear: list[str] = Field(description="in beyond doubt, funded first in expected-rank order")
    grey: list[str] = Field(description="the grey zone in the order the lot drew it")
    out: list[str] = Field(description="out beyond doubt, offered what is left last, in expected-rank order")
    grants: list[DrawnGrant]
    total_awarded: Money
    budget: Money
    budget_left: Money
    reasons: dict[str, str] = Field(default_factory=dict, description="why a proposal is not funded")
    chances: list[Chance]
    simulations: int
    notes: list[str] = Field(default_factory=list)

    @property
    def funded(self) -> set[str]:
        return {g.id for g in self.grants}


def new_seed() -> str:
    """256 random bits from the operating system, as hexadecimal."""
    return secrets.token_hex(32)


def commitment_of(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def commit(call: Call, seed: str, now: dt.datetime | None = None) -> Commitment:
    return Commitment(call_id=call.id, commitment=commitment_of(seed), committed_at=now or dt.datetime.now(dt.UTC))


def ticket(seed: str, proposal_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{proposal_id}".encode()).digest(), "big")


def lot_key(seed: str, proposal_id: str, weight: float) -> float:
    """Higher is drawn first: ``log(u) / w`` with ``u`` the ticket as a fraction in (0, 1)."""
    u = (ticket(seed, proposal_id) + 0.5) / 2**256
    return math.log(u) / weight


def draw(
    call: Call,
    ranking: Ranking,
    bayes: BayesianResult,
    seed: str,
    settings: Randomise | None = None,
    simulations: int = SIMULATIONS,
) -> LotteryDraw:
    """Draw the grey zone's order from ``seed``, walk the funding line over it, and estimate each one's chance."""
    settings = settings or call.allocation.randomise or Randomise()
    weights = _weights(bayes, settings)
    zones = {e.id: e.zone for e in bayes.entries}
    clear, out = bayes.zone("in"), bayes.zone("out")
    grey = sorted(bayes.zone("grey"), key=lambda pid: -lot_key(seed, pid, weights[pid]))
    order = [*clear, *grey, *out]
    p = _portfolio(call, ranking, order)
    walk, unmet = funding_line(p, time.monotonic() + TIME_LIMIT)
    amounts = walk.amounts if not unmet else np.zeros(p.size, dtype=np.int64)
    funded = {p.entries[k].id: int(amounts[k]) for k in np.flatnonzero(amounts > 0).tolist()}
    chance = _chances(p, bayes, weights, seed, simulations)
    notes = [f"the call's minimums cannot all be met: {', '.join(limit.name for limit in unmet)}"] if unmet else []
    return LotteryDraw(
        call_id=call.id,
        status="infeasible" if unmet else "drawn",
        weights=settings.weights,
        level=bayes.level,
        commitment=commitment_of(seed),
        seed=seed,
        clear=clear,
        grey=grey,
        out=out,
        grants=[DrawnGrant(id=pid, amount=from_cents(funded[pid]), zone=zones[pid]) for pid in order if pid in funded],
        total_awarded=from_cents(int(amounts.sum())),
        budget=from_cents(p.budget),
        budget_left=from_cents(p.budget - int(amounts.sum())),
        reasons={**walk.reasons, **p.excluded},
        chances=[
            Chance(
                id=e.id,
                zone=e.zone,
                p_above_line=e.p_above_line,
                weight=round(weights.get(e.id, 1.0), 6),
                ticket=format(ticket(seed, e.id), "064x") if e.zone == "grey" else None,
                chance=round(chance[e.id], 4),
                funded=e.id in funded,
            )
            for e in bayes.entries
        ],
        simulations=simulations,
        notes=notes + bayes.warnings,
    )


def _weights(bayes: BayesianResult, settings: Randomise) -> dict[str, float]:
    if settings.weights == "uniform":
        return {pid: 1.0 for pid in bayes.zone("grey")}
    return {e.id: max(e.p_above_line, LEAST_WEIGHT) for e in bayes.entries if e.zone == "grey"}


def _portfolio(call: Call, ranking: Ranking, order: Sequence[str]) -> Portfolio:
    """The fundable proposals in the lot's order (a descending walk key replaces the score), under the call's limits.

    The funding-line tie rule does not apply: every key is distinct.
    """
    entries: dict[str, RankedProposal] = {e.id: e for e in ranking.fundable()}
    keyed = [entries[pid].model_copy(update={"weighted_total": Decimal(len(order) - k)}) for k, pid in enumerate(order)]
    settings = call.allocation.model_copy(update={"funding_line_tie": "rank"})
    cap = call.budget.max_grant
    return build_portfolio(call, keyed, settings, to_cents(call.budget.total), None if cap is None else to_cents(cap))


def _chances(
    p: Portfolio, bayes: BayesianResult, weights: dict[str, float], seed: str, simulations: int
) -> dict[str, float]:
    """The share of ``simulations`` lots, seeded from ``seed``, in which each proposal is funded."""
    zone = {e.id: e.zone for e in bayes.entries}
    ids = [e.id for e in p.entries]
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}:chances".encode()).digest()[:8], "big"))
    keys = np.empty((simulations, p.size))
    for k, pid in enumerate(ids):
        if zone[pid] == "grey":
            keys[:, k] = np.log(1.0 - rng.random(simulations)) / weights[pid]
        else:
            keys[:, k] = (CLEAR if zone[pid] == "in" else OUT) - k
    funded, _ = Walker(p).walk(keys, np.ones(keys.shape, dtype=bool), exact=True)
    found = dict(zip(ids, funded.mean(axis=0).tolist(), strict=True))
    return {e.id: found.get(e.id, 0.0) for e in bayes.entries}


# --- the record and its verification --------------------------------------------------------------------------


class RecordedFile(BaseModel):
    name: str
    sha256: str
    text: str


class LotteryRecord(BaseModel):
    """Everything needed to re-run a draw: the commitment, the seed, the input files as they were, the result."""

    scheme: str = SCHEME
    commitment: Commitment
    drawn_at: dt.datetime
    call: RecordedFile
    proposals: RecordedFile
    draw: LotteryDraw


class Check(BaseModel):
    name: str
    passed: bool
    detail: str


class Verification(BaseModel):
    verified: bool
    checks: list[Check]


def recorded(name: str, text: str) -> RecordedFile:
    return RecordedFile(name=name, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), text=text)


def verify(record: LotteryRecord, redrawn: LotteryDraw) -> Verification:
    """Compare a record with the draw re-run from its own inputs and seed (``redrawn``)."""
    draw_, promised = record.draw, record.commitment
    zones = f"{len(redrawn.clear)} in, {len(redrawn.grey)} in the grey zone, {len(redrawn.out)} out on re-running"
    checks = [
        Check(
            name="seed",
            passed=commitment_of(draw_.seed) == record.commitment.commitment == draw_.commitment,
            detail=f"SHA-256 of the revealed seed is {commitment_of(draw_.seed)}; "
            f"the commitment published on {promised.committed_at.isoformat()} is {promised.commitment}",
        ),
        Check(
            name="order",
            passed=record.commitment.committed_at <= record.drawn_at,
            detail=f"committed {record.commitment.committed_at.isoformat()}, drawn {record.drawn_at.isoformat()}",
        ),
        *(
            Check(
                name=f"{kind} file",
                passed=recorded(f.name, f.text).sha256 == f.sha256,
                detail=f"{f.name}: SHA-256 {f.sha256}",
            )
            for kind, f in (("call", record.call), ("proposals", record.proposals))
        ),
        Check(
            name="zones",
            passed=(draw_.clear, sorted(draw_.grey), draw_.out) == (redrawn.clear, sorted(redrawn.grey), redrawn.out),
            detail=zones,
        ),
        Check(
            name="draw",
            passed=draw_.grey == redrawn.grey,
            detail=f"the lot's order on re-running: {', '.join(redrawn.grey) or 'no grey zone'}",
        ),
        Check(
            name="portfolio",
            passed=draw_.grants == redrawn.grants,
            detail=f"re-running funds {', '.join(g.id for g in redrawn.grants) or 'nobody'}",
        ),
        Check(
            name="chances",
            passed=draw_.chances == redrawn.chances,
            detail=f"each proposal's chance over {redrawn.simulations} simulated lots",
        ),
    ]
    return Verification(verified=all(c.passed for c in checks), checks=checks)


def rerun(record: LotteryRecord) -> LotteryDraw:
    """The draw again, from the record's own copies of the call and proposal files and its revealed seed."""
    from evaluator.bayesian import with_funding_lines
    from evaluator.ranking import rank
    from rules.load import call_from_text, proposals_from_text

    call = call_from_text(record.call.text, record.call.name)
    fmt = "json" if record.proposals.name.lower().endswith(".json") else "yaml"
    proposals = proposals_from_text(record.proposals.text, record.proposals.name, fmt)
    ranking = rank(call, proposals)
    return draw(call, ranking, with_funding_lines(call, proposals, ranking), record.draw.seed)
