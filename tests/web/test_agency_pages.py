"""An agency takes the COSME call from open evaluation to its decision through the pages alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db.session import Store
from tests.web.seeding import CALL_ID, Tokens, seed_cosme


@pytest.fixture
def scored(tmp_path: Path) -> Iterator[tuple[Store, Tokens]]:
    store = Store.open(f"sqlite:///{tmp_path / 'grants.db'}")
    yield store, seed_cosme(store)
    store.engine.dispose()


class Browser:
    """A signed-in browser without JavaScript: it follows redirects and posts forms with their CSRF token."""

    def __init__(self, store: Store, token: str):
        self.client = TestClient(create_app(store))
        form = self.client.get("/sign-in").text
        self.client.post("/sign-in", data={"token": token, "csrf": self._csrf(form)})
        self.csrf = self._csrf(self.client.get("/").text)

    @staticmethod
    def _csrf(html: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None
        return found[1]

    def post(self, path: str, **fields: str) -> tuple[int, str]:
        response = self.client.post(path, data={"csrf": self.csrf, **fields})
        return response.status_code, response.text


def test_the_agency_closes_ranks_decides_and_reopens_a_sheet_through_the_pages(scored: tuple[Store, Tokens]) -> None:
    store, tokens = scored
    agency = Browser(store, tokens.agency)
    phase = f"/agency/calls/{CALL_ID}/phase"
    status, page = agency.post(phase, transition="close_evaluation")
    assert status == 200 and "The call is now evaluation closed" in page

    status, page = agency.post(
        f"/agency/calls/{CALL_ID}/reopen", proposal_id="ESCP4X-001", evaluator_id="ev07", reason=""
    )
    assert status == 409 and "needs a reason" in page
    status, page = agency.post(
        f"/agency/calls/{CALL_ID}/reopen", proposal_id="ESCP4X-001", evaluator_id="ev07", reason="typo in impact"
    )
    assert status == 200 and "The sheet is reopened" in page and "reopened: typo in impact" in page
    evaluator = Browser(store, tokens.evaluators["ev07"])
    sheet = evaluator.client.get(f"/evaluate/{CALL_ID}/ESCP4X-001").text
    assert "The agency reopened this sheet: typo in impact" in sheet
    status, page = evaluator.post(
        f"/evaluate/{CALL_ID}/ESCP4X-001",
        action="submit",
        version=re.search(r'name="version" value="(\d+)"', sheet)[1],  # type: ignore[index]
        **{"score.relevance": "2", "score.quality": "3", "score.consortium": "2", "score.impact": "2.5"},
    )
    assert status == 200 and "Your scores are submitted" in page

    status, page = agency.post(phase, transition="rank")
    assert status == 200 and "The call is now ranked" in page
    status, page = agency.post(f"/finance/calls/{CALL_ID}/allocations", decision="1")
    assert status == 200 and "the deciding run" in page and "12 grants" in page
    status, page = agency.post(phase, transition="decide")
    assert status == 200 and "The call is now decided" in page
    progress = agency.client.get(f"/agency/calls/{CALL_ID}/progress").text
    assert "The call is <strong>decided</strong>" in progress
    audit = agency.client.get("/agency/audit").text
    assert "The chain verifies" in audit and audit.index("call.phase") < audit.index("scores.reopen")


def test_a_next_address_after_sign_in_stays_on_this_site(scored: tuple[Store, Tokens]) -> None:
    store, tokens = scored
    client = TestClient(create_app(store))
    form = client.get("/sign-in", params={"next": "//evil.example/"}).text
    assert 'name="next" value="/"' in form
    csrf = Browser._csrf(form)
    response = client.post(
        "/sign-in",
        data={"token": tokens.finance, "csrf": csrf, "next": f"/finance/calls/{CALL_ID}"},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/finance/calls/{CALL_ID}"
