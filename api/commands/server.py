"""Server-side commands: serve the API, verify the audit chain."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.engine import make_url

from api.audit import verify
from api.db.session import Store, database_url

console = Console(highlight=False, soft_wrap=True)
Database = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL; default $DATABASE_URL, else sqlite:///grants.db")
]
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
TAMPERED = 1


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    database: Database = None,
) -> None:
    """Serve the HTTP API; the database is created or migrated (alembic upgrade head) first."""
    url = database_url(database)
    Store.open(url).engine.dispose()
    os.environ["DATABASE_URL"] = url
    console.print(f"grants API on http://{host}:{port} (docs at /docs), database {_shown(url)}")
    uvicorn.run(
        "api.app:app_from_environment", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@audit_app.command("verify")
def audit_verify(database: Database = None) -> None:
    """Recompute the audit chain; name every edited or deleted entry (exit 1 if any)."""
    store = Store.open(database)
    with store.session(write=False) as session:
        report = verify(session)
    if report.ok:
        console.print(f"audit log intact: {report.entries} entries, every hash chains")
        return
    for problem in report.problems:
        console.print(f"[red]tampered[/red] {problem}")
    raise typer.Exit(TAMPERED)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
