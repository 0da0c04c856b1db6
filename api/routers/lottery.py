"""The lottery's commitment in the audit log: the seed's hash, recorded before the scores are final.

The seed itself never reaches the server: the agency keeps it (``grants lottery
commit``) and reveals it at the draw. What the server adds is a time nobody can move
afterwards: the commitment is an entry of the hash-chained audit log, so a draw whose
seed hashes to it was fixed before the entry, whoever ran it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.auth import Caller, Db
from api.db import queries
from api.db.models import AuditEntry
from api.routers.common import guarded_router
from rules.errors import GrantsError

router = guarded_router(prefix="/calls/{call_id}/lottery", tags=["lottery"])
ACTION = "lottery.commit"
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the secret seed, lower-case hex")]


class CommitmentIn(BaseModel):
    """The file ``grants lottery commit --out`` writes can be sent as it is; only the hash counts."""

    model_config = ConfigDict(extra="forbid")

    commitment: Hash
    call_id: str | None = None
    scheme: str | None = None
    committed_at: dt.datetime | None = Field(default=None, description="the client's clock: the log's time counts")


class RecordedCommitment(BaseModel):
    call_id: str
    commitment: str
    recorded_at: str = Field(description="the audit entry's time (UTC)")
    audit_seq: int
    recorded_by: str


def _target(call_id: str) -> str:
    return f"call/{call_id}/lottery"


@router.post("/commitments", status_code=201, response_model=RecordedCommitment)
def record_commitment(call_id: str, body: CommitmentIn, session: Db, principal: Caller) -> RecordedCommitment:
    """Record the seed's hash in the audit log (agency only), before the draw and before scores are final."""
    queries.call_row(session, call_id)
    if body.call_id is not None and body.call_id != call_id:
        raise GrantsError(f"the commitment is for call {body.call_id!r}, not {call_id!r}")
    entry = AuditEntry(
        **audit.record(session, principal.name, ACTION, _target(call_id), None, {"commitment": body.commitment})
    )
    session.commit()
    return _recorded(call_id, entry)


@router.get("/commitments", response_model=list[RecordedCommitment])
def list_commitments(call_id: str, session: Db) -> list[RecordedCommitment]:
    """Every commitment recorded for the call, oldest first: a draw must match one of them."""
    queries.call_row(session, call_id)
    query = select(AuditEntry).where(AuditEntry.action == ACTION, AuditEntry.target == _target(call_id))
    return [_recorded(call_id, entry) for entry in session.execute(query.order_by(AuditEntry.seq)).scalars()]


def _recorded(call_id: str, entry: AuditEntry) -> RecordedCommitment:
    return RecordedCommitment(
        call_id=call_id,
        commitment=(entry.after or {})["commitment"],
        recorded_at=entry.at,
        audit_seq=entry.seq,
        recorded_by=entry.actor,
    )
