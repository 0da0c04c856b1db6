"""Tables of the API store.

Calls keep every uploaded version (text and parsed form) so scores given under one
version are never silently re-read under another. Money is ``Numeric(14, 2)`` and
scores ``Numeric(6, 2)``: exact on SQLite and PostgreSQL alike. Score sheets carry
a version for optimistic concurrency; the audit log is only ever appended to, and
its head (last sequence number and hash) lives in a one-row table so that a deleted
tail is as detectable as an edited row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Integer, MetaData, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SCORE = Numeric(6, 2, asdecimal=True)
MONEY = Numeric(14, 2, asdecimal=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment in UTC; SQLite keeps no time zone, so what it gives back is marked UTC again."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: UtcDateTime}


class CallRow(Base):
    """A call as the agency knows it: its id, current version and assignment policy."""

    __tablename__ = "calls"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    current_version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agency_id: Mapped[str] = mapped_column(String(100), index=True, comment="the agency that created the call")
    phase: Mapped[str] = mapped_column(String(40), comment="where the call is in api.phases.PHASES")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CallVersion(Base):
    """One uploaded version of a call: the YAML text as sent, and what it parsed to."""

    __tablename__ = "call_versions"
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    parsed: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("call_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    code: Mapped[str] = mapped_column(String(200), comment="the proposal id the agency gave it")
    acronym: Mapped[str] = mapped_column(String(200), default="")
    topic: Mapped[str | None] = mapped_column(String(200))
    requested_amount: Mapped[Decimal] = mapped_column(MONEY)
    data: Mapped[dict[str, Any]] = mapped_column(comment="the proposal without evaluations and consensus")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EvaluatorRow(Base):
    __tablename__ = "evaluators"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[str | None] = mapped_column(String(100), comment="PIC, VAT number or similar")
    country: Mapped[str] = mapped_column(String(2))
    topics: Mapped[list[Any]] = mapped_column(default=list)
    agency_id: Mapped[str] = mapped_column(String(100), index=True, comment="the agency that registered them")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AssignmentRow(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("proposal_id", "evaluator_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    evaluator_id: Mapped[str] = mapped_column(ForeignKey("evaluators.id"), index=True)
    method: Mapped[str] = mapped_column(String(20), comment="manual or automatic")
    suspended: Mapped[str | None] = mapped_column(Text, comment="why a conflict found later suspends it; NULL: active")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConflictRow(Base):
    """A declared conflict of interest; detected ones (organisation, country) are derived."""

    __tablename__ = "conflicts"
    __table_args__ = (UniqueConstraint("proposal_id", "evaluator_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    evaluator_id: Mapped[str] = mapped_column(ForeignKey("evaluators.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    declared_by: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VersionedSheet:
    """Columns every sheet has: its version (the ETag), the call version it was checked against, and
    who imported it when it came in a file rather than from its evaluator."""

    id: Mapped[int] = mapped_column(primary_key=True)
    call_version: Mapped[int] = mapped_column(Integer, comment="the call version the scores were checked against")
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str | None] = mapped_column(
        String(200),
        default=None,
        comment="the agency that imported the sheet from a proposals file; NULL: submitted through the API",
    )


class CriterionValue:
    """Columns every row of a sheet has: the criterion and a comment on it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    criterion: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")


class ScoreSheet(VersionedSheet, Base):
    """One evaluator's scores for one proposal; ``version`` guards against lost updates."""

    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("proposal_id", "evaluator_id"),)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    evaluator_id: Mapped[str] = mapped_column(ForeignKey("evaluators.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), comment="draft or submitted; only submitted sheets count")
    reopened_reason: Mapped[str | None] = mapped_column(Text, comment="why the agency reopened it after the close")


class Withdrawal(Base):
    """An assignment withdrawn although its evaluator had a sheet: the sheet stops counting, and why is kept."""

    __tablename__ = "withdrawals"
    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    evaluator_id: Mapped[str] = mapped_column(ForeignKey("evaluators.id"))
    sheet_state: Mapped[str] = mapped_column(String(20), comment="the sheet's state when it was withdrawn")
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by: Mapped[str] = mapped_column(String(200))
    withdrawn_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Score(CriterionValue, Base):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("sheet_id", "criterion"),)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"), index=True)
    value: Mapped[Decimal | None] = mapped_column(SCORE, comment="NULL: not applicable")


class ConsensusSheet(VersionedSheet, Base):
    """The panel's agreed score per criterion for one proposal; overrides consolidation."""

    __tablename__ = "consensus_sheets"
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), unique=True)


class ConsensusScore(CriterionValue, Base):
    __tablename__ = "consensus_scores"
    __table_args__ = (UniqueConstraint("sheet_id", "criterion"),)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("consensus_sheets.id", ondelete="CASCADE"), index=True)
    value: Mapped[Decimal] = mapped_column(SCORE)


class RunRow(Base):
    """An allocation or simulation run: the inputs it read and the result, both as JSON."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), comment="allocation or simulation")
    call_version: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TokenRow(Base):
    """An API token; only its sha256 is kept, so a leaked database leaks no token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    evaluator_id: Mapped[str | None] = mapped_column(ForeignKey("evaluators.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    agency_id: Mapped[str] = mapped_column(String(100), index=True, comment="the agency the token acts for")
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), comment="the one call it reaches; NULL: all")
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None] = mapped_column(
        comment="updated at most once a minute", info={"audited": False}
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One write, chained to the previous entry by ``prev_hash``; rows are never updated."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), comment="ISO 8601 UTC, hashed as written")
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rows: Mapped[list[Any] | None] = mapped_column(JSON, comment="the governed rows the write left, by table and key")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last sequence number and hash, locked by every writer to serialise the chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class WebSession(Base):
    """A browser's signed-in session: who it acts as, its CSRF token, and when it was last used.

    Only a hash of the session id is kept (as for tokens). Signing out sets ``ended_at``,
    so a copied cookie is dead on the server, not only deleted in one browser.
    """

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64), info={"audited": False})  # a secret: kept out of the log
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info={"audited": False})  # changes on reads
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
