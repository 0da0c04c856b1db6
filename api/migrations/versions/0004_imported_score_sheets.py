"""Score and consensus sheets say which agency imported them from a file (NULL: submitted through the API).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
TABLES = ("score_sheets", "consensus_sheets")
COMMENT = "the agency that imported the sheet from a proposals file; NULL: submitted through the API"


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("imported_by", sa.String(length=200), nullable=True, comment=COMMENT))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("imported_by")
