"""The evaluation's use cases: score sheets, consensus, reopening, withdrawing, progress.

Each function is one action: it checks the caller may do it in the call's phase,
validates, writes and records its audit entry, and commits, so the JSON routes and
the web pages call the same thing. A sheet (one evaluator's scores for one proposal,
or the panel's consensus) has a version, sent as the ETag; replacing it needs that
version, and the write is a compare-and-set on the version column, so of two
writers holding the same version exactly one wins and the other gets 412 with what
is there now. Sending the same sheet again is a no-op (idempotent PUT).

An evaluator's sheet is a ``draft`` (kept, possibly incomplete, not counted) or
``submitted`` (complete, counted). Evaluators write while the evaluation is open;
after the close only a sheet the agency reopened, with a reason, until it is
submitted again. An assignment whose evaluator has a sheet is withdrawn only with
a reason, kept beside the sheet and shown in the evaluation's progress.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field
from sqlalchemy import (
    ARRAY,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause

from api import audit, audit_replay
from api.auth import Principal, Scope, WriteCaller, checked_again
from api.db import queries
from api.db.limits import Storable, findable
from api.db.models import (
    AssignmentRow,
    CallRow,
    CallVersion,
    ConsensusScore,
    ConsensusSheet,
    ProposalRow,
    Score,
    ScoreSheet,
    Withdrawal,
    utcnow,
)
from api.db.session import GROUP, end_write
from api.phases import Phase, Write, phase_of, require
from api.problems import Conflict, NotFound, PreconditionFailed, PreconditionRequired
from api.request_bounds import MAX_CRITERIA_PER_SHEET
from api.routers.common import if_match_version
from evaluator.scoring import validate_sheet
from rules.errors import GrantsError, Problem, ScoreError
from rules.money import CENT


class SheetState(StrEnum):
    draft = "draft"
    submitted = "submitted"


class SheetIn(Storable):
    scores: dict[str, Decimal | None] = Field(
        max_length=MAX_CRITERIA_PER_SHEET, description="score per criterion; null: not applicable"
    )
    comments: dict[str, str] = Field(
        default_factory=dict, max_length=MAX_CRITERIA_PER_SHEET, description="comment per criterion"
    )
    state: SheetState = Field(
        default=SheetState.submitted,
        description="draft: kept, may leave criteria out, not counted; submitted: complete and counted",
    )


class SheetOut(SheetIn):
    proposal_id: str
    evaluator_id: str | None = Field(description="None for the consensus")
    call_version: int = Field(description="the call version the scores were checked against")
    version: int
    updated_by: str
    updated_at: dt.datetime
    reopened_reason: str | None = Field(default=None, description="why the agency reopened it after the close")
    imported_by: str | None = Field(
        default=None, description="the agency that imported these scores from a proposals file; null: submitted here"
    )


@dataclass(frozen=True)
class Saved:
    """A sheet as stored, and whether this write created it."""

    sheet: SheetOut
    created: bool


_p, _c, _v = ProposalRow.__table__.c, CallRow.__table__.c, CallVersion.__table__.c
_TARGET = (
    _p.id.label("proposal_key"),
    _p.call_id,
    _p.code,
    _c.phase,
    _c.current_version,
    _c.agency_id,
    _v.created_at,
)
"""What a write reads of the proposal a sheet is written for and of its call."""


def _target_read(sheets: Table, values: Table, proposals: FromClause, evaluator_id: Any) -> Select[Any]:
    """The proposals of ``proposals`` with their calls, and each one's sheet (of ``evaluator_id``, None: the
    proposal's own) with its values: one row per value, one row of nulls for no sheet.

    ``proposals`` is the proposal table, which one write's read filters by its call and code,
    or a group's wanted keys joined to it (:func:`_batch`): one builder, so that a group's
    read gives each write the rows its own read would.
    """
    mine = [sheets.c.proposal_id == _p.id]
    if evaluator_id is not None:
        mine.append(sheets.c.evaluator_id == evaluator_id)
    return (
        select(*_TARGET, *sheets.c, values.c.criterion, values.c.value, values.c.comment)
        .select_from(proposals)
        .join(CallRow.__table__, _c.id == _p.call_id)
        .join(CallVersion.__table__, (_v.call_id == _c.id) & (_v.version == _c.current_version))
        .outerjoin(sheets, and_(*mine))
        .outerjoin(values, values.c.sheet_id == sheets.c.id)
    )


class Kind:
    """Where a kind of sheet lives: an evaluator's score sheet, or the proposal's consensus.

    The two pairs of tables have the same shape (a versioned sheet and its values per
    criterion); ``Any`` lets one piece of code serve both. A write goes through the Core
    statements built here once: the sheet with its values in one read, then the
    compare-and-set, the values replaced, each returning the rows as stored for the audit entry.
    The read is the target's: the proposal as the caller's scope sees it, its call, and the
    caller's sheet with its values, one row per value (one row of nulls for no sheet).
    """

    def __init__(self, sheet: type[Any], value: type[Any]):
        self.sheet, self.value = sheet, value
        sheets, values = self.sheet_table, self.value_table
        read = (
            _target_read(sheets, values, ProposalRow.__table__, bindparam("evaluator_id") if self.scored else None)
            .where(_p.call_id == bindparam("call_id"), _p.code == bindparam("code"))
            .order_by(values.c.id)
        )
        self.targets = {
            Scope.all: read,
            Scope.assigned: read.where(_p.id.in_(queries.assigned(bindparam("evaluator_id")))),
        }
        self.create = insert(sheets).returning(*sheets.c)
        stamped = [c for c in sheets.c if c.name in {"version", "state", *STAMP}]
        self.replace = (
            update(sheets)
            .where(sheets.c.id == bindparam("replaced"), sheets.c.version == bindparam("expected"))
            .values({c: bindparam(f"set_{c.name}") for c in stamped})
            .returning(*sheets.c)
        )
        self.clear = delete(values).where(values.c.sheet_id == bindparam("sheet_id")).returning(values.c.id)
        self.fill = insert(values).returning(*values.c)
        self.merge = _merge(self.replace, values)
        self.batch = _batch(sheets, values) if self.scored else None

    @property
    def scored(self) -> bool:
        return self.sheet is ScoreSheet

    @property
    def sheet_table(self) -> Table:
        table: Table = self.sheet.__table__
        return table

    @property
    def value_table(self) -> Table:
        table: Table = self.value.__table__
        return table

    def of(self, proposal: Sheeted, evaluator_id: str | None) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [self.sheet.proposal_id == proposal.id]
        if evaluator_id is not None and self.scored:
            where.append(ScoreSheet.evaluator_id == evaluator_id)
        return where


def _batch(sheets: Table, values: Table) -> Select[Any]:
    """PostgreSQL's one read of the targets of a group's score writes: the assigned read, for many writers at once.

    The read for :attr:`Scope.assigned` (:func:`_target_read`), each (call, proposal,
    evaluator) wanted coming as three arrays (so the text is the same for any group and psycopg
    prepares it once), its rows after its place in them (``at``, from 1).
    """
    wanted = (
        func.unnest(
            bindparam("call_ids", type_=ARRAY(_p.call_id.type)),
            bindparam("codes", type_=ARRAY(_p.code.type)),
            bindparam("evaluator_ids", type_=ARRAY(sheets.c.evaluator_id.type)),
        )
        .table_valued("call_id", "code", "evaluator_id", with_ordinality="at")
        .render_derived("wanted")
    )
    proposals = wanted.join(ProposalRow.__table__, (_p.call_id == wanted.c.call_id) & (_p.code == wanted.c.code))
    return (
        _target_read(sheets, values, proposals, wanted.c.evaluator_id)
        .add_columns(wanted.c.at)
        .where(_p.id.in_(queries.assigned(wanted.c.evaluator_id)))
        .order_by(wanted.c.at, values.c.id)
    )


STAMP = ("updated_by", "updated_at", "call_version", "imported_by")
"""What every write of a sheet sets besides its version and state: who, when, against which call version."""


def _merge(replace: Any, values: Table) -> Select[Any]:
    """PostgreSQL's one statement for a replacement: the compare-and-set, and the values merged into the sheet's rows.

    The sheet's ``replace`` and three data-modifying CTEs, all on the statement's one
    snapshot and so on disjoint rows: a criterion the sheet keeps has its row updated in
    place (its id stays), one it drops has its row deleted, one it gains gets a new row;
    each only if the compare-and-set matched. The criteria, scores and comments come as
    three arrays, so the statement's text is the same for any sheet and psycopg prepares it
    once. One row comes back per value row written or deleted (or one for none), each with
    the sheet as stored: the sheet's columns, then the value's, then whether it was deleted;
    no row at all means another writer replaced the sheet first. Its parameters are named
    apart from the value table's columns (``replaced``, not ``sheet_id``): SQLAlchemy takes a
    parameter named like a column as a value the CTE's ``UPDATE`` of the values is to set.
    """
    c = values.c
    sheet = replace.cte("sheet")
    given = (
        select(
            func.unnest(
                bindparam("criteria", type_=ARRAY(c.criterion.type)),
                bindparam("values", type_=ARRAY(c.value.type)),
                bindparam("comments", type_=ARRAY(c.comment.type)),
            )
            .table_valued(c.criterion.name, c.value.name, c.comment.name)
            .render_derived()
        )
    ).cte("given")
    same_criterion = c.criterion == given.c.criterion
    kept = (
        update(values)
        .where(c.sheet_id == sheet.c.id, same_criterion)
        .values({c.value: given.c.value, c.comment: given.c.comment})
        .returning(*c)
        .cte("kept")
    )
    gone = delete(values).where(c.sheet_id == sheet.c.id, ~exists().where(same_criterion)).returning(c.id).cte("gone")
    new = (
        select(sheet.c.id, given.c.criterion, given.c.value, given.c.comment)
        .select_from(sheet.join(given, true()))  # each criterion given, for the sheet if the compare-and-set matched
        .where(~exists().where(c.sheet_id == sheet.c.id, same_criterion))
    )
    added = insert(values).from_select([c.sheet_id, c.criterion, c.value, c.comment], new).returning(*c).cte("added")
    changed = union_all(
        select(*kept.c, false().label("gone")),
        select(*added.c, false()),
        select(*(gone.c.id if column.name == "id" else null() for column in c), true()),
    ).subquery("changed")
    return select(*sheet.c, *changed.c).select_from(sheet.outerjoin(changed, true())).order_by(changed.c.id)


SCORES, CONSENSUS = Kind(ScoreSheet, Score), Kind(ConsensusSheet, ConsensusScore)


@dataclass(frozen=True)
class Stored:
    """A sheet as one read found it: as the API shows it, and its row (state, reopening)."""

    sheet: SheetOut | None
    row: Any


@dataclass(frozen=True)
class TargetCall:
    """The call a sheet is written for, as the write reads it (no ORM instance: the write needs no unit of work)."""

    id: str
    phase: str
    current_version: int
    agency_id: str


@dataclass(frozen=True)
class TargetProposal:
    """The proposal a sheet is written for: the columns of :class:`ProposalRow` the write uses."""

    id: int
    call_id: str
    code: str


Sheeted = ProposalRow | TargetProposal
"""The proposal a sheet belongs to: its ORM row (reads, reopening) or the write's Core read of it."""


