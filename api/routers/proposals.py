"""Proposals: upload a list (JSON or YAML), read them, check their eligibility.

An upload is one transaction: it is accepted whole or refused whole. A proposal that
already has scores cannot be changed by a later upload (its evaluators scored what
they read); one without scores can be corrected. Scores arrive with proposals only
when the agency asks (``?import_evaluations=true``, see ``api.evaluation_import``);
otherwise evaluators submit them (``PUT .../scores``), and evaluations and consensus
in an uploaded file are reported as not imported rather than silently dropped.
A CSV or XLSX body is read by ``rules.spreadsheet``, its problems named by cell.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import audit, phases
from api.auth import Caller, Db
from api.conflict_recheck import Suspension, recheck
from api.db import limits, queries
from api.db.models import ProposalRow, ScoreSheet
from api.evaluation_import import import_evaluations as import_evaluations_of
from api.phases import Write
from api.problems import Conflict
from api.request_bounds import refuse_oversized_upload
from api.routers.common import Body, Page, Paging, guarded_router, page_of, raw_body, text_body
from evaluator.inputs import places_and_scores
from rules.check import EligibilityReport, check
from rules.errors import Problem, ProposalError
from rules.load import locate_problems, proposals_from_text
from rules.model import Call
from rules.money import Money
from rules.proposal import Proposal
from rules.spreadsheet import Source, locate_later, read_proposals

router = guarded_router(prefix="/calls/{call_id}", tags=["proposals"])
SOURCE = "<request body>"
SPREADSHEET_MEDIA = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
FILENAME = re.compile(r'filename="?([^";]+)"?')


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
    not_imported: list[str] = Field(description="evaluations or consensus in the file, left out: not asked to import")
    imported: list[str] = Field(default_factory=list, description="evaluations and consensus imported from the file")
    suspended: list[Suspension] = Field(
        default_factory=list, description="assignments the changed proposals now conflict with (or no longer do)"
    )


@dataclass(frozen=True)
class Upload:
    """A request body: YAML or JSON text, or a spreadsheet's bytes with its file name."""

    text: Body | None = None
    sheet: Source | None = None
    parsed: list[Proposal] | None = None


async def upload_body(request: Request) -> Upload:
    """A spreadsheet by its Content-Type (file name from Content-Disposition), else YAML or JSON text."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = SPREADSHEET_MEDIA.get(media)
    if suffix is None:
        text = await raw_body(request)
        # Counted and parsed before the request takes its turn as a writer, so no write waits behind it.
        refuse_oversized_upload(text.text)
        return Upload(text=text, parsed=await run_in_threadpool(proposals_from_text, text.text, SOURCE, text.fmt))
    named = FILENAME.search(request.headers.get("content-disposition", ""))
    name = Path(named.group(1)).name if named else ""
    return Upload(sheet=Source(await request.body(), name if name.lower().endswith(suffix) else f"upload{suffix}"))


UploadBody = Annotated[Upload, Depends(upload_body)]
ImportEvaluations = Annotated[
    bool,
    Query(description="also store the file's evaluations and consensus, as sheets imported by you for the evaluators"),
]


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
    return (
        f"{proposal.id}: {' and '.join(parts)} not imported; upload with ?import_evaluations=true "
        "to import them, or evaluators submit with PUT .../scores"
    )


def _scored(session: Session, row: ProposalRow) -> bool:
    return bool(session.execute(select(exists().where(ScoreSheet.proposal_id == row.id))).scalar())


@router.post(
    "/proposals",
    response_model=UploadResult,
    openapi_extra=text_body("application/json", "application/yaml", *SPREADSHEET_MEDIA),
)
def upload_proposals(
    call_id: str, body: UploadBody, session: Db, principal: Caller, import_evaluations: ImportEvaluations = False
) -> UploadResult:
    """Add or correct proposals (JSON, YAML, CSV or XLSX); refused whole if one changes a proposal that has scores.

    With ``import_evaluations=true`` the file's evaluations and consensus are stored too, as
    sheets imported by the caller and attributed to the evaluators they name.
    """
    phases.require(queries.call_row(session, call_id, principal), Write.proposals, "proposals are uploaded")
    call, call_version = queries.current_call(session, call_id)
    proposals = _read(body, call, import_evaluations)
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
    if import_evaluations:
        session.flush()
        result.imported = import_evaluations_of(session, principal, call, call_version, existing, proposals)
    else:
        result.not_imported = [note for p in proposals if (note := _not_imported(p))]
    if result.updated:
        result.suspended = recheck(session, call_id, principal.name)
    session.commit()
    return result


def _read(body: Upload, call: Call, scores: bool) -> list[Proposal]:
    """The upload's proposals, every problem located (line or cell): places resolved, values storable
    and, when they are to be imported, scores on the call's scale."""
    if body.sheet is not None:
        sheet = body.sheet
        proposals = read_proposals(sheet, call=call, also=functools.partial(places_and_scores, call, scores=scores))
        unstorable = limits.proposal_problems(proposals, None)
        if unstorable:
            raise ProposalError(locate_later(unstorable, sheet, call=call))
        return proposals
    assert body.text is not None
    text, fmt = body.text.text, body.text.fmt
    proposals = body.parsed if body.parsed is not None else proposals_from_text(text, SOURCE, fmt)
    unstorable = limits.proposal_problems(proposals, text)
    if unstorable:
        raise ProposalError(locate_problems([Problem(p.message, p.path, SOURCE) for p in unstorable], text))
    try:
        places_and_scores(call, proposals, scores)
    except ProposalError as exc:
        problems = [dataclasses.replace(p, file=SOURCE) for p in exc.problems]
        raise ProposalError(locate_problems(problems, text) if fmt == "yaml" else problems) from None
    return proposals


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
