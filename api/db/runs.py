"""Allocation and simulation runs: what they read, what they found, who ran them.

A run is computed outside any write transaction (it may take seconds) from one
snapshot, then stored with its inputs (scenario, ranking, the scored proposals) so
its report can be rebuilt later exactly as it was, whatever changed since.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.auth import Principal
from api.db import queries
from api.db.limits import MAX_ROW_ID
from api.db.models import RunRow
from api.db.session import Store
from api.problems import NotFound
from api.routers.common import Page, Pagination, page_of


class RunMeta(BaseModel):
    id: int
    call_id: str
    kind: str
    call_version: int
    created_by: str
    created_at: dt.datetime


def add_run(
    session: Session, principal: Principal, call_id: str, kind: str, call_version: int, inputs: Any, result: Any
) -> RunRow:
    """Add a finished run and its audit entry to ``session``'s transaction; the caller commits."""
    row = RunRow(
        call_id=call_id,
        kind=kind,
        call_version=call_version,
        inputs=audit.canonical(inputs),
        result=audit.canonical(result),
        created_by=principal.name,
    )
    session.add(row)
    session.flush()
    summary = {"call_version": call_version, "scenario": row.inputs.get("scenario")}
    audit.record(session, principal.name, f"{kind}.run", f"call/{call_id}/{kind}/{row.id}", None, summary)
    return row


def save_run(
    store: Store, principal: Principal, call_id: str, kind: str, call_version: int, inputs: Any, result: Any
) -> RunRow:
    """Store a finished run and its audit entry in one write transaction."""
    with store.session(write=True) as session:
        row = add_run(session, principal, call_id, kind, call_version, inputs, result)
        session.commit()
    return row


def latest_run(session: Session, call_id: str, kind: str) -> RunRow | None:
    query = select(RunRow).where(RunRow.call_id == call_id, RunRow.kind == kind).order_by(RunRow.id.desc()).limit(1)
    return session.execute(query).scalar_one_or_none()


def meta(row: RunRow) -> RunMeta:
    return RunMeta(
        id=row.id,
        call_id=row.call_id,
        kind=row.kind,
        call_version=row.call_version,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def run_row(session: Session, call_id: str, kind: str, run_id: int) -> RunRow:
    row = session.get(RunRow, run_id) if 0 < run_id <= MAX_ROW_ID else None
    if row is None or row.call_id != call_id or row.kind != kind:
        raise NotFound(f"no {kind} run {run_id} for call {call_id!r}")
    return row


def run_page(session: Session, call_id: str, kind: str, paging: Pagination) -> Page[RunMeta]:
    """The call's runs of one kind, oldest first, a page at a time."""
    queries.call_row(session, call_id)
    query = select(RunRow).where(RunRow.call_id == call_id, RunRow.kind == kind).order_by(RunRow.id)
    rows, total = page_of(session, query, paging)
    return Page(items=[meta(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)
