"""What each audit entry wrote, row by row, and the check that the tables still hold it.

Every write session tracks the rows of *governed* tables it inserts, updates or
deletes, through the unit of work and through bulk ``UPDATE``/``DELETE`` statements
alike. When the use case records its audit entry, the rows touched since the last
entry are read back from the database as they now stand and go into the entry
(``rows``: table, primary key, a digest of the row, and the row itself when small),
so the entry's hash covers them. :func:`replay_problems` folds the log into the
state it describes and compares it with the tables: a row edited, inserted or
deleted behind the API's back is named with the entry that last wrote it.

Governed means every table of :mod:`api.db.models` except the audit log itself and
any table or column marked ``info={"audited": False}`` (bookkeeping such as a
token's last-used time, which changes on reads and is no decision). A table added
later is governed with no change here.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from itertools import chain
from typing import Any

from sqlalchemy import Column, Table, and_, event, inspect, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction, object_mapper, sessionmaker

from api.db.models import AuditEntry, AuditHead, Base

TOUCHED = "audit_touched"
UNAUDITED_TABLES = frozenset({AuditEntry.__tablename__, AuditHead.__tablename__})
INLINE_ROW_CHARS = 4000  # rows up to this size are kept whole in the entry, larger ones by digest only
SHOWN_PROBLEMS = 20
Key = tuple[Any, ...]
JSON_SCALARS = frozenset({str, int, bool, type(None)})  # exactly these types: a subclass may dump otherwise


def governed(table: Table) -> bool:
    return table.name not in UNAUDITED_TABLES and table.info.get("audited", True)


@functools.cache
def governed_tables() -> tuple[Table, ...]:
    """In dependency order; computed once (the tables are all declared when the models are imported)."""
    return tuple(t for t in Base.metadata.sorted_tables if governed(t))


@functools.cache
def _columns(table: Table) -> tuple[Column[Any], ...]:
    return tuple(c for c in table.columns if c.info.get("audited", True))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if isinstance(value, Decimal | dt.date):
        return str(value)
    return value


def row_state(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (values by column name) as plain JSON values, as the database gives it back (a later read compares equal).

    A row of text, whole numbers and nulls only (most rows a write leaves) is its own JSON
    round trip but for the order of its keys, so it skips the round trip. By name, not by
    column: a statement's ``RETURNING`` through a CTE gives the table's values under the CTE's columns.
    """
    state = {c.name: _plain(row[c.name]) for c in _columns(table)}
    if all(type(value) in JSON_SCALARS for value in state.values()):
        return dict(sorted(state.items()))
    return json.loads(json.dumps(state, default=str, sort_keys=True))


