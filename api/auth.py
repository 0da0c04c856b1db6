"""API tokens, roles, and the one table of who may do what on each endpoint.

Permissions are plain data (:data:`PERMISSIONS`): for each route, the roles allowed
and the scope each role has there. Every router checks through :func:`authorize`,
which looks the route up in the table and refuses what is not in it, so an endpoint
cannot forget its check, and the tests walk the same table against the routes.
Only a token's sha256 is stored: tokens are 256-bit random, so a plain hash is
enough and a leaked database leaks no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.db import limits
from api.db.models import EvaluatorRow, TokenRow
from api.db.session import Store
from api.problems import Forbidden, NotFound, Unauthorized
from api.roles import Role
from rules.errors import GrantsError

TOKEN_PREFIX = "grants_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Scope(StrEnum):
    """What part of the data a role reaches on an endpoint."""

    all = "all"
    assigned = "assigned"  # only proposals assigned to the evaluator, without a conflict
    own = "own"  # only records about the evaluator themself


A, E, F = Role.agency, Role.evaluator, Role.finance
EVERYONE = {A: Scope.all, E: Scope.all, F: Scope.all}

PERMISSIONS: dict[tuple[str, str], dict[Role, Scope]] = {
    ("POST", "/calls"): {A: Scope.all},
    ("GET", "/calls"): EVERYONE,
    ("GET", "/calls/{call_id}"): EVERYONE,
    ("GET", "/calls/{call_id}/versions/{version}"): EVERYONE,
    ("GET", "/calls/{call_id}/policy"): {A: Scope.all, F: Scope.all},
    ("PUT", "/calls/{call_id}/policy"): {A: Scope.all},
    ("POST", "/calls/{call_id}/proposals"): {A: Scope.all},
    ("GET", "/calls/{call_id}/proposals"): {A: Scope.all, E: Scope.assigned, F: Scope.all},
    ("GET", "/calls/{call_id}/proposals/{proposal_id}"): {A: Scope.all, E: Scope.assigned, F: Scope.all},
    ("GET", "/calls/{call_id}/eligibility"): {A: Scope.all, F: Scope.all},
    ("POST", "/evaluators"): {A: Scope.all},
    ("GET", "/evaluators"): {A: Scope.all},
    ("GET", "/evaluators/{evaluator_id}"): {A: Scope.all, E: Scope.own},
    ("POST", "/calls/{call_id}/conflicts"): {A: Scope.all, E: Scope.own},
    ("GET", "/calls/{call_id}/conflicts"): {A: Scope.all, E: Scope.own},
    ("POST", "/calls/{call_id}/assignments"): {A: Scope.all},
    ("POST", "/calls/{call_id}/assignments/auto"): {A: Scope.all},
    ("GET", "/calls/{call_id}/assignments"): {A: Scope.all, E: Scope.own},
    ("DELETE", "/calls/{call_id}/assignments/{proposal_id}/{evaluator_id}"): {A: Scope.all},
    ("PUT", "/calls/{call_id}/proposals/{proposal_id}/scores"): {E: Scope.assigned},
    ("GET", "/calls/{call_id}/proposals/{proposal_id}/scores"): {A: Scope.all, E: Scope.assigned},
    ("PUT", "/calls/{call_id}/proposals/{proposal_id}/consensus"): {A: Scope.all},
    ("GET", "/calls/{call_id}/proposals/{proposal_id}/consensus"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/ranking"): {A: Scope.all, F: Scope.all},
    ("POST", "/calls/{call_id}/allocations"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/allocations"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/allocations/{run_id}"): {A: Scope.all, F: Scope.all},
    ("POST", "/calls/{call_id}/simulations"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/simulations"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/simulations/{run_id}"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/reports/allocations/{run_id}/{document}"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/reports/allocations/{run_id}/proposals/{proposal_id}.html"): {A: Scope.all, F: Scope.all},
    ("GET", "/audit"): {A: Scope.all},
    ("GET", "/audit/verify"): {A: Scope.all},
}


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what scope the table gives them on this endpoint."""

    token_id: int
    role: Role
    evaluator_id: str | None
    scope: Scope = Scope.all

    @property
    def name(self) -> str:
        """How the audit log names the caller."""
        who = f"{self.role}:{self.evaluator_id}" if self.evaluator_id else str(self.role)
        return f"{who} (token {self.token_id})"

    @property
    def limited(self) -> bool:
        return self.scope is not Scope.all


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, role: Role, evaluator_id: str | None = None, label: str = "") -> str:
    """A new token, returned once; the store keeps its hash and the audit log its creation."""
    if (role is Role.evaluator) != (evaluator_id is not None):
        raise GrantsError("an evaluator token needs --evaluator ID, and only an evaluator token takes one")
    unkept = [*limits.too_long(label, "label", limits.TOKEN_LABEL_LENGTH), *limits.unstorable(label, "label")]
    if unkept:
        raise GrantsError(unkept)
    if evaluator_id is not None and session.get(EvaluatorRow, evaluator_id) is None:
        raise NotFound(f"evaluator {evaluator_id!r} is not registered; an agency registers it with POST /evaluators")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(token_hash=token_hash(token), role=role.value, evaluator_id=evaluator_id, label=label)
    session.add(row)
    session.flush()
    after = {"role": role.value, "evaluator": evaluator_id, "label": label}
    audit.record(session, "cli", "token.create", f"token/{row.id}", None, after)
    return token


async def writer_turn(request: Request) -> AsyncIterator[None]:
    """On SQLite, a write request waits its turn here, on the event loop, before it opens a transaction."""
    store: Store = request.app.state.store
    if not store.sqlite or request.method in SAFE_METHODS:
        yield
        return
    async with store.writer_lock():
        yield


def request_session(request: Request, _turn: Annotated[None, Depends(writer_turn)]) -> Iterator[Session]:
    """One session per request: a write transaction for writes, a read transaction otherwise."""
    store: Store = request.app.state.store
    with store.session(write=request.method not in SAFE_METHODS) as session:
        yield session


Db = Annotated[Session, Depends(request_session)]
bearer = HTTPBearer(auto_error=False, description="an API token from `grants token create`")


def authorize(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller, if their token is known and the permission table lets their role use this route.

    The token is looked up in a read transaction of its own, so a long request (an
    allocation run) holds no write transaction while it computes.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    store: Store = request.app.state.store
    with store.session(write=False) as session:
        query = select(TokenRow).where(TokenRow.token_hash == token_hash(credentials.credentials))
        token = session.execute(query).scalar_one_or_none()
    if token is None:
        raise Unauthorized("unknown API token")
    route = request.scope.get("route")
    allowed = PERMISSIONS.get((request.method, getattr(route, "path", "")), {})
    role = Role(token.role)
    if role not in allowed:
        raise Forbidden(f"the {role} role may not {request.method} {getattr(route, 'path', request.url.path)}")
    return Principal(token.id, role, token.evaluator_id, allowed[role])


Caller = Annotated[Principal, Depends(authorize)]
