"""An agency's tokens: grant its evaluators and finance unit theirs, list them, revoke one."""

from __future__ import annotations

from fastapi import Response

from api import tokens
from api.auth import Caller, Db
from api.routers.common import guarded_router
from api.tokens import Granted, TokenOut, TokenRequest

router = guarded_router(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=Granted)
def grant_token(request: TokenRequest, session: Db, principal: Caller) -> Granted:
    """Grant an evaluator or finance token for one of the agency's calls, or all of them; shown once."""
    return tokens.grant_for_agency(session, principal, request)


@router.get("", response_model=list[TokenOut])
def list_tokens(session: Db, principal: Caller) -> list[TokenOut]:
    """The agency's tokens (a call's token: that call's), with expiry, revocation and last use."""
    found = tokens.agency_tokens(session, principal.agency_id)
    return [t for t in found if principal.call_id in (None, t.call_id)]


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: int, session: Db, principal: Caller) -> Response:
    """Revoke one of the agency's tokens; refused from the next request on."""
    tokens.revoke_for_agency(session, principal, token_id)
    return Response(status_code=204)
