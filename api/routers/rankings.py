"""The ranking of a call, computed from the scores that count at one instant, or frozen at the rank transition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request

from api import decisions
from api.auth import Caller, Db
from api.db.session import Store
from api.db.snapshot import consensus_text, scored_proposals
from api.disclosure import bayesian_for, ranking_for
from api.routers.common import guarded_router
from evaluator.bayesian import BayesianResult, RankingWithUncertainty, with_funding_lines
from evaluator.ranking import Ranking, rank
from rules.errors import GrantsError, Problem
from rules.model import Call
from rules.proposal import Proposal

router = guarded_router(prefix="/calls/{call_id}", tags=["rankings"])
Calibrate = Annotated[
    bool | None, Query(description="rank on calibrated scores; omitted: as the call's scoring settings say")
]
Bayes = Annotated[
    bool | None,
    Query(description="add the Bayesian ranking and the grey zone; omitted: when the call sets ranking.bayesian"),
]
Rankograms = Annotated[
    list[str] | None, Query(max_length=100, description="fundable proposals whose whole rank distribution to add")
]


@dataclass(frozen=True)
class RankedSnapshot:
    """The current call, its scored proposals at one instant, and their ranking."""

    call: Call
    call_version: int
    proposals: list[Proposal]
    ranking: Ranking
    consensus_text: dict[str, dict[str, str]]


def ranked_snapshot(store: Store, call_id: str, calibrate: bool | None = None) -> RankedSnapshot:
    """Read everything in one snapshot, then rank outside any transaction."""
    with store.snapshot() as session:
        call, version, proposals = scored_proposals(session, call_id)
        text = consensus_text(session, call_id)
    return RankedSnapshot(call, version, proposals, rank(call, proposals, calibrate=calibrate), text)


@router.get("/ranking", response_model=RankingWithUncertainty)
def get_ranking(
    call_id: str,
    request: Request,
    session: Db,
    principal: Caller,
    calibrate: Calibrate = None,
    bayes: Bayes = None,
    rankogram: Rankograms = None,
) -> RankingWithUncertainty:
    """Thresholds, weighted totals, ranked lists and the ex aequo decisions, with reasons; and, with
    ``bayes``, each fundable proposal's expected rank with credible intervals and the grey zone.

    Until the call is ranked this is the live ranking of the submitted sheets; from
    the rank transition on, the ranking frozen then.
    """
    frozen = decisions.frozen_ranking(session, call_id)
    if frozen is not None:
        decisions.no_calibration_override(calibrate)
    ranked = frozen or ranked_snapshot(request.app.state.store, call_id, calibrate)
    result = RankingWithUncertainty(**dict(ranking_for(principal, ranked.ranking)))
    if ranked.call.ranking.bayesian is not None if bayes is None else bayes:
        bayesian = bayesian_ranking_of(ranked.call, ranked.proposals, ranked.ranking, rankogram or [])
        result.bayesian = bayesian_for(principal, bayesian)
    return result


def bayesian_ranking_of(
    call: Call, proposals: list[Proposal], ranking: Ranking, rankograms: list[str]
) -> BayesianResult:
    """The Bayesian ranking against the call's own funding lines; a rankogram must name a fundable proposal."""
    fundable = {e.id for e in ranking.fundable()}
    unknown = [pid for pid in rankograms if pid not in fundable]
    if unknown:
        raise GrantsError([Problem(f"{pid}: not a fundable proposal of this call", "rankogram") for pid in unknown])
    return with_funding_lines(call, proposals, ranking, rankograms)
