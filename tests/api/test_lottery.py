"""The lottery's commitment over HTTP: recorded in the audit log by the agency, read by finance."""

from __future__ import annotations

import hashlib

from tests.api.conftest import CALL_ID, Actor

SEED = "5eed" * 16
COMMITMENT = hashlib.sha256(SEED.encode()).hexdigest()


def test_the_agency_records_a_commitment_in_the_audit_log_and_finance_reads_it(
    agency: Actor, finance: Actor, open_call: str
) -> None:
    published = {"scheme": "grants-lottery/1", "call_id": CALL_ID, "commitment": COMMITMENT}
    response = agency.post(f"/calls/{CALL_ID}/lottery/commitments", json=published)
    assert response.status_code == 201, response.json()
    recorded = response.json()
    listed = finance.get(f"/calls/{CALL_ID}/lottery/commitments").json()
    assert listed == [recorded] and recorded["commitment"] == COMMITMENT
    entries = agency.get("/audit", params={"limit": 500}).json()["items"]
    entry = next(e for e in entries if e["seq"] == recorded["audit_seq"])
    assert entry["action"] == "lottery.commit" and entry["after"] == {"commitment": COMMITMENT}
    assert agency.get("/audit/verify").json()["ok"] is True


def test_finance_may_not_record_a_commitment(finance: Actor, open_call: str) -> None:
    response = finance.post(f"/calls/{CALL_ID}/lottery/commitments", json={"commitment": COMMITMENT})
    assert response.status_code == 403


def test_a_commitment_that_is_not_a_sha256_or_names_another_call_is_refused(agency: Actor, open_call: str) -> None:
    url = f"/calls/{CALL_ID}/lottery/commitments"
    assert agency.post(url, json={"commitment": SEED[:10]}).status_code == 422
    other = agency.post(url, json={"commitment": COMMITMENT, "call_id": "OTHER"})
    assert other.status_code == 422 and "OTHER" in other.text
    assert agency.get(url).json() == []
