"""Engines, sessions and migrations for SQLite (the default) and PostgreSQL.

SQLite serialises writers; a transaction that starts as a reader and later writes
can fail at once with "database is locked" instead of waiting. So write sessions
open with ``BEGIN IMMEDIATE`` (they queue on the busy timeout) and read sessions
with a plain deferred ``BEGIN``. PostgreSQL runs at read committed, except the
snapshot sessions of allocation and simulation runs, at repeatable read; its write
sessions start by locking the audit log's head, which every write appends to anyway,
so writers take turns there as on SQLite: what a write checks is still true when it
commits (two uploads of one new proposal store it once, an audit entry's "before" is
what was replaced), and nobody is told to retry.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api import audit, audit_replay
from rules.errors import GrantsError

DEFAULT_URL = "sqlite:///grants.db"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
SYNCHRONOUS_VARIABLE = "GRANTS_SQLITE_SYNCHRONOUS"  # FULL unless set; NORMAL only to measure what FULL costs
PARSED_CALLS = "parsed_calls"  # session.info: the store's ParsedCalls
POOL_SIZE = 40  # kept open: one per worker thread (anyio's 40), each reading its request's token
POOL_OVERFLOW = 10  # opened for a burst beyond them and closed after: each a new PostgreSQL backend
GROUPED = "grouped_writes"  # session.info: the session carries a group of writes (api.write_groups)
GROUP = "write_group"  # session.info: its writes and their arguments, so one read may serve them all (api.auth)


def database_url(url: str | None = None) -> str:
    """The URL given, else ``DATABASE_URL``, else a SQLite file in the working directory."""
    return url or os.environ.get("DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA synchronous={_synchronous()}")
    cursor.close()


def _synchronous() -> str:
    """FULL: a commit is on disk before it is acknowledged, so an acknowledged score survives a power cut.

    With WAL, NORMAL syncs only at checkpoints and can lose the last commits on power loss
    (not on a crash of the process).
    """
    level = os.environ.get(SYNCHRONOUS_VARIABLE, "FULL").upper()
    return level if level in {"FULL", "NORMAL", "EXTRA"} else "FULL"


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("sqlite_begin", "DEFERRED"))


def _lock_audit_head(session: Session, _transaction: Any, connection: Connection) -> None:
    audit.lock_head(session, connection)


def end_write(session: Session) -> None:
    """Commit a use case's write; in a group of writes, only check it is audited, the group commits it.

    A use case that a group may run (:mod:`api.write_groups`) ends with this instead of
    ``session.commit()``.
    """
    if session.info.get(GROUPED):
        session.flush()
        audit_replay.require_audited(session)
    else:
        session.commit()


def make_engine(url: str | None = None, **options: Any) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    size = options.get("pool_size", POOL_SIZE)
    return create_engine(url, pool_size=size, max_overflow=POOL_OVERFLOW, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """Alembic configured in code, so migrations run from an installed package with no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the latest migration (``alembic upgrade head``)."""
    command.upgrade(alembic_config(engine), "head")


class ParsedCalls:
    """Call versions as models, by (call id, version number, upload time): a version is never changed once stored.

    One per store (the same call id and number are another call in another database), shared
    by its sessions and threads; bounded, the least recently used dropped first. The models are
    shared: a reader must not change one.
    """

    SIZE = 64

    def __init__(self) -> None:
        self._models: OrderedDict[tuple[str, int, Any], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, Any]) -> Any | None:
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
            return model

    def put(self, key: tuple[str, int, Any], model: Any) -> None:
        with self._lock:
            self._models[key] = model
            while len(self._models) > self.SIZE:
                self._models.popitem(last=False)


class Store:
    """The database behind one app: sessions for reading, writing and consistent snapshots."""

    def __init__(self, engine: Engine, audit_key: bytes | None = None):
        """``audit_key`` keys the audit chain's hashes; by default the server's configuration gives it."""
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.sqlite else engine
        snapshot = engine if self.sqlite else engine.execution_options(isolation_level="REPEATABLE READ")
        key = audit_key if audit_key is not None else audit.key_from_environment()
        info = {audit.KEY: key, PARSED_CALLS: ParsedCalls()}
        self._read = sessionmaker(engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(writer, expire_on_commit=False, info=info)
        audit_replay.track(self._write)
        event.listen(self._write, "before_commit", audit.move_head_at_commit)
        if not self.sqlite:
            event.listen(self._write, "after_begin", _lock_audit_head)
        self._snapshot = sessionmaker(snapshot, expire_on_commit=False)
        self._writer_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = True) -> Store:
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine)

    @classmethod
    def existing(cls, url: str | None = None) -> Store:
        """The store at ``url`` as it is; a missing or unmigrated database is an error, never created.

        A mistyped ``--database`` would otherwise become a new empty database, and
        ``audit verify`` would call its empty log intact.
        """
        url = database_url(url)
        shown = make_url(url).render_as_string(hide_password=True)
        hint = f"create it with: grants init --database {shown}"
        database = make_url(url).database
        on_disk = make_url(url).get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        if on_disk and not Path(str(database)).is_file():
            raise GrantsError(f"no grants database at {shown}; {hint}")
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        except OperationalError as exc:
            engine.dispose()
            raise GrantsError(f"cannot open the database at {shown}: {exc.orig or exc}") from None
        heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
        if current != heads:
            engine.dispose()
            state = "was never migrated" if not current else f"is at migration {', '.join(sorted(current))}"
            raise GrantsError(f"the database at {shown} {state}, not {', '.join(sorted(heads))}; {hint}")
        return cls(engine)

    def session(self, write: bool) -> Session:
        return (self._write if write else self._read)()

    def writer_lock(self) -> asyncio.Lock:
        """The queue SQLite writers of this process wait in, on the running event loop.

        SQLite's busy handler polls with sleeps of up to 100 ms and holds a server
        thread while it waits; waiting here costs no thread and wakes the next writer
        at once. Writers in other processes (``--workers N``) still meet on the busy
        timeout.
        """
        loop = asyncio.get_running_loop()
        if loop not in self._writer_locks:
            self._writer_locks[loop] = asyncio.Lock()
        return self._writer_locks[loop]

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One read-only transaction that sees every table as of one instant."""
        with self._snapshot() as session, session.begin():
            yield session
