"""Signing in with a pasted token, and out; the home page sends each role to its own pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from api import sessions
from api.auth import Db, live_token, not_locked_out, token_row
from api.db.session import Store
from api.problems import Unauthorized
from api.web.pages import Posted, Seen, page_router, render, see_other

router = page_router()
PRE_SESSION = "grants_sign_in"  # the sign-in form's CSRF token, before there is a session to hold one


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path="/")


def _local(target: str) -> str:
    """Where to go after signing in: a path on this site only, never another site."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.get("/")
def home(who: Seen) -> Response:
    return see_other(who.home)


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/") -> Response:
    token = request.cookies.get(PRE_SESSION) or secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", next=_local(next), form_csrf=token)
    _cookie(response, request, PRE_SESSION, token)
    return response


@router.post("/sign-in")
def sign_in(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """A live token becomes a session cookie; an unknown, revoked or expired one is told so, on the same form.

    A failed sign-in counts against the client's address like a failed bearer token,
    so pasting guesses into the form is limited the same way.
    """
    expected = request.cookies.get(PRE_SESSION, "")
    if not sessions.same_token(expected, csrf):
        problem = "this form has expired: it was reloaded without its CSRF token; try again"
        return render(request, "sign_in.html", status=403, next=_local(next), form_csrf=expected, problem=problem)
    not_locked_out(request)
    store: Store = request.app.state.store
    with store.session(write=False) as session:
        found = token_row(session, token.strip())
    try:
        row = live_token(request, found)
    except Unauthorized as exc:
        problem = f"{exc}: paste the whole token that `grants token create` printed"
        return render(request, "sign_in.html", status=401, next=_local(next), form_csrf=expected, problem=problem)
    response = see_other(_local(next))
    with store.session(write=True) as session:
        _cookie(response, request, sessions.COOKIE, sessions.sign_in(session, row))
    response.delete_cookie(PRE_SESSION, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, session: Db, _who: Posted) -> Response:
    """The session ends on the server, so its cookie is dead wherever it was copied."""
    sessions.sign_out(session, request.cookies.get(sessions.COOKIE))
    response = see_other("/sign-in")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
