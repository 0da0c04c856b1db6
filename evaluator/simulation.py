"""What-if runs: scenarios side by side, budget sweeps, and funding odds under score noise.

Scenarios and sweeps re-run :func:`evaluator.allocation.allocate`; funding odds walk
the call's rank-mode funding line over many noisy draws at once
(``evaluator.monte_carlo``). Everything is seeded: the same seed gives the same odds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from evaluator.allocation import Allocation, Scenario, allocate, execute, portfolio_for
from evaluator.monte_carlo import Walker
from evaluator.portfolio import Portfolio
from evaluator.ranking import RankedProposal, Ranking
from rules.errors import GrantsError, Problem
from rules.load import read_text, validation_problems
from rules.model import Call
from rules.money import Money
from rules.proposal import Proposal
from rules.yamlio import parse_yaml

CHUNK_CELLS = 5_000_000
"""Draws times proposals in memory at once: 500 draws of 10,000 proposals (about 150 MB), no slower than more."""
WALKERS = 2
"""Chunks of draws walked side by side (the machines this runs on have two cores or more)."""
SURE = 6.0
MAX_SWEEP_STEPS = 1_000
"""Each step is a whole allocation: a thousand already draws a smooth curve, and a typo of
100,000,000 would otherwise run for days without a word."""


class SimulationError(GrantsError):
    """A simulation asked for something impossible: a bad budget range, no noise source, a broken scenario file."""

    title = "Invalid simulation"


class ScenarioFile(BaseModel):
    scenarios: list[Scenario]


class ScenarioSummary(BaseModel):
    scenario: str
    status: str
    grants: int
    total_awarded: Money
    budget_left: Money
    objective: Decimal
    binding: list[str]
    only_here: list[str] = Field(description="funded in this scenario but not in the first one")
    not_here: list[str] = Field(description="funded in the first scenario but not in this one")


class SweepPoint(BaseModel):
    budget: Money
    status: str
    grants: int
    total_awarded: Money
    total_score: Decimal = Field(description="sum of the ranking scores of the funded proposals")
    objective: Decimal
    last_funded: str | None = Field(description="the lowest-ranked funded proposal")


class Odds(BaseModel):
    id: str
    score: Decimal
    funded_now: bool = Field(description="funded by the funding line on the scores as they are")
    probability: Decimal = Field(description="share of draws in which it is funded, four decimals")


class FundingOdds(BaseModel):
    """The odds of funding, summarised: who is safe, who is out, and the proposals in between one by one."""

    method: Literal["noise", "resample"]
    noise: Decimal | None
    runs: int
    seed: int
    proposals: int = Field(description="proposals some draw could fund (eligible; fundable or only below a threshold)")
    always_funded: int = Field(description="proposals funded in every draw")
    never_funded: int = Field(description="proposals funded in no draw")
    uncertain: int = Field(description="proposals funded in between 5% and 95% of the draws")
    infeasible_draws: int = Field(default=0, description="draws in which a minimum could not be met (nobody funded)")
    full: bool = Field(description="odds lists every proposal; otherwise only those funded in some draws but not all")
    odds: list[Odds] = Field(description="in rank order")


def compare(
    call: Call, ranking: Ranking, scenarios: Sequence[Scenario], on_step: Callable[[int], None] | None = None
) -> list[ScenarioSummary]:
    """Each scenario's allocation, with what it funds differently from the first one."""
    allocations: list[Allocation] = []
    for scenario in scenarios:
        if on_step is not None:
            on_step(len(allocations))
        allocations.append(allocate(call, ranking, scenario, explain=False))
    first = allocations[0].funded if allocations else set()
    return [_summary(a, first) for a in allocations]


def _summary(allocation: Allocation, first: set[str]) -> ScenarioSummary:
    funded = allocation.funded
    ordered = [g.id for g in allocation.grants]
    return ScenarioSummary(
        scenario=allocation.scenario,
        status=allocation.status,
        grants=len(allocation.grants),
        total_awarded=allocation.total_awarded,
        budget_left=allocation.budget_left,
        objective=allocation.objective,
        binding=allocation.binding,
        only_here=[i for i in ordered if i not in first],
        not_here=sorted(first - funded),
    )


def budget_range(low: Decimal, high: Decimal, steps: int) -> list[Decimal]:
    """``steps`` budgets from ``low`` to ``high``, to the cent."""
    if low <= 0 or high <= 0:
        raise SimulationError("budgets must be positive")
    if high < low:
        raise SimulationError(f"the budget range goes down: {low} to {high}")
    if steps < 1 or (steps == 1 and high != low):
        raise SimulationError("a budget sweep needs at least two steps (one when the range is a single budget)")
    if steps > MAX_SWEEP_STEPS:
        raise SimulationError(f"a budget sweep takes at most {MAX_SWEEP_STEPS:,} steps, got {steps:,}")
    if steps == 1:
        return [low]
    step = (high - low) / (steps - 1)
    return [(low + step * k).quantize(Decimal("0.01")) for k in range(steps)]


