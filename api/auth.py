"""API tokens, roles, and the one table of who may do what on each endpoint.

Permissions are plain data (:data:`PERMISSIONS`): for each route, the roles allowed
and the scope each role has there. Every router checks through :func:`authorize`,
which looks the route up in the table and refuses what is not in it, so an endpoint
cannot forget its check, and the tests walk the same table against the routes.

Tenancy is checked there too, once: a token acts for one agency, and perhaps for
one call of it. Every route under ``/calls/{call_id}`` answers 404 when the call
belongs to another agency or is not the token's call, as if it did not exist; the
routes in :data:`AGENCY_WIDE` need a token for all of its agency's calls. Revoked
and expired tokens are refused on their next request, and failed authentications
are audited and limited per client address (:mod:`api.lockout`).

Only a token's sha256 is stored: tokens are 256-bit random, so a plain hash is
enough and a leaked database leaks no usable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import audit, sessions
from api.db.limits import findable
from api.db.models import CallRow, TokenRow, utcnow
from api.db.session import Store
from api.lockout import client_address
from api.problems import Forbidden, NotFound, TooManyRequests, Unauthorized
from api.roles import DEFAULT_AGENCY, Role

TOKEN_PREFIX = "grants_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


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
    ("PUT", "/evaluators/{evaluator_id}"): {A: Scope.all},
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
    ("POST", "/calls/{call_id}/lottery/commitments"): {A: Scope.all},
    ("GET", "/calls/{call_id}/lottery/commitments"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/reports/allocations/{run_id}/{document}"): {A: Scope.all, F: Scope.all},
    ("GET", "/calls/{call_id}/reports/allocations/{run_id}/proposals/{proposal_id}.html"): {A: Scope.all, F: Scope.all},
    ("GET", "/audit"): {A: Scope.all},
    ("GET", "/audit/verify"): {A: Scope.all},
    ("GET", "/calls/{call_id}/phase"): EVERYONE,
    ("POST", "/calls/{call_id}/phase"): {A: Scope.all},
    ("GET", "/calls/{call_id}/progress"): {A: Scope.all},
    ("POST", "/calls/{call_id}/proposals/{proposal_id}/scores/{evaluator_id}/reopen"): {A: Scope.all},
    ("POST", "/tokens"): {A: Scope.all},
    ("GET", "/tokens"): {A: Scope.all},
    ("DELETE", "/tokens/{token_id}"): {A: Scope.all},
}
AGENCY_WIDE = frozenset({("GET", "/audit"), ("GET", "/audit/verify")})
"""Routes a token limited to one call may not use: they are about the whole agency."""

AF = {A: Scope.all, F: Scope.all}
PAGES: dict[tuple[str, str], dict[Role, Scope]] = {
    ("GET", "/"): EVERYONE,
    ("POST", "/sign-out"): EVERYONE,
    ("GET", "/evaluate"): {E: Scope.own},
    ("GET", "/evaluate/{call_id}/{proposal_id}"): {E: Scope.assigned},
    ("POST", "/evaluate/{call_id}/{proposal_id}"): {E: Scope.assigned},
    ("POST", "/evaluate/{call_id}/{proposal_id}/conflict"): {E: Scope.own},
    ("GET", "/agency"): {A: Scope.all},
    ("POST", "/agency/calls"): {A: Scope.all},
    ("GET", "/agency/calls/{call_id}"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/proposals"): {A: Scope.all},
    ("GET", "/agency/calls/{call_id}/eligibility"): {A: Scope.all},
    ("GET", "/agency/calls/{call_id}/assignments"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/assignments"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/assignments/auto"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/assignments/withdraw"): {A: Scope.all},
    ("GET", "/agency/calls/{call_id}/progress"): {A: Scope.all},
    ("GET", "/agency/calls/{call_id}/consensus/{proposal_id}"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/consensus/{proposal_id}"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/reopen"): {A: Scope.all},
    ("POST", "/agency/calls/{call_id}/phase"): {A: Scope.all},
    ("GET", "/agency/evaluators"): {A: Scope.all},
    ("POST", "/agency/evaluators"): {A: Scope.all},
    ("GET", "/agency/audit"): {A: Scope.all},
    ("GET", "/finance"): AF,
    ("GET", "/finance/calls/{call_id}"): AF,
    ("GET", "/finance/calls/{call_id}/allocations"): AF,
    ("POST", "/finance/calls/{call_id}/allocations"): AF,
    ("GET", "/finance/calls/{call_id}/allocations/{run_id}"): AF,
    ("GET", "/finance/calls/{call_id}/compare"): AF,
    ("GET", "/finance/calls/{call_id}/simulations"): AF,
    ("POST", "/finance/calls/{call_id}/simulations"): AF,
    ("GET", "/finance/calls/{call_id}/simulations/{run_id}"): AF,
}
"""The web pages, in the same table: a page is one more way to reach the same use cases."""
PUBLIC_PAGES = frozenset({("GET", "/sign-in"), ("POST", "/sign-in")})
PERMISSIONS.update(PAGES)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token, its role and agency, the call it is limited to, the table's scope here."""

    token_id: int
    role: Role
    evaluator_id: str | None
    scope: Scope = Scope.all
    agency_id: str = DEFAULT_AGENCY
    call_id: str | None = None

    @property
    def name(self) -> str:
        """How the audit log names the caller."""
        who = f"{self.role}:{self.evaluator_id}" if self.evaluator_id else str(self.role)
        return f"{who}@{self.agency_id} (token {self.token_id})"

    @property
    def limited(self) -> bool:
        return self.scope is not Scope.all

    def reaches(self, call_id: str, agency_id: str) -> bool:
        """Whether a call of ``agency_id`` exists for this caller at all (else it is a 404 to them)."""
        return agency_id == self.agency_id and self.call_id in (None, call_id)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def writer_turn(request: Request) -> AsyncIterator[None]:
    """On SQLite, a write request waits its turn here, on the event loop, before it opens a transaction."""
    store: Store = request.app.state.store
    if not store.sqlite or request.method in SAFE_METHODS:
        yield
        return
    async with store.writer_lock():
        yield