@dataclass(frozen=True)
class Target:
    """What a sheet write needs of its call and proposal, read together."""

    call: TargetCall
    proposal: TargetProposal
    uploaded: dt.datetime  # when the call's current version was stored: with its number, the parsed model's key


def _target(session: Session, principal: Principal, call_id: str, code: str, kind: Kind) -> tuple[Target, Stored]:
    """The call and the proposal, if the caller sees it (assigned, no conflict, for an evaluator); else 404.

    With them, in the same statement, the caller's sheet of ``kind`` and its values.
    """
    grouped = _grouped_target_rows(session, principal, call_id, code, kind)
    if grouped is not None:
        rows: Sequence[Any] = grouped
    elif findable(call_id) and findable(code):
        query = kind.targets[Scope.assigned if principal.scope is Scope.assigned else Scope.all]
        params = {"call_id": call_id, "code": code, "evaluator_id": principal.evaluator_id or ""}
        rows = session.connection().execute(query, params).all()
    else:
        rows = []
    found = rows[0] if rows else None
    if found is None or not principal.reaches(found.call_id, found.agency_id):
        queries.proposal_row(session, call_id, code, principal)  # names what is missing: the call or the proposal
        raise NotFound(f"no proposal {code!r} in call {call_id!r}")
    call = TargetCall(found.call_id, found.phase, found.current_version, found.agency_id)
    target = Target(call, TargetProposal(found.proposal_key, found.call_id, found.code), found.created_at)
    if found.id is None:
        return target, Stored(None, None)
    return target, Stored(_out(target.proposal, found, [r for r in rows if r.criterion is not None]), found)


