"""The append-only audit log, each entry chained to the previous one by a keyed hash.

An entry's hash is HMAC-SHA256, under the server's audit key, over the canonical
JSON of the entry (sequence number, time, actor, action, target, before, after, the
rows it wrote) and the previous entry's hash. The key lives in the server's
configuration (``GRANTS_AUDIT_KEY`` or the file ``GRANTS_AUDIT_KEY_FILE`` names),
never in the database, so whoever can write the database but not read the
configuration cannot forge an entry or recompute the chain after editing one.
Without a key the hash is plain sha256 and :func:`verify` says the chain is unkeyed.

Writers lock the one-row head (last sequence and hash) before appending, so the
chain is linear even with concurrent writers, and the head lets :func:`verify`
notice a deleted tail as well as an edited or deleted row in the middle; a head
exported earlier (``grants audit head``) catches a tail deleted together with the
head moved back. Entries are written in the same transaction as the change they
describe, and :mod:`api.audit_replay` checks that the tables hold what they say.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from api import audit_replay
from api.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64
HEAD_ID = 1
KEY = "audit_key"
KEY_VARIABLE = "GRANTS_AUDIT_KEY"
KEY_FILE_VARIABLE = "GRANTS_AUDIT_KEY_FILE"
HEAD = "audit_head"  # session.info: (transaction, seq, hash), the head as that transaction has left it
MOVE_AT_COMMIT = "audit_head_at_commit"  # session.info: entries appended and the head moved once, as it commits
PENDING = "audit_pending"  # session.info: (transaction, entries) that transaction has yet to append
_HEAD_TABLE: Table = AuditHead.__table__  # type: ignore[assignment]
_ENTRY_TABLE: Table = AuditEntry.__table__  # type: ignore[assignment]
_head = _HEAD_TABLE.c
LOCK_HEAD = select(_head.seq, _head.hash).where(_head.id == HEAD_ID).with_for_update()
APPEND = insert(_ENTRY_TABLE)
MOVE_HEAD = update(_HEAD_TABLE).where(_head.id == HEAD_ID).values(seq=bindparam("seq"), hash=bindparam("hash"))


def key_from_environment() -> bytes | None:
    """The audit key the server's configuration gives: ``GRANTS_AUDIT_KEY``, else the file ``GRANTS_AUDIT_KEY_FILE``."""
    if value := os.environ.get(KEY_VARIABLE):
        return value.encode("utf-8")
    if path := os.environ.get(KEY_FILE_VARIABLE):
        with open(path, "rb") as file:
            return file.read().strip()
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot audit a {type(value).__name__}")


def canonical(value: Any) -> Any:
    """Plain JSON values (Decimals and dates as strings): what is stored is what was hashed."""
    return json.loads(json.dumps(value, default=_plain, sort_keys=True))


def entry_hash(entry: dict[str, Any], prev_hash: str, key: bytes | None = None) -> str:
    document = json.dumps({**entry, "prev_hash": prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if key is None:
        return hashlib.sha256(document.encode("utf-8")).hexdigest()
    return hmac.new(key, document.encode("utf-8"), hashlib.sha256).hexdigest()


def _content(row: AuditEntry) -> dict[str, Any]:
    rows = {} if row.rows is None else {"rows": row.rows}  # entries written before 0003 hash as they did
    return {
        **rows,
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "before": row.before,
        "after": row.after,
    }


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    known: audit_replay.Known | None = None,
) -> dict[str, Any]:
    """Append one entry for a write made in ``session``; commits with it or not at all. Returns its columns.

    ``known``: rows the write made with Core statements and holds as they stand (see
    :func:`api.audit_replay.written_rows`). The head is read (locked, on PostgreSQL) once
    per transaction and then carried in ``session.info``; the entry and the head move are
    two Core statements, not a unit-of-work flush, and the entry is a plain mapping (what
    :func:`_content` reads of a stored :class:`AuditEntry`), not an ORM instance. A group
    of writes appends its entries in one statement and moves the head once, as it commits
    (:func:`move_head_at_commit`): each entry is still made here, in order, chained to the one
    before and hashed over the rows as its write left them; only the insert waits.
    """
    rows = audit_replay.written_rows(session, known)
    connection = session.connection()
    seq, prev_hash = held_head(session) or lock_head(session, connection)
    content = {
        "rows": rows,
        "seq": seq + 1,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "before": canonical(before),
        "after": canonical(after),
    }
    entry = {**content, "prev_hash": prev_hash, "hash": entry_hash(content, prev_hash, session.info.get(KEY))}
    transaction = session.get_transaction()
    if session.info.get(MOVE_AT_COMMIT):
        pending: tuple[Any, list[dict[str, Any]]] | None = session.info.get(PENDING)
        if pending is None or pending[0] is not transaction:
            pending = session.info[PENDING] = (transaction, [])
        pending[1].append(entry)
    else:
        connection.execute(APPEND, entry)
        connection.execute(MOVE_HEAD, {"seq": entry["seq"], "hash": entry["hash"]})
    session.info[HEAD] = (transaction, entry["seq"], entry["hash"])
    return entry


def move_head_at_commit(session: Session) -> None:
    """For a session that holds its entries back (a group of writes): append them, and move the head to the last.

    It runs as the transaction commits (``before_commit``), so no commit leaves an entry
    unwritten or the head behind its entries, and a rolled-back group leaves neither; a
    savepoint's commit is not the transaction's. The head is locked by the first entry (or,
    on PostgreSQL, by the transaction's start), so it is still ours.
    """
    if not session.info.get(MOVE_AT_COMMIT) or session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING, None)
    if pending is not None and pending[0] is session.get_transaction() and pending[1]:
        session.connection().execute(APPEND, pending[1])
    held = held_head(session)
    if held is not None:
        session.connection().execute(MOVE_HEAD, {"seq": held[0], "hash": held[1]})


