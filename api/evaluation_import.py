"""Importing the evaluations and consensus a proposals file carries, as the agency's explicit choice.

Evaluators normally submit their own sheets (``PUT .../scores``). When a panel scored
outside the system, the agency may import the file's sheets instead: each is stored
as the named evaluator's sheet, marked ``imported_by`` the agency, with the evaluator
assigned (method ``imported``) so the ranking counts it, and one audit entry per
sheet saying who imported what for whom. Then the API ranks and allocates exactly as
``grants rank`` and ``grants allocate`` do on the same file.

Nothing is overwritten: a sheet already there with other scores is a conflict, an
identical one is left as it is (uploading the same file twice changes nothing).
Evaluators must be registered first, and a declared conflict of interest refuses the
import of that evaluator's sheet, as it would refuse the assignment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.auth import Principal
from api.db.models import (
    AssignmentRow,
    ConflictRow,
    ConsensusScore,
    ConsensusSheet,
    EvaluatorRow,
    ProposalRow,
    Score,
    ScoreSheet,
    utcnow,
)
from api.evaluation import SheetState
from api.problems import Conflict
from evaluator.scoring import validate_scores
from rules.errors import Problem, ScoreError
from rules.model import Call
from rules.money import CENT
from rules.proposal import Evaluation, Proposal

IMPORTED = "imported"


def _unregistered(session: Session, proposals: Sequence[Proposal]) -> list[Problem]:
    named = sorted({e.evaluator for p in proposals for e in p.evaluations})
    known = set(session.execute(select(EvaluatorRow.id).where(EvaluatorRow.id.in_(named))).scalars())
    return [
        Problem(f"evaluator {name!r} is not registered; register the file's evaluators (POST /evaluators) first")
        for name in named
        if name not in known
    ]


def _conflicted(session: Session, rows: Mapping[str, ProposalRow], proposals: Sequence[Proposal]) -> list[Problem]:
    ids = [rows[p.id].id for p in proposals]
    declared = set(
        session.execute(
            select(ConflictRow.proposal_id, ConflictRow.evaluator_id).where(ConflictRow.proposal_id.in_(ids))
        )
    )
    return [
        Problem(f"proposal {p.id}: evaluator {e.evaluator} has a declared conflict of interest with it")
        for p in proposals
        for e in p.evaluations
        if (rows[p.id].id, e.evaluator) in declared
    ]


def _cents(scores: Mapping[str, Decimal | None]) -> dict[str, Decimal | None]:
    return {c: None if v is None else v.quantize(CENT) for c, v in scores.items()}


def _stored_scores(session: Session, value: type[Any], sheet_id: int) -> dict[str, Any]:
    return {v.criterion: v.value for v in session.execute(select(value).where(value.sheet_id == sheet_id)).scalars()}


def _assigned(session: Session, proposal: ProposalRow, evaluator: str, principal: Principal) -> None:
    found = session.execute(
        select(AssignmentRow).where(AssignmentRow.proposal_id == proposal.id, AssignmentRow.evaluator_id == evaluator)
    ).scalar_one_or_none()
    if found is None:
        session.add(
            AssignmentRow(proposal_id=proposal.id, evaluator_id=evaluator, method=IMPORTED, created_by=principal.name)
        )


def _import_sheet(
    session: Session,
    principal: Principal,
    proposal: ProposalRow,
    evaluation: Evaluation | None,
    scores: Mapping[str, Decimal | None],
    call_version: int,
) -> bool:
    """Store one sheet (``evaluation`` None: the consensus) unless the same is there; True when stored."""
    tables: tuple[type[Any], type[Any]] = (ScoreSheet, Score) if evaluation else (ConsensusSheet, ConsensusScore)
    sheet_type, value_type = tables  # the two pairs have the same shape (see api.routers.scores.Kind)
    where = [sheet_type.proposal_id == proposal.id]
    if evaluation is not None:
        where.append(ScoreSheet.evaluator_id == evaluation.evaluator)
    existing = session.execute(select(sheet_type).where(*where)).scalar_one_or_none()
    wanted = _cents(scores)
    name = f"evaluator/{evaluation.evaluator}" if evaluation else "consensus"
    if existing is not None:
        if _stored_scores(session, value_type, existing.id) == wanted:
            return False
        raise Conflict(
            f"proposal {proposal.code!r} already has a {name} sheet with other scores; imports never replace"
        )
    owner = {"evaluator_id": evaluation.evaluator, "state": SheetState.submitted.value} if evaluation else {}
    stamp = {"updated_by": principal.name, "updated_at": utcnow(), "call_version": call_version}
    row = sheet_type(proposal_id=proposal.id, version=1, imported_by=principal.name, **owner, **stamp)
    session.add(row)
    session.flush()
    comments = evaluation.comments if evaluation else {}
    session.add_all(
        value_type(sheet_id=row.id, criterion=c, value=v, comment=comments.get(c, "")) for c, v in wanted.items()
    )
    after = {"scores": wanted, "comments": comments, "imported_by": principal.name, **owner}  # a submitted sheet
    target = f"call/{proposal.call_id}/proposal/{proposal.code}/{name}"
    audit.record(session, principal.name, "scores.import" if evaluation else "consensus.import", target, None, after)
    return True


def import_evaluations(
    session: Session,
    principal: Principal,
    call: Call,
    call_version: int,
    rows: Mapping[str, ProposalRow],
    proposals: Sequence[Proposal],
) -> list[str]:
    """Store the proposals' evaluations and consensus as imported sheets; one line per proposal imported.

    Checked whole before anything is written: scores on the call's scale, evaluators
    registered, no declared conflict. The caller commits with the upload.
    """
    validate_scores(call, proposals)
    carrying = [p for p in proposals if p.evaluations or p.consensus]
    problems = _unregistered(session, carrying)
    problems += _conflicted(session, rows, carrying) if not problems else []
    if problems:
        raise ScoreError(problems)
    imported = []
    for p in carrying:
        row = rows[p.id]
        stored = 0
        for evaluation in p.evaluations:
            _assigned(session, row, evaluation.evaluator, principal)
            stored += _import_sheet(session, principal, row, evaluation, evaluation.scores, call_version)
        consensus = bool(p.consensus) and _import_sheet(session, principal, row, None, p.consensus or {}, call_version)
        if stored or consensus:
            parts = [f"{stored} evaluations"] * bool(stored) + ["a consensus"] * consensus
            imported.append(f"{p.id}: {' and '.join(parts)} imported")
    return imported
