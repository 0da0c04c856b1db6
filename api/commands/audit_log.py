"""``grants audit head``: the chain's head, to be kept where the database's writers cannot reach.

A head exported now and given later to ``grants audit verify --head`` proves that the
log still holds that entry unchanged: cutting the log back below it, with the head
table moved back to match, is then found.
"""

from __future__ import annotations

from typing import Annotated

import typer

Database = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL; default $DATABASE_URL, else sqlite:///grants.db")
]


def audit_head(database: Database = None) -> None:
    """Print the audit chain's head (last entry number and hash) as JSON, to keep outside the database."""
    from api import audit
    from api.db.session import Store

    store = Store.existing(database)
    with store.session(write=False) as session:
        typer.echo(audit.head(session).model_dump_json())