GROUP_TARGETS = "group_targets"  # session.info: (transaction, the target rows not yet read by key), see below
TargetKey = tuple[str, str, str]
"""A score write's target as a group reads it: the call, the proposal's code, the evaluator."""


def _grouped_target_rows(
    session: Session, principal: Principal, call_id: str, code: str, kind: Kind
) -> list[Any] | None:
    """The target's rows as a group of writes read them (None: read them alone), on PostgreSQL.

    The first score write of a group's transaction reads the targets of all its score writes
    in one statement (:func:`_batch`), after the audit head is locked and before any of them
    writes, so each write's rows are what its own read would give: no one else writes while
    the group holds the head, and a score write changes its own sheet only. Each key's rows
    are taken once; a later write of the same sheet in the group reads alone, and sees the one before.
    """
    key = _group_key(principal, call_id, code)
    if kind.batch is None or key is None:
        return None
    if session.get_bind().dialect.name != "postgresql" or GROUP not in session.info:
        return None
    connection = session.connection()  # begins the transaction (locking the head) the rows are held for
    transaction = session.get_transaction()
    held = session.info.get(GROUP_TARGETS)
    if held is None or held[0] is not transaction:
        held = session.info[GROUP_TARGETS] = (transaction, _read_group_targets(connection, session, kind.batch))
    targets: dict[TargetKey, list[Any]] = held[1]
    return targets.pop(key, None)


