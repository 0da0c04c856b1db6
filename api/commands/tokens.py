"""``grants token``: create, list and revoke API tokens, on the server's database.

Heavy modules (SQLAlchemy, the store) are imported inside each command, so that
``grants --help`` and the commands that never touch a database start quickly.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.commands.server import Database
from api.roles import DEFAULT_AGENCY, Role

token_app = typer.Typer(help="API tokens: only their hash is stored; each acts for one agency.", no_args_is_help=True)
Agency = Annotated[str, typer.Option(help="the agency the token acts for")]


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="agency, evaluator or finance")],
    agency: Agency = DEFAULT_AGENCY,
    call: Annotated[str | None, typer.Option(help="the one call it reaches; omitted: every call of the agency")] = None,
    evaluator: Annotated[str | None, typer.Option(help="the evaluator id an evaluator token acts as")] = None,
    label: Annotated[str, typer.Option(help="a note on whose token it is")] = "",
    expires: Annotated[
        str | None, typer.Option(help="a date (2027-03-31), a moment, a lifetime (30d, 12h) or 'never'; default 90d")
    ] = None,
    database: Database = None,
) -> None:
    """Create an API token and print it once; the database keeps only its hash."""
    from api.db.session import Store
    from api.tokens import expiry, grant

    store = Store.existing(database)
    with store.session(write=True) as session:
        granted = grant(
            session,
            "cli",
            role,
            agency_id=agency,
            evaluator_id=evaluator,
            call_id=call,
            label=label,
            expires_at=expiry(expires),
        )
        session.commit()
    typer.echo(granted.token)


@token_app.command("list")
def token_list(
    agency: Annotated[str | None, typer.Option(help="only this agency's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout")] = False,
    database: Database = None,
) -> None:
    """Every token with its role, agency, call, expiry, revocation and last use (never the token itself)."""
    from rich.console import Console
    from rich.table import Table

    from api.db.session import Store
    from api.tokens import agency_tokens

    store = Store.existing(database)
    with store.session(write=False) as session:
        found = agency_tokens(session, agency)
    if as_json:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in found], indent=2))
        return
    table = Table("id", "role", "agency", "call", "evaluator", "label", "expires", "last used", "state")
    for t in found:
        state = "revoked" if t.revoked_at else "active" if t.active else "expired"
        table.add_row(
            str(t.id),
            t.role,
            t.agency_id,
            t.call_id or "all",
            t.evaluator_id or "",
            t.label,
            t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never",
            t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never",
            state,
        )
    Console(highlight=False, soft_wrap=True).print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id, as `grants token list` shows it")],
    database: Database = None,
) -> None:
    """Revoke a token: its next request is refused (401)."""
    from api.db.session import Store
    from api.tokens import revoke

    store = Store.existing(database)
    with store.session(write=True) as session:
        revoked = revoke(session, "cli", token_id)
        session.commit()
    typer.echo(f"token {revoked.id} revoked at {revoked.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
