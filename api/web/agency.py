"""Agencies' pages: calls and their versions, proposals, eligibility, evaluators, assignments,
progress, consensus and the audit log.

Each form posts to a page that calls the JSON route's use case with the request's own
session, so an upload is accepted or refused whole, with the same located problems
(``line: field: message``, as the command line prints them) and the same audit entry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import Request, Response
from sqlalchemy import func, select
from starlette.datastructures import FormData, UploadFile

from api import decisions, evaluation, progress
from api.auth import Db
from api.db import queries
from api.db.models import AuditEntry, CallVersion, ProposalRow
from api.phases import TransitionRequest, phase_out
from api.problems import Conflict, ConflictOfInterest, NotFound, PreconditionFailed
from api.routers import assignments, audit, calls, conflicts, evaluators, proposals
from api.routers.common import Body, Pagination
from api.routers.rankings import ranked_snapshot
from api.web.pages import Posted, Seen, form_model, money_in, page_router, render, see_other
from api.web.scoring import SheetForm
from rules.errors import GrantsError, Problem, ScoreError
from rules.spreadsheet import Source

router = page_router(prefix="/agency")
EVERYTHING = Pagination(limit=500)
AUDIT_PAGE = 50
NOTICES = {
    "assigned": "The evaluator is assigned.",
    "withdrawn": "The assignment is withdrawn.",
    "registered": "The evaluator is registered.",
    "consensus": "The consensus is saved; it replaces consolidation in the ranking.",
    "reopened": "The sheet is reopened: its evaluator may change and submit it again.",
}


def _uploaded(form: FormData, name: str = "file") -> tuple[str, str]:
    """The text of an uploaded file, or of the text box beside it, with the name to show in problems."""
    upload = form.get(name)
    if isinstance(upload, UploadFile) and upload.filename:
        data = upload.file.read()
        try:
            return data.decode("utf-8"), upload.filename
        except UnicodeDecodeError as exc:
            raise GrantsError([Problem(f"not UTF-8 text (byte {exc.start})", file=upload.filename)]) from None
    text = str(form.get("text", ""))
    if not text.strip():
        raise GrantsError("choose a file or paste its text")
    return text, "pasted text"


def _proposals_upload(form: FormData) -> tuple[proposals.Upload, str]:
    """A spreadsheet as its bytes (read by cell), else YAML or JSON text, with the name to show in problems."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename and upload.filename.lower().endswith((".csv", ".xlsx")):
        return proposals.Upload(sheet=Source(upload.file.read(), upload.filename)), upload.filename
    text, source = _uploaded(form)
    fmt = "json" if source.lower().endswith(".json") or text.lstrip().startswith(("[", "{")) else "yaml"
    return proposals.Upload(text=Body(text=text, fmt=fmt)), source


def _located(exc: GrantsError, source: str) -> list[str]:
    """Problems as the command line prints them, naming the file the person chose."""
    return [str(dataclasses.replace(p, file=source) if p.file == calls.SOURCE else p) for p in exc.problems]


def _calls_page(request: Request, session: Db, who: Seen, status: int = 200, **extra: Any) -> Response:
    listed = calls.list_calls(session, who.principal, EVERYTHING)
    return render(request, "agency/calls.html", who, status, calls=listed.items, **extra)


@router.get("")
def calls_page(request: Request, session: Db, who: Seen) -> Response:
    return _calls_page(request, session, who)


@router.post("/calls")
async def upload_call(request: Request, session: Db, who: Posted) -> Response:
    """A new call, or a new version of one; refused with every problem located at its line."""
    source = "pasted text"
    try:
        text, source = _uploaded(await request.form())
        uploaded = calls.upload_call(Body(text=text, fmt="yaml"), session, who.principal, Response())
    except GrantsError as exc:
        session.rollback()
        return _calls_page(request, session, who, 422, problems=_located(exc, source))
    return see_other(f"/agency/calls/{uploaded.id}?version={uploaded.version}")


