"""The ranking of a call, computed from the scores that count at one instant, or frozen at the rank transition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request

from api import decisions
from api.auth import Caller, Db
from api.db.session import Store
from api.db.snapshot import consensus_text, scored_proposals
from api.disclosure import ranking_for
from api.routers.common import guarded_router
from evaluator.ranking import Ranking, rank
from rules.model import Call
from rules.proposal import Proposal

router = guarded_router(prefix="/calls/{call_id}", tags=["rankings"])
Calibrate = Annotated[
    bool | None, Query(description="rank on calibrated scores; omitted: as the call's scoring settings say")
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


@router.get("/ranking", response_model=Ranking)
def get_ranking(call_id: str, request: Request, session: Db, principal: Caller, calibrate: Calibrate = None) -> Ranking:
    """Thresholds, weighted totals, ranked lists and the ex aequo decisions, with reasons.

    Until the call is ranked this is the live ranking of the submitted sheets; from
    the rank transition on, the ranking frozen then.
    """
    frozen = decisions.frozen_ranking(session, call_id)
    if frozen is None:
        return ranking_for(principal, ranked_snapshot(request.app.state.store, call_id, calibrate).ranking)
    decisions.no_calibration_override(calibrate)
    return ranking_for(principal, frozen.ranking)
