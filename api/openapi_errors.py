"""The OpenAPI document declares the errors the API gives, as ``application/problem+json``.

FastAPI declares only the success and its own 422 (as ``application/json``, which
this API never sends). Every operation here can answer 401 (no or unknown token),
403 (role or scope), 404, 422 (the request or its body), 429 (too many failed
logins) and 503 (database busy); one with a body also 400, 409, 413 and 415; one taking
``If-Match`` also 412 and 428. Declaring them lets a client, and schemathesis,
hold the API to its document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import MEDIA_TYPE

EVERY_OPERATION = {
    401: "no API token, or an unknown, expired or revoked one",
    403: "the token's role or scope does not reach this",
    404: "no such call, proposal, evaluator or run (or not one the caller may see)",
    422: "the request or its body is invalid; `errors` locates each problem",
    429: "too many failed logins from this address; see Retry-After",
    503: "the database was busy; retry",
}
WITH_BODY = {
    400: "the body could not be parsed at all (not JSON, not UTF-8)",
    409: "conflicts with the current state (a conflict of interest, a scored proposal, the call's phase)",
    413: "the body is larger than this route accepts",
    415: "the body is not in a media type this route reads",
}
WITH_IF_MATCH = {
    412: "If-Match names a version that is no longer current; `current` is what is there now",
    428: "replacing an existing record needs If-Match; `current` is what is there now",
}
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "each problem, located"},
        "current": {"description": "what is stored now (412, 428)"},
    },
}


def _statuses(method: str, operation: dict[str, Any]) -> dict[int, str]:
    statuses = dict(EVERY_OPERATION)
    if method in {"post", "put", "delete", "patch"}:
        statuses |= WITH_BODY
    if any(p.get("name", "").lower() == "if-match" for p in operation.get("parameters", [])):
        statuses |= WITH_IF_MATCH
    return statuses


def with_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with each operation's errors declared, FastAPI's own 422 schema replaced."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    reference = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in sorted(_statuses(method, operation).items()):
                responses[str(status)] = {"description": description, "content": reference}
    for unused in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = with_errors(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
