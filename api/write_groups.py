"""Sheet writes committed in groups: one transaction, one commit and one thread hop for the writes waiting together.

A process's writes take turns anyway: on SQLite behind the writer lock, on PostgreSQL at
the audit head every write session locks first. So the score and consensus routes do not
each open a transaction and wait their turn: they queue here, and one task per event loop
runs whatever has queued as one group in a worker thread. Each write in the group is the
ordinary use case on the group's session, with its own checks read in that transaction (so
it sees the writes before it), its own audit entry, in order; only the commit is shared
(:func:`api.db.session.end_write`), and the audit head moves once, to the group's last
entry, as it commits. On PostgreSQL the score writes' targets are read in one statement
at the first of them, which gives each the rows its own read would (see
:func:`api.evaluation._grouped_target_rows`). A request is answered once the group's commit returns, so an
answer still means the write is durable.

If a write fails, or the commit does, the group is rolled back and nothing of it stays:
the writes before the failed one run again as a group, the failed one runs alone as the
ordinary path runs it (its own transaction, its own answer), then the rest. Every answer is
thus the ordinary path's answer on the state the writes before it left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from starlette.concurrency import run_in_threadpool

from api import audit
from api.db.session import GROUP, GROUPED, Store

MAX_GROUP = 64  # writes in one transaction: enough for a burst of clients, short enough to answer them soon

Write = Callable[..., Any]


@dataclass(frozen=True)
class _Pending:
    """A queued write: the use case, its arguments after the session, and the future its request awaits."""

    write: Write
    args: tuple[Any, ...]
    answer: asyncio.Future[Any]


@dataclass(frozen=True)
class _Outcome:
    """What one write gave: its result, or the exception its request is to raise."""

    value: Any = None
    error: BaseException | None = None


class _Queue:
    """The writes waiting on one event loop, and the task running them (None while none waits)."""

    def __init__(self) -> None:
        self.waiting: list[_Pending] = []
        self.runner: asyncio.Task[None] | None = None


class WriteGroups:
    """The queue sheet writes of one store wait in, per event loop, and the groups they run in."""

    def __init__(self, store: Store):
        self.store = store
        self._queues: WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = WeakKeyDictionary()

    async def write(self, write: Write, *args: Any) -> Any:
        """``write(session, *args)`` in the next group; its result once the group is committed, or its exception."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        pending = _Pending(write, args, loop.create_future())
        queue.waiting.append(pending)
        if queue.runner is None:
            queue.runner = loop.create_task(self._run(queue))
        return await pending.answer

    async def _run(self, queue: _Queue) -> None:
        """Groups until nobody waits; it ends in the step that answers the last group, before they are sent."""
        group: list[_Pending] = []
        try:
            while queue.waiting:
                group, queue.waiting[:] = queue.waiting[:MAX_GROUP], queue.waiting[MAX_GROUP:]
                async with self._turn():
                    outcomes = await run_in_threadpool(self.outcomes, [(p.write, p.args) for p in group])
                for pending, outcome in zip(group, outcomes, strict=True):
                    _settle(pending.answer, outcome)
        except BaseException as exc:  # cancelled (the loop shuts down) or broken: nobody is left waiting forever
            for pending in [*group, *queue.waiting]:
                if isinstance(exc, asyncio.CancelledError):
                    pending.answer.cancel()
                else:
                    _settle(pending.answer, _Outcome(error=exc))
            queue.waiting.clear()
            raise
        finally:
            queue.runner = None

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        """On SQLite the group waits in the same queue as every other writer of this process."""
        return self.store.writer_lock() if self.store.sqlite else nullcontext()

    def outcomes(self, group: list[tuple[Write, tuple[Any, ...]]]) -> list[_Outcome]:
        """Each write's outcome, in order: as a group if every write and the commit succeed, else as described above."""
        if len(group) <= 1:
            return [self._alone(*item) for item in group]
        failed = self._as_group(group)
        if isinstance(failed, list):
            return failed
        if failed is None:  # the commit failed: each write again on its own
            return [self._alone(*item) for item in group]
        return [*self.outcomes(group[:failed]), self._alone(*group[failed]), *self.outcomes(group[failed + 1 :])]

    def _as_group(self, group: list[tuple[Write, tuple[Any, ...]]]) -> list[_Outcome] | int | None:
        """The outcomes if the group committed; else the index of the write that failed (None: the commit)."""
        with self.store.session(write=True) as session:
            session.info[GROUPED] = session.info[audit.MOVE_AT_COMMIT] = True
            session.info[GROUP] = group
            results = []
            for index, (write, args) in enumerate(group):
                try:
                    results.append(write(session, *args))
                except Exception:
                    session.rollback()
                    return index
            try:
                session.commit()
            except Exception:
                session.rollback()
                return None
        return [_Outcome(value) for value in results]

    def _alone(self, write: Write, args: tuple[Any, ...]) -> _Outcome:
        """The write as the ordinary path runs it: a session of its own, committed by the use case."""
        try:
            with self.store.session(write=True) as session:
                return _Outcome(write(session, *args))
        except Exception as exc:
            return _Outcome(error=exc)


def _settle(answer: asyncio.Future[Any], outcome: _Outcome) -> None:
    if answer.done():  # its request went away; the write stands, as one sent to a worker thread would
        return
    if outcome.error is not None:
        answer.set_exception(outcome.error)
    else:
        answer.set_result(outcome.value)
