"""Tenancy, phases, sheet states and the token life cycle.

Calls and tokens gain the agency they belong to (existing ones: the agency
``main``), calls a phase (existing ones: open for evaluation, so their evaluators
keep writing), score sheets a state (existing ones: submitted, so they keep
counting) and the reason they were reopened, tokens an optional call, an expiry,
a revocation and a last-used time; withdrawals of assignments that had a sheet
are kept with their reason.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
MAIN = "main"  # the agency existing calls and tokens belong to
MOMENT = sa.DateTime(timezone=True)


def _add_with_backfill(table: str, column: sa.Column[str], existing: str) -> None:
    """A NOT NULL column whose existing rows get ``existing``; new rows always name their own value."""
    name = column.name
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column(name, column.type, nullable=True, comment=column.comment))
    op.execute(sa.text(f"UPDATE {table} SET {name} = :value").bindparams(value=existing))
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column(name, existing_type=column.type, nullable=False)


def upgrade() -> None:
    _add_with_backfill(
        "calls", sa.Column("agency_id", sa.String(100), comment="the agency that created the call"), MAIN
    )
    _add_with_backfill(
        "calls", sa.Column("phase", sa.String(40), comment="where the call is in api.phases.PHASES"), "evaluation_open"
    )
    with op.batch_alter_table("calls") as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_agency_id"), ["agency_id"], unique=False)
    _add_with_backfill(
        "score_sheets",
        sa.Column("state", sa.String(20), comment="draft or submitted; only submitted sheets count"),
        "submitted",
    )
    with op.batch_alter_table("score_sheets") as batch_op:
        batch_op.add_column(
            sa.Column("reopened_reason", sa.Text(), nullable=True, comment="why the agency reopened it after the close")
        )
    _add_with_backfill(
        "api_tokens", sa.Column("agency_id", sa.String(100), comment="the agency the token acts for"), MAIN
    )
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(
            sa.Column("call_id", sa.String(200), nullable=True, comment="the one call it reaches; NULL: all")
        )
        batch_op.add_column(sa.Column("expires_at", MOMENT, nullable=True))
        batch_op.add_column(sa.Column("revoked_at", MOMENT, nullable=True))
        batch_op.add_column(sa.Column("last_used_at", MOMENT, nullable=True, comment="updated at most once a minute"))
        batch_op.create_index(batch_op.f("ix_api_tokens_agency_id"), ["agency_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_api_tokens_call_id_calls"), "calls", ["call_id"], ["id"])
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("evaluator_id", sa.String(length=200), nullable=False),
        sa.Column("sheet_state", sa.String(20), nullable=False, comment="the sheet's state when it was withdrawn"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=False),
        sa.Column("withdrawn_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluator_id"], ["evaluators.id"], name=op.f("fk_withdrawals_evaluator_id_evaluators")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_withdrawals_proposal_id_proposals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
    )
    with op.batch_alter_table("withdrawals") as batch_op:
        batch_op.create_index(batch_op.f("ix_withdrawals_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("withdrawals") as batch_op:
        batch_op.drop_index(batch_op.f("ix_withdrawals_proposal_id"))
    op.drop_table("withdrawals")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_call_id_calls"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_tokens_agency_id"))
        for column in ("last_used_at", "revoked_at", "expires_at", "call_id", "agency_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("score_sheets") as batch_op:
        batch_op.drop_column("reopened_reason")
        batch_op.drop_column("state")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_agency_id"))
        batch_op.drop_column("phase")
        batch_op.drop_column("agency_id")
