"""Writes run as a group give what each run alone gives: the same answers, the same stored rows, one audit entry each.

The same scenario (first sheets, replacements, a no-op, refusals of every kind between
them, a consensus) runs twice on one store, emptied in between: once as a single group,
whose refusals make it fall back, once write by write as the ordinary path runs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import Integer, Table, event, insert, select

from api import audit
from api.auth import DEFAULT_AGENCY, Principal, Recheck, Role, Scope, WriteCaller, bearer_token, token_hash, token_row
from api.db.models import AuditEntry, AuditHead, Base
from api.db.session import GROUPED, Store
from api.evaluation import Save, SheetIn, SheetWrite, save_consensus, save_scores
from api.tokens import revoke
from api.write_groups import WriteGroups, _Outcome
from tests.api.conftest import (
    CALL_ID,
    YAML,
    World,
    _emptied,
    assign,
    call_yaml,
    evaluator_profile,
    move,
    proposals_json,
    three_proposals,
)

Item = tuple[Callable[..., Any], tuple[Any, ...]]
MOMENT_COLUMNS = {"updated_at", "created_at", "declared_at", "withdrawn_at", "last_used_at", "expires_at", "at"}
CHAIN_COLUMNS = {"hash", "prev_hash", "token_hash"}


def _sheet(*scores: str | None, state: str = "submitted") -> SheetIn:
    values = dict(zip(("excellence", "impact", "implementation"), scores, strict=False))
    return SheetIn.model_validate({"scores": values, "state": state})


def _queued(
    caller: WriteCaller | Principal, code: str, sheet: SheetIn, if_match: str | None = None, save: Save = save_scores
) -> Item:
    """A sheet write as the route queues it (a score sheet unless ``save`` says otherwise)."""
    return SheetWrite(save, caller, CALL_ID, code, sheet, if_match), ()


def _world(store: Store) -> tuple[Principal, Principal, Principal]:
    """The test call open, E1 assigned P1 and P2, E2 assigned P1; their principals and the agency's."""
    world = World(store)
    agency = world.actor(Role.agency)
    assert agency.post("/calls", content=call_yaml(), headers=YAML).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(*three_proposals())).status_code == 200
    for evaluator_id in ("E1", "E2"):
        assert agency.post("/evaluators", json=evaluator_profile(evaluator_id)).status_code == 201
    move(agency, "open_evaluation")
    for proposal_id, evaluator_id in (("P1", "E1"), ("P2", "E1"), ("P1", "E2")):
        assign(agency, proposal_id, evaluator_id)
    ids = [world.token(Role.evaluator, e) for e in ("E1", "E2")]
    with store.session(write=False) as session:
        rows = [token_row(session, token) for token in ids]
    e1, e2 = (Principal(r.id, Role.evaluator, r.evaluator_id, Scope.assigned) for r in rows if r is not None)
    return e1, e2, Principal(1, Role.agency, None, Scope.all, DEFAULT_AGENCY)


def _scenario(e1: Principal, e2: Principal, agency: Principal) -> list[Item]:
    return [
        _queued(e1, "P1", _sheet("4", "3.5", "2")),  # created
        _queued(e2, "P1", _sheet("5", None, "1", state="draft")),
        _queued(e1, "P1", _sheet("3", "3", "3"), "*"),  # replaced
        _queued(e1, "P1", _sheet("3", "3", "3"), '"2"'),  # the same again: a no-op
        _queued(e1, "P2", _sheet("9", "3", "3")),  # off the scale: 422
        _queued(e1, "P2", _sheet("4", "4", "4")),
        _queued(e1, "P1", _sheet("2", "2", "2"), '"7"'),  # stale: 412
        _queued(e1, "P1", _sheet("2", "2", "2")),  # no If-Match: 428
        _queued(e2, "P2", _sheet("2", "2", "2")),  # not assigned: 404
        _queued(e1, "P1", _sheet("1", "1.5", "1"), '"2"'),
        _queued(agency, "P1", _sheet("4", "4", "4"), save=save_consensus),
        _queued(e2, "P1", _sheet("5", "1", "1"), '"1"'),
    ]


def _plain(outcome: _Outcome) -> Any:
    if outcome.error is not None:
        return type(outcome.error).__name__, str(outcome.error)
    return outcome.value.created, outcome.value.sheet.model_dump(mode="json", exclude={"updated_at"})