def _call_page(request: Request, session: Db, who: Seen, call_id: str, status: int = 200, **extra: Any) -> Response:
    call, version = queries.current_call(session, call_id)
    versions = session.execute(
        select(CallVersion.version, CallVersion.created_by, CallVersion.created_at)
        .where(CallVersion.call_id == call_id)
        .order_by(CallVersion.version.desc())
    ).all()
    listed = proposals.list_proposals(call_id, session, who.principal, EVERYTHING)
    phase = phase_out(queries.call_row(session, call_id, who.principal))
    return render(
        request,
        "agency/call.html",
        who,
        status,
        call=call,
        version=version,
        versions=versions,
        phase=phase,
        proposals=listed,
        money=money_in(call.currency),
        **extra,
    )


@router.get("/calls/{call_id}")
def call_page(
    request: Request, call_id: str, session: Db, who: Seen, created: int = -1, updated: int = 0, unchanged: int = 0
) -> Response:
    counts = {"created": created, "updated": updated, "unchanged": unchanged} if created >= 0 else None
    return _call_page(request, session, who, call_id, counts=counts)


@router.post("/calls/{call_id}/proposals")
async def upload_proposals(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    """Add or correct proposals (YAML, JSON, CSV or XLSX), accepted or refused whole."""
    source = "pasted text"
    try:
        body, source = _proposals_upload(await request.form())
        result = proposals.upload_proposals(call_id, body, session, who.principal)
    except NotFound:
        raise
    except GrantsError as exc:
        session.rollback()
        return _call_page(request, session, who, call_id, 422, problems=_located(exc, source))
    counts = f"created={len(result.created)}&updated={len(result.updated)}&unchanged={len(result.unchanged)}"
    return see_other(f"/agency/calls/{call_id}?{counts}")


@router.get("/calls/{call_id}/eligibility")
def eligibility_page(request: Request, call_id: str, session: Db, who: Seen) -> Response:
    report = proposals.eligibility(call_id, session)
    call, _ = queries.current_call(session, call_id)
    return render(request, "agency/eligibility.html", who, call=call, report=report)


def _plan(session: Db, seq: int, call_id: str) -> dict[str, Any] | None:
    """The automatic assignment recorded at this audit entry: what it added and the slots it left empty."""
    entry = session.get(AuditEntry, seq) if 0 < seq < 2**31 else None
    if entry is None or entry.action != "assignment.auto" or entry.target != f"call/{call_id}/assignments":
        return None
    return entry.after


def _assignments_page(
    request: Request, session: Db, who: Seen, call_id: str, status: int = 200, **extra: Any
) -> Response:
    listed = assignments.list_assignments(call_id, session, who.principal, EVERYTHING)
    known = conflicts.list_conflicts(call_id, session, who.principal, EVERYTHING)
    experts = evaluators.list_evaluators(session, who.principal, EVERYTHING)
    codes = session.execute(select(ProposalRow.code).where(ProposalRow.call_id == call_id).order_by(ProposalRow.code))
    policy = queries.policy(session, call_id)
    return render(
        request,
        "agency/assignments.html",
        who,
        status,
        call_id=call_id,
        assignments=listed,
        conflicts=known,
        evaluators=experts.items,
        proposal_ids=list(codes.scalars()),
        policy=policy,
        **extra,
    )


@router.get("/calls/{call_id}/assignments")
def assignments_page(request: Request, call_id: str, session: Db, who: Seen, plan: int = 0, done: str = "") -> Response:
    return _assignments_page(
        request, session, who, call_id, plan=_plan(session, plan, call_id), notice=NOTICES.get(done)
    )


@router.post("/calls/{call_id}/assignments")
async def assign_by_hand(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    form = await request.form()
    try:
        pair = form_model(assignments.Pair, {k: form.get(k, "") for k in ("proposal_id", "evaluator_id")})
        assignments.assign_evaluator(call_id, pair, session, who.principal, Response())
    except (ConflictOfInterest, NotFound, GrantsError) as exc:
        session.rollback()
        return _assignments_page(request, session, who, call_id, 409, problems=[str(p) for p in exc.problems])
    return see_other(f"/agency/calls/{call_id}/assignments?done=assigned")


@router.post("/calls/{call_id}/assignments/auto")
async def assign_automatically(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    """Run the automatic assignment; the page after it shows the unfilled slots, read back from its audit entry."""
    form = await request.form()
    fields = {k: v for k in ("evaluators_per_proposal", "min_load", "max_load", "expertise") if (v := form.get(k))}
    try:
        assignments.assign_automatically(call_id, form_model(assignments.AutoAssign, fields), session, who.principal)
    except GrantsError as exc:
        session.rollback()
        return _assignments_page(request, session, who, call_id, 422, problems=[str(p) for p in exc.problems])
    seq = session.execute(
        select(func.max(AuditEntry.seq)).where(
            AuditEntry.action == "assignment.auto", AuditEntry.target == f"call/{call_id}/assignments"
        )
    ).scalar_one()
    return see_other(f"/agency/calls/{call_id}/assignments?plan={seq}")


@router.post("/calls/{call_id}/assignments/withdraw")
async def withdraw(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    """Withdraw an assignment; one whose evaluator has a sheet needs a reason, or the page says so."""
    form = await request.form()
    proposal_id, evaluator_id = str(form.get("proposal_id", "")), str(form.get("evaluator_id", ""))
    try:
        evaluation.withdraw_assignment(
            session, who.principal, call_id, proposal_id, evaluator_id, str(form.get("reason", ""))
        )
    except GrantsError as exc:
        session.rollback()
        return _assignments_page(request, session, who, call_id, 422, problems=[str(p) for p in exc.problems])
    return see_other(f"/agency/calls/{call_id}/assignments?done=withdrawn")


def _evaluators_page(request: Request, session: Db, who: Seen, status: int = 200, **extra: Any) -> Response:
    listed = evaluators.list_evaluators(session, who.principal, EVERYTHING)
    return render(request, "agency/evaluators.html", who, status, evaluators=listed, **extra)


@router.get("/evaluators")
def evaluators_page(request: Request, session: Db, who: Seen, done: str = "") -> Response:
    return _evaluators_page(request, session, who, notice=NOTICES.get(done))


@router.post("/evaluators")
async def register_evaluator(request: Request, session: Db, who: Posted) -> Response:
    form = await request.form()
    fields: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("id", "name", "organisation", "country")}
    fields["topics"] = [t.strip() for t in str(form.get("topics", "")).split(",") if t.strip()]
    try:
        profile = form_model(evaluators.EvaluatorProfile, fields)
        evaluators.register_evaluator(profile, session, who.principal, Response())
    except (GrantsError, Conflict) as exc:
        session.rollback()
        return _evaluators_page(request, session, who, 422, problems=[str(p) for p in exc.problems], typed=fields)
    return see_other("/agency/evaluators?done=registered")


@router.get("/calls/{call_id}/progress")
def progress_page(request: Request, call_id: str, session: Db, who: Seen) -> Response:
    """Per proposal: submitted, draft and missing sheets, withdrawals, and the ranking's disagreement flags."""
    call, _ = queries.current_call(session, call_id)
    report = progress.progress(session, who.principal, call_id)
    ranking = ranked_snapshot(request.app.state.store, call_id).ranking
    disagreements = {e.id: [f for f in e.flags if "spread" in f] for e in ranking.entries}
    return render(request, "agency/progress.html", who, call=call, report=report, disagreements=disagreements)


def _consensus_page(
    request: Request,
    session: Db,
    who: Seen,
    call_id: str,
    proposal_id: str,
    form: SheetForm,
    status: int = 200,
    **extra: Any,
) -> Response:
    call, _ = queries.current_call(session, call_id)
    proposal = queries.proposal_row(session, call_id, proposal_id)
    sheets = evaluation.read_scores(session, who.principal, call_id, proposal_id)
    return render(
        request,
        "agency/consensus.html",
        who,
        status,
        call=call,
        proposal=queries.proposal_model(proposal),
        sheets=sheets,
        form=form,
        **extra,
    )


@router.get("/calls/{call_id}/consensus/{proposal_id}")
def consensus_page(
    request: Request, call_id: str, proposal_id: str, session: Db, who: Seen, done: str = ""
) -> Response:
    try:
        current = evaluation.read_consensus(session, who.principal, call_id, proposal_id)
    except NotFound:
        queries.proposal_row(session, call_id, proposal_id)
        current = None
    form = SheetForm.of(current)
    return _consensus_page(request, session, who, call_id, proposal_id, form, notice=NOTICES.get(done))


@router.post("/calls/{call_id}/consensus/{proposal_id}")
async def save_consensus(request: Request, call_id: str, proposal_id: str, session: Db, who: Posted) -> Response:
    form = SheetForm.posted(await request.form())
    if_match = f'"{form.version}"' if form.version else None
    try:
        evaluation.save_consensus(session, who.principal, call_id, proposal_id, form.sheet(), if_match)
    except ScoreError as exc:
        session.rollback()
        form.place([] if form.errors else exc.problems, list(form.scores))
        return _consensus_page(request, session, who, call_id, proposal_id, form, 422)
    except PreconditionFailed as exc:
        session.rollback()
        form.version = str(exc.current.version) if exc.current else ""
        return _consensus_page(request, session, who, call_id, proposal_id, form, 409, theirs=exc.current)
    except Conflict as exc:
        session.rollback()
        form.general += [p.message for p in exc.problems]
        return _consensus_page(request, session, who, call_id, proposal_id, form, 409)
    return see_other(f"/agency/calls/{call_id}/consensus/{proposal_id}?done=consensus")


@router.post("/calls/{call_id}/reopen")
async def reopen_sheet(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    """After the close, reopen one evaluator's submitted sheet with a reason; they may write it again."""
    form = await request.form()
    proposal_id, evaluator_id = str(form.get("proposal_id", "")), str(form.get("evaluator_id", ""))
    try:
        evaluation.reopen_sheet(session, who.principal, call_id, proposal_id, evaluator_id, str(form.get("reason", "")))
    except (GrantsError, Conflict) as exc:
        session.rollback()
        problems = [str(p) for p in exc.problems]
        form_now = SheetForm()
        return _consensus_page(request, session, who, call_id, proposal_id, form_now, 409, problems=problems)
    return see_other(f"/agency/calls/{call_id}/consensus/{proposal_id}?done=reopened")


@router.post("/calls/{call_id}/phase")
async def move_phase(request: Request, call_id: str, session: Db, who: Posted) -> Response:
    """Move the call to its next phase (open or close the evaluation, rank, decide), as the API's transition."""
    form = await request.form()
    fields = {"transition": form.get("transition", ""), "reason": form.get("reason", "")}
    try:
        moved = decisions.advance(session, who.principal, call_id, form_model(TransitionRequest, fields))
    except (GrantsError, Conflict) as exc:
        session.rollback()
        return _call_page(request, session, who, call_id, 409, problems=[str(p) for p in exc.problems])
    return see_other(f"/agency/calls/{call_id}?phase={moved.phase.value}")


@router.get("/audit")
def audit_page(request: Request, session: Db, who: Seen, page: int = 1) -> Response:
    """The log newest first, a page at a time, and whether its chain verifies."""
    total = audit.list_entries(session, who.principal, Pagination(limit=1)).total
    pages = max(1, -(-total // AUDIT_PAGE))
    page = min(max(page, 1), pages)
    end = total - (page - 1) * AUDIT_PAGE
    start = max(0, end - AUDIT_PAGE)
    entries = (
        audit.list_entries(session, who.principal, Pagination(limit=max(1, end - start), offset=start)).items
        if total
        else []
    )
    report = audit.verify(session)
    return render(
        request,
        "agency/audit.html",
        who,
        entries=list(reversed(entries)),
        report=report,
        page=page,
        pages=pages,
        total=total,
    )