async def request_session(
    request: Request, _turn: Annotated[None, Depends(writer_turn, scope="function")]
) -> AsyncIterator[Session]:
    """One session per request: a write transaction for writes, a read transaction otherwise.

    Both end with the route's function (``scope="function"``), before the answer is sent:
    a write has committed by then, and the next SQLite writer need not wait for our client.
    Opening a session does no I/O, and neither does closing one whose transaction has ended
    (a committed write), so only a rollback takes a trip to a worker thread.
    """
    store: Store = request.app.state.store
    session = store.session(write=request.method not in SAFE_METHODS)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


Db = Annotated[Session, Depends(request_session, scope="function")]
bearer = HTTPBearer(auto_error=False, description="an API token from `grants token create`")


def token_row(session: Session, token: str) -> TokenRow | None:
    return session.execute(select(TokenRow).where(TokenRow.token_hash == token_hash(token))).scalar_one_or_none()


class TokenState(Protocol):
    """A token's columns as the checks read them: its ORM row (web sign-in) or a :class:`Bearer`."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def evaluator_id(self) -> str | None: ...
    @property
    def agency_id(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...
    @property
    def expires_at(self) -> dt.datetime | None: ...
    @property
    def revoked_at(self) -> dt.datetime | None: ...
    @property
    def last_used_at(self) -> dt.datetime | None: ...


AnyToken = TypeVar("AnyToken", bound=TokenState)


@dataclass(frozen=True)
class Bearer:
    """A bearer token's row as one request reads it, with the agency of the call its path names.

    A plain record, not an ORM instance: the request only checks it.
    """

    id: int
    role: str
    evaluator_id: str | None
    agency_id: str
    call_id: str | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    call_agency: str | None  # the agency of the call in the path; None: no call there, or no such call


_tokens, _calls = TokenRow.__table__.c, CallRow.__table__.c
TOKEN_FIELDS = tuple(field.name for field in fields(Bearer) if field.name != "call_agency")
AGENCY_OF_CALL = select(_calls.agency_id).where(_calls.id == bindparam("call_id"))
TOKEN_BY_HASH = select(
    *(_tokens[name] for name in TOKEN_FIELDS), AGENCY_OF_CALL.scalar_subquery().label("call_agency")
).where(_tokens.token_hash == bindparam("hash"))


TOUCH_TOKEN = update(TokenRow).where(TokenRow.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def bearer_token(store: Store, token: str, call_id: str | None = None) -> Bearer | None:
    """The token as it stands now (revoked, expired or not), and the agency of ``call_id``: one Core statement.

    Looked up on every request, never cached, so a revocation is refused on the next one
    by every worker (a grouped sheet write reads it in its own transaction: :func:`write_caller`).
    """
    params = {"hash": token_hash(token), "call_id": call_id if call_id is not None and findable(call_id) else None}
    with store.engine.connect() as connection:
        found = connection.execute(TOKEN_BY_HASH, params).first()
    return None if found is None else Bearer(**found._mapping)


def session_token(session: Session, cookie: str | None) -> tuple[TokenRow, sessions.SignedIn] | None:
    """The token a browser's live session acts as, with the session."""
    signed = sessions.signed_in(session, cookie)
    token = session.get(TokenRow, signed.token_id) if signed else None
    return (token, signed) if token is not None and signed is not None else None


