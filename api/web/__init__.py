"""The web application: evaluators score, agencies run the call, finance officers simulate.

Server-rendered pages (Jinja2) on the same FastAPI app as the JSON API, with every
asset in the package: no build step, no CDN, and every page works without JavaScript
(plain forms, post-redirect-get).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.web import agency, finance, scoring, signing
from api.web.pages import STATIC, error_page, is_page
from rules.errors import GrantsError

ROUTERS = (signing, scoring, agency, finance)
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _pages_first(api_handler: Handler) -> Handler:
    """Errors on a page become a page; elsewhere the API's problem+json handler answers as before."""

    async def handle(request: Request, exc: Exception) -> Response:
        if is_page(request):
            return error_page(request, exc)
        response = api_handler(request, exc)
        return await response if isinstance(response, Awaitable) else response

    return handle


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    for kind in (GrantsError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, _pages_first(app.exception_handlers[kind]))