def _read_group_targets(connection: Connection, session: Session, batch: Select[Any]) -> dict[TargetKey, list[Any]]:
    """The rows of the targets of the group's score writes (none found: no rows), by key."""
    keys = list(dict.fromkeys(_group_score_keys(session)))
    rows = connection.execute(
        batch,
        {"call_ids": [k[0] for k in keys], "codes": [k[1] for k in keys], "evaluator_ids": [k[2] for k in keys]},
    )
    found: dict[TargetKey, list[Any]] = {key: [] for key in keys}
    for row in rows:
        found[keys[row.at - 1]].append(row)
    return found


def _group_score_keys(session: Session) -> Iterator[TargetKey]:
    """The key of each score write queued in the session's group that is read with the group's."""
    for write in _queued(session):
        key = _group_key(write.principal, write.call_id, write.proposal_id) if write.save is save_scores else None
        if key is not None:
            yield key


def _group_key(principal: Principal, call_id: str, code: str) -> TargetKey | None:
    """The key a score write's target is read under with its group's: an evaluator's, within their assignments.

    None: the write reads its target alone (an agency's write, or a call or code no row can have).
    """
    if principal.scope is not Scope.assigned or not principal.evaluator_id:
        return None
    return (call_id, code, principal.evaluator_id) if findable(call_id) and findable(code) else None


def _sheets(session: Session, kind: Kind, proposal: Sheeted, evaluator_id: str | None) -> list[SheetOut]:
    query = select(kind.sheet).where(*kind.of(proposal, evaluator_id)).execution_options(populate_existing=True)
    sheets = session.execute(query.order_by(kind.sheet.id)).scalars().all()
    if not sheets:
        return []
    values = session.execute(select(kind.value).where(kind.value.sheet_id.in_([s.id for s in sheets]))).scalars()
    by_sheet: dict[int, list[Any]] = {}
    for value in values:
        by_sheet.setdefault(value.sheet_id, []).append(value)
    return [_out(proposal, sheet, by_sheet.get(sheet.id, [])) for sheet in sheets]


