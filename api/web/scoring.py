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
from typing import Any, NamedTuple, get_args
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy import select

from api import evaluation
from api.auth import Db, Principal
from api.db import queries
from api.db.models import CallRow, ProposalRow, ScoreSheet
from api.evaluation import SheetIn, SheetOut, SheetState
from api.phases import phase_of
from api.problems import Conflict, Forbidden, NotFound, PreconditionFailed
from api.routers import conflicts
from api.web.pages import Posted, Seen, form_model, money_in, page_router, render, see_other
from rules.errors import Problem, ScoreError

router = page_router(prefix="/evaluate")
CONFLICT_KINDS = get_args(conflicts.Declaration.model_fields["kind"].annotation)
NOTICES = {
    "draft": "Your draft is saved. It does not count until you submit it.",
    "submitted": "Your scores are submitted: they count in the ranking.",
    "conflict": "Your conflict of interest is recorded; the proposal is withdrawn.",
}


class AssignmentLine(NamedTuple):
    """One row of the evaluator's list; a tuple, since a thousand of them are made per page view."""

    link: str
    call_id: str
    call_title: str
    deadline: str
    proposal_id: str
    acronym: str
    state: str


def my_assignments(session: Db, principal: Principal) -> list[AssignmentLine]:
    """The evaluator's assigned proposals in the calls their token reaches (none under a conflict), and sheet states."""
    evaluator_id = principal.evaluator_id or ""
    rows = session.execute(
        select(ProposalRow.call_id, CallRow.agency_id, ProposalRow.code, ProposalRow.acronym, ScoreSheet.state)
        .join(CallRow, CallRow.id == ProposalRow.call_id)
        .outerjoin(ScoreSheet, (ScoreSheet.proposal_id == ProposalRow.id) & (ScoreSheet.evaluator_id == evaluator_id))
        .where(ProposalRow.id.in_(queries.assigned(evaluator_id)))
        .order_by(ProposalRow.call_id, ProposalRow.code)
    ).all()
    calls = {call_id: _call_line(session, call_id) for call_id in {row[0] for row in rows}}
    return [
        AssignmentLine(
            f"/evaluate/{quote(call_id, safe='')}/{quote(code, safe='')}",
            call_id,
            *calls[call_id],
            code,
            acronym,
            state or "not started",
        )
        for call_id, agency_id, code, acronym, state in rows
        if principal.reaches(call_id, agency_id)
    ]


def _call_line(session: Db, call_id: str) -> tuple[str, str]:
    """A call's title and deadline, read once per call rather than once per assignment."""
    call, _ = queries.current_call(session, call_id)
    deadline = call.dates.deadline if call.dates else None
    return call.title, "" if deadline is None else str(deadline)


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
    def posted(cls, form: Any) -> SheetForm:
        """The form as sent: its criteria are the score fields the page rendered, one per criterion of the call."""
        ids = [key.removeprefix("score.") for key in form if key.startswith("score.")]
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
    form = SheetForm.posted(await request.form())
    if_match = f'"{form.version}"' if form.version else None
    try:
        saved = evaluation.save_scores(session, who.principal, call_id, proposal_id, form.sheet(), if_match)
    except NotFound:
        raise Forbidden("this proposal is not assigned to you") from None
    except ScoreError as exc:
        session.rollback()
        form.place([] if form.errors else exc.problems, list(form.scores))
        return _sheet_page(request, session, who, _assigned(session, call_id, proposal_id, who.principal), form, 422)
    except PreconditionFailed as exc:
        session.rollback()
        theirs: SheetOut | None = exc.current
        form.version = str(theirs.version) if theirs else ""
        proposal = _assigned(session, call_id, proposal_id, who.principal)
        return _sheet_page(request, session, who, proposal, form, 409, theirs=theirs)
    except Conflict as exc:
        session.rollback()
        form.general += [p.message for p in exc.problems]
        return _sheet_page(request, session, who, _assigned(session, call_id, proposal_id, who.principal), form, 409)
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
