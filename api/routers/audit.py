"""The audit log, read-only over HTTP: list entries and verify the hash chain.

An agency lists the entries about its own calls and tokens and those its tokens
wrote; another agency's entries (their targets name its calls) are not shown.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from api import audit
from api.auth import Caller, Db, Principal
from api.db.models import AuditEntry, CallRow, TokenRow
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


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def visible_to(session: Session, principal: Principal) -> ColumnElement[bool]:
    """The entries an agency reads: about its calls or its tokens, or written by one of its tokens."""
    calls = session.execute(select(CallRow.id).where(CallRow.agency_id == principal.agency_id)).scalars()
    tokens = session.execute(select(TokenRow.id).where(TokenRow.agency_id == principal.agency_id)).scalars()
    return or_(
        *[AuditEntry.target.like(_like(f"call/{call_id}/"), escape="\\") for call_id in calls],
        AuditEntry.target.in_([f"token/{token_id}" for token_id in tokens]),
        AuditEntry.actor.like("%" + _like(f"@{principal.agency_id} (token "), escape="\\"),
    )


@router.get("", response_model=Page[AuditOut])
def list_entries(session: Db, principal: Caller, paging: Paging) -> Page[AuditOut]:
    """The entries about the caller's agency (its calls and tokens), in the order they were written."""
    query = select(AuditEntry).where(visible_to(session, principal)).order_by(AuditEntry.seq)
    rows, total = page_of(session, query, paging)
    items = [AuditOut.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/verify", response_model=audit.AuditReport)
def verify(session: Db) -> audit.AuditReport:
    """Recompute the chain; names every edited, deleted or replaced entry."""
    return audit.verify(session)