def _sheet_row(session: Session, kind: Kind, proposal: Sheeted, evaluator_id: str | None) -> Any:
    query = select(kind.sheet).where(*kind.of(proposal, evaluator_id)).execution_options(populate_existing=True)
    return session.execute(query).scalar_one_or_none()


def _stored_sheet(**fields: Any) -> SheetOut:
    """A sheet from values the store holds or a validated :class:`SheetIn` gave, so built without validating.

    :class:`~api.db.limits.Storable` walks every value of a model it validates, which is
    for what a client sends; a write builds two sheets (before and after) from trusted values.
    """
    return SheetOut.model_construct(**fields)


def _out(proposal: Sheeted, sheet: Any, values: list[Any]) -> SheetOut:
    """A sheet as the API shows it, from its ORM row or a Core row of the same columns."""
    return _stored_sheet(
        proposal_id=proposal.code,
        evaluator_id=getattr(sheet, "evaluator_id", None),
        call_version=sheet.call_version,
        version=sheet.version,
        scores={v.criterion: v.value for v in values},
        comments={v.criterion: v.comment for v in values if v.comment},
        state=SheetState(getattr(sheet, "state", SheetState.submitted)),
        reopened_reason=getattr(sheet, "reopened_reason", None),
        updated_by=sheet.updated_by,
        updated_at=sheet.updated_at,
        imported_by=sheet.imported_by,
    )


def _validated(session: Session, target: Target, sheet: SheetIn, evaluator_id: str | None) -> int:
    """Check the sheet against the call's current criteria; returns the call version used.

    A draft may leave criteria out: it is checked as if they were "not applicable".
    """
    proposal, version = target.proposal, target.call.current_version
    call = queries.shared_call(session, proposal.call_id, version, target.uploaded)
    unknown = [
        Problem(f"comment on unknown criterion {c!r}", f"comments.{c}") for c in sheet.comments if c not in sheet.scores
    ]
    unknown += [
        Problem(f"{c}: {v} has more than two decimals; scores are kept to the hundredth", f"scores.{c}")
        for c, v in sheet.scores.items()
        if v is not None and (not v.is_finite() or v != v.quantize(CENT))
    ]
    scores: dict[str, Decimal | None] = dict(sheet.scores)
    if evaluator_id is None:
        unknown += [Problem(f"consensus for {c} cannot be null", f"scores.{c}") for c, v in scores.items() if v is None]
    elif sheet.state is SheetState.draft:
        scores = {c.id: scores.get(c.id) for c in call.criteria} | scores
    if unknown:
        raise ScoreError(unknown)
    validate_sheet(call, proposal.code, evaluator_id, scores)
    return version


def _values(sheet_id: int, sheet: SheetIn) -> list[dict[str, Any]]:
    return [
        {"sheet_id": sheet_id, "criterion": c, "value": v, "comment": sheet.comments.get(c, "")}
        for c, v in sheet.scores.items()
    ]


Values = dict[audit_replay.Key, dict[str, Any] | None]
"""A sheet's value rows a write left, by key, as the audit entry records them (None: deleted)."""


def _filled(connection: Connection, kind: Kind, sheet_id: int, sheet: SheetIn) -> Values:
    """The sheet's values inserted, as they stand."""
    filled = connection.execute(kind.fill, _values(sheet_id, sheet)).all() if sheet.scores else []
    return dict(audit_replay.stood(kind.value_table, [r._mapping for r in filled]))


def _replaced(
    connection: Connection, kind: Kind, cas: dict[str, Any], sheet: SheetIn
) -> tuple[Mapping[Any, Any] | None, Values]:
    """The compare-and-set, then the sheet's values replaced: the sheet as stored (None: lost the race), its rows."""
    written = connection.execute(kind.replace, cas).one_or_none()
    if written is None:
        return None, {}
    values: Values = {(r.id,): None for r in connection.execute(kind.clear, {"sheet_id": written.id})}
    values.update(_filled(connection, kind, written.id, sheet))  # a deleted id reused: as it stands now
    return written._mapping, values


