"""The FastAPI application: routers per resource over one store, errors as problem+json, and the web pages.

``/docs`` serves Swagger UI from assets in an installed package (fastapi-offline), so it works offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import openapi_errors, problems, web
from api.auth import RecentBearers
from api.db.session import Store
from api.lockout import FailedLogins
from api.request_bounds import body_limit
from api.routers import (
    allocations,
    assignments,
    audit,
    calls,
    conflicts,
    evaluators,
    lottery,
    phases,
    proposals,
    rankings,
    reports,
    scores,
    simulations,
    tokens,
)
from api.routers.common import MAX_BODY_BYTES
from api.write_groups import WriteGroups

ROUTERS = (
    calls,
    proposals,
    evaluators,
    conflicts,
    assignments,
    scores,
    rankings,
    allocations,
    simulations,
    lottery,
    reports,
    audit,
    phases,
    tokens,
)


def create_app(store: Store | None = None) -> FastAPI:
    """The API over ``store`` (by default the database ``DATABASE_URL`` names, migrated to head)."""
    app = FastAPIOffline(
        title="grants",
        version="0.1.0",
        description="Run public funding calls: calls, proposals, evaluators, scores, rankings, allocations.",
        static_url="/static/docs",
    )
    app.state.store = store or Store.open()
    app.state.writes = WriteGroups(app.state.store)
    app.state.recent_bearers = RecentBearers()
    app.state.failed_logins = FailedLogins()
    problems.install(app, MAX_BODY_BYTES, body_limit)
    app.include_router(scores.writes)  # first: a request is matched against the routes in order, and these are most
    for module in ROUTERS:
        app.include_router(module.router)
    openapi_errors.install(app)
    web.install(app)
    return app


def app_from_environment() -> FastAPI:
    """The factory ``grants serve`` hands to uvicorn: each worker opens ``DATABASE_URL``."""
    return create_app(Store.open())
