"""Server-side commands: create the database, serve the API, verify the audit chain.

Only ``init`` and ``serve`` create or migrate a database; the others open an existing
one and refuse a missing or unmigrated one, so a mistyped ``--database`` is an error
rather than a new, empty store.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from api.commands import ending
from rules.errors import GrantsError

if TYPE_CHECKING:
    from api.audit import ExportedHead

console = Console(highlight=False, soft_wrap=True)
warnings = Console(stderr=True, highlight=False, soft_wrap=True)
Database = Annotated[
    str | None,
    typer.Option("--database", metavar="URL", help="SQLAlchemy URL; default $DATABASE_URL, else sqlite:///grants.db"),
]
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
    """Serve the HTTP API; the database is created or migrated (alembic upgrade head) first.

    Each worker listens on a socket of its own where the kernel can share connections out
    between them (``api.listeners``).
    """
    from uvicorn.config import STARTUP_FAILURE

    from api import listeners

    gc.enable()  # a server lives long: the collector the command line switched off is needed again
    ending.give_back_freed_memory()  # and memory it no longer uses goes back to the kernel

    from api.db.session import Store, database_url

    sockets = listeners.worker_sockets(host, port, workers)  # a port in use fails at once, before any migration
    url = database_url(database)
    Store.open(url).engine.dispose()
    os.environ["DATABASE_URL"] = url
    console.print(f"grants API on http://{host}:{port} (docs at /docs), database {_shown(url)}")
    if not listeners.run("api.app:app_from_environment", host, port, sockets, workers, factory=True):
        raise typer.Exit(STARTUP_FAILURE)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@audit_app.command("verify")
def audit_verify(
    database: Database = None,
    head: Annotated[
        Path | None,
        typer.Option("--head", metavar="FILE", help="a head `grants audit head` exported: the log must still hold it"),
    ] = None,
) -> None:
    """Recompute the audit chain and replay it against the tables; name every entry or row that differs (exit 1)."""
    from api.audit import verify
    from api.db.session import Store

    exported = None if head is None else _exported(head)
    store = Store.existing(database)
    with store.session(write=False) as session:
        report = verify(session, exported)
    for warning in report.warnings:
        warnings.print(f"[yellow]warning[/yellow] {warning}")
    if report.ok:
        console.print(f"audit log intact: {report.entries} entries, every hash chains, every governed row as logged")
        return
    for problem in report.problems:
        console.print(f"[red]tampered[/red] {problem}")
    raise typer.Exit(TAMPERED)


def _exported(path: Path) -> ExportedHead:
    from api.audit import ExportedHead

    try:
        return ExportedHead.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GrantsError(f"{path}: not a head `grants audit head` wrote ({str(exc).splitlines()[0]})") from None


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