def _merged(
    connection: Connection, kind: Kind, cas: dict[str, Any], sheet: SheetIn
) -> tuple[Mapping[Any, Any] | None, Values]:
    """What :func:`_replaced` gives, in one statement (:func:`_merge`): PostgreSQL's round trip per replacement.

    The rows differ in one way, which the audit entry records as it is: a criterion the sheet
    keeps keeps its value row (updated, same id) instead of a new row under a new id.
    """
    criteria = list(sheet.scores)
    arrays = {
        "criteria": criteria,
        "values": [sheet.scores[c] for c in criteria],
        "comments": [sheet.comments.get(c, "") for c in criteria],
    }
    rows = connection.execute(kind.merge, {**cas, **arrays}).all()
    if not rows:
        return None, {}
    sheet_names, value_names = [c.name for c in kind.sheet_table.c], [c.name for c in kind.value_table.c]
    width = len(sheet_names)
    values: Values = {}
    for row in rows:
        value = dict(zip(value_names, row[width : width + len(value_names)], strict=True))
        if value["id"] is None:  # the sheet had no values and has none
            continue
        values.update({(value["id"],): None} if row[-1] else audit_replay.stood(kind.value_table, [value]))
    return dict(zip(sheet_names, rows[0][:width], strict=True)), values


def _same(current: SheetOut, sheet: SheetIn) -> bool:
    comments = {c: t for c, t in sheet.comments.items() if t}
    return current.scores == sheet.scores and current.comments == comments and current.state is sheet.state


def _written(
    current: SheetOut | None, proposal: Sheeted, evaluator_id: str | None, sheet: SheetIn, **stamp: Any
) -> SheetOut:
    """The sheet as stored: scores to the cent, empty comments dropped (as a read would give it)."""
    return _stored_sheet(
        proposal_id=proposal.code,
        evaluator_id=evaluator_id,
        scores={c: None if v is None else v.quantize(CENT) for c, v in sheet.scores.items()},
        comments={c: t for c, t in sheet.comments.items() if t},
        state=sheet.state if evaluator_id else SheetState.submitted,
        reopened_reason=current.reopened_reason if current else None,
        **stamp,
    )


def _put(
    session: Session,
    kind: Kind,
    target: Target,
    evaluator_id: str | None,
    sheet: SheetIn,
    if_match: str | None,
    principal: Principal,
    stored: Stored,
) -> Saved:
    """Create or replace a sheet if the caller holds its current version; audited, committed."""
    proposal = target.proposal
    call_version = _validated(session, target, sheet, evaluator_id)
    current = stored.sheet
    if current is not None and _same(current, sheet):
        return Saved(current, created=False)
    expected = if_match_version(if_match, current.version if current else None, current)
    if current is None and expected is not None:
        raise PreconditionFailed(f"there is no sheet at version {expected} yet; send it without If-Match", None)
    if current is not None and expected is None:
        raise PreconditionRequired(f"the sheet is at version {current.version}; send If-Match to replace it", current)
    if current is not None and expected != current.version:
        raise PreconditionFailed(f"the sheet is at version {current.version}, not {expected}", current)
    # STAMP's fields, named once so that a replacement sets every field a creation sets; imported_by
    # None: a sheet written here is its writer's, even over an imported one
    stamp: dict[str, Any] = dict(zip(STAMP, (principal.name, utcnow(), call_version, None), strict=True))
    state = {"state": sheet.state.value} if kind.scored else {}
    connection = session.connection()
    if current is None:
        owner = {"evaluator_id": evaluator_id} if kind.scored else {}
        try:
            with session.begin_nested():
                row = connection.execute(
                    kind.create, {"proposal_id": proposal.id, "version": 1, **owner, **state, **stamp}
                )
        except IntegrityError:
            raise PreconditionFailed(
                "another request created this sheet first", _sheets(session, kind, proposal, evaluator_id)[0]
            ) from None
        created = row.one()._mapping
        written: Mapping[Any, Any] | None = created
        values = _filled(connection, kind, created["id"], sheet)
    else:
        fields = {"version": current.version + 1, **state, **stamp}
        cas = {"replaced": stored.row.id, "expected": expected, **{f"set_{k}": v for k, v in fields.items()}}
        replaced = _merged if connection.dialect.name == "postgresql" else _replaced
        written, values = replaced(connection, kind, cas, sheet)
    if written is None:
        raise PreconditionFailed(
            "another request replaced the sheet first", _sheets(session, kind, proposal, evaluator_id)[0]
        )
    after = _written(current, proposal, evaluator_id, sheet, version=written["version"], **stamp)
    known: audit_replay.Known = {
        kind.sheet_table: audit_replay.stood(kind.sheet_table, [written]),
        kind.value_table: values,
    }
    action = "scores.put" if evaluator_id else "consensus.put"
    audit.record(session, principal.name, action, _target_name(proposal, evaluator_id), current, after, known)
    end_write(session)
    return Saved(after, created=current is None)


