"""Score sheets and consensus, with optimistic concurrency.

A sheet (one evaluator's scores for one proposal, or the panel's consensus) has a
version, sent as the ETag. Replacing a sheet needs ``If-Match`` with that version;
the write is a compare-and-set on the version column, so of two writers holding the
same version exactly one wins and the other gets 412 with what is there now. Sending
the same sheet again is a no-op answered with the current version (idempotent PUT).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import Field
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from api import audit
from api.auth import Caller, Db, Principal, Scope
from api.db import queries
from api.db.limits import Storable
from api.db.models import ConsensusScore, ConsensusSheet, ProposalRow, Score, ScoreSheet, utcnow
from api.problems import NotFound, PreconditionFailed, PreconditionRequired
from api.routers.common import etag, guarded_router, if_match_version
from evaluator.scoring import validate_scores
from rules.errors import Problem, ScoreError
from rules.money import CENT
from rules.proposal import Evaluation

router = guarded_router(prefix="/calls/{call_id}/proposals/{proposal_id}", tags=["scores"])
IfMatch = Annotated[str | None, Header(description="the sheet's ETag; required to replace an existing sheet")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    412: {"description": "stale If-Match: the body's `current` is the sheet now"},
    428: {},
}


class SheetIn(Storable):
    scores: dict[str, Decimal | None] = Field(description="score per criterion; null: not applicable")
    comments: dict[str, str] = Field(default_factory=dict, description="comment per criterion")


class SheetOut(SheetIn):
    proposal_id: str
    evaluator_id: str | None = Field(description="None for the consensus")
    call_version: int = Field(description="the call version the scores were checked against")
    version: int
    updated_by: str
    updated_at: dt.datetime
    imported_by: str | None = Field(
        default=None, description="the agency that imported these scores from a proposals file; null: submitted here"
    )


class Kind:
    """Where a kind of sheet lives: an evaluator's score sheet, or the proposal's consensus.

    The two pairs of tables have the same shape (a versioned sheet and its values per
    criterion); ``Any`` lets one piece of code serve both.
    """

    def __init__(self, sheet: type[Any], value: type[Any]):
        self.sheet, self.value = sheet, value

    def of(self, proposal: ProposalRow, evaluator_id: str | None) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [self.sheet.proposal_id == proposal.id]
        if evaluator_id is not None and self.sheet is ScoreSheet:
            where.append(ScoreSheet.evaluator_id == evaluator_id)
        return where


SCORES, CONSENSUS = Kind(ScoreSheet, Score), Kind(ConsensusSheet, ConsensusScore)


def _sheets(
    session: Session, kind: Kind, proposal: ProposalRow, evaluator_id: str | None
) -> list[tuple[int, SheetOut]]:
    """The stored sheets with their row ids."""
    query = select(kind.sheet).where(*kind.of(proposal, evaluator_id)).execution_options(populate_existing=True)
    sheets = session.execute(query).scalars().all()
    if not sheets:
        return []
    values = session.execute(select(kind.value).where(kind.value.sheet_id.in_([s.id for s in sheets]))).scalars()
    by_sheet: dict[int, list[Any]] = {}
    for value in values:
        by_sheet.setdefault(value.sheet_id, []).append(value)
    return [(sheet.id, _out(proposal, sheet, by_sheet.get(sheet.id, []))) for sheet in sheets]


def _read(session: Session, kind: Kind, proposal: ProposalRow, evaluator_id: str | None) -> list[SheetOut]:
    return [sheet for _, sheet in _sheets(session, kind, proposal, evaluator_id)]


def _out(proposal: ProposalRow, sheet: ScoreSheet | ConsensusSheet, values: list[Any]) -> SheetOut:
    return SheetOut(
        proposal_id=proposal.code,
        evaluator_id=getattr(sheet, "evaluator_id", None),
        call_version=sheet.call_version,
        version=sheet.version,
        scores={v.criterion: v.value for v in values},
        comments={v.criterion: v.comment for v in values if v.comment},
        updated_by=sheet.updated_by,
        updated_at=sheet.updated_at,
        imported_by=sheet.imported_by,
    )


def _written(
    proposal: ProposalRow, evaluator_id: str | None, sheet: SheetIn, version: int, stamp: dict[str, Any]
) -> SheetOut:
    """The sheet as stored: scores to the cent, empty comments dropped (as a read would give it)."""
    return SheetOut(
        proposal_id=proposal.code,
        evaluator_id=evaluator_id,
        version=version,
        scores={c: None if v is None else v.quantize(CENT) for c, v in sheet.scores.items()},
        comments={c: t for c, t in sheet.comments.items() if t},
        **stamp,
    )


def _validated(session: Session, call_id: str, proposal: ProposalRow, sheet: SheetIn, evaluator_id: str | None) -> int:
    """Check the sheet against the call's current criteria; returns the call version used."""
    call, version = queries.current_call(session, call_id)
    unknown = [
        Problem(f"comment on unknown criterion {c!r}", f"comments.{c}") for c in sheet.comments if c not in sheet.scores
    ]
    unknown += [
        Problem(f"{c}: {v} has more than two decimals; scores are kept to the hundredth", f"scores.{c}")
        for c, v in sheet.scores.items()
        if v is not None and (not v.is_finite() or v != v.quantize(CENT))
    ]
    if evaluator_id is None:
        unknown += [
            Problem(f"consensus for {c} cannot be null", f"scores.{c}") for c, v in sheet.scores.items() if v is None
        ]
        model = queries.proposal_model(proposal).model_copy(update={"consensus": sheet.scores})
    else:
        evaluation = Evaluation(evaluator=evaluator_id, scores=sheet.scores, comments=sheet.comments)
        model = queries.proposal_model(proposal).model_copy(update={"evaluations": [evaluation]})
    if unknown:
        raise ScoreError(unknown)
    try:
        validate_scores(call, [model])
    except ScoreError as exc:
        raise ScoreError([Problem(p.message, "scores" + p.path.split("scores", 1)[-1]) for p in exc.problems]) from None
    return version