def _refused(request: Request, message: str) -> Unauthorized:
    """A failed authentication: counted against the client's address and audited."""
    store: Store = request.app.state.store
    address = client_address(request)
    locked = request.app.state.failed_logins.fail(address)
    with store.session(write=True) as session:
        detail = {"address": address, "reason": message, "route": request.url.path}
        audit.record(session, "anonymous", "auth.lockout" if locked else "auth.fail", f"client/{address}", None, detail)
        session.commit()
    return Unauthorized(message)


def not_locked_out(request: Request) -> None:
    """429 while the client's address has failed authentication too often."""
    retry_after = request.app.state.failed_logins.retry_after(client_address(request))
    if retry_after:
        raise TooManyRequests(
            f"too many failed authentications from this address; retry in {retry_after} s", retry_after
        )


def _refusal(token: TokenState, now: dt.datetime) -> str | None:
    """Why a known token is refused now (None: it is live)."""
    if token.revoked_at is not None:
        return f"API token {token.id} was revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return f"API token {token.id} expired at {token.expires_at.isoformat(timespec='seconds')}"
    return None


def _used_lately(token: TokenState, now: dt.datetime) -> bool:
    """Whether the token's recorded last use is recent enough (bookkeeping, so once a minute at most, not audited)."""
    return token.last_used_at is not None and now - token.last_used_at <= LAST_USED_RESOLUTION


def live_token(request: Request, token: AnyToken | None) -> AnyToken:
    """The token if it is known, unrevoked and unexpired (its last use recorded); else 401."""
    now = utcnow()
    if token is None:
        raise _refused(request, "unknown API token")
    refusal = _refusal(token, now)
    if refusal is not None:
        raise _refused(request, refusal)
    if not _used_lately(token, now):
        store: Store = request.app.state.store
        with store.engine.begin() as conn:
            conn.execute(TOUCH_TOKEN, {"token_id": token.id, "now": now})
    return token


def _live_bearer(request: Request, token: str) -> Bearer:
    """A bearer token as it stands now, with the agency of the path's call, if it is live; else 401."""
    return live_token(request, bearer_token(request.app.state.store, token, request.path_params.get("call_id")))


