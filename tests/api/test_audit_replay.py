"""The audit log proves the stored state: rows changed behind the API's back are named, keyed or not.

The attacker here has write access to the database and nothing else: not the audit
key in the server's configuration, and not a head exported to somewhere they cannot
write. Each test tampers with the tables as such an attacker would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.audit import entry_hash
from api.audit_replay import digest
from api.auth import Role
from api.cli import app
from api.db.models import AuditEntry, AuditHead
from api.db.session import Store
from tests.api.conftest import (
    CALL_ID,
    YAML,
    Actor,
    World,
    assign,
    call_yaml,
    evaluator_profile,
    move,
    proposals_json,
    sheet,
    three_proposals,
)

KEY = b"kept in the server's configuration, not in the database"
SCORES = f"/calls/{CALL_ID}/proposals/P1/scores"


@pytest.fixture
def keyed(store: Store) -> World:
    return World(Store(store.engine, audit_key=KEY))


def scored(world: World) -> Actor:
    """The test call, P1 to P3, E1 assigned to P1 and scoring it 2, 4, 4."""
    agency = world.actor(Role.agency)
    assert agency.post("/calls", content=call_yaml(), headers=YAML).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(*three_proposals())).status_code == 200
    assert agency.post("/evaluators", json=evaluator_profile("E1")).status_code == 201
    move(agency, "open_evaluation")
    assign(agency, "P1", "E1")
    assert world.evaluator("E1").put(SCORES, json=sheet(2)).status_code == 201
    return agency


def problems(agency: Actor) -> list[str]:
    found: list[str] = agency.get("/audit/verify").json()["problems"]
    return found


def tamper(world: World, sql: str, **params: Any) -> None:
    with world.store.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_a_score_edited_in_its_table_is_named_with_the_entry_that_wrote_it(keyed: World) -> None:
    agency = scored(keyed)
    assert problems(agency) == []
    tamper(keyed, "UPDATE scores SET value = 5 WHERE criterion = 'excellence'")
    found = problems(agency)
    assert len(found) == 1
    assert found[0].startswith("scores row [") and "differs from audit entry" in found[0]
    assert "value is '5.00', the log says '2.00'" in found[0]


def test_an_assignment_inserted_with_no_audit_entry_is_named(keyed: World) -> None:
    agency = scored(keyed)
    tamper(
        keyed,
        "INSERT INTO assignments (proposal_id, evaluator_id, method, created_by, created_at) "
        "VALUES (2, 'E1', 'manual', 'nobody', '2026-01-01 00:00:00')",
    )
    assert problems(agency) == ["assignments row [2] is in the table but no audit entry wrote it"]


def test_a_row_deleted_behind_the_log_is_named(keyed: World) -> None:
    agency = scored(keyed)
    tamper(keyed, "DELETE FROM scores WHERE criterion = 'impact'")
    (found,) = problems(agency)
    assert found.startswith("scores row [") and found.endswith("is missing from the table")


def test_a_token_given_another_role_and_a_run_rewritten_are_named(keyed: World) -> None:
    agency = scored(keyed)
    finance = keyed.actor(Role.finance)
    assert finance.post(f"/calls/{CALL_ID}/allocations").status_code == 201
    tamper(keyed, "UPDATE api_tokens SET role = 'agency' WHERE role = 'finance'")
    tamper(keyed, "UPDATE runs SET call_version = 7")
    found = problems(agency)
    assert any(p.startswith("api_tokens row [") and "role is 'agency', the log says 'finance'" in p for p in found)
    assert any(p.startswith("runs row [1] differs") for p in found)


def _rewrite(session: Session, seq: int, key: bytes | None) -> None:
    """What an attacker without the key does after editing entry ``seq``: recompute every hash from there."""
    entries = session.execute(select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)).scalars()
    prev = session.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq - 1)).scalar_one()
    for entry in entries:
        content = {k: getattr(entry, k) for k in ("seq", "at", "actor", "action", "target", "before", "after", "rows")}
        entry.prev_hash, entry.hash = prev, entry_hash(content, prev, key)
        prev = entry.hash
    session.execute(select(AuditHead)).scalar_one().hash = prev


def _forge_score(world: World, key: bytes | None) -> None:
    """Set E1's excellence to 5.00 in the table and in the entry that wrote it, then re-chain the log."""
    tamper(world, "UPDATE scores SET value = 5 WHERE criterion = 'excellence'")
    with Session(world.store.engine) as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "scores.put")).scalar_one()
        rows = json.loads(json.dumps(entry.rows))
        for written in rows:
            if written["table"] == "scores" and written["row"]["criterion"] == "excellence":
                written["row"]["value"] = "5.00"
                written["digest"] = digest(written["row"])
        entry.rows = rows
        session.flush()
        _rewrite(session, entry.seq, key)
        session.commit()


def test_a_score_forged_in_table_and_log_with_fresh_hashes_fails_a_keyed_chain(keyed: World) -> None:
    agency = scored(keyed)
    _forge_score(keyed, key=None)
    found = problems(agency)
    assert found and all(p.endswith("was edited: its content does not match its hash") for p in found)
    assert agency.get("/audit/verify").json()["keyed"] is True


def test_without_a_key_the_same_forgery_passes_and_the_report_says_why(world: World) -> None:
    agency = scored(world)
    _forge_score(world, key=None)
    report = agency.get("/audit/verify").json()
    assert report["ok"] and not report["keyed"]
    assert report["warnings"] == [
        "the chain is not keyed (GRANTS_AUDIT_KEY unset): a rewrite with fresh hashes would pass"
    ]


def test_a_log_cut_back_below_an_exported_head_is_found(keyed: World, tmp_path: Path, monkeypatch: Any) -> None:
    scored(keyed)
    monkeypatch.setenv("GRANTS_AUDIT_KEY", KEY.decode())
    url = keyed.store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    exported = runner.invoke(app, ["audit", "head", "--database", url])
    assert exported.exit_code == 0, exported.output
    head = json.loads(exported.stdout)
    (tmp_path / "head.json").write_text(exported.stdout)
    # The last write, its rows and its entry go, and the head table is moved back: the chain alone cannot tell.
    with keyed.store.engine.connect() as conn:
        query = text("SELECT prev_hash FROM audit_log WHERE seq = :s")
        previous = conn.execute(query, {"s": head["seq"]}).scalar_one()
    tamper(keyed, "DELETE FROM scores")
    tamper(keyed, "DELETE FROM score_sheets")
    tamper(keyed, "DELETE FROM audit_log WHERE seq = :s", s=head["seq"])
    tamper(keyed, "UPDATE audit_head SET seq = :s, hash = :h", s=head["seq"] - 1, h=previous)
    assert runner.invoke(app, ["audit", "verify", "--database", url]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--database", url, "--head", str(tmp_path / "head.json")])
    assert result.exit_code == 1
    assert f"the exported head is entry {head['seq']}, which the log no longer holds" in result.output