def _values(kind: Kind, sheet_id: int, sheet: SheetIn) -> list[Any]:
    return [
        kind.value(sheet_id=sheet_id, criterion=c, value=v, comment=sheet.comments.get(c, ""))
        for c, v in sheet.scores.items()
    ]


def _same(current: SheetOut, sheet: SheetIn) -> bool:
    comments = {c: t for c, t in sheet.comments.items() if t}
    return current.scores == sheet.scores and current.comments == comments


def put_sheet(
    session: Session,
    kind: Kind,
    proposal: ProposalRow,
    evaluator_id: str | None,
    sheet: SheetIn,
    if_match: str | None,
    principal: Principal,
    call_version: int,
    response: Response,
) -> SheetOut:
    """Create or replace a sheet if the caller holds its current version; audited in the same transaction."""
    found = _sheets(session, kind, proposal, evaluator_id)
    sheet_id, current = found[0] if found else (0, None)
    if current is not None and _same(current, sheet):
        response.headers["ETag"] = etag(current.version)
        return current
    expected = if_match_version(if_match, current.version if current else None, current)
    if current is None and expected is not None:
        raise PreconditionFailed(f"there is no sheet at version {expected} yet; send it without If-Match", None)
    if current is not None and expected is None:
        raise PreconditionRequired(f"the sheet is at version {current.version}; send If-Match to replace it", current)
    if current is not None and expected != current.version:
        raise PreconditionFailed(f"the sheet is at version {current.version}, not {expected}", current)
    stamp = {"updated_by": principal.name, "updated_at": utcnow(), "call_version": call_version, "imported_by": None}
    if current is None:
        owner = {"evaluator_id": evaluator_id} if kind.sheet is ScoreSheet else {}
        row = kind.sheet(proposal_id=proposal.id, version=1, **owner, **stamp)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise PreconditionFailed(
                "another request created this sheet first", _read(session, kind, proposal, evaluator_id)[0]
            ) from None
        sheet_id, version = row.id, 1
        response.status_code = 201
    else:
        cas = update(kind.sheet).where(kind.sheet.id == sheet_id, kind.sheet.version == expected)
        replaced: CursorResult[Any] = session.execute(cas.values(version=(expected or 0) + 1, **stamp))  # type: ignore[assignment]
        if replaced.rowcount != 1:
            raise PreconditionFailed(
                "another request replaced the sheet first", _read(session, kind, proposal, evaluator_id)[0]
            )
        session.execute(delete(kind.value).where(kind.value.sheet_id == sheet_id))
        version = current.version + 1
    session.add_all(_values(kind, sheet_id, sheet))
    session.flush()
    after = _written(proposal, evaluator_id, sheet, version, stamp)
    name = f"evaluator/{evaluator_id}" if evaluator_id else "consensus"
    target = f"call/{proposal.call_id}/proposal/{proposal.code}/{name}"
    audit.record(session, principal.name, "scores.put" if evaluator_id else "consensus.put", target, current, after)
    session.commit()
    response.headers["ETag"] = etag(version)
    return after


@router.put("/scores", response_model=SheetOut, responses={201: {"description": "first sheet"}, **CONFLICT})
def put_scores(
    call_id: str,
    proposal_id: str,
    sheet: SheetIn,
    session: Db,
    principal: Caller,
    response: Response,
    if_match: IfMatch = None,
) -> SheetOut:
    """Submit or replace your scores for a proposal assigned to you (If-Match to replace)."""
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    version = _validated(session, call_id, proposal, sheet, principal.evaluator_id)
    return put_sheet(session, SCORES, proposal, principal.evaluator_id, sheet, if_match, principal, version, response)


@router.get("/scores", response_model=list[SheetOut])
def get_scores(call_id: str, proposal_id: str, session: Db, principal: Caller) -> list[SheetOut]:
    """Every evaluator's sheet for the proposal; an evaluator gets their own."""
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    own = principal.evaluator_id if principal.scope is Scope.assigned else None
    return _read(session, SCORES, proposal, own)


@router.put("/consensus", response_model=SheetOut, responses={201: {"description": "first consensus"}, **CONFLICT})
def put_consensus(
    call_id: str,
    proposal_id: str,
    sheet: SheetIn,
    session: Db,
    principal: Caller,
    response: Response,
    if_match: IfMatch = None,
) -> SheetOut:
    """Record the panel's consensus score per criterion; it overrides consolidation in the ranking."""
    proposal = queries.proposal_row(session, call_id, proposal_id)
    version = _validated(session, call_id, proposal, sheet, None)
    return put_sheet(session, CONSENSUS, proposal, None, sheet, if_match, principal, version, response)


@router.get("/consensus", response_model=SheetOut)
def get_consensus(call_id: str, proposal_id: str, session: Db, response: Response) -> SheetOut:
    proposal = queries.proposal_row(session, call_id, proposal_id)
    found = _read(session, CONSENSUS, proposal, None)
    if not found:
        raise NotFound(f"proposal {proposal_id!r} has no consensus yet")
    response.headers["ETag"] = etag(found[0].version)
    return found[0]
