"""What every router shares: the guarded router, pagination, request bodies, ETags."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.auth import authorize
from api.db.limits import MAX_OFFSET
from api.problems import BodyTooLarge, PreconditionFailed, UnsupportedMediaType
from rules.errors import GrantsError

T = TypeVar("T")
MAX_BODY_BYTES = 20 * 1024 * 1024
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def guarded_router(**options: object) -> APIRouter:
    """A router whose every route goes through the permission table."""
    return APIRouter(dependencies=[Depends(authorize)], **options)  # type: ignore[arg-type]


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
    """The body as text; JSON or YAML by Content-Type (YAML when none is given)."""
    media = request.headers.get("content-type", "application/yaml").split(";")[0].strip().lower()
    if media == "application/json":
        fmt = "json"
    elif media in YAML_TYPES:
        fmt = "yaml"
    else:
        raise UnsupportedMediaType(f"send YAML (application/yaml) or JSON (application/json), not {media!r}")
    data = await request.body()
    if len(data) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body is {len(data)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        return Body(text=data.decode("utf-8"), fmt=fmt)
    except UnicodeDecodeError as exc:
        raise GrantsError(f"the body is not UTF-8 text (byte {exc.start})") from None


RawBody = Annotated[Body, Depends(raw_body)]


def text_body(*media_types: str) -> dict[str, object]:
    """OpenAPI for a body read by :func:`raw_body`: a string in each of these media types."""
    content = {media: {"schema": {"type": "string"}} for media in media_types}
    return {"requestBody": {"required": True, "content": content}}


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(if_match: str | None, current: object) -> int | None:
    """The version an If-Match header names (None when absent); 412 when it is not a version."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed(f"If-Match {if_match!r} is not a version this API gave out", current)
    return int(value)