def _stored(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows in key order, without the moments and the hashes that depend on them.

    Surrogate ids are renumbered in their order: PostgreSQL does not hand back the ids a
    rolled-back group drew, so a fallen-back group's rows have higher ids, in the same order.
    """
    found, renumbered = {}, {}
    with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:  # a referenced table comes before the rows that refer to it
            rows = [dict(r) for r in connection.execute(select(table).order_by(*table.primary_key.columns)).mappings()]
            if "id" in table.c and isinstance(table.c.id.type, Integer):
                renumbered[table.name] = {row["id"]: n for n, row in enumerate(rows)}
            for row in rows:
                for key in table.foreign_keys:
                    if key.column.table.name in renumbered and row[key.parent.name] is not None:
                        row[key.parent.name] = renumbered[key.column.table.name][row[key.parent.name]]
                if table.name in renumbered:
                    row["id"] = renumbered[table.name][row["id"]]
            dropped = MOMENT_COLUMNS | CHAIN_COLUMNS | ({"rows"} if table is AuditEntry.__table__ else set())
            found[table.name] = [_timeless({k: v for k, v in row.items() if k not in dropped}) for row in rows]
    return found


def _timeless(value: Any) -> Any:
    """A value without the moments in it, at any depth (an audit entry's before and after hold sheets)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in MOMENT_COLUMNS}
    return value


def _verified(store: Store) -> None:
    with store.session(write=False) as session:
        report = audit.verify(session)
    assert report.ok, report.problems


def _reset(store: Store) -> None:
    if not store.sqlite:
        _emptied(store)
        return
    with store.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        head: Table = AuditHead.__table__  # type: ignore[assignment]
        connection.execute(insert(head).values(id=audit.HEAD_ID, seq=0, hash=audit.GENESIS))


def _both_ways(store: Store) -> tuple[tuple[list[Any], Any], tuple[list[Any], Any]]:
    grouped = [_plain(o) for o in WriteGroups(store).outcomes(_scenario(*_world(store)))]
    _verified(store)
    state = _stored(store)
    _reset(store)
    groups = WriteGroups(store)
    alone = [_plain(groups.outcomes([item])[0]) for item in _scenario(*_world(store))]
    _verified(store)
    return (grouped, state), (alone, _stored(store))


def test_a_group_answers_and_stores_what_the_writes_alone_do(store: Store) -> None:
    (grouped, grouped_state), (alone, alone_state) = _both_ways(store)
    assert grouped == alone
    assert grouped_state == alone_state
    kinds = [answer[0] for answer in alone]
    assert kinds == [
        True, True, False, False, "ScoreError", True, "PreconditionFailed", "PreconditionRequired", "NotFound",
        False, True, False,
    ]  # fmt: skip
    entries = [e["action"] for e in alone_state["audit_log"]]
    assert entries[-7:] == ["scores.put"] * 5 + ["consensus.put", "scores.put"]


def _commits(store: Store) -> list[str]:
    """The database transactions ``store`` commits from now on (savepoints are not) and its moves of the audit head."""
    seen: list[str] = []
    event.listen(store.engine, "commit", lambda connection: seen.append("commit"))

    def moved(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE audit_head"):
            seen.append("head moved")

    event.listen(store.engine, "before_cursor_execute", moved)
    return seen


def test_writes_that_all_succeed_commit_once(store: Store) -> None:
    e1, e2, _ = _world(store)
    commits = _commits(store)
    items: list[Item] = [
        _queued(e1, "P1", _sheet("4", "4", "4")),
        _queued(e2, "P1", _sheet("3", "3", "3")),
        _queued(e1, "P2", _sheet("2", "2", "2")),
        _queued(e1, "P1", _sheet("1", "1", "1"), "*"),
    ]
    outcomes = WriteGroups(store).outcomes(items)
    assert [o.error for o in outcomes] == [None] * 4
    assert [o.value.sheet.version for o in outcomes] == [1, 1, 1, 2]
    assert commits == ["head moved", "commit"]
    _verified(store)


def test_a_failed_commit_runs_each_write_alone(store: Store) -> None:
    e1, e2, _ = _world(store)
    failed: list[str] = []

    def fail_once(session: Any) -> None:
        if session.info.get(GROUPED) and not session.in_nested_transaction() and not failed:
            failed.append("the group's commit")
            raise RuntimeError("disk full")

    event.listen(store._write, "before_commit", fail_once)
    items: list[Item] = [
        _queued(e1, "P1", _sheet("4", "4", "4")),
        _queued(e2, "P1", _sheet("3", "3", "3")),
    ]
    outcomes = WriteGroups(store).outcomes(items)
    assert [(o.error, o.value.created) for o in outcomes] == [(None, True), (None, True)]
    assert failed == ["the group's commit"]
    with store.session(write=False) as session:
        assert session.execute(select(AuditHead.seq)).scalar_one() == len(_stored(store)["audit_log"])
    _verified(store)


@pytest.mark.parametrize("score", [Decimal("9"), Decimal("2.5")])
def test_a_write_in_a_group_sees_the_one_before_it(store: Store, score: Decimal) -> None:
    e1, _, _ = _world(store)
    first = _queued(e1, "P1", _sheet("4", "4", "4"))
    second = _queued(e1, "P1", _sheet(str(score), "4", "4"))
    outcomes = WriteGroups(store).outcomes([first, second])
    assert outcomes[0].value.sheet.version == 1
    expected = "ScoreError" if score > 5 else "PreconditionRequired"  # the first is there now: If-Match needed
    assert type(outcomes[1].error).__name__ == expected
    assert isinstance(outcomes[0].value.sheet.updated_at, dt.datetime)


def _waiting(store: Store, stop: BaseException | None) -> list[Any]:
    """Two writes queued behind a group that is cancelled (``stop`` None) or breaks; what their requests get."""
    groups = WriteGroups(store)
    release = threading.Event()

    def outcomes(items: list[Item]) -> list[_Outcome]:
        release.wait(10)
        if stop is not None:
            raise stop
        return [_Outcome(value=n) for n, _ in enumerate(items)]

    groups.outcomes = outcomes  # type: ignore[method-assign,assignment]

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(groups.write(print, "first"))
        await asyncio.sleep(0.05)  # the first group is running
        second = asyncio.ensure_future(groups.write(print, "second"))
        await asyncio.sleep(0)
        if stop is None:
            runner = groups._queues[asyncio.get_running_loop()].runner
            assert runner is not None
            runner.cancel()
        release.set()
        return list(await asyncio.gather(first, second, return_exceptions=True))

    return asyncio.run(scenario())


def test_writes_waiting_on_a_cancelled_group_are_cancelled_not_left_waiting(store: Store) -> None:
    assert [type(answer) for answer in _waiting(store, None)] == [asyncio.CancelledError] * 2


def test_writes_waiting_on_a_broken_group_get_its_error(store: Store) -> None:
    broken = RuntimeError("the database went away")
    assert _waiting(store, broken) == [broken, broken]


def _callers(store: Store) -> tuple[WriteCaller, WriteCaller]:
    """E1 and E2 as a sheet write's route scopes them from their bearer records, before the group reads them again."""
    world = World(store)
    _world(store)
    callers = []
    for evaluator_id in ("E1", "E2"):
        token = world.token(Role.evaluator, evaluator_id)
        found = bearer_token(store, token, CALL_ID)
        assert found is not None
        principal = Principal(found.id, Role.evaluator, evaluator_id, Scope.assigned, found.agency_id)
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        callers.append(WriteCaller(principal, found, token_hash(token), CALL_ID, credentials))
    return callers[0], callers[1]


def _reads(store: Store, naming: str) -> list[str]:
    """The SELECT statements the store runs from now on whose text holds ``naming``."""
    seen: list[str] = []

    def read(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT") and naming in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", read)
    return seen


def test_a_group_reads_its_writers_tokens_in_one_statement(store: Store) -> None:
    e1, e2 = _callers(store)
    reads = _reads(store, "FROM api_tokens")
    items: list[Item] = [
        _queued(e1, "P1", _sheet("4", "4", "4")),
        _queued(e2, "P1", _sheet("3", "3", "3")),
        _queued(e1, "P2", _sheet("2", "2", "2")),
    ]
    outcomes = WriteGroups(store).outcomes(items)
    assert [o.error for o in outcomes] == [None] * 3
    assert len(reads) == 1
    _verified(store)


def test_a_token_revoked_after_its_caller_was_scoped_is_refused_in_the_group(store: Store) -> None:
    e1, e2 = _callers(store)
    with store.session(write=True) as session:
        revoke(session, "test", e2.bearer.id)
        session.commit()
    items: list[Item] = [
        _queued(e1, "P1", _sheet("4", "4", "4")),
        _queued(e2, "P1", _sheet("3", "3", "3")),
        _queued(e1, "P2", _sheet("2", "2", "2")),
    ]
    outcomes = WriteGroups(store).outcomes(items)
    assert [type(o.error) for o in outcomes] == [type(None), Recheck, type(None)]
    assert [e["target"] for e in _stored(store)["audit_log"][-2:]] == [
        f"call/{CALL_ID}/proposal/P1/evaluator/E1",
        f"call/{CALL_ID}/proposal/P2/evaluator/E1",
    ]
    _verified(store)


def test_a_group_reads_its_score_writes_targets_in_one_statement_on_postgresql(store: Store) -> None:
    if store.sqlite:
        pytest.skip("SQLite reads each target alone")
    e1, e2 = _callers(store)
    reads = _reads(store, "JOIN call_versions")
    items: list[Item] = [
        _queued(e1, "P1", _sheet("4", "4", "4")),
        _queued(e2, "P1", _sheet("3", "3", "3")),
        _queued(e1.principal, "P2", _sheet("2", "2", "2")),  # a caller read again: a principal
        _queued(e1, "P1", _sheet("1", "1", "1"), '"1"'),  # read again
    ]
    outcomes = WriteGroups(store).outcomes(items)
    assert [(o.error, o.value.sheet.version) for o in outcomes] == [(None, 1), (None, 1), (None, 1), (None, 2)]
    assert ["unnest" in statement for statement in reads] == [True, False]
    _verified(store)
