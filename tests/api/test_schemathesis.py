"""Property-based requests from the OpenAPI document: whatever is sent, never a 5xx.

Examples are bounded per operation so the whole run stays within seconds; the
database holds a call with proposals and evaluators, so valid ids are reachable.
The app is built at import because schemathesis reads its schema then; its SQLite
file lives in a temporary folder removed when the test process exits.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.auth import Role
from api.db.session import Store
from api.tokens import grant
from tests.api.conftest import YAML, Actor, call_yaml, evaluator_profile, proposals_json, three_proposals

EXAMPLES_PER_OPERATION = 12
FOLDER = Path(tempfile.mkdtemp(prefix="grants-schemathesis-"))
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
STORE = Store.open(f"sqlite:///{FOLDER / 'grants.db'}")
APP = create_app(STORE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def agency_token() -> Iterator[str]:
    with STORE.session(write=True) as session:
        token = grant(session, "test", Role.agency).token
        session.commit()
    agency = Actor(TestClient(APP), token)
    agency.post("/calls", content=call_yaml(), headers=YAML)
    agency.post("/calls/TEST-CALL/proposals", json=proposals_json(*three_proposals()))
    agency.post("/evaluators", json=evaluator_profile("E1"))
    yield token
    STORE.engine.dispose()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_server_error(case: schemathesis.Case, agency_token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {agency_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
