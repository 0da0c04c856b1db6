"""The decisions on a call: moving it between phases, the frozen ranking, the deciding allocation.

The ``rank`` transition freezes the ranking: it reads the submitted sheets inside
its write transaction (writers take turns, so nothing changes under it), ranks, and
stores the ranking as a run in the same commit as the new phase. A deciding
allocation allocates on that frozen ranking, never on live scores, and moves the
call to ``allocated`` in the commit that stores it. Finance's what-if allocations
and simulations stay free to run at any phase: they decide nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from api.auth import Principal, Role
from api.db import queries
from api.db.models import RunRow
from api.db.runs import add_run, latest_run
from api.db.session import Store
from api.db.snapshot import consensus_text, scored_proposals
from api.phases import BY_NAME, Phase, PhaseOut, TransitionRequest, Write, phase_out, require, transition
from api.problems import Conflict, Forbidden
from evaluator.allocation import Allocation, Scenario, allocate
from evaluator.ranking import Ranking, rank
from rules.errors import GrantsError, Problem
from rules.model import Call
from rules.proposal import Proposal

RANKING = "ranking"


def advance(session: Session, principal: Principal, call_id: str, request: TransitionRequest) -> PhaseOut:
    """Make a named transition; ``rank`` also freezes the ranking, in the same commit."""
    row = queries.call_row(session, call_id, principal)
    step = BY_NAME.get(request.transition)
    if step is not None and step.made_by is not None:
        raise Conflict(f"{step.name} is made by {step.made_by} (POST /calls/{call_id}/allocations, decision: true)")
    step = transition(session, principal, row, request)
    if step.target is Phase.ranked:
        call, version, proposals = scored_proposals(session, call_id)
        ranking = rank(call, proposals)
        inputs = {
            "proposals": [p.model_dump(mode="json") for p in proposals],
            "consensus_text": consensus_text(session, call_id),
            "scenario": None,
        }
        add_run(session, principal, call_id, RANKING, version, inputs, ranking.model_dump(mode="json"))
    session.commit()
    return phase_out(row)


class FrozenRanking:
    """The ranking the ``rank`` transition stored, with the call version and proposals it read."""

    def __init__(self, session: Session, run: RunRow):
        self.run_id = run.id
        self.call_version = run.call_version
        self.call = Call.model_validate(queries.call_version(session, run.call_id, run.call_version).parsed)
        self.proposals = [Proposal.model_validate(p) for p in run.inputs["proposals"]]
        self.consensus_text: dict[str, dict[str, str]] = run.inputs.get("consensus_text", {})
        self.ranking = Ranking.model_validate(run.result)


def frozen_ranking(session: Session, call_id: str) -> FrozenRanking | None:
    """The decided ranking, once the call is ranked; None before."""
    run = latest_run(session, call_id, RANKING)
    return FrozenRanking(session, run) if run is not None else None


def decide_allocation(
    store: Store,
    principal: Principal,
    call_id: str,
    scenario: Scenario,
    inputs: Mapping[str, object],
    explain: bool,
) -> tuple[RunRow, FrozenRanking]:
    """The agency's deciding allocation, on the frozen ranking; stored, audited, and the call moves to allocated."""
    if principal.role is not Role.agency:
        raise Forbidden("only the agency runs the allocation that decides; finance runs what-ifs (decision: false)")
    with store.session(write=False) as session:
        row = queries.call_row(session, call_id, principal)
        require(row, Write.deciding_allocation, "the deciding allocation runs")
        frozen = frozen_ranking(session, call_id)
    if frozen is None:
        raise Conflict(f"call {call_id!r} has no frozen ranking; the rank transition makes it")
    allocation: Allocation = allocate(frozen.call, frozen.ranking, scenario, explain=explain)
    stored = {
        **inputs,
        "decision": True,
        "ranking_run": frozen.run_id,
        "ranking": frozen.ranking.model_dump(mode="json"),
        "proposals": [p.model_dump(mode="json") for p in frozen.proposals],
        "consensus_text": frozen.consensus_text,
    }
    with store.session(write=True) as session:
        row = queries.call_row(session, call_id, principal)
        require(row, Write.deciding_allocation, "the deciding allocation is stored")
        run = add_run(
            session, principal, call_id, "allocation", frozen.call_version, stored, allocation.model_dump(mode="json")
        )
        transition(session, principal, row, TransitionRequest(transition="allocate", reason=f"allocation run {run.id}"))
        session.commit()
    return run, frozen


def no_calibration_override(calibrate: bool | None) -> None:
    if calibrate is not None:
        message = "the deciding allocation uses the ranking frozen at the rank transition; omit calibrate"
        raise GrantsError([Problem(message, "calibrate")])
