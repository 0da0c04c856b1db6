"""The life of an API token: granted for an agency (and perhaps one call), listed, revoked, expired.

A token acts for one agency. An agency token reaches every call of its agency, or
one of them; evaluator and finance tokens are granted per call or for all the
agency's calls, by the server's operator (``grants token create``) or by the
agency itself (``POST /tokens``, evaluator and finance tokens only). A token
expires (by default :data:`DEFAULT_LIFETIME` after it is made) and can be revoked;
both take effect on the next request, since every request reads the token's row.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit
from api.auth import DEFAULT_AGENCY, TOKEN_PREFIX, Principal, Role, token_hash
from api.db import limits
from api.db.models import CallRow, EvaluatorRow, TokenRow, utcnow
from api.problems import Forbidden, NotFound
from rules.errors import GrantsError, Problem

DEFAULT_LIFETIME = dt.timedelta(days=90)
AGENCY_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")
LIFETIME = re.compile(r"^(\d{1,5})([dh])$")
GRANTABLE_BY_AGENCY = frozenset({Role.evaluator, Role.finance})


def expiry(text: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """When a token given ``--expires`` ends: a date, an ISO moment, ``30d``/``12h`` from now, or ``never``."""
    now = now or utcnow()
    if text is None:
        return now + DEFAULT_LIFETIME
    if text == "never":
        return None
    lifetime = LIFETIME.match(text)
    if lifetime:
        amount, unit = int(lifetime.group(1)), lifetime.group(2)
        return now + (dt.timedelta(days=amount) if unit == "d" else dt.timedelta(hours=amount))
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise GrantsError(
            [Problem(f"{text!r} is not a date (2027-03-31), a moment, a lifetime (30d, 12h) or 'never'", "expires")]
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if moment <= now:
        raise GrantsError([Problem(f"{text} is already past", "expires")])
    return moment


class TokenOut(BaseModel):
    """A token as listed: never the token itself, which only its creator saw once."""

    id: int
    role: Role
    agency_id: str
    call_id: str | None = Field(description="the one call it reaches; null: every call of the agency")
    evaluator_id: str | None
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    active: bool


class Granted(TokenOut):
    token: str = Field(description="shown once; the store keeps only its hash")


def token_out(row: TokenRow, now: dt.datetime | None = None) -> TokenOut:
    now = now or utcnow()
    active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return TokenOut(
        id=row.id,
        role=Role(row.role),
        agency_id=row.agency_id,
        call_id=row.call_id,
        evaluator_id=row.evaluator_id,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        active=active,
    )


def _problems(role: Role, agency_id: str, evaluator_id: str | None, label: str) -> list[Problem]:
    found = [*limits.too_long(label, "label", limits.TOKEN_LABEL_LENGTH), *limits.unstorable(label, "label")]
    if (role is Role.evaluator) != (evaluator_id is not None):
        found.append(Problem("an evaluator token needs --evaluator ID (evaluator_id over HTTP), and only it takes one"))
    if not AGENCY_ID.match(agency_id):
        found.append(Problem(f"{agency_id!r} is not an agency id (letters, digits, _ . @ -; at most 100)", "agency"))
    return found


def grant(
    session: Session,
    actor: str,
    role: Role,
    *,
    agency_id: str = DEFAULT_AGENCY,
    evaluator_id: str | None = None,
    call_id: str | None = None,
    label: str = "",
    expires_at: dt.datetime | None = None,
) -> Granted:
    """A new token, returned once; the store keeps its hash and the audit log its grant. The caller commits."""
    problems = _problems(role, agency_id, evaluator_id, label)
    if problems:
        raise GrantsError(problems)
    if evaluator_id is not None and session.get(EvaluatorRow, evaluator_id) is None:
        raise NotFound(f"evaluator {evaluator_id!r} is not registered; an agency registers it with POST /evaluators")
    if call_id is not None:
        call = session.get(CallRow, call_id) if limits.findable(call_id) else None
        if call is None or call.agency_id != agency_id:
            raise NotFound(f"agency {agency_id!r} has no call {call_id!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        token_hash=token_hash(token),
        role=role.value,
        agency_id=agency_id,
        evaluator_id=evaluator_id,
        call_id=call_id,
        label=label,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    out = token_out(row)
    audit.record(session, actor, "token.create", f"token/{row.id}", None, out.model_dump(exclude={"last_used_at"}))
    return Granted(**out.model_dump(), token=token)


def agency_tokens(session: Session, agency_id: str | None = None) -> list[TokenOut]:
    """The tokens of one agency (every agency's when None), oldest first."""
    query = select(TokenRow).order_by(TokenRow.id)
    if agency_id is not None:
        query = query.where(TokenRow.agency_id == agency_id)
    now = utcnow()
    return [token_out(row, now) for row in session.execute(query).scalars()]


def revoke(
    session: Session, actor: str, token_id: int, agency_id: str | None = None, call_id: str | None = None
) -> TokenOut:
    """Revoke a token from the next request on; ``agency_id`` and ``call_id`` limit which ones. Idempotent."""
    row = session.get(TokenRow, token_id) if 0 < token_id <= limits.MAX_ROW_ID else None
    if row is None or agency_id not in (None, row.agency_id) or call_id not in (None, row.call_id):
        raise NotFound(f"no token {token_id}" + (f" of agency {agency_id!r}" if agency_id else ""))
    if row.revoked_at is None:
        before = token_out(row).model_dump(exclude={"last_used_at"})
        row.revoked_at = utcnow()
        after = token_out(row).model_dump(exclude={"last_used_at"})
        audit.record(session, actor, "token.revoke", f"token/{row.id}", before, after)
    return token_out(row)


class TokenRequest(limits.Storable):
    """An evaluator or finance token an agency grants, for one of its calls or all of them."""

    role: Role
    evaluator_id: str | None = None
    call_id: str | None = Field(default=None, description="omitted: every call of the agency")
    label: str = ""
    expires: str | None = Field(default=None, description="a date, an ISO moment, 30d, 12h or never; default 90d")


def grant_for_agency(session: Session, principal: Principal, request: TokenRequest) -> Granted:
    """``POST /tokens``: an agency grants one of its evaluators (or its finance unit) a token."""
    if request.role not in GRANTABLE_BY_AGENCY:
        raise Forbidden("an agency grants evaluator and finance tokens; agency tokens come from `grants token create`")
    if principal.call_id is not None and request.call_id != principal.call_id:
        raise Forbidden(f"a token for call {principal.call_id!r} grants tokens for that call only")
    granted = grant(
        session,
        principal.name,
        request.role,
        agency_id=principal.agency_id,
        evaluator_id=request.evaluator_id,
        call_id=request.call_id,
        label=request.label,
        expires_at=expiry(request.expires),
    )
    session.commit()
    return granted


def revoke_for_agency(session: Session, principal: Principal, token_id: int) -> TokenOut:
    """``DELETE /tokens/{id}``: an agency revokes one of its tokens (a call's token: one of that call's)."""
    found = revoke(session, principal.name, token_id, principal.agency_id, principal.call_id)
    session.commit()
    return found