def _token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> TokenState:
    """The caller's bearer token, or for a read the token of the browser's web session; else 401 (429 when locked out).

    A browser signed in to the web pages may read (never write) with its session cookie,
    so a report page or a download opens from a link.
    """
    not_locked_out(request)
    bearer_given = credentials is not None and credentials.scheme.lower() == "bearer"
    cookie = request.cookies.get(sessions.COOKIE) if request.method in SAFE_METHODS else None
    if not bearer_given and cookie is None:
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    if credentials is not None and bearer_given:
        return _live_bearer(request, credentials.credentials)
    store: Store = request.app.state.store
    with store.session(write=False) as session:
        found = session_token(session, cookie)
    if found is None:
        raise Unauthorized("the web session is over: sign in again")
    return live_token(request, found[0])


def _reachable_call(request: Request, principal: Principal, token: TokenState) -> None:
    """A call outside the caller's agency, or outside their token's one call, does not exist for them.

    A :class:`Bearer` was read with the agency of the path's call; for another token it is read here.
    """
    call_id = request.path_params.get("call_id")
    if call_id is None or not findable(call_id):
        return
    if principal.call_id not in (None, call_id):
        raise NotFound(f"no call {call_id!r}")
    agency_id = token.call_agency if isinstance(token, Bearer) else call_agency(request.app.state.store, call_id)
    if agency_id is not None and not principal.reaches(call_id, agency_id):
        raise NotFound(f"no call {call_id!r}")


def call_agency(store: Store, call_id: str) -> str | None:
    """The agency a call belongs to, None if there is no such call: one Core statement, no ORM session."""
    with store.engine.connect() as connection:
        agency_id: str | None = connection.execute(AGENCY_OF_CALL, {"call_id": call_id}).scalar_one_or_none()
    return agency_id


def permitted(request: Request, token: TokenState) -> Principal:
    """The caller as the permission table scopes them on this route, if the call is theirs; 403 outside the row."""
    path = getattr(request.scope.get("route"), "path", "")
    allowed = PERMISSIONS.get((request.method, path), {})
    role = Role(token.role)
    if role not in allowed:
        raise Forbidden(f"the {role} role may not {request.method} {path or request.url.path}")
    if token.call_id is not None and (request.method, path) in AGENCY_WIDE:
        raise Forbidden(f"a token for call {token.call_id!r} may not {request.method} {path}; it needs the agency's")
    principal = Principal(token.id, role, token.evaluator_id, allowed[role], token.agency_id, token.call_id)
    _reachable_call(request, principal, token)
    return principal


