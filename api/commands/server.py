"""Server-side commands: create the database, serve the API, create API tokens, verify the audit chain.

Only ``init`` and ``serve`` create or migrate a database; the others open an existing
one and refuse a missing or unmigrated one, so a mistyped ``--database`` is an error
rather than a new, empty store.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from api.roles import Role

console = Console(highlight=False, soft_wrap=True)
Database = Annotated[
    str | None,
    typer.Option("--database", metavar="URL", help="SQLAlchemy URL; default $DATABASE_URL, else sqlite:///grants.db"),
]
token_app = typer.Typer(help="API tokens (only their hash is stored).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
TAMPERED = 1


def init(database: Database = None) -> None:
    """Create the database, or migrate it to this version (alembic upgrade head)."""
    from api.db.session import Store, database_url

    url = database_url(database)
    Store.open(url).engine.dispose()
    console.print(f"database ready: {_shown(url)}")


def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="worker processes")] = 1,
    database: Database = None,
) -> None:
    """Serve the HTTP API; the database is created or migrated (alembic upgrade head) first."""
    import uvicorn

    from api.db.session import Store, database_url

    url = database_url(database)
    Store.open(url).engine.dispose()
    os.environ["DATABASE_URL"] = url
    console.print(f"grants API on http://{host}:{port} (docs at /docs), database {_shown(url)}")
    uvicorn.run(
        "api.app:app_from_environment", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="agency, evaluator or finance")],
    evaluator: Annotated[
        str | None, typer.Option(metavar="ID", help="the evaluator id an evaluator token acts as")
    ] = None,
    label: Annotated[str, typer.Option(metavar="TEXT", help="a note on whose token it is")] = "",
    database: Database = None,
) -> None:
    """Create an API token and print it once; the database keeps only its hash."""
    from api.auth import create_token
    from api.db.session import Store

    store = Store.existing(database)
    with store.session(write=True) as session:
        token = create_token(session, role, evaluator, label)
        session.commit()
    typer.echo(token)


@audit_app.command("verify")
def audit_verify(database: Database = None) -> None:
    """Recompute the audit chain; name every edited or deleted entry (exit 1 if any)."""
    from api.audit import verify
    from api.db.session import Store

    store = Store.existing(database)
    with store.session(write=False) as session:
        report = verify(session)
    if report.ok:
        console.print(f"audit log intact: {report.entries} entries, every hash chains")
        return
    for problem in report.problems:
        console.print(f"[red]tampered[/red] {problem}")
    raise typer.Exit(TAMPERED)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
