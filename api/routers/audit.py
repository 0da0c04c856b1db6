"""The audit log, read-only over HTTP: list entries and verify the hash chain."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from api import audit
from api.auth import Db
from api.db.models import AuditEntry
from api.routers.common import Page, Paging, guarded_router, page_of

router = guarded_router(prefix="/audit", tags=["audit"])


class AuditOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


@router.get("", response_model=Page[AuditOut])
def list_entries(session: Db, paging: Paging) -> Page[AuditOut]:
    """Entries in the order they were written."""
    rows, total = page_of(session, select(AuditEntry).order_by(AuditEntry.seq), paging)
    items = [AuditOut.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/verify", response_model=audit.AuditReport)
def verify(session: Db) -> audit.AuditReport:
    """Recompute the chain; names every edited, deleted or replaced entry."""
    return audit.verify(session)
