"""Evaluators' pages: my assignments, a proposal's scoring sheet (draft, then submit), and declaring a conflict.

The sheet is written by the same use case as ``PUT .../scores`` (the call's phase,
validation against its criteria, the ETag/If-Match compare-and-set, the audit entry),
so a stale form is refused exactly as a stale API client is; the page then shows both
versions instead of overwriting either. A draft is kept but not counted; only a
submitted sheet reaches the ranking. A proposal not assigned to the evaluator is a
403 page, the same page whether or not the proposal exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from fastapi import Request, Response
from sqlalchemy import select

from api import evaluation
from api.auth import Db, Principal
from api.db import queries
from api.db.models import CallRow, CallVersion, ProposalRow, ScoreSheet
from api.evaluation import SheetIn, SheetOut, SheetState
from api.phases import phase_of
from api.problems import Conflict, Forbidden, NotFound, PreconditionFailed
from api.routers import conflicts
from api.web.pages import Posted, Seen, form_model, money_in, page_router, render, see_other
from rules.errors import Problem, ScoreError
from rules.model import Call

router = page_router(prefix="/evaluate")
CONFLICT_KINDS = get_args(conflicts.Declaration.model_fields["kind"].annotation)
NOTICES = {
    "draft": "Your draft is saved. It does not count until you submit it.",
    "submitted": "Your scores are submitted: they count in the ranking.",
    "conflict": "Your conflict of interest is recorded; the proposal is withdrawn.",
}


@dataclass(frozen=True)
class AssignmentLine:
    call_id: str
    call_title: str
    deadline: str
    proposal_id: str
    acronym: str
    state: str


def my_assignments(session: Db, principal: Principal) -> list[AssignmentLine]:
    """The evaluator's assigned proposals across calls (none under a declared conflict), with each sheet's state."""
    evaluator_id = principal.evaluator_id or ""
    rows = session.execute(
        select(
            ProposalRow.call_id,
            CallRow.title,
            CallVersion.parsed,
            ProposalRow.code,
            ProposalRow.acronym,
            ScoreSheet.state,
        )
        .join(CallRow, CallRow.id == ProposalRow.call_id)
        .join(CallVersion, (CallVersion.call_id == CallRow.id) & (CallVersion.version == CallRow.current_version))
        .outerjoin(ScoreSheet, (ScoreSheet.proposal_id == ProposalRow.id) & (ScoreSheet.evaluator_id == evaluator_id))
        .where(ProposalRow.id.in_(queries.assigned(evaluator_id)))
        .order_by(ProposalRow.call_id, ProposalRow.code)
    )
    return [
        AssignmentLine(
            call_id,
            title,
            str((parsed.get("dates") or {}).get("deadline") or ""),
            code,
            acronym,
            "not started" if state is None else state,
        )
        for call_id, title, parsed, code, acronym, state in rows
    ]


@router.get("")
def assignments_page(request: Request, session: Db, who: Seen, done: str = "") -> Response:
    lines = my_assignments(session, who.principal)
    return render(
        request, "evaluation/assignments.html", who, lines=lines, notice=NOTICES.get(done), kinds=CONFLICT_KINDS
    )


@dataclass
class SheetForm:
    """What the evaluator typed, kept as typed so an error never loses it."""

    scores: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    not_applicable: set[str] = field(default_factory=set)
    version: str = ""
    wanted: SheetState = SheetState.submitted
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, sheet: SheetOut | None) -> SheetForm:
        if sheet is None:
            return cls()
        return cls(
            scores={c: "" if v is None else _plain(v) for c, v in sheet.scores.items()},
            comments=dict(sheet.comments),
            not_applicable={c for c, v in sheet.scores.items() if v is None},
            version=str(sheet.version),
        )

    @classmethod
    def posted(cls, form: Any, call: Call) -> SheetForm:
        ids = [c.id for c in call.criteria]
        return cls(
            scores={c: str(form.get(f"score.{c}", "")).strip() for c in ids},
            comments={c: str(form.get(f"comment.{c}", "")) for c in ids},
            not_applicable={c for c in ids if form.get(f"na.{c}")},
            version=str(form.get("version", "")).strip(),
            wanted=SheetState.draft if form.get("action") == "draft" else SheetState.submitted,
        )

    def sheet(self) -> SheetIn:
        """The sheet to write; a value that is not a number is an error on its field, before the use case."""
        values: dict[str, Decimal | None] = {}
        for criterion, text in self.scores.items():
            if criterion in self.not_applicable:
                values[criterion] = None
            elif text:
                try:
                    values[criterion] = Decimal(text.replace(",", "."))
                except InvalidOperation:
                    self.errors.setdefault(criterion, []).append(f"{text!r} is not a number")
        if self.errors:
            raise ScoreError("some scores are not numbers")
        comments = {c: t for c, t in self.comments.items() if t.strip()}
        return SheetIn(scores=values, comments=comments, state=self.wanted)

    def place(self, problems: list[Problem], criteria: list[str]) -> None:
        """Each problem beside the criterion it is about; the rest above the form."""
        for problem in problems:
            named = problem.path.removeprefix("scores.").removeprefix("comments.")
            about = (
                named
                if named in criteria
                else next((c for c in criteria if re.search(rf"\b{re.escape(c)}\b", problem.message)), None)
            )
            if about is None:
                self.general.append(problem.message)
            else:
                self.errors.setdefault(about, []).append(problem.message.split(f"criterion {about}: ", 1)[-1])


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _assigned(session: Db, call_id: str, proposal_id: str, principal: Principal) -> ProposalRow:
    try:
        return queries.proposal_row(session, call_id, proposal_id, principal)
    except NotFound:
        raise Forbidden("this proposal is not assigned to you") from None


def _sheet_page(
    request: Request, session: Db, who: Seen, proposal: ProposalRow, form: SheetForm, status: int = 200, **extra: Any
) -> Response:
    call, _ = queries.current_call(session, proposal.call_id)
    phase = phase_of(queries.call_row(session, proposal.call_id, who.principal))
    mine = evaluation.read_scores(session, who.principal, proposal.call_id, proposal.code)
    return render(
        request,
        "evaluation/sheet.html",
        who,
        status,
        call=call,
        phase=phase,
        stored=mine[0] if mine else None,
        proposal=queries.proposal_model(proposal),
        form=form,
        money=money_in(call.currency),
        kinds=CONFLICT_KINDS,
        **extra,
    )


@router.get("/{call_id}/{proposal_id}")
def sheet_page(request: Request, call_id: str, proposal_id: str, session: Db, who: Seen, done: str = "") -> Response:
    proposal = _assigned(session, call_id, proposal_id, who.principal)
    mine = evaluation.read_scores(session, who.principal, call_id, proposal_id)
    return _sheet_page(
        request, session, who, proposal, SheetForm.of(mine[0] if mine else None), notice=NOTICES.get(done)
    )


@router.post("/{call_id}/{proposal_id}")
async def save_sheet(request: Request, call_id: str, proposal_id: str, session: Db, who: Posted) -> Response:
    """Save a draft or submit through the scores use case; on an error or a newer version, the form comes back."""
    proposal = _assigned(session, call_id, proposal_id, who.principal)
    call, _ = queries.current_call(session, call_id)
    form = SheetForm.posted(await request.form(), call)
    if_match = f'"{form.version}"' if form.version else None
    try:
        saved = evaluation.save_scores(session, who.principal, call_id, proposal_id, form.sheet(), if_match)
    except ScoreError as exc:
        session.rollback()
        form.place([] if form.errors else exc.problems, [c.id for c in call.criteria])
        return _sheet_page(request, session, who, proposal, form, 422)
    except PreconditionFailed as exc:
        session.rollback()
        theirs: SheetOut | None = exc.current
        form.version = str(theirs.version) if theirs else ""
        return _sheet_page(request, session, who, proposal, form, 409, theirs=theirs)
    except Conflict as exc:
        session.rollback()
        form.general += [p.message for p in exc.problems]
        return _sheet_page(request, session, who, proposal, form, 409)
    return see_other(f"/evaluate/{call_id}/{proposal_id}?done={saved.sheet.state.value}")


@router.post("/{call_id}/{proposal_id}/conflict")
async def declare_conflict(request: Request, call_id: str, proposal_id: str, session: Db, who: Posted) -> Response:
    """Declare a conflict of interest of a given kind; the assignment is withdrawn by the same use case."""
    form = await request.form()
    fields = {"proposal_id": proposal_id, "kind": form.get("kind", ""), "detail": form.get("detail", "")}
    declaration = form_model(conflicts.Declaration, fields)
    try:
        conflicts.declare_conflict(call_id, declaration, session, who.principal, Response())
    except NotFound:
        raise Forbidden("this proposal is not assigned to you") from None
    return see_other("/evaluate?done=conflict")
