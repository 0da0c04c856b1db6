"""Audit entries record the rows they write, so the log can be replayed against the tables;
evaluators may give their organisation's identifier; an assignment a later conflict reaches is suspended.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("rows", sa.JSON(), nullable=True, comment="the governed rows the write left, by table and key")
        )
    with op.batch_alter_table("evaluators") as batch:
        batch.add_column(
            sa.Column("organisation_id", sa.String(length=100), nullable=True, comment="PIC, VAT number or similar")
        )
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(
            sa.Column(
                "suspended", sa.Text(), nullable=True, comment="why a conflict found later suspends it; NULL: active"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("suspended")
    with op.batch_alter_table("evaluators") as batch:
        batch.drop_column("organisation_id")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("rows")