def authorize(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller, if their token is valid, the permission table lets their role use this route, and the call is theirs.

    The token is looked up in a read transaction of its own, so a long request (an
    allocation run) holds no write transaction while it computes.
    """
    return permitted(request, _token(request, credentials))


Caller = Annotated[Principal, Depends(authorize)]


class RecentBearers:
    """The bearer records of recent sheet writes, by token hash and the path's call: bounded, least recent dropped.

    Only the event loop reads and fills it. A record says who a token was when last read,
    so the permission table can answer (403, 404) before the body is parsed, as for any
    route; the write then reads the token's row again in its own transaction and goes the
    ordinary way if it is no longer that (:func:`checked_again`).
    """

    SIZE = 1024

    def __init__(self) -> None:
        self._bearers: OrderedDict[tuple[str, str | None], Bearer] = OrderedDict()

    def get(self, key: tuple[str, str | None]) -> Bearer | None:
        found = self._bearers.get(key)
        if found is not None:
            self._bearers.move_to_end(key)
        return found

    def put(self, key: tuple[str, str | None], bearer: Bearer) -> None:
        self._bearers[key] = bearer
        while len(self._bearers) > self.SIZE:
            self._bearers.popitem(last=False)

    def drop(self, key: tuple[str, str | None]) -> None:
        self._bearers.pop(key, None)


@dataclass(frozen=True)
class WriteCaller:
    """The caller of a grouped write, as the permission table scoped them on a bearer record not yet read again."""

    principal: Principal
    bearer: Bearer
    token_hash: str
    call_id: str | None  # the path's, as the bearer record was read for
    credentials: HTTPAuthorizationCredentials

    @property
    def key(self) -> tuple[str, str | None]:
        return self.token_hash, self.call_id


class Recheck(Exception):
    """The token's row is not what the write's caller was read as: the ordinary check is to answer."""


async def write_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> WriteCaller:
    """The caller of a sheet write, scoped by the permission table on the event loop; the token is read in the write.

    A token seen by a recent write needs no read here, in a worker thread and a connection
    of its own: :func:`checked_again` reads its row in the write's transaction. A token not
    seen, or seen refused, is read the ordinary way (:func:`authorize`: a refusal is counted
    and audited).
    """
    not_locked_out(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    key = (token_hash(credentials.credentials), request.path_params.get("call_id"))
    recent: RecentBearers = request.app.state.recent_bearers
    token = recent.get(key)
    if token is None or _refusal(token, utcnow()) is not None:
        token = await run_in_threadpool(_live_bearer, request, credentials.credentials)
        recent.put(key, token)
    return WriteCaller(permitted(request, token), token, *key, credentials)


TOKENS_BY_HASH = select(_tokens.token_hash, *(_tokens[name] for name in TOKEN_FIELDS)).where(
    _tokens.token_hash.in_(bindparam("hashes", expanding=True))
)
GROUP_TOKENS = "group_tokens"  # session.info: (transaction, the rows of its writers' tokens by hash)


def _group_tokens(session: Session, caller: WriteCaller, writers: Sequence[WriteCaller]) -> dict[str, Bearer | None]:
    """The rows of the tokens of this transaction's writers, by hash: read once, for the whole group, in one statement.

    A group holds sheet writes only, and none of them changes a token, so the rows read
    before its first write are those each of its writes would read before its own.
    """
    transaction = session.get_transaction()
    held = session.info.get(GROUP_TOKENS)
    if held is None or held[0] is not transaction or caller.token_hash not in held[1]:
        hashes = sorted({caller.token_hash, *(w.token_hash for w in writers)})
        rows = session.connection().execute(TOKENS_BY_HASH, {"hashes": hashes})
        found = {row.token_hash: Bearer(**{n: row._mapping[n] for n in TOKEN_FIELDS}, call_agency=None) for row in rows}
        held = session.info[GROUP_TOKENS] = (transaction, {caller.token_hash: None, **found})  # None: unknown now
    tokens: dict[str, Bearer | None] = held[1]
    return tokens


def checked_again(session: Session, caller: WriteCaller, writers: Sequence[WriteCaller]) -> Principal:
    """The caller, once the token's row, read in this write's transaction, is still live and still what was scoped.

    So a token revoked before the write's transaction began is refused by this very write,
    as when every request read its token first; its last use is recorded in the same
    transaction. Anything else raises :class:`Recheck`. The agency of the path's call is
    not read again here: the write reads the call, and refuses a caller it does not reach.
    ``writers`` are the callers of the writes of the caller's group, whose tokens are read
    in the same statement (:class:`api.evaluation.SheetWrite` names them).
    """
    connection = session.connection()
    token, now = _group_tokens(session, caller, writers)[caller.token_hash], utcnow()
    if (
        token is None
        or _refusal(token, now) is not None
        or replace(token, last_used_at=None, call_agency=caller.bearer.call_agency)
        != replace(caller.bearer, last_used_at=None)
    ):
        raise Recheck(caller.key)
    if not _used_lately(token, now):
        connection.execute(TOUCH_TOKEN, {"token_id": token.id, "now": now})
    return caller.principal


WriteCallerDep = Annotated[WriteCaller, Depends(write_caller)]
