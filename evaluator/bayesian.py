"""Ranks with credible intervals: the SNSF's Bayesian ranking, under the call's own allocation.

Three evaluators cannot tell a 15.66 from a 15.51. This module fits a hierarchical
model of the *individual* scores (each proposal's merit, each evaluator's leniency
shrunk towards zero, topic effects where the call has topics; ``evaluator.sampler``)
and reads, from the posterior draws, each fundable proposal's expected rank in its
list, the 50% and 90% credible intervals of that rank, its SUCRA and its
probability of ranking above the funding line. The funding line is where the call's
allocation (rank or optimal mode, with every cap and quota) puts it: the number of
proposals it funds in each list. A proposal whose interval (at the call's level,
50% by default) crosses the line is in the *grey zone*; the others are in or out
beyond doubt (Heyard et al., Statistics and Public Policy 2022; docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from evaluator.allocation import allocate
from evaluator.ranking import Ranking
from evaluator.sampler import Observations, Posterior, effective_size, sample, split_rhat
from rules.model import BayesianRanking as Settings
from rules.model import Call
from rules.proposal import Proposal

Zone = Literal["in", "grey", "out"]
RHAT_LIMIT = 1.01
ESS_PER_CHAIN = 100
"""Vehtari et al. (2021): R-hat below 1.01 and at least 100 effective draws per chain before trusting intervals."""
SHOWN = 4


class RankInterval(BaseModel):
    level: Decimal
    low: int
    high: int


class BayesianEntry(BaseModel):
    """One fundable proposal as the model sees it."""

    id: str
    list_name: str
    position: int | None = Field(description="its place in the ordinary ranking")
    mean_score: float = Field(description="posterior mean of its score from a neutral evaluator (weighted total)")
    score_90: tuple[float, float] = Field(description="90% credible interval of that score")
    expected_rank: float = Field(description="posterior mean of its rank in its list (1 is best)")
    rank_50: RankInterval
    rank_90: RankInterval
    rank_zone: RankInterval = Field(description="the interval at the call's level, which decides the zone")
    p_above_line: float = Field(description="posterior probability of ranking within the funding line")
    sucra: float = Field(description="surface under the cumulative ranking: 1 best for sure, 0 worst for sure")
    zone: Zone


class EvaluatorEffect(BaseModel):
    evaluator: str
    offset: float = Field(description="posterior mean leniency (+) or severity (-), in weighted-total points")
    interval_90: tuple[float, float]
    scores: int


class Diagnostics(BaseModel):
    """Whether the chains agree: R-hat across chains and the effective sample size, worst parameter first."""

    chains: int
    draws: int
    warmup: int
    seed: int
    max_rhat: float
    worst_rhat: str
    min_ess: float
    worst_ess: str
    converged: bool
    hyper: dict[str, dict[str, float]] = Field(description="mean, rhat and ess of mu, sigma and the taus")


class FundingLine(BaseModel):
    list_name: str
    funded: int = Field(description="proposals the call's allocation funds in this list: the line is below that rank")
    ranked: int


class BayesianResult(BaseModel):
    call_id: str
    scores: Literal["total", "criteria"]
    level: Decimal
    lines: list[FundingLine]
    entries: list[BayesianEntry] = Field(description="by list, then expected rank")
    evaluators: list[EvaluatorEffect]
    topics: dict[str, float] = Field(default_factory=dict, description="posterior mean topic effect")
    rankograms: dict[str, list[float]] = Field(
        default_factory=dict, description="for the chosen proposals: probability of each rank 1..n in its list"
    )
    diagnostics: Diagnostics
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def zone(self, zone: Zone) -> list[str]:
        return [e.id for e in self.entries if e.zone == zone]

    def entry(self, proposal_id: str) -> BayesianEntry:
        return next(e for e in self.entries if e.id == proposal_id)


class RankingWithUncertainty(Ranking):
    """A ranking and, when asked for, its Bayesian ranking: what ``grants rank --bayes --json`` prints."""

    bayesian: BayesianResult | None = None


def settings_for(call: Call) -> Settings:
    return call.ranking.bayesian or Settings()


def bayesian_ranking(
    call: Call,
    proposals: Sequence[Proposal],
    ranking: Ranking,
    funded: Mapping[str, int],
    rankograms: Sequence[str] = (),
    settings: Settings | None = None,
) -> BayesianResult:
    """Fit the model and place every fundable proposal of ``ranking`` against the funding lines.

    ``funded`` is the number of proposals the call's allocation funds in each list
    (:func:`funded_per_list`); ``rankograms`` names proposals whose whole rank
    distribution is wanted (the grey zone's first when none is named).
    """
    settings = settings or settings_for(call)
    return _place(call, ranking, _fit(call, proposals, settings), funded, settings, rankograms)


def with_funding_lines(
    call: Call, proposals: Sequence[Proposal], ranking: Ranking, rankograms: Sequence[str] = ()
) -> BayesianResult:
    """The Bayesian ranking against the lines the call's own allocation (its mode, caps and quotas) draws."""
    allocation = allocate(call, ranking, explain=False)
    return bayesian_ranking(call, proposals, ranking, funded_per_list(ranking, allocation.funded), rankograms)


def funded_per_list(ranking: Ranking, funded_ids: set[str]) -> dict[str, int]:
    counts = dict.fromkeys((e.list_name for e in ranking.fundable()), 0)
    for entry in ranking.fundable():
        counts[entry.list_name] += entry.id in funded_ids
    return counts


# --- the data -------------------------------------------------------------------------------------------------


class _Fit:
    """The posterior on the weighted-total scale, with the proposals' and evaluators' names."""

    def __init__(self, posterior: Posterior, names: list[str], evaluators: list[str], counts: np.ndarray):
        self.posterior, self.names, self.evaluators, self.counts = posterior, names, evaluators, counts
        self.index = {name: k for k, name in enumerate(names)}
        self.diagnostics: Diagnostics | None = None
        self.topics: dict[str, float] = {}
        self.notes: list[str] = []

    def draws(self, ids: Sequence[str]) -> np.ndarray:
        """Merit draws of these proposals, chains pooled: (draws, len(ids))."""
        merit = self.posterior.merit
        return merit[:, :, [self.index[i] for i in ids]].reshape(-1, len(ids))


def observations(call: Call, proposals: Sequence[Proposal], criterion: str | None) -> tuple[Observations, list[str]]:
    """One criterion's scores (or each complete sheet's weighted total), as arrays; and the evaluators' names."""
    weights = {c.id: float(c.weight) for c in call.criteria}
    chosen = [call.criterion(criterion)] if criterion else call.criteria
    width = sum(float((c.scale[1] - c.scale[0]) * (1 if criterion else c.weight)) for c in chosen)
    low = sum(float(c.scale[0] * (1 if criterion else c.weight)) for c in chosen)
    topics = sorted({p.topic for p in proposals if p.topic})
    evaluators = sorted({e.evaluator for p in proposals for e in p.evaluations})
    where = {name: j for j, name in enumerate(evaluators)}
    y: list[float] = []
    who: list[int] = []
    which: list[int] = []
    for i, proposal in enumerate(proposals):
        for evaluation in proposal.evaluations:
            values = [evaluation.scores.get(c.id) for c in chosen]
            given = [float(v) for v in values if v is not None]
            if len(given) < len(values):
                continue
            y.append(sum(v * (1 if criterion else weights[c.id]) for c, v in zip(chosen, given, strict=True)))
            who.append(where[evaluation.evaluator])
            which.append(i)
    topic_of = [topics.index(p.topic) if p.topic else 0 for p in proposals]
    obs = Observations(
        y=np.array(y, dtype=np.float64),
        proposal=np.array(which, dtype=np.int64),
        evaluator=np.array(who, dtype=np.int64),
        topic_of=np.array(topic_of, dtype=np.int64),
        proposals=len(proposals),
        evaluators=len(evaluators),
        topics=max(len(topics), 1),
        width=width,
        centre=low + width / 2,
    )
    return obs, evaluators


def _fit(call: Call, proposals: Sequence[Proposal], settings: Settings) -> _Fit:
    """One model on the weighted totals, or one per criterion summed with the weights."""
    parts = [None] if settings.scores == "total" else [c.id for c in call.criteria]
    merit: np.ndarray | None = None
    offset: np.ndarray | None = None
    hyper: dict[str, np.ndarray] = {}
    notes: list[str] = []
    topics: dict[str, float] = {}
    counts: np.ndarray = np.zeros(0, dtype=np.int64)
    evaluators: list[str] = []
    for n, part in enumerate(parts):
        obs, evaluators = observations(call, proposals, part)
        skipped = sum(len(p.evaluations) for p in proposals) - len(obs.y)
        if skipped:
            notes.append(
                f"{skipped} scores on {part} marked not applicable are left out of its model"
                if part
                else f"{skipped} score sheets with a criterion marked not applicable are left out of the model"
            )
        posterior = sample(obs, settings.chains, settings.draws, settings.warmup, settings.seed + n)
        weight = 1.0 if part is None else float(call.criterion(part).weight)
        merit = _weighted_sum(merit, posterior.merit, weight)
        offset = _weighted_sum(offset, posterior.offset, weight)
        hyper.update({f"{name}{'' if part is None else ':' + part}": v for name, v in posterior.hyper.items()})
        counts = np.bincount(obs.evaluator, minlength=obs.evaluators)
        topics = _topics(proposals, posterior, topics, weight)
    assert merit is not None and offset is not None
    fit = _Fit(Posterior(merit, offset, hyper), [p.id for p in proposals], evaluators, counts)
    fit.diagnostics, fit.notes, fit.topics = _diagnose(fit.posterior, settings), notes, topics
    return fit


def _weighted_sum(so_far: np.ndarray | None, draws: np.ndarray, weight: float) -> np.ndarray:
    if weight != 1:
        draws = draws * np.float32(weight)
    return draws if so_far is None else so_far + draws


def _topics(
    proposals: Sequence[Proposal], posterior: Posterior, so_far: dict[str, float], weight: float
) -> dict[str, float]:
    """Each topic's mean merit over the overall mean: what the topic level of the model absorbed."""
    names = sorted({p.topic for p in proposals if p.topic})
    if len(names) < 2:
        return {}
    mean_merit = posterior.merit.mean(axis=(0, 1))
    overall = float(mean_merit.mean())
    found = {}
    for name in names:
        members = [k for k, p in enumerate(proposals) if p.topic == name]
        found[name] = so_far.get(name, 0.0) + weight * (float(mean_merit[members].mean()) - overall)
    return found


def _diagnose(posterior: Posterior, settings: Settings) -> Diagnostics:
    """R-hat and ESS of every merit and offset (the worst decide convergence), and of each hyperparameter."""
    names = [name for name in posterior.hyper if not np.all(posterior.hyper[name] == 0)]
    hyper = np.stack([posterior.hyper[name] for name in names], axis=2)
    hyper_rhat, hyper_ess = split_rhat(hyper), effective_size(hyper)
    rhat = {kind: split_rhat(getattr(posterior, kind)) for kind in ("merit", "offset")}
    ess = {kind: effective_size(getattr(posterior, kind)) for kind in ("merit", "offset")}
    worst_r = max(((float(r.max()), f"{kind}[{int(r.argmax())}]") for kind, r in rhat.items() if r.size))
    worst_e = min(((float(e.min()), f"{kind}[{int(e.argmin())}]") for kind, e in ess.items() if e.size))
    return Diagnostics(
        chains=settings.chains,
        draws=settings.draws,
        warmup=settings.warmup,
        seed=settings.seed,
        max_rhat=round(worst_r[0], 4),
        worst_rhat=worst_r[1],
        min_ess=round(worst_e[0], 1),
        worst_ess=worst_e[1],
        converged=worst_r[0] < RHAT_LIMIT and worst_e[0] >= ESS_PER_CHAIN * settings.chains,
        hyper={
            name: {
                "mean": round(float(posterior.hyper[name].mean()), 4),
                "rhat": round(float(hyper_rhat[k]), 4),
                "ess": round(float(hyper_ess[k]), 1),
            }
            for k, name in enumerate(names)
        },
    )


# --- ranks ----------------------------------------------------------------------------------------------------


def ranks_of(merit: np.ndarray) -> np.ndarray:
    """Rank of each proposal in each draw (1 is the highest merit); merit is (draws, proposals)."""
    order = np.argsort(-merit, axis=1)
    dtype = np.int16 if merit.shape[1] < np.iinfo(np.int16).max else np.int32
    ranks = np.empty(merit.shape, dtype=dtype)
    np.put_along_axis(ranks, order, np.arange(1, merit.shape[1] + 1, dtype=dtype)[None, :], axis=1)
    return ranks


def _lists(ranking: Ranking) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for entry in ranking.fundable():
        lists.setdefault(entry.list_name, []).append(entry.id)
    return lists


def _order_statistics(rows: np.ndarray, levels: Sequence[Decimal]) -> dict[Decimal, tuple[np.ndarray, np.ndarray]]:
    """Equal-tailed intervals of each row (values that occurred), by partitioning rather than sorting."""
    n = rows.shape[1]
    bounds = {}
    for level in levels:
        tail = (1 - float(level)) / 2
        bounds[level] = (min(int(np.floor(tail * n)), n - 1), max(int(np.ceil((1 - tail) * n)) - 1, 0))
    kth = sorted({k for pair in bounds.values() for k in pair})
    parted = np.partition(rows, kth, axis=1)
    return {level: (parted[:, low], parted[:, high]) for level, (low, high) in bounds.items()}


def _place(
    call: Call, ranking: Ranking, fit: _Fit, funded: Mapping[str, int], settings: Settings, chosen: Sequence[str]
) -> BayesianResult:
    positions = {e.id: e.position for e in ranking.fundable()}
    entries: list[BayesianEntry] = []
    lines, rank_rows = [], {}
    half, ninety = Decimal("0.5"), Decimal("0.9")
    for name, ids in _lists(ranking).items():
        line = funded.get(name, 0)
        lines.append(FundingLine(list_name=name, funded=line, ranked=len(ids)))
        merit = fit.draws(ids)
        ranks = np.ascontiguousarray(ranks_of(merit).T)
        intervals = _order_statistics(ranks, (half, ninety, settings.level))
        scores = _order_statistics(np.ascontiguousarray(merit.T), (ninety,))[ninety]
        expected, above, mean = ranks.mean(axis=1), (ranks <= line).mean(axis=1), merit.mean(axis=0)
        for k, pid in enumerate(ids):
            zone_low, zone_high = (int(bound[k]) for bound in intervals[settings.level])
            entries.append(
                BayesianEntry(
                    id=pid,
                    list_name=name,
                    position=positions[pid],
                    mean_score=round(float(mean[k]), 3),
                    score_90=(round(float(scores[0][k]), 3), round(float(scores[1][k]), 3)),
                    expected_rank=round(float(expected[k]), 2),
                    rank_50=_rank_interval(intervals, half, k),
                    rank_90=_rank_interval(intervals, ninety, k),
                    rank_zone=RankInterval(level=settings.level, low=zone_low, high=zone_high),
                    p_above_line=round(float(above[k]), 4),
                    sucra=round(float((len(ids) - expected[k]) / (len(ids) - 1)) if len(ids) > 1 else 1.0, 4),
                    zone="in" if zone_high <= line else "out" if zone_low > line else "grey",
                )
            )
        rank_rows.update({pid: (ranks[k], len(ids)) for k, pid in enumerate(ids)})
    entries.sort(key=lambda e: (e.list_name, e.expected_rank, e.id))
    diagnostics = fit.diagnostics
    assert diagnostics is not None
    wanted = list(chosen) or [e.id for e in entries if e.zone == "grey"][:1]
    rankograms = {pid: _rankogram(*rank_rows[pid]) for pid in wanted if pid in rank_rows}
    return BayesianResult(
        call_id=call.id,
        scores=settings.scores,
        level=settings.level,
        lines=lines,
        entries=entries,
        evaluators=_evaluators(fit),
        topics={name: round(value, 3) for name, value in fit.topics.items()},
        rankograms=rankograms,
        diagnostics=diagnostics,
        warnings=_warnings(diagnostics),
        notes=fit.notes,
    )


def _rank_interval(intervals: dict[Decimal, tuple[np.ndarray, np.ndarray]], level: Decimal, k: int) -> RankInterval:
    low, high = intervals[level]
    return RankInterval(level=level, low=int(low[k]), high=int(high[k]))


def _evaluators(fit: _Fit) -> list[EvaluatorEffect]:
    offset = fit.posterior.offset.reshape(-1, len(fit.evaluators))
    mean = offset.mean(axis=0)
    low, high = np.quantile(offset, [0.05, 0.95], axis=0) if len(fit.evaluators) else (mean, mean)
    return [
        EvaluatorEffect(
            evaluator=name,
            offset=round(float(mean[j]), 3),
            interval_90=(round(float(low[j]), 3), round(float(high[j]), 3)),
            scores=int(fit.counts[j]),
        )
        for j, name in enumerate(fit.evaluators)
    ]


def _warnings(diagnostics: Diagnostics) -> list[str]:
    if diagnostics.converged:
        return []
    return [
        f"the chains have not converged (R-hat {diagnostics.max_rhat} at {diagnostics.worst_rhat}, "
        f"effective draws {diagnostics.min_ess:.0f} at {diagnostics.worst_ess}; needed: R-hat below {RHAT_LIMIT} "
        f"and {ESS_PER_CHAIN * diagnostics.chains} effective draws): run more draws before relying on these ranks"
    ]


def _rankogram(ranks: np.ndarray, listed: int) -> list[float]:
    """The probability of each rank 1..n in the proposal's list, from its rank draws."""
    counts = np.bincount(ranks.astype(np.int64), minlength=listed + 1)[1:]
    return [round(float(c) / len(ranks), SHOWN) for c in counts]
