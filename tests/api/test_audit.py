"""The audit log: one chained entry per write, and tampering found and named."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.db.session import Store
from tests.api.conftest import CALL_ID, Actor, World, assign, sheet


def entries(agency: Actor) -> list[dict]:
    return agency.get("/audit", params={"limit": 500}).json()["items"]


def tamper(store: Store, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql))


def test_every_write_is_audited_with_who_what_before_and_after(world: World, agency: Actor, open_call: str) -> None:
    assign(agency, "P1", "E1")
    e1 = world.evaluator("E1")
    e1.put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(4))
    e1.put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(5), headers={"If-Match": '"1"'})
    log = entries(agency)
    assert [e["action"] for e in log[:3]] == ["token.create", "call.upload", "proposal.upload"]
    replaced = log[-1]
    assert replaced["action"] == "scores.put"
    assert replaced["actor"].startswith("evaluator:E1")
    assert replaced["target"] == f"call/{CALL_ID}/proposal/P1/evaluator/E1"
    assert (replaced["before"]["scores"]["excellence"], replaced["after"]["scores"]["excellence"]) == ("4.00", "5.00")
    assert all(e["prev_hash"] == before["hash"] for before, e in zip(log, log[1:], strict=False))


def test_a_refused_write_leaves_no_entry(world: World, agency: Actor, open_call: str) -> None:
    count = agency.get("/audit").json()["total"]
    agency.post("/evaluators", json={"id": "E1", "name": "Other", "organisation": "X", "country": "FR"})
    agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P1", "evaluator_id": "nobody"})
    assert agency.get("/audit").json()["total"] == count


def test_an_intact_log_verifies(agency: Actor, open_call: str) -> None:
    report = agency.get("/audit/verify").json()
    assert report["ok"] and report["problems"] == []
    assert report["entries"] == agency.get("/audit").json()["total"]


def test_an_edited_entry_is_named(world: World, agency: Actor, open_call: str) -> None:
    tamper(world.store, "UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
    assert agency.get("/audit/verify").json()["problems"] == ["entry 3 was edited: its content does not match its hash"]


def test_an_entry_deleted_from_the_middle_is_named(world: World, agency: Actor, open_call: str) -> None:
    tamper(world.store, "DELETE FROM audit_log WHERE seq = 4")
    problems = agency.get("/audit/verify").json()["problems"]
    assert problems[0] == "entries 4 to 4 are missing (deleted)"
    assert "proposals row [2] is in the table but no audit entry wrote it" in problems


def test_entries_deleted_from_the_end_are_noticed(world: World, agency: Actor, open_call: str) -> None:
    last = agency.get("/audit").json()["total"]
    tamper(world.store, f"DELETE FROM audit_log WHERE seq >= {last - 1}")
    problems = agency.get("/audit/verify").json()["problems"]
    assert problems[0] == (
        f"the log ends at entry {last - 2} but {last} were written: entries after {last - 2} were deleted"
    )


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_next_link(world: World, agency: Actor, open_call: str) -> None:
    tamper(world.store, "UPDATE audit_log SET hash = 'f00d' WHERE seq = 2")
    problems = agency.get("/audit/verify").json()["problems"]
    assert "entry 3 does not chain to entry 2 (prev_hash differs)" in problems


def test_grants_audit_verify_exits_1_and_names_the_entry(world: World, open_call: str) -> None:
    url = world.store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "verify", "--database", url]).exit_code == 0
    tamper(world.store, "UPDATE audit_log SET after = NULL WHERE seq = 5")
    result = runner.invoke(app, ["audit", "verify", "--database", url])
    assert result.exit_code == 1
    assert "entry 5 was edited" in result.output
