"""The append-only audit log, each entry chained to the previous one by a hash.

An entry's hash is sha256 over the canonical JSON of the entry (sequence number,
time, actor, action, target, before, after) and the previous entry's hash. Writers
lock the one-row head (last sequence and hash) before appending, so the chain is
linear even with concurrent writers, and the head lets :func:`verify` notice a
deleted tail as well as an edited or deleted row in the middle. Entries are written
in the same transaction as the change they describe: no change without its entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64
HEAD_ID = 1


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot audit a {type(value).__name__}")


def canonical(value: Any) -> Any:
    """Plain JSON values (Decimals and dates as strings): what is stored is what was hashed."""
    return json.loads(json.dumps(value, default=_plain, sort_keys=True))


def entry_hash(entry: dict[str, Any], prev_hash: str) -> str:
    document = json.dumps({**entry, "prev_hash": prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _content(row: AuditEntry) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "before": row.before,
        "after": row.after,
    }


def record(session: Session, actor: str, action: str, target: str, before: Any = None, after: Any = None) -> AuditEntry:
    """Append one entry for a write made in ``session``; commits with it or not at all."""
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()).scalar_one()
    row = AuditEntry(
        seq=head.seq + 1,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        actor=actor,
        action=action,
        target=target,
        before=canonical(before),
        after=canonical(after),
        prev_hash=head.hash,
    )
    row.hash = entry_hash(_content(row), head.hash)
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    return row


class AuditReport(BaseModel):
    ok: bool
    entries: int
    problems: list[str]


def _chain_problems(rows: Iterator[AuditEntry], head: AuditHead) -> Iterator[str]:
    expected_seq, prev_hash = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            yield f"entries {expected_seq} to {row.seq - 1} are missing (deleted)"
        elif row.prev_hash != prev_hash:
            yield f"entry {row.seq} does not chain to entry {row.seq - 1} (prev_hash differs)"
        if entry_hash(_content(row), row.prev_hash) != row.hash:
            yield f"entry {row.seq} was edited: its content does not match its hash"
        expected_seq, prev_hash = row.seq + 1, row.hash
    last = expected_seq - 1
    if head.seq != last:
        yield f"the log ends at entry {last} but {head.seq} were written: entries after {last} were deleted"
    elif head.hash != prev_hash:
        yield f"entry {last} is not the entry the log head recorded (it was replaced)"


def verify(session: Session) -> AuditReport:
    """Walk the whole chain; name every entry that was edited, deleted or replaced."""
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one()
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)).scalars()
    problems = list(_chain_problems(iter(rows), head))
    return AuditReport(ok=not problems, entries=head.seq, problems=problems)
