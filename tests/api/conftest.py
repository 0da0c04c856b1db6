"""The API under test, on SQLite and, when ``DATABASE_URL`` names one, on PostgreSQL.

Every test that takes ``store`` runs once per database. SQLite tests copy a database
migrated once per session; PostgreSQL tests share one fresh schema per session
(dropped at the end) and truncate its tables before each test.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.audit import GENESIS
from api.auth import DEFAULT_AGENCY, Role
from api.db.models import Base
from api.db.session import Store, make_engine, migrate
from api.tokens import grant
from rules.proposal import Proposal
from tests.factories import call, partner, proposal

PG_URL = os.environ.get("DATABASE_URL", "")
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if PG_URL.startswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="set DATABASE_URL=postgresql+psycopg://... to run against PostgreSQL")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL database of ``DATABASE_URL``, dropped after the session."""
    schema = f"grants_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    engine = make_engine(rendered)
    migrate(engine)
    engine.dispose()
    yield rendered
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store(make_engine(pg_url))
    yield store
    store.engine.dispose()


def _emptied(store: Store) -> Store:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)"), {"genesis": GENESIS})
    return store


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        yield _emptied(request.getfixturevalue("pg_store"))
        return
    path = tmp_path / "grants.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    sqlite = Store(make_engine(f"sqlite:///{path}"))
    yield sqlite
    sqlite.engine.dispose()


class Actor:
    """A client holding one role's token: ``agency.post("/calls", ...)``."""

    def __init__(self, client: TestClient, token: str):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


class World:
    """The API over a store, and a way to act in it as each role."""

    def __init__(self, store: Store):
        self.store = store
        self.client = TestClient(create_app(store))

    def token(
        self, role: Role, evaluator: str | None = None, agency: str = DEFAULT_AGENCY, call: str | None = None
    ) -> str:
        with self.store.session(write=True) as session:
            granted = grant(session, "test", role, agency_id=agency, evaluator_id=evaluator, call_id=call)
            session.commit()
        return granted.token

    def actor(
        self, role: Role, evaluator: str | None = None, agency: str = DEFAULT_AGENCY, call: str | None = None
    ) -> Actor:
        return Actor(self.client, self.token(role, evaluator, agency, call))

    def evaluator(self, evaluator_id: str) -> Actor:
        return self.actor(Role.evaluator, evaluator_id)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def agency(world: World) -> Actor:
    return world.actor(Role.agency)


@pytest.fixture
def finance(world: World) -> Actor:
    return world.actor(Role.finance)


CALL_ID = "TEST-CALL"
YAML = {"content-type": "application/yaml"}


def call_yaml(**overrides: Any) -> str:
    """The factories' small call (three 0-5 criteria, threshold 3, EUR 1,000,000) as YAML."""
    return yaml.safe_dump(call(**overrides).model_dump(mode="json", exclude_none=True), sort_keys=False)


def proposals_json(*proposals: Proposal) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json", exclude_none=True) for p in proposals]


def three_proposals() -> list[Proposal]:
    """P1 led from Austria, P2 from Slovenia, P3 from Hungary; three countries each."""
    return [
        proposal(
            "P1",
            [partner("Graz Cluster", "AT", role="lead"), partner("Ljubljana Net", "SI"), partner("Pecs Hub", "HU")],
            topic="health",
        ),
        proposal(
            "P2",
            [partner("Maribor Cluster", "SI", role="lead"), partner("Vienna Hub", "AT"), partner("Gyor Net", "HU")],
            topic="digital",
            requested=300_000,
        ),
        proposal(
            "P3",
            [partner("Debrecen Cluster", "HU", role="lead"), partner("Linz Net", "AT"), partner("Celje Hub", "SI")],
            topic="health",
            requested=250_000,
        ),
    ]


def evaluator_profile(
    evaluator_id: str, organisation: str = "", country: str = "FR", topics: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": evaluator_id,
        "name": f"Evaluator {evaluator_id}",
        "organisation": organisation or f"University {evaluator_id}",
        "country": country,
        "topics": topics or [],
    }


def sheet(
    excellence: float | str | None = 4, impact: float | str | None = 4, implementation: float | str | None = 4
) -> dict[str, Any]:
    return {"scores": {"excellence": excellence, "impact": impact, "implementation": implementation}}


@pytest.fixture
def open_call(agency: Actor) -> str:
    """The test call, open for evaluation, with P1-P3 uploaded and evaluators E1-E4 (FR, DE, ES, IT) registered."""
    assert agency.post("/calls", content=call_yaml(), headers=YAML).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(*three_proposals())).status_code == 200
    for evaluator_id, country in [("E1", "FR"), ("E2", "DE"), ("E3", "ES"), ("E4", "IT")]:
        assert agency.post("/evaluators", json=evaluator_profile(evaluator_id, country=country)).status_code == 201
    move(agency, "open_evaluation")
    return CALL_ID


def move(agency: Actor, transition: str, reason: str = "", call_id: str = CALL_ID) -> dict[str, Any]:
    """Make a phase transition that must succeed; the call's phase after it."""
    response = agency.post(f"/calls/{call_id}/phase", json={"transition": transition, "reason": reason})
    assert response.status_code == 200, response.json()
    return dict(response.json())


def assign(agency: Actor, proposal_id: str, evaluator_id: str) -> None:
    response = agency.post(
        f"/calls/{CALL_ID}/assignments", json={"proposal_id": proposal_id, "evaluator_id": evaluator_id}
    )
    assert response.status_code in (200, 201), response.json()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against the PostgreSQL of DATABASE_URL")


def scored_alike(world: World, agency: Actor, scores: Mapping[str, tuple[float, float, float]]) -> None:
    """E1 and E2, assigned to every proposal, both give it these scores."""
    for evaluator in ("E1", "E2"):
        actor = world.evaluator(evaluator)
        for proposal_id, values in scores.items():
            assign(agency, proposal_id, evaluator)
            response = actor.put(f"/calls/{CALL_ID}/proposals/{proposal_id}/scores", json=sheet(*values))
            assert response.status_code == 201, response.json()
