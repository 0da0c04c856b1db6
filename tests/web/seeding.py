"""The COSME call in a store, as an agency and its evaluators would have put it there through the API.

The call and its 60 proposals are uploaded, the nine evaluators registered and assigned
to the proposals they scored in ``proposals.yaml``, and their sheets (and the recorded
consensus) written with ``PUT``: the store then ranks and allocates as ``grants allocate``
does on the file.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role
from api.db.session import Store
from api.tokens import grant

COSME = Path(__file__).resolve().parents[2] / "calls" / "cosme_cluster_2020"
CALL_ID = "COS-CLUSTER-2020-3-03"
COUNTRIES = ["FR", "DE", "IT", "ES", "PL", "SE", "NL", "PT", "AT"]


@dataclass
class Tokens:
    agency: str
    finance: str
    evaluators: dict[str, str]


def token(store: Store, role: Role, evaluator: str | None = None) -> str:
    with store.session(write=True) as session:
        made = grant(session, "web test", role, evaluator_id=evaluator, label="web test")
        session.commit()
    return made.token


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def seed_cosme(store: Store, scored: bool = True, unscored: Set[tuple[str, str]] = frozenset()) -> Tokens:
    """Upload COSME, register and assign its evaluators; with ``scored``, write their sheets but the ``unscored``."""
    client = TestClient(create_app(store))
    agency = {"Authorization": f"Bearer {token(store, Role.agency)}"}
    _ok(
        client.post(
            "/calls", content=(COSME / "call.yaml").read_text(), headers={**agency, "content-type": "application/yaml"}
        )
    )
    text = (COSME / "proposals.yaml").read_text()
    _ok(
        client.post(f"/calls/{CALL_ID}/proposals", content=text, headers={**agency, "content-type": "application/yaml"})
    )
    _ok(client.post(f"/calls/{CALL_ID}/phase", json={"transition": "open_evaluation"}, headers=agency))
    proposals = yaml.safe_load(text)["proposals"]
    evaluators = sorted({e["evaluator"] for p in proposals for e in p.get("evaluations", [])})
    tokens = Tokens(agency["Authorization"].split()[1], token(store, Role.finance), {})
    for n, evaluator in enumerate(evaluators):
        profile = {
            "id": evaluator,
            "name": f"Expert {evaluator}",
            "organisation": f"Institute {evaluator}",
            "country": COUNTRIES[n % len(COUNTRIES)],
        }
        _ok(client.post("/evaluators", json=profile, headers=agency))
        tokens.evaluators[evaluator] = token(store, Role.evaluator, evaluator)
    for proposal in proposals:
        for evaluation in proposal.get("evaluations", []):
            pair = {"proposal_id": proposal["id"], "evaluator_id": evaluation["evaluator"]}
            _ok(client.post(f"/calls/{CALL_ID}/assignments", json=pair, headers=agency))
            if scored and (proposal["id"], evaluation["evaluator"]) not in unscored:
                mine = {"Authorization": f"Bearer {tokens.evaluators[evaluation['evaluator']]}"}
                sheet = {"scores": evaluation["scores"], "comments": evaluation.get("comments", {})}
                _ok(client.put(f"/calls/{CALL_ID}/proposals/{proposal['id']}/scores", json=sheet, headers=mine))
        if scored and proposal.get("consensus"):
            url = f"/calls/{CALL_ID}/proposals/{proposal['id']}/consensus"
            _ok(client.put(url, json={"scores": proposal["consensus"]}, headers=agency))
    return tokens
