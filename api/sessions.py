"""Browser sessions: a token pasted once becomes a signed, server-side session with a CSRF token.

The cookie holds a random session id and its HMAC under the server's session key, so a
forged or altered cookie is refused before the database is read. The store keeps only
the id's sha256 (as for tokens), the token the session acts as, its CSRF token and when
it was last used: a session idle for longer than :data:`IDLE` is over, and signing out
ends it on the server, so a copied cookie stops working too. A revoked or deleted
token ends every session made from it, since each request reads the token again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from api import audit
from api.db.models import TokenRow, WebSession, utcnow
from api.roles import Role

COOKIE = "grants_session"
KEY_VARIABLE = "GRANTS_SESSION_KEY"
IDLE_VARIABLE = "GRANTS_SESSION_IDLE_MINUTES"
IDLE = dt.timedelta(minutes=int(os.environ.get(IDLE_VARIABLE, "60")))
TOUCH_EVERY = dt.timedelta(minutes=1)


def session_key() -> bytes:
    """The key cookies are signed with: ``GRANTS_SESSION_KEY``, else one made for this process.

    ``grants serve`` sets the variable before its workers start, so they share one key;
    a key made at start-up means a restart signs everyone out, which is the safe side.
    """
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        key = os.environ.setdefault(KEY_VARIABLE, secrets.token_urlsafe(32))
    return key.encode("utf-8")


def _signature(session_id: str) -> str:
    return hmac.new(session_key(), session_id.encode("ascii"), hashlib.sha256).hexdigest()


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def _unsigned(cookie: str) -> str | None:
    """The session id a cookie carries, if its signature is ours."""
    session_id, _, signature = cookie.partition(".")
    if not session_id.isascii() or not signature.isascii():
        return None
    return session_id if hmac.compare_digest(signature, _signature(session_id)) else None


@dataclass(frozen=True)
class SignedIn:
    """A live session: the token it acts as, the CSRF token its forms carry, whether its last use needs writing."""

    token_id: int
    csrf: str
    stale: bool


def sign_in(session: Session, token: TokenRow) -> str:
    """A new session acting as ``token``; returns the cookie to set."""
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=_id_hash(session_id), token_id=token.id, csrf=secrets.token_urlsafe(32)))
    session.flush()
    audit.record(session, _actor(token), "session.sign_in", f"token/{token.id}")
    session.commit()
    return f"{session_id}.{_signature(session_id)}"


def signed_in(session: Session, cookie: str | None, now: dt.datetime | None = None) -> SignedIn | None:
    """The live session a cookie names, or None (no cookie, forged, signed out, idle too long)."""
    session_id = _unsigned(cookie) if cookie else None
    if session_id is None:
        return None
    web = session.get(WebSession, _id_hash(session_id))
    if web is None or web.ended_at is not None:
        return None
    idle = (now or utcnow()) - web.last_seen_at
    if idle > IDLE:
        return None
    return SignedIn(web.token_id, web.csrf, idle > TOUCH_EVERY)


def touch(session: Session, cookie: str) -> None:
    """Record that the session was used now, so its idle time starts again."""
    session_id = _unsigned(cookie)
    if session_id is not None:
        stmt = update(WebSession).where(WebSession.id_hash == _id_hash(session_id))
        session.execute(stmt.values(last_seen_at=utcnow()))
        session.commit()


def sign_out(session: Session, cookie: str | None) -> None:
    """End the session on the server: the cookie, wherever it was copied, no longer signs anyone in."""
    session_id = _unsigned(cookie) if cookie else None
    web = session.get(WebSession, _id_hash(session_id)) if session_id is not None else None
    if web is not None and web.ended_at is None:
        web.ended_at = utcnow()
        session.flush()
        audit.record(
            session, _actor(session.get_one(TokenRow, web.token_id)), "session.sign_out", f"token/{web.token_id}"
        )
        session.commit()


def _actor(token: TokenRow) -> str:
    """The audit log's name for whoever holds the token, as for an API request."""
    from api.auth import Principal  # api.auth reads sessions: imported when first needed

    return Principal(
        token.id, Role(token.role), token.evaluator_id, agency_id=token.agency_id, call_id=token.call_id
    ).name


def same_token(expected: str, given: str | None) -> bool:
    """A CSRF check in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode("utf-8"), (given or "").encode("utf-8"))