def digest(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _touched(session: Session) -> dict[str, set[Key]]:
    found: dict[str, set[Key]] = session.info.setdefault(TOUCHED, {})
    return found


def _changes_governed_columns(obj: Any) -> bool:
    state = inspect(obj)
    table = object_mapper(obj).local_table
    keys = {c.key for c in _columns(table)}  # type: ignore[arg-type]
    return any(attr.history.has_changes() for attr in state.attrs if attr.key in keys)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    touched = _touched(session)
    dirty = [obj for obj in session.dirty if _changes_governed_columns(obj)]
    for obj in chain(session.new, dirty, session.deleted):
        mapper = object_mapper(obj)
        table = mapper.local_table
        if isinstance(table, Table) and governed(table):
            touched.setdefault(table.name, set()).add(tuple(mapper.primary_key_from_instance(obj)))


def _before_bulk_write(state: ORMExecuteState) -> None:
    """Note the keys a bulk UPDATE or DELETE is about to reach, before it reaches them."""
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    table = state.bind_mapper.local_table
    if not isinstance(table, Table) or not governed(table):
        return
    where = state.statement.whereclause  # type: ignore[attr-defined]
    query = select(*table.primary_key.columns)
    keys = state.session.execute(query if where is None else query.where(where))
    _touched(state.session).setdefault(table.name, set()).update(tuple(k) for k in keys)


def _unrecorded(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the use case records its entry before the transaction commits
    require_audited(session)


def require_audited(session: Session) -> None:
    """Refuse a governed write the session made since its last audit entry without recording one."""
    left = {name: keys for name, keys in _touched(session).items() if keys}
    if left:
        raise RuntimeError(f"a write to {sorted(left)} has no audit entry: every governed write records one")


def track(factory: sessionmaker[Session]) -> None:
    """Make every session of ``factory`` note the governed rows it writes, and refuse to commit unaudited ones."""
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "do_orm_execute", _before_bulk_write)
    event.listen(factory, "before_commit", _unrecorded)  # a group of writes checks each (require_audited)
    event.listen(factory, "after_soft_rollback", _forget)


def _forget(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(TOUCHED, None)


def _where_key(table: Table, keys: Iterable[Key]) -> Any:
    pk = list(table.primary_key.columns)
    return or_(*(and_(*(c == v for c, v in zip(pk, key, strict=True))) for key in keys))


Known = Mapping[Table, Mapping[Key, dict[str, Any] | None]]
"""Rows a use case wrote with Core statements and already holds as they stand (from ``RETURNING``; None: deleted)."""


def stood(table: Table, rows: Iterable[Mapping[Any, Any]]) -> dict[Key, dict[str, Any]]:
    """Rows a statement's ``RETURNING`` gave back (values by column name), by key, as :func:`written_rows` has them."""
    pk = [c.name for c in table.primary_key.columns]
    return {tuple(row[c] for c in pk): row_state(table, row) for row in rows}


def written_rows(session: Session, known: Known | None = None) -> list[dict[str, Any]]:
    """The governed rows written since the last entry, as they now stand (``digest`` None: deleted).

    Rows the unit of work or bulk statements touched are read back; ``known`` rows are
    taken as given, which spares a write that used ``RETURNING`` a second read.
    """
    session.flush()
    touched = session.info.pop(TOUCHED, {})
    known = known or {}
    written = []
    for table in governed_tables():
        if table.name not in touched and table not in known:
            continue  # nothing of it written: most writes touch two or three of the tables
        given = known.get(table, {})
        keys = sorted({*touched.get(table.name, ()), *given}, key=repr)
        found: dict[Key, dict[str, Any]] = {k: state for k, state in given.items() if state is not None}
        unread = [k for k in keys if k not in given]
        for start in range(0, len(unread), 500):
            rows = session.execute(select(table).where(_where_key(table, unread[start : start + 500])))
            for row in rows:
                found[tuple(row._mapping[c] for c in table.primary_key.columns)] = row_state(table, row._mapping)
        for key in keys:
            written.append(_written(table, key, found.get(key)))
    return written


def _written(table: Table, key: Key, state: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"table": table.name, "key": [_plain(k) for k in key]}
    entry["digest"] = None if state is None else digest(state)
    if state is not None and len(json.dumps(state, default=str)) <= INLINE_ROW_CHARS:
        entry["row"] = state
    return entry


def _replayed(entries: Iterable[AuditEntry]) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
    """(table, key) -> the row as the last entry that wrote it left it, and that entry's number."""
    state: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for entry in entries:
        for written in entry.rows or ():
            name = (written["table"], json.dumps(written["key"]))
            if written["digest"] is None:
                state.pop(name, None)
            else:
                state[name] = (written, entry.seq)
    return state


def _differences(stored: dict[str, Any], written: dict[str, Any]) -> str:
    row = written.get("row")
    if row is None:
        return "its content differs from the digest the log recorded"
    changed = [f"{c} is {stored.get(c)!r}, the log says {row.get(c)!r}" for c in sorted(row) if stored.get(c) != row[c]]
    return "; ".join(changed) or "a column the log did not record was set"


def _name(table: str, key: str) -> str:
    return f"{table} row {key}"


def replay_problems(session: Session, entries: Iterable[AuditEntry]) -> Iterator[str]:
    """Every governed row that is not what the log says, table by table, in key order."""
    state = _replayed(entries)
    for table in governed_tables():
        pk = list(table.primary_key.columns)
        for row in session.execute(select(table).order_by(*pk)):
            key = json.dumps([_plain(row._mapping[c]) for c in pk])
            stored = row_state(table, row._mapping)
            found = state.pop((table.name, key), None)
            if found is None:
                yield f"{_name(table.name, key)} is in the table but no audit entry wrote it"
            elif digest(stored) != found[0]["digest"]:
                yield f"{_name(table.name, key)} differs from audit entry {found[1]}: {_differences(stored, found[0])}"
    for (table_name, key), (_, seq) in state.items():
        yield f"{_name(table_name, key)}, written by audit entry {seq}, is missing from the table"
