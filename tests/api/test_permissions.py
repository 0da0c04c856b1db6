"""The role x endpoint matrix, generated from the routes and the permission table.

Every route of the OpenAPI document must have a row in ``PERMISSIONS`` and every row
a route; each role is then sent to each route: a role outside the row gets 403, a
role inside it never gets 401 or 403; no token, or a wrong one, gets 401.
"""

from __future__ import annotations

import pytest

from api.auth import PERMISSIONS, Role
from tests.api.conftest import CALL_ID, Actor, World, assign

PATH_VALUES = {
    "call_id": CALL_ID,
    "proposal_id": "P1",
    "evaluator_id": "E1",
    "version": "1",
    "run_id": "1",
    "document": "index.html",
}


def api_routes(world: World) -> set[tuple[str, str]]:
    paths = world.client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def concrete(path: str) -> str:
    return path.format(**PATH_VALUES)


def test_every_route_has_a_row_in_the_permission_table_and_every_row_a_route(world: World) -> None:
    routes = api_routes(world)
    assert routes - PERMISSIONS.keys() == set(), "routes without a permission row"
    assert PERMISSIONS.keys() - routes == set(), "permission rows without a route"


@pytest.fixture
def actors(world: World, agency: Actor, finance: Actor, open_call: str) -> dict[Role, Actor]:
    assign(agency, "P1", "E1")
    return {Role.agency: agency, Role.evaluator: world.evaluator("E1"), Role.finance: finance}


def test_each_role_reaches_exactly_the_endpoints_its_row_allows(world: World, actors: dict[Role, Actor]) -> None:
    wrong = []
    for method, path in sorted(api_routes(world)):
        for role, actor in actors.items():
            status = actor.request(method, concrete(path), json={}).status_code
            allowed = role in PERMISSIONS[(method, path)]
            if allowed and status in (401, 403) or not allowed and status != 403:
                wrong.append(f"{role} {method} {path}: {status} ({'allowed' if allowed else 'forbidden'})")
    assert wrong == []


def test_a_request_without_a_token_or_with_an_unknown_one_is_unauthorised(world: World, open_call: str) -> None:
    for method, path in sorted(api_routes(world)):
        anonymous = world.client.request(method, concrete(path), json={})
        forged = world.client.request(
            method, concrete(path), json={}, headers={"Authorization": "Bearer grants_forged"}
        )
        assert (anonymous.status_code, forged.status_code) == (401, 401), f"{method} {path}"
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["www-authenticate"] == "Bearer"


def test_an_evaluator_cannot_see_a_proposal_assigned_to_someone_else(world: World, actors: dict[Role, Actor]) -> None:
    other = world.evaluator("E2")
    assert other.get(f"/calls/{CALL_ID}/proposals/P1").status_code == 404
    assert other.put(f"/calls/{CALL_ID}/proposals/P1/scores", json={"scores": {}}).status_code == 404
    assert other.get(f"/calls/{CALL_ID}/proposals").json()["total"] == 0
    assert actors[Role.evaluator].get(f"/calls/{CALL_ID}/proposals").json()["total"] == 1


def test_an_evaluator_reads_only_their_own_profile(world: World, actors: dict[Role, Actor]) -> None:
    assert actors[Role.evaluator].get("/evaluators/E1").status_code == 200
    assert actors[Role.evaluator].get("/evaluators/E2").status_code == 404
