"""The ranking of a call, computed from the scores that count at one instant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request

from api.db.session import Store
from api.db.snapshot import scored_proposals
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


def ranked_snapshot(store: Store, call_id: str, calibrate: bool | None = None) -> RankedSnapshot:
    """Read everything in one snapshot, then rank outside any transaction."""
    with store.snapshot() as session:
        call, version, proposals = scored_proposals(session, call_id)
    return RankedSnapshot(call, version, proposals, rank(call, proposals, calibrate=calibrate))


@router.get("/ranking", response_model=RankingWithUncertainty)
def get_ranking(
    call_id: str, request: Request, calibrate: Calibrate = None, bayes: Bayes = None, rankogram: Rankograms = None
) -> RankingWithUncertainty:
    """Thresholds, weighted totals, ranked lists and the ex aequo decisions, with reasons; and, with
    ``bayes``, each fundable proposal's expected rank with credible intervals and the grey zone."""
    snapshot = ranked_snapshot(request.app.state.store, call_id, calibrate)
    ranking = RankingWithUncertainty(**dict(snapshot.ranking))
    if snapshot.call.ranking.bayesian is not None if bayes is None else bayes:
        ranking.bayesian = bayesian_ranking_of(snapshot, rankogram or [])
    return ranking


def bayesian_ranking_of(snapshot: RankedSnapshot, rankograms: list[str]) -> BayesianResult:
    """The Bayesian ranking against the call's own funding lines; a rankogram must name a fundable proposal."""
    fundable = {e.id for e in snapshot.ranking.fundable()}
    unknown = [pid for pid in rankograms if pid not in fundable]
    if unknown:
        raise GrantsError([Problem(f"{pid}: not a fundable proposal of this call", "rankogram") for pid in unknown])
    return with_funding_lines(snapshot.call, snapshot.proposals, snapshot.ranking, rankograms)
