"""What every router shares: the guarded router, pagination, request bodies, ETags."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api import request_bounds
from api.auth import authorize
from api.db.limits import MAX_OFFSET
from api.problems import PreconditionFailed, UnsupportedMediaType
from rules.errors import GrantsError

T = TypeVar("T")
MAX_BODY_BYTES = request_bounds.MAX_BODY_BYTES
VERSION_TAG = re.compile(r"[0-9]{1,18}")  # ASCII digits only ('²' is a digit to str.isdigit), and within 64 bits
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def guarded_router(**options: object) -> APIRouter:
    """A router whose every route goes through the permission table, and whose JSON bodies are JSON."""
    return APIRouter(dependencies=[Depends(authorize), Depends(json_media)], **options)  # type: ignore[arg-type]


def grouped_write_router(**options: object) -> APIRouter:
    """A router of writes that run in groups (:mod:`api.write_groups`), whose JSON bodies are JSON.

    Its routes take :data:`api.auth.WriteCallerDep` rather than the guarded router's
    :func:`~api.auth.authorize`: the same permission table, and the token's row read again
    in the write's own transaction rather than in a worker thread and a connection of its own.
    """
    return APIRouter(dependencies=[Depends(json_media)], **options)  # type: ignore[arg-type]


async def json_media(request: Request) -> None:
    """A body sent to a route that reads JSON must say it is JSON.

    Without this, ``curl -d`` (form-encoded by default) or a YAML body reaches the
    validator as raw bytes and the client reads "Input should be a valid dictionary".
    It only reads headers, so it runs on the event loop rather than in a worker thread.
    """
    if getattr(request.scope.get("route"), "body_field", None) is None or not _has_body(request):
        return
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"send this body as JSON (Content-Type: application/json), not {media or 'untyped'}")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


class Pagination(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


Paging = Annotated[Pagination, Query()]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    return session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()


def page_of(session: Session, query: Select[T], paging: Pagination) -> tuple[list[T], int]:
    """One page of a query's rows and the total number of rows."""
    total = count(session, query)
    rows = session.execute(query.limit(paging.limit).offset(paging.offset)).scalars().all()
    return list(rows), total


class Body(BaseModel):
    """A raw request body with the format its Content-Type names."""

    text: str
    fmt: str


async def raw_body(request: Request) -> Body:
    """The body as text; JSON or YAML by Content-Type (YAML when none is given).

    It is read by the same reader as the command line's files (:mod:`rules.yamlio`), with the same limits.
    """
    media = request.headers.get("content-type", "application/yaml").split(";")[0].strip().lower()
    if media == "application/json":
        fmt = "json"
    elif media in YAML_TYPES:
        fmt = "yaml"
    else:
        raise UnsupportedMediaType(f"send YAML (application/yaml) or JSON (application/json), not {media!r}")
    data = await request.body()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GrantsError(f"the body is not UTF-8 text (byte {exc.start})") from None
    return Body(text=text, fmt=fmt)


RawBody = Annotated[Body, Depends(raw_body)]


def text_body(*media_types: str) -> dict[str, object]:
    """OpenAPI for a body read by :func:`raw_body`: a string in each of these media types."""
    content = {media: {"schema": {"type": "string"}} for media in media_types}
    return {"requestBody": {"required": True, "content": content}}


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(if_match: str | None, version: int | None, current: object) -> int | None:
    """The version an If-Match header holds the writer to (None when absent), as RFC 9110 reads it.

    ``*`` names whatever version is current, and a list names the current one if it lists
    it (else its first); 412 when there is nothing current for ``*`` or a tag is not a version.
    """
    if if_match is None:
        return None
    if if_match.strip() == "*":
        if version is None:
            raise PreconditionFailed("If-Match: * needs a current version, and there is none yet", current)
        return version
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if not all(VERSION_TAG.fullmatch(tag) for tag in tags):
        raise PreconditionFailed(f"If-Match {if_match!r} is not a version this API gave out", current)
    named = [int(tag) for tag in tags]
    return version if version in named else named[0]
