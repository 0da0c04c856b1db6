"""Errors as RFC 9457 problem details (``application/problem+json``).

Every user mistake is a :class:`~rules.errors.GrantsError`; the HTTP edge gives each
kind a status and renders its located problems (file, line, field) in an ``errors``
member, so a client can point at line 12 of the call it sent. Nothing a client sends
may produce a 500: validation errors, integrity races and locked databases have
their own handlers, and a last-resort handler still answers in problem+json.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules.errors import GrantsError, Problem

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("grants.api")


class ApiError(GrantsError):
    """A mistake that only exists over HTTP: a missing token, an unknown id, a stale version."""

    status = 400


class Unauthorized(ApiError):
    title = "Missing or unknown API token"
    status = 401


class Forbidden(ApiError):
    title = "Not allowed for this role"
    status = 403


class NotFound(ApiError):
    title = "Not found"
    status = 404


class Conflict(ApiError):
    title = "Conflicts with the current state"
    status = 409


class ConflictOfInterest(Conflict):
    title = "Conflict of interest"


class PreconditionFailed(ApiError):
    """A write based on a version that is no longer current; ``current`` is what is there now."""

    title = "Stale version"
    status = 412

    def __init__(self, message: str, current: Any):
        super().__init__(message)
        self.current = current


class PreconditionRequired(PreconditionFailed):
    """A write over an existing record that does not say which version it replaces."""

    title = "If-Match required"
    status = 428


class BodyTooLarge(ApiError):
    title = "Body too large"
    status = 413


class UnsupportedMediaType(ApiError):
    title = "Unsupported media type"
    status = 415


class TooManyRequests(ApiError):
    """Too many failed authentications from one address; ``retry_after`` seconds until it may try again."""

    title = "Too many failed authentications"
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def problem(status: int, title: str, detail: str, request: Request, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": request.url.path}
    return JSONResponse(jsonable_encoder({**body, **extra}), status_code=status, media_type=MEDIA_TYPE)


def _grants_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GrantsError)
    status = exc.status if isinstance(exc, ApiError) else 422
    extra: dict[str, Any] = {"errors": [p.as_dict() for p in exc.problems]}
    if isinstance(exc, PreconditionFailed):
        extra["current"] = exc.current
    detail = "\n".join(str(p) if p.file or p.path or p.line else p.message for p in exc.problems)
    response = problem(status, exc.title, detail, request, **extra)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        Problem(err["msg"], ".".join(str(part) for part in err["loc"]), file=str(err["loc"][0])) for err in exc.errors()
    ]
    detail = "; ".join(str(p) for p in problems)
    return problem(422, "Invalid request", detail, request, errors=[p.as_dict() for p in problems])


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = BodyTooLarge.title if exc.status_code == 413 else HTTPStatus(exc.status_code).phrase
    response = problem(exc.status_code, title, str(exc.detail), request)
    response.headers.update(exc.headers or {})
    return response


def _integrity(request: Request, exc: Exception) -> JSONResponse:
    """Two writers created the same record at once; the loser is told to read and retry."""
    log.info("integrity race on %s: %s", request.url.path, exc)
    return problem(409, "Conflicts with the current state", "another request wrote the same record; retry", request)


def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refused to store; the checks in ``api.db.limits`` should have caught it first."""
    assert isinstance(exc, DataError)
    log.warning("database refused a value on %s: %s", request.url.path, exc)
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    return problem(422, "Value the database cannot store", f"the database refused a value: {reason}", request)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable on %s: %s", request.url.path, exc)
    response = problem(503, "Database busy", "the database could not serve the request in time; retry", request)
    response.headers["Retry-After"] = "1"
    return response


def _last_resort(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged", request)


class BodyLimit:
    """Refuse a body over the limit: before reading it when its length is declared, as it streams otherwise.

    A chunked body is counted as it arrives and cut off at the limit (the route's
    handler then answers 413), so no endpoint ever holds more than the limit in memory.
    """

    def __init__(self, app: ASGIApp, max_body_size: int):
        self.app, self.max_body_size = app, max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_size:
            detail = self._detail(f"{int(length)} bytes")
            body = {"type": "about:blank", "title": BodyTooLarge.title, "status": 413, "detail": detail}
            response = JSONResponse(body, status_code=413, media_type=MEDIA_TYPE, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_size:
                raise StarletteHTTPException(413, self._detail(f"over {self.max_body_size} bytes"))
            return message

        await self.app(scope, counted, send)

    def _detail(self, size: str) -> str:
        return f"the body is {size}; at most {self.max_body_size} are accepted"


def install(app: FastAPI, max_body_size: int) -> None:
    app.add_middleware(BodyLimit, max_body_size=max_body_size)
    app.add_exception_handler(GrantsError, _grants_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(Exception, _last_resort)