def _target_name(proposal: Sheeted, evaluator_id: str | None) -> str:
    name = f"evaluator/{evaluator_id}" if evaluator_id else "consensus"
    return f"call/{proposal.call_id}/proposal/{proposal.code}/{name}"


def _reopened(stored: Stored) -> bool:
    """A sheet the agency reopened and its evaluator has not submitted again."""
    row = stored.row
    return row is not None and row.state == SheetState.draft and row.reopened_reason is not None


def save_scores(
    session: Session, principal: Principal, call_id: str, proposal_id: str, sheet: SheetIn, if_match: str | None
) -> Saved:
    """An evaluator writes their sheet for a proposal assigned to them: while open, or reopened after the close."""
    target, stored = _target(session, principal, call_id, proposal_id, SCORES)
    evaluator_id = principal.evaluator_id
    if evaluator_id is None:
        raise NotFound("only an evaluator has a score sheet; the panel's agreed scores are the consensus")
    if not (phase_of(target.call) is Phase.evaluation_closed and _reopened(stored)):
        require(target.call, Write.scores, "evaluators write their sheets (or one the agency reopened after the close)")
    return _put(session, SCORES, target, evaluator_id, sheet, if_match, principal, stored)


def save_consensus(
    session: Session, principal: Principal, call_id: str, proposal_id: str, sheet: SheetIn, if_match: str | None
) -> Saved:
    """The agency records the panel's consensus score per criterion; it overrides consolidation."""
    call = queries.call_row(session, call_id, principal)
    require(call, Write.consensus, "the consensus is written")
    target, stored = _target(session, principal, call_id, proposal_id, CONSENSUS)
    submitted = sheet.model_copy(update={"state": SheetState.submitted})
    return _put(session, CONSENSUS, target, None, submitted, if_match, principal, stored)


Save = Callable[[Session, Principal, str, str, SheetIn, str | None], Saved]


@dataclass(frozen=True)
class SheetWrite:
    """A sheet write as a group of writes queues it (:mod:`api.write_groups`): the use case, who writes, which sheet.

    What a group reads once for all its writes (their tokens, their score targets) is read
    from these fields, so it cannot come to depend on the order of a use case's arguments.
    A ``caller`` that is a :class:`~api.auth.WriteCaller` has its token read again in the
    group's transaction before ``save`` runs.
    """

    save: Save
    caller: Principal | WriteCaller
    call_id: str
    proposal_id: str
    sheet: SheetIn
    if_match: str | None

    @property
    def principal(self) -> Principal:
        return self.caller.principal if isinstance(self.caller, WriteCaller) else self.caller

    def __call__(self, session: Session) -> Saved:
        principal = self.caller
        if isinstance(principal, WriteCaller):
            writers = [w.caller for w in _queued(session) if isinstance(w.caller, WriteCaller)]
            principal = checked_again(session, principal, writers)
        return self.save(session, principal, self.call_id, self.proposal_id, self.sheet, self.if_match)


