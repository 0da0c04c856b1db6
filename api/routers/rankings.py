"""The ranking of a call, computed from the scores that count at one instant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from api.db.session import Store
from api.db.snapshot import scored_proposals
from api.routers.common import guarded_router
from evaluator.ranking import Ranking, rank

router = guarded_router(prefix="/calls/{call_id}", tags=["rankings"])
Calibrate = Annotated[
    bool | None, Query(description="rank on calibrated scores; omitted: as the call's scoring settings say")
]


def current_ranking(store: Store, call_id: str, calibrate: bool | None = None) -> Ranking:
    with store.snapshot() as session:
        call, _, proposals = scored_proposals(session, call_id)
    return rank(call, proposals, calibrate=calibrate)


@router.get("/ranking", response_model=Ranking)
def get_ranking(call_id: str, request: Request, calibrate: Calibrate = None) -> Ranking:
    """Thresholds, weighted totals, ranked lists and the ex aequo decisions, with reasons."""
    return current_ranking(request.app.state.store, call_id, calibrate)
