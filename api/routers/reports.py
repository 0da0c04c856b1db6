"""The funding decision's report of an allocation run, served as pages.

The pages are the ones ``grants report`` writes to a folder (``evaluator.reports``),
rebuilt from what the run stored, so a report shows the run as it was. They keep
the folder's layout (``index.html``, ``proposals/<id>.html``, the CSV and JSON files)
so the report's relative links work over HTTP too. Finance is served the same pages
without the individual evaluators' ids, scores and comments (:mod:`api.disclosure`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Query, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from api.auth import Caller, Db, Principal
from api.db import queries
from api.db.models import RunRow
from api.db.runs import run_row
from api.disclosure import bayesian_for, proposals_for, ranking_for
from api.problems import NotFound
from api.routers.common import guarded_router
from evaluator.allocation import Allocation
from evaluator.ranking import Ranking
from evaluator.reports import Decision, render_index, render_proposal
from evaluator.reports.decision_sheets import decision_sheets
from evaluator.reports.workbook import csv_text, sheet_rows, workbook_bytes
from rules.check import check
from rules.model import Call
from rules.proposal import Proposal

router = guarded_router(prefix="/calls/{call_id}/reports/allocations/{run_id}", tags=["reports"])
Document = Literal[
    "index.html",
    "eligibility.csv",
    "ranking.csv",
    "allocation.csv",
    "reserve.csv",
    "ranking.json",
    "allocation.json",
    "eligibility.json",
    "report.xlsx",
]
MEDIA = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}
Bayes = Annotated[
    bool | None, Query(description="index.html: add ranks with credible intervals; omitted: as the call says")
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def decision(session: Session, principal: Principal, call_id: str, run_id: int, bayes: bool | None) -> Decision:
    """The report's inputs, from the run's own record, as the caller may see them (:mod:`api.disclosure`)."""
    run: RunRow = run_row(session, call_id, "allocation", run_id)
    call = Call.model_validate(queries.call_version(session, call_id, run.call_version).parsed)
    scored = [Proposal.model_validate(p) for p in run.inputs["proposals"]]
    proposals = proposals_for(principal, scored)
    allocation = Allocation.model_validate(run.result)
    ranking = Ranking.model_validate(run.inputs["ranking"])
    text = run.inputs.get("consensus_text", {})
    report = Decision(
        call,
        proposals,
        check(call, proposals),
        ranking_for(principal, ranking),
        allocation,
        allocation.budget,
        consensus_text=text,
    )
    if not (call.ranking.bayesian is not None if bayes is None else bayes):
        return report
    from evaluator.bayesian import bayesian_ranking, funded_per_list

    lines = funded_per_list(ranking, {g.id for g in allocation.grants})
    bayesian = bayesian_for(principal, bayesian_ranking(call, scored, ranking, lines))
    return dataclasses.replace(report, bayesian=bayesian)


def _xlsx(report: Decision) -> bytes:
    """The workbook as ``grants report`` writes it (amounts as number cells, to the cent)."""
    return workbook_bytes(decision_sheets(report), report.call.currency)


def _sheet_csv(report: Decision, name: str) -> Callable[[], str]:
    """One of the report's sheets as CSV, as ``grants report`` writes it."""
    return lambda: csv_text(sheet_rows(decision_sheets(report)[name]))


@router.get("/{document}", response_class=HTMLResponse)
def report_document(
    call_id: str, run_id: int, document: Document, session: Db, principal: Caller, bayes: Bayes = None
) -> Response:
    """The report's index page, or one of its tables (CSV, JSON, XLSX)."""
    report = decision(session, principal, call_id, run_id, bayes if document == "index.html" else False)
    suffix = document.rsplit(".", 1)[1]
    render: dict[str, Callable[[], str | bytes]] = {
        "index.html": lambda: render_index(report),
        **{f"{name}.csv": _sheet_csv(report, name) for name in ("eligibility", "ranking", "allocation", "reserve")},
        "ranking.json": lambda: report.ranking.model_dump_json(indent=2),
        "allocation.json": lambda: report.allocation.model_dump_json(indent=2),
        "eligibility.json": lambda: report.eligibility.model_dump_json(indent=2),
        "report.xlsx": lambda: _xlsx(report),
    }
    return Response(render[document](), media_type=MEDIA.get(suffix, XLSX))


@router.get("/proposals/{proposal_id}.html", response_class=HTMLResponse)
def proposal_page(call_id: str, run_id: int, proposal_id: str, session: Db, principal: Caller) -> HTMLResponse:
    """One proposal's evaluation summary: thresholds, eligibility, outcome, consensus; the agency's view also
    shows each evaluator's scores and comments, finance's the consolidated scores only."""
    report = decision(session, principal, call_id, run_id, bayes=False)
    proposal = next((p for p in report.proposals if p.id == proposal_id), None)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r} in allocation run {run_id}")
    return HTMLResponse(render_proposal(report, proposal))