def lock_head(session: Session, connection: Connection) -> tuple[int, str]:
    """Read the head, locked until the transaction ends (on SQLite the writer lock is the lock), and hold it."""
    seq, prev_hash = connection.execute(LOCK_HEAD).one()
    session.info[HEAD] = (session.get_transaction(), seq, prev_hash)
    return seq, prev_hash


def held_head(session: Session) -> tuple[int, str] | None:
    """The head as this very transaction left it, if it read or moved it; another transaction's is no guide."""
    held = session.info.get(HEAD)
    if held is None or held[0] is not session.get_transaction():
        return None
    return held[1], held[2]


class AuditReport(BaseModel):
    ok: bool
    entries: int
    keyed: bool
    problems: list[str]
    warnings: list[str] = []


class ExportedHead(BaseModel):
    """The head as ``grants audit head`` exports it, to be kept outside the database."""

    seq: int
    hash: str


def _chain_problems(rows: Iterable[AuditEntry], head: AuditHead, key: bytes | None) -> Iterator[str]:
    expected_seq, prev_hash = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            yield f"entries {expected_seq} to {row.seq - 1} are missing (deleted)"
        elif row.prev_hash != prev_hash:
            yield f"entry {row.seq} does not chain to entry {row.seq - 1} (prev_hash differs)"
        if not hmac.compare_digest(entry_hash(_content(row), row.prev_hash, key), row.hash):
            yield f"entry {row.seq} was edited: its content does not match its hash"
        expected_seq, prev_hash = row.seq + 1, row.hash
    last = expected_seq - 1
    if head.seq != last:
        yield f"the log ends at entry {last} but {head.seq} were written: entries after {last} were deleted"
    elif head.hash != prev_hash:
        yield f"entry {last} is not the entry the log head recorded (it was replaced)"


def _exported_head_problems(rows: dict[int, AuditEntry], exported: ExportedHead) -> Iterator[str]:
    row = rows.get(exported.seq)
    if row is None:
        yield f"the exported head is entry {exported.seq}, which the log no longer holds (truncated below it)"
    elif not hmac.compare_digest(row.hash, exported.hash):
        yield f"entry {exported.seq} is not the entry the exported head names (the log was rewritten up to it)"


def head(session: Session) -> ExportedHead:
    row = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one()
    return ExportedHead(seq=row.seq, hash=row.hash)


def verify(session: Session, exported: ExportedHead | None = None) -> AuditReport:
    """Walk the whole chain, then replay it against the tables; name every entry or row that differs.

    With an ``exported`` head (kept outside the database), a log cut back below it is found too.
    """
    key = session.info.get(KEY)
    last = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one()
    rows = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    problems = list(_chain_problems(rows, last, key))
    if exported is not None:
        problems += _exported_head_problems({r.seq: r for r in rows}, exported)
    replayed = list(audit_replay.replay_problems(session, rows))
    problems += replayed[: audit_replay.SHOWN_PROBLEMS]
    if len(replayed) > audit_replay.SHOWN_PROBLEMS:
        problems.append(f"and {len(replayed) - audit_replay.SHOWN_PROBLEMS} more rows differ from the log")
    warnings = [] if key else [f"the chain is not keyed ({KEY_VARIABLE} unset): a rewrite with fresh hashes would pass"]
    return AuditReport(ok=not problems, entries=last.seq, keyed=key is not None, problems=problems, warnings=warnings)
