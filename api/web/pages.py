"""What every web page shares: templates, the signed-in visitor, CSRF, and errors shown as pages.

A page is a route of a page router (tagged ``pages``, left out of the OpenAPI
document) with a row in :data:`api.auth.PERMISSIONS`, like every JSON route: the
visitor's session names a token, the table gives its role a scope on the page or a
403 page. Pages call the same use-case functions as the JSON routes, in the request's
own transaction; a user mistake is shown on the page, never as problem+json.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import sessions
from api.auth import Principal, Role, live_token, permitted, session_token
from api.db.session import Store
from api.problems import ApiError, Forbidden, NotFound, Unauthorized
from rules.errors import GrantsError, Problem
from rules.money import format_money

STATIC = Path(__file__).resolve().parent / "static"
TAG = "pages"
M = TypeVar("M", bound=BaseModel)
HOME = {Role.agency: "/agency", Role.evaluator: "/evaluate", Role.finance: "/finance"}


class SignInRequired(ApiError):
    """No live session: the visitor is sent to the sign-in page, and back here afterwards."""

    status = 401
    title = "Sign in"


@dataclass(frozen=True)
class Visitor:
    """The signed-in person on this page: the principal the table scopes, and their session's CSRF token."""

    principal: Principal
    csrf: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def home(self) -> str:
        return HOME[self.role]


def page_router(**options: Any) -> APIRouter:
    """A router of pages: out of the OpenAPI document, and errors rendered as pages."""
    return APIRouter(tags=[TAG], include_in_schema=False, default_response_class=HTMLResponse, **options)


def visitor(request: Request) -> Visitor:
    """The visitor, if signed in and allowed on this page by the permission table."""
    store: Store = request.app.state.store
    cookie = request.cookies.get(sessions.COOKIE)
    with store.session(write=False) as session:
        found = session_token(session, cookie)
    if found is None or cookie is None:
        raise SignInRequired("sign in to see this page")
    token, signed = live_token(request, found[0]), found[1]
    if signed.stale and request.method == "GET":
        with store.session(write=True) as session:
            sessions.touch(session, cookie)
    return Visitor(permitted(request, token), signed.csrf)


async def checked_form(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
    """A form that changes something carries the session's CSRF token, or is refused (403)."""
    form = await request.form()
    given = form.get("csrf")
    if not sessions.same_token(who.csrf, given if isinstance(given, str) else None):
        raise Forbidden("this form has no valid CSRF token: reload the page and send it again")
    return who


Seen = Annotated[Visitor, Depends(visitor)]
Posted = Annotated[Visitor, Depends(checked_form)]


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["url"] = lambda value: quote(str(value), safe="")
    env.filters["when"] = _when
    return env


def _when(moment: dt.datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def money_in(currency: str) -> Callable[[Any], str]:
    """Amounts as the call writes them: ``EUR 500,000.00``."""
    return lambda amount: "" if amount is None else format_money(Decimal(amount), currency)


def render(
    request: Request, template: str, who: Visitor | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    page = environment().get_template(template)
    html = page.render(request=request, visitor=who, csrf=who.csrf if who else "", **context)
    return HTMLResponse(html, status_code=status)


def form_model(model: type[M], data: dict[str, Any]) -> M:
    """A form's fields as the use case's model; what does not fit is a located error on the page."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(str(e["msg"]), ".".join(str(p) for p in e["loc"])) for e in exc.errors()]
        raise GrantsError(problems) from None


def see_other(url: str) -> RedirectResponse:
    """Post, redirect, get: the answer to a form is a page the browser can reload."""
    return RedirectResponse(url, status_code=303)


def is_page(request: Request) -> bool:
    return TAG in getattr(request.scope.get("route"), "tags", ())


def error_page(request: Request, exc: Exception) -> Response:
    """A page's error as a page: sign-in for a lost session, else the status and what to do."""
    if isinstance(exc, SignInRequired | Unauthorized):
        return see_other("/sign-in?next=" + quote(request.url.path, safe="/"))
    if isinstance(exc, Forbidden):
        return render(request, "error.html", None, 403, title="Not for you", problems=[str(exc)])
    if isinstance(exc, NotFound):
        return render(request, "error.html", None, 404, title="Not found", problems=[str(exc)])
    if isinstance(exc, GrantsError):
        status = exc.status if isinstance(exc, ApiError) else 422
        return render(request, "error.html", None, status, title=exc.title, problems=[str(p) for p in exc.problems])
    if isinstance(exc, RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return render(request, "error.html", None, 422, title="This form is incomplete", problems=problems)
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    return render(request, "error.html", None, status, title="Something went wrong", problems=[str(exc)])