def budget_sweep(
    call: Call,
    ranking: Ranking,
    budgets: Sequence[Decimal],
    base: Scenario | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[SweepPoint]:
    """The allocation at each budget: how many grants, how much score, where the line falls.

    ``on_step`` hears how many budgets are done after each one (a progress bar).
    """
    base = base or Scenario()
    points: list[SweepPoint] = []
    for budget in budgets:
        if on_step is not None:
            on_step(len(points))
        allocation = allocate(call, ranking, base.model_copy(update={"budget": budget}), explain=False)
        funded = allocation.grants
        points.append(
            SweepPoint(
                budget=budget,
                status=allocation.status,
                grants=len(funded),
                total_awarded=allocation.total_awarded,
                total_score=sum((g.score for g in funded), Decimal(0)),
                objective=allocation.objective,
                last_funded=funded[-1].id if funded else None,
            )
        )
    return points


def load_scenarios(path: Path) -> list[Scenario]:
    """Scenarios from YAML: a list, or a mapping with a ``scenarios`` list; errors point at the line."""
    text = read_text(path, SimulationError)
    data = parse_yaml(text, str(path), SimulationError)
    items = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise SimulationError([Problem("a scenario file is a non-empty list of scenarios", file=str(path), line=1)])
    try:
        if isinstance(data, dict):
            return ScenarioFile.model_validate(data).scenarios
        return TypeAdapter(list[Scenario]).validate_python(items)
    except ValidationError as exc:
        raise SimulationError(validation_problems(exc, text, str(path), data)) from None


def funding_odds(
    call: Call,
    ranking: Ranking,
    proposals: Sequence[Proposal] = (),
    *,
    noise: Decimal | None = None,
    runs: int = 1000,
    seed: int = 0,
    resample: bool = False,
    full: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> FundingOdds:
    """Each proposal's chance of funding when its evaluators' scores are noisy (or resampled).

    ``noise`` is the standard deviation of each evaluator's score on each criterion,
    so a criterion scored by ``m`` evaluators moves by ``noise / sqrt(m)`` (exact for
    the mean; for the median or trimmed mean it is the usual approximation).
    ``resample`` instead draws each proposal's evaluators with replacement. Without
    ``full`` the odds list only the proposals funded in some draws but not all; the
    others are counted (on 10,000 proposals most are safe or out in every draw).
    """
    if runs < 1:
        raise SimulationError(f"runs must be at least 1, got {runs}")
    if seed < 0:
        raise SimulationError(f"the seed must be zero or more, got {seed}")
    if not resample:
        _check_noise(call, noise)
    candidates = _candidates(call, ranking)
    p = portfolio_for(call, candidates, Scenario(mode="rank"))
    now = _funded_now(call, ranking, p if all(e.fundable for e in candidates) else None)
    scores = ScoreTable.build(call, p, proposals)
    if resample and not scores.has_evaluations:
        raise SimulationError("resampling evaluators needs proposals with evaluator scores")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(runs, CHUNK_CELLS // WALKERS // max(p.size, 1)))

    def draws() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for done in range(0, runs, chunk):
            size = min(chunk, runs - done)
            keys, eligible = scores.resampled(rng, size) if resample else scores.noisy(rng, size, float(noise or 0))
            yield done + size, keys, eligible

    funded = np.zeros(p.size, dtype=np.int64)
    infeasible = 0
    for done, (chosen, unmet) in _walked(Walker(p), draws(), exact=resample or not noise):
        funded += chosen.sum(axis=0)
        infeasible += int(unmet.sum())
        if on_chunk is not None:
            on_chunk(done, runs)
    share = funded / runs
    listed = np.arange(p.size) if full else np.flatnonzero((funded > 0) & (funded < runs))
    return FundingOdds(
        method="noise" if not resample else "resample",
        noise=None if resample else noise,
        runs=runs,
        seed=seed,
        proposals=p.size,
        always_funded=int(np.count_nonzero(funded == runs)),
        never_funded=int(np.count_nonzero(funded == 0)),
        uncertain=int(np.count_nonzero((share >= 0.05) & (share <= 0.95))),
        infeasible_draws=infeasible,
        full=full,
        odds=[_odds(p.entries[k], now, share[k]) for k in listed.tolist()],
    )


def _odds(entry: RankedProposal, now: set[str], share: float) -> Odds:
    probability = Decimal(f"{share:.4f}")
    return Odds(id=entry.id, score=entry.weighted_total, funded_now=entry.id in now, probability=probability)


def _funded_now(call: Call, ranking: Ranking, fundable: Portfolio | None) -> set[str]:
    """Who the rank-mode funding line funds on the scores as they are (no explanation needed here).

    ``fundable`` is the portfolio of the fundable proposals when the caller has it already.
    """
    p = fundable or portfolio_for(call, ranking.fundable(), Scenario(mode="rank"))
    line = execute(p, time.monotonic() + float(p.settings.time_limit_seconds))
    return set() if line.amounts is None else {p.entries[k].id for k in np.flatnonzero(line.amounts > 0).tolist()}


def _thresholds_only(call: Call, entry: RankedProposal) -> bool:
    """Not fundable only because of a threshold (which noise may lift it over)."""
    below = [c for c in call.criteria if c.threshold is not None and entry.scores.get(c.id, c.threshold) < c.threshold]
    total_low = call.overall_threshold is not None and entry.total < call.overall_threshold
    return bool(below) or total_low


def _walked(
    walker: Walker, draws: Iterator[tuple[int, np.ndarray, np.ndarray]], exact: bool
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Each chunk's walk, in order, :data:`WALKERS` at a time.

    A walk is mostly numpy sorting big arrays, which runs without the interpreter lock,
    so two chunks walk side by side on two cores (a quarter faster at 10,000 proposals).
    The draws are made here, in order, as the walks need them: a seed gives the same
    draws however the walks interleave, and at most one chunk waits beyond those walking.
    """
    with ThreadPoolExecutor(max_workers=WALKERS) as pool:
        walking: deque[tuple[int, Future[tuple[np.ndarray, np.ndarray]]]] = deque()
        for done, keys, eligible in draws:
            walking.append((done, pool.submit(walker.walk, keys, eligible, exact)))
            if len(walking) == WALKERS:
                finished, walk = walking.popleft()
                yield finished, walk.result()
        for finished, walk in walking:
            yield finished, walk.result()


def _check_noise(call: Call, noise: Decimal | None) -> None:
    """A standard deviation wider than every scale drowns the scores (and squared, overflows the floats)."""
    if noise is None or noise < 0:
        raise SimulationError("give a noise standard deviation of zero or more, or resample the evaluators")
    widest = max(c.scale[1] - c.scale[0] for c in call.criteria)
    if noise > widest:
        raise SimulationError(f"a noise of {noise} is wider than the widest scale ({widest}) of the call's criteria")


def _candidates(call: Call, ranking: Ranking) -> list[RankedProposal]:
    """Every proposal that some draw could fund, under the call's rank-mode rules."""
    return [e for e in ranking.entries if e.eligible and (e.fundable or _thresholds_only(call, e))]


class ScoreTable:
    """Consolidated scores, evaluator counts and thresholds as arrays aligned with the portfolio."""

    def __init__(self, call: Call, p: Portfolio, sheets: dict[str, list[dict[str, Decimal | None]]]):
        ids = [c.id for c in call.criteria]
        self.ids = ids
        self.p = p
        self.weights = np.array([float(c.weight) for c in call.criteria])
        self.scores = _floats([e.scores for e in p.entries], ids)
        self.total = np.array([float(e.total) for e in p.entries])
        self.criterion_floor = np.array([-np.inf if c.threshold is None else float(c.threshold) for c in call.criteria])
        self.total_floor = -np.inf if call.overall_threshold is None else float(call.overall_threshold)
        self.sheets = [sheets.get(e.id, []) for e in p.entries]
        self.evaluators = np.maximum(self._applicable(), 1.0)
        self.scored = ~np.isnan(self.scores)
        self.consolidation = call.scoring.consolidation
        self.trim = call.scoring.trim

    @classmethod
    def build(cls, call: Call, p: Portfolio, proposals: Sequence[Proposal]) -> ScoreTable:
        sheets = {q.id: [e.scores for e in q.evaluations] for q in proposals}
        return cls(call, p, sheets)

    def _applicable(self) -> np.ndarray:
        """Per proposal and criterion, how many evaluators gave a score (not "not applicable")."""
        owner = np.repeat(np.arange(self.p.size), [len(sheet) for sheet in self.sheets])
        given = _given([s for sheet in self.sheets for s in sheet], self.ids)
        counts = [np.bincount(owner, weights=given[:, j], minlength=self.p.size) for j in range(len(self.ids))]
        return np.stack(counts, axis=1)  # a call has one criterion at least

    @property
    def has_evaluations(self) -> bool:
        return any(self.sheets)

    def passes(self, scores: np.ndarray, total: np.ndarray, scored: np.ndarray) -> np.ndarray:
        criteria_ok = np.where(scored, scores >= self.criterion_floor, True).all(axis=-1)
        return criteria_ok & (total >= self.total_floor)

    def noisy(self, rng: np.random.Generator, draws: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        """Keys and threshold passes for ``draws`` draws of evaluator noise.

        A proposal far (six standard deviations) from every threshold keeps its
        verdict and needs one normal draw for its weighted total; only those near a
        threshold get one per criterion.
        """
        sd = np.where(self.scored, noise / np.sqrt(self.evaluators), 0.0)
        clean = self.scores - self.criterion_floor
        near = np.any(self.scored & np.isfinite(clean) & (np.abs(clean) < SURE * sd + 1e-12), axis=1)
        near |= np.abs(self.total - self.total_floor) < SURE * np.sqrt((sd**2).sum(axis=1)) + 1e-12
        base = self.passes(np.nan_to_num(self.scores, nan=np.inf), self.total, self.scored)
        spread = np.sqrt(((sd * self.weights) ** 2).sum(axis=1))
        if noise > 0:
            jitter = rng.standard_normal((draws, self.p.size), dtype=np.float32)
            jitter *= spread.astype(np.float32)
            keys = jitter + self.p.score.astype(np.float32)
        else:
            keys = np.broadcast_to(self.p.score, (draws, self.p.size)).copy()
        eligible = np.broadcast_to(base, keys.shape).copy()
        if near.any():
            shift = rng.standard_normal((draws, int(near.sum()), self.scores.shape[1])) * sd[near]
            keys[:, near] = self.p.score[near] + (shift * self.weights).sum(axis=2)
            scores = np.nan_to_num(self.scores[near], nan=np.inf) + shift
            eligible[:, near] = self.passes(scores, self.total[near] + shift.sum(axis=2), self.scored[near])
        return keys, eligible

    def resampled(self, rng: np.random.Generator, draws: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and passes when each proposal's evaluators are drawn again with replacement."""
        table = self._sheet_array()
        counts = (~np.isnan(table)).sum(axis=1, keepdims=True)
        picks = (rng.random((draws, *table.shape)) * np.maximum(counts, 1)).astype(np.int64)
        ordered = np.sort(table, axis=1)
        drawn = np.take_along_axis(np.broadcast_to(ordered, picks.shape), picks, axis=2)
        drawn = np.where(np.arange(table.shape[1])[None, None, :, None] < counts[None], drawn, np.nan)
        shift = np.nan_to_num(self._consolidate(drawn, axis=2) - self._consolidate(table[None], axis=2))
        keys = self.p.score + (shift * self.weights).sum(axis=2)
        scores = np.nan_to_num(self.scores, nan=np.inf) + shift
        return keys, self.passes(scores, self.total + shift.sum(axis=2), self.scored)

    def _sheet_array(self) -> np.ndarray:
        width = max((len(s) for s in self.sheets), default=1) or 1
        table = np.full((self.p.size, width, len(self.ids)), np.nan)
        for k, sheet in enumerate(self.sheets):
            table[k, : len(sheet)] = _floats(sheet, self.ids)
        return table

    def _consolidate(self, values: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(all="ignore"):
            if self.consolidation == "median":
                return np.nanmedian(values, axis=axis)
            if self.consolidation == "trimmed_mean":
                ordered = np.sort(values, axis=axis)
                count = (~np.isnan(values)).sum(axis=axis, keepdims=True)
                position = np.arange(values.shape[axis]).reshape([-1 if a == axis else 1 for a in range(values.ndim)])
                keep = (position >= self.trim) & (position < count - self.trim)
                trimmed = np.where(keep | (count <= 2 * self.trim), ordered, np.nan)
                return np.nanmean(trimmed, axis=axis)
            return np.nanmean(values, axis=axis)


def _given(sheets: Sequence[Mapping[str, Decimal | None]], ids: list[str]) -> np.ndarray:
    """Whether each sheet scores each criterion of ``ids``: a count needs no float of the score.

    Converting every evaluator's Decimal to a float only to test it for NaN took most of the
    table's build (three sheets a proposal: 30,000 sheets at 10,000 proposals).
    """
    rows = [[sheet.get(c) is not None for c in ids] for sheet in sheets]
    return np.array(rows, dtype=bool).reshape(len(sheets), len(ids))


def _floats(sheets: Sequence[Mapping[str, Decimal | None]], ids: list[str]) -> np.ndarray:
    """Each sheet's scores on the criteria ``ids`` as one row of floats, NaN where none is given."""
    rows = [[sheet.get(c) for c in ids] for sheet in sheets]
    return np.array(rows, dtype=np.float64).reshape(len(sheets), len(ids))
