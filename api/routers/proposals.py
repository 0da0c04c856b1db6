"""Proposals: upload a list (JSON or YAML), read them, check their eligibility.

An upload is one transaction: it is accepted whole or refused whole. A proposal that
already has scores cannot be changed by a later upload (its evaluators scored what
they read); one without scores can be corrected. Scores never arrive with proposals:
evaluators submit them (``PUT .../scores``), so evaluations and consensus in an
uploaded file are reported as not imported rather than silently dropped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api import audit, phases
from api.auth import Caller, Db
from api.db import limits, queries
from api.db.models import ProposalRow, ScoreSheet
from api.phases import Write
from api.problems import Conflict
from api.routers.common import Page, Paging, RawBody, guarded_router, page_of, text_body
from rules.check import EligibilityReport, check
from rules.errors import Problem, ProposalError
from rules.load import locate_problems, proposals_from_text
from rules.money import Money
from rules.proposal import Proposal

router = guarded_router(prefix="/calls/{call_id}", tags=["proposals"])
SOURCE = "<request body>"


class ProposalOut(BaseModel):
    id: str
    acronym: str
    topic: str | None
    requested_amount: Money
    proposal: dict[str, Any]


class UploadResult(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    not_imported: list[str] = Field(description="evaluations or consensus in the file, which only scores carry")


def _out(row: ProposalRow) -> ProposalOut:
    return ProposalOut(
        id=row.code, acronym=row.acronym, topic=row.topic, requested_amount=row.requested_amount, proposal=row.data
    )


def _stored_form(proposal: Proposal) -> dict[str, Any]:
    return proposal.model_dump(mode="json", exclude={"evaluations", "consensus"})


def _not_imported(proposal: Proposal) -> str | None:
    parts = [f"{len(proposal.evaluations)} evaluations"] if proposal.evaluations else []
    if proposal.consensus:
        parts.append("a consensus")
    if not parts:
        return None
    return f"{proposal.id}: {' and '.join(parts)} not imported; scores are submitted with PUT .../scores"


def _scored(session: Session, row: ProposalRow) -> bool:
    return bool(session.execute(select(exists().where(ScoreSheet.proposal_id == row.id))).scalar())


def _located_check(body_text: str, fmt: str, proposals: list[Proposal], call_id: str, session: Session) -> None:
    """Resolve every partner's place now, so eligibility can always run later."""
    call, _ = queries.current_call(session, call_id)
    try:
        check(call, proposals, SOURCE)
    except ProposalError as exc:
        raise ProposalError(locate_problems(exc.problems, body_text) if fmt == "yaml" else exc.problems) from None


@router.post("/proposals", response_model=UploadResult, openapi_extra=text_body("application/json", "application/yaml"))
def upload_proposals(call_id: str, body: RawBody, session: Db, principal: Caller) -> UploadResult:
    """Add or correct proposals; refused whole if one changes a proposal that has scores."""
    phases.require(queries.call_row(session, call_id, principal), Write.proposals, "proposals are uploaded")
    proposals = proposals_from_text(body.text, SOURCE, body.fmt)
    unstorable = limits.proposal_problems(proposals, body.text)
    if unstorable:
        raise ProposalError(locate_problems([Problem(p.message, p.path, SOURCE) for p in unstorable], body.text))
    _located_check(body.text, body.fmt, proposals, call_id, session)
    existing = {r.code: r for r in session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id)).scalars()}
    result = UploadResult(created=[], updated=[], unchanged=[], not_imported=[])
    for proposal in proposals:
        data = _stored_form(proposal)
        row = existing.get(proposal.id)
        if row is None:
            row = ProposalRow(call_id=call_id, code=proposal.id, data=data)
            session.add(row)
            existing[proposal.id] = row
            result.created.append(proposal.id)
        elif row.data == data:
            result.unchanged.append(proposal.id)
            continue
        elif _scored(session, row):
            raise Conflict(f"proposal {proposal.id!r} already has scores; a scored proposal cannot be changed")
        else:
            result.updated.append(proposal.id)
        before = row.data if proposal.id in result.updated else None
        row.data, row.acronym, row.topic = data, proposal.acronym, proposal.topic
        row.requested_amount = Decimal(proposal.requested_amount)
        audit.record(session, principal.name, "proposal.upload", f"call/{call_id}/proposal/{proposal.id}", before, data)
        if note := _not_imported(proposal):
            result.not_imported.append(note)
    session.commit()
    return result


@router.get("/proposals", response_model=Page[ProposalOut])
def list_proposals(call_id: str, session: Db, principal: Caller, paging: Paging) -> Page[ProposalOut]:
    """All proposals of the call; an evaluator sees only the ones assigned to them."""
    queries.call_row(session, call_id)
    rows, total = page_of(session, queries.visible_proposals(principal, call_id).order_by(ProposalRow.code), paging)
    return Page(items=[_out(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
def get_proposal(call_id: str, proposal_id: str, session: Db, principal: Caller) -> ProposalOut:
    return _out(queries.proposal_row(session, call_id, proposal_id, principal))


@router.get("/eligibility", response_model=EligibilityReport)
def eligibility(call_id: str, session: Db) -> EligibilityReport:
    """Every eligibility rule of the current call version on every proposal, with reasons."""
    call, _ = queries.current_call(session, call_id)
    rows = session.execute(select(ProposalRow).where(ProposalRow.call_id == call_id).order_by(ProposalRow.code))
    return check(call, [queries.proposal_model(r) for r in rows.scalars()], f"call/{call_id}")
