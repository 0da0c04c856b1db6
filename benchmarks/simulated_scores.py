"""Simulated calls with a known truth, to check that the Bayesian ranking recovers it.

Each proposal has a true quality and each evaluator a true offset (leniency or
severity); an evaluator scores four criteria on the 0-5 scale and rounds to the
call's half-point step, as evaluators do, clipping at the ends. The model sees only
the rounded scores' weighted totals; the truth it should recover is each proposal's
total from a neutral evaluator and each evaluator's offset on the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evaluator.bayesian import ranks_of
from evaluator.sampler import Observations, Posterior, sample

CRITERIA = 4
LOW, HIGH, STEP = 0.0, 5.0, 0.5


@dataclass(frozen=True)
class SimulatedCall:
    obs: Observations
    merit: np.ndarray
    """true total of each proposal from a neutral evaluator"""
    offset: np.ndarray
    """true offset of each evaluator on the total"""


def simulated_call(
    rng: np.random.Generator, proposals: int = 60, per_proposal: int = 3, evaluators: int = 20
) -> SimulatedCall:
    """Quality ~ N(3, 0.6) per criterion, offsets ~ N(0, 0.3), noise ~ N(0, 0.5), rounded to the half point."""
    quality = rng.normal(3.0, 0.6, proposals)
    offset = rng.normal(0.0, 0.3, evaluators)
    who = np.array([rng.choice(evaluators, per_proposal, replace=False) for _ in range(proposals)]).ravel()
    which = np.repeat(np.arange(proposals), per_proposal)
    latent = quality[which, None] + offset[who, None] + rng.normal(0, 0.5, (len(which), CRITERIA))
    scores = np.clip(np.floor((latent - LOW) / STEP + 0.5) * STEP + LOW, LOW, HIGH)
    obs = Observations(
        y=scores.sum(axis=1),
        proposal=which,
        evaluator=who,
        topic_of=np.zeros(proposals, dtype=np.int64),
        proposals=proposals,
        evaluators=evaluators,
        topics=1,
        width=CRITERIA * (HIGH - LOW),
        centre=CRITERIA * (HIGH + LOW) / 2,
    )
    return SimulatedCall(obs, CRITERIA * quality, CRITERIA * offset)


@dataclass(frozen=True)
class Recovery:
    """How one fit did against the truth."""

    covered: float
    """share of proposals whose 90% interval of merit holds the true merit"""
    offset_error: float
    """root mean square error of the evaluators' posterior mean offsets, in total points"""
    offset_covered: float
    bayes_rho: float
    """Spearman correlation of the expected ranks with the true ranks"""
    mean_rho: float
    """the same for the ranks of the plain mean of the evaluators' totals"""


def recovery(simulated: SimulatedCall, posterior: Posterior) -> Recovery:
    merit = posterior.merit.reshape(-1, simulated.obs.proposals)
    offset = posterior.offset.reshape(-1, simulated.obs.evaluators)
    low, high = np.quantile(merit, [0.05, 0.95], axis=0)
    o_low, o_high = np.quantile(offset, [0.05, 0.95], axis=0)
    expected_rank = ranks_of(merit).mean(axis=0)
    obs = simulated.obs
    plain = np.bincount(obs.proposal, obs.y) / np.bincount(obs.proposal)
    true_rank = stats.rankdata(-simulated.merit)
    return Recovery(
        covered=float(np.mean((low <= simulated.merit) & (simulated.merit <= high))),
        offset_error=float(np.sqrt(np.mean((offset.mean(axis=0) - simulated.offset) ** 2))),
        offset_covered=float(np.mean((o_low <= simulated.offset) & (simulated.offset <= o_high))),
        bayes_rho=float(stats.spearmanr(expected_rank, true_rank).statistic),
        mean_rho=float(stats.spearmanr(stats.rankdata(-plain), true_rank).statistic),
    )


def validate(calls: int, seed: int, chains: int = 4, draws: int = 1000, warmup: int = 300) -> list[Recovery]:
    """Fit ``calls`` simulated calls, each from its own seed, and compare each with its truth."""
    found = []
    for k in range(calls):
        simulated = simulated_call(np.random.default_rng([seed, k]))
        found.append(recovery(simulated, sample(simulated.obs, chains, draws, warmup, seed + k)))
    return found