def _queued(session: Session) -> list[SheetWrite]:
    """The sheet writes of the group the session runs (none when it runs one write alone)."""
    return [write for write, _args in session.info.get(GROUP, ()) if isinstance(write, SheetWrite)]


def read_scores(session: Session, principal: Principal, call_id: str, proposal_id: str) -> list[SheetOut]:
    """Every evaluator's sheet for the proposal; an evaluator gets their own."""
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    own = principal.evaluator_id if principal.scope is Scope.assigned else None
    return _sheets(session, SCORES, proposal, own)


def read_consensus(session: Session, principal: Principal, call_id: str, proposal_id: str) -> SheetOut:
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    found = _sheets(session, CONSENSUS, proposal, None)
    if not found:
        raise NotFound(f"proposal {proposal_id!r} has no consensus yet")
    return found[0]


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise GrantsError([Problem(f"{what} needs a reason, kept in the audit log", "reason")])
    return text


def reopen_sheet(
    session: Session, principal: Principal, call_id: str, proposal_id: str, evaluator_id: str, reason: str | None
) -> SheetOut:
    """After the close, the agency reopens one submitted sheet, with a reason: its evaluator may write it again."""
    call = queries.call_row(session, call_id, principal)
    require(call, Write.reopen_sheet, "a sheet is reopened")
    text = _reason(reason, "reopening a sheet")
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    row = _sheet_row(session, SCORES, proposal, evaluator_id)
    if row is None:
        raise NotFound(f"{evaluator_id!r} has no sheet for {proposal_id!r}")
    if row.state != SheetState.submitted:
        raise Conflict(f"{evaluator_id!r}'s sheet for {proposal_id!r} is a draft already; it needs no reopening")
    before = _sheets(session, SCORES, proposal, evaluator_id)[0]
    row.state, row.reopened_reason, row.version = SheetState.draft.value, text, row.version + 1
    row.updated_by, row.updated_at = principal.name, utcnow()
    session.flush()
    after = _sheets(session, SCORES, proposal, evaluator_id)[0]
    audit.record(session, principal.name, "scores.reopen", _target_name(proposal, evaluator_id), before, after)
    session.commit()
    return after


def withdraw_assignment(
    session: Session, principal: Principal, call_id: str, proposal_id: str, evaluator_id: str, reason: str | None
) -> None:
    """Withdraw an assignment; one whose evaluator has a sheet needs a reason, kept and shown in the progress."""
    call = queries.call_row(session, call_id, principal)
    require(call, Write.assignments, "assignments are withdrawn")
    proposal = queries.proposal_row(session, call_id, proposal_id, principal)
    evaluator = queries.evaluator_row(session, evaluator_id, principal.agency_id)
    row = session.execute(
        select(AssignmentRow).where(
            AssignmentRow.proposal_id == proposal.id, AssignmentRow.evaluator_id == evaluator.id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{evaluator_id!r} is not assigned to {proposal_id!r}")
    sheet = _sheet_row(session, SCORES, proposal, evaluator.id)
    before: dict[str, Any] = {"method": row.method}
    after: dict[str, Any] | None = None
    if sheet is not None:
        text = _reason(reason, f"withdrawing {evaluator_id!r}, who has a {sheet.state} sheet for {proposal_id!r},")
        before["sheet"] = {"state": sheet.state, "version": sheet.version}
        after = {"reason": text, "sheet_set_aside": sheet.state}
        session.add(
            Withdrawal(
                proposal_id=proposal.id,
                evaluator_id=evaluator.id,
                sheet_state=sheet.state,
                reason=text,
                withdrawn_by=principal.name,
            )
        )
    elif reason:
        after = {"reason": reason.strip()}
    session.delete(row)
    target = f"call/{call_id}/proposal/{proposal_id}/evaluator/{evaluator_id}"
    action = "assignment.withdraw_scored" if sheet is not None else "assignment.withdraw"
    audit.record(session, principal.name, action, target, before, after)
    session.commit()
