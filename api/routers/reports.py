"""The funding decision's report of an allocation run, served as pages.

The pages are the ones ``grants report`` writes to a folder (``evaluator.reports``),
rebuilt from what the run stored, so a report shows the run as it was. They keep
the folder's layout (``index.html``, ``proposals/<id>.html``, the CSV and JSON files)
so the report's relative links work over HTTP too. Finance is served the same pages
without the individual evaluators' ids, scores and comments (:mod:`api.disclosure`).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from fastapi import Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from api.auth import Caller, Db, Principal
from api.db import queries
from api.db.models import RunRow
from api.db.runs import run_row
from api.disclosure import proposals_for, ranking_for
from api.problems import NotFound
from api.routers.common import guarded_router
from evaluator.allocation import Allocation
from evaluator.ranking import Ranking
from evaluator.reports import Decision, allocation_rows, ranking_rows, render_index, render_proposal, write_report
from rules.check import check
from rules.model import Call
from rules.proposal import Proposal

router = guarded_router(prefix="/calls/{call_id}/reports/allocations/{run_id}", tags=["reports"])
Document = Literal[
    "index.html", "ranking.csv", "allocation.csv", "ranking.json", "allocation.json", "eligibility.json", "report.xlsx"
]
MEDIA = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def decision(session: Session, principal: Principal, call_id: str, run_id: int) -> Decision:
    """The report's inputs, from the run's own record, as the caller may see them (:mod:`api.disclosure`)."""
    run: RunRow = run_row(session, call_id, "allocation", run_id)
    call = Call.model_validate(queries.call_version(session, call_id, run.call_version).parsed)
    proposals = proposals_for(principal, [Proposal.model_validate(p) for p in run.inputs["proposals"]])
    allocation = Allocation.model_validate(run.result)
    ranking = ranking_for(principal, Ranking.model_validate(run.inputs["ranking"]))
    text = run.inputs.get("consensus_text", {})
    return Decision(
        call, proposals, check(call, proposals), ranking, allocation, allocation.budget, consensus_text=text
    )


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _xlsx(report: Decision) -> bytes:
    """The workbook as ``grants report`` writes it (amounts as text, to the cent)."""
    with tempfile.TemporaryDirectory() as folder:
        write_report(report, Path(folder))
        return (Path(folder) / "report.xlsx").read_bytes()


@router.get("/{document}", response_class=HTMLResponse)
def report_document(call_id: str, run_id: int, document: Document, session: Db, principal: Caller) -> Response:
    """The report's index page, or one of its tables (CSV, JSON, XLSX)."""
    report = decision(session, principal, call_id, run_id)
    suffix = document.rsplit(".", 1)[1]
    render: dict[str, Callable[[], str | bytes]] = {
        "index.html": lambda: render_index(report),
        "ranking.csv": lambda: _csv(ranking_rows(report)),
        "allocation.csv": lambda: _csv(allocation_rows(report)),
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
    report = decision(session, principal, call_id, run_id)
    proposal = next((p for p in report.proposals if p.id == proposal_id), None)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r} in allocation run {run_id}")
    return HTMLResponse(render_proposal(report, proposal))
