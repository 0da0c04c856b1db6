"""``grants lottery``: commit, draw and verify, as an agency runs them from the shell."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

GRANTS = Path(sys.executable).parent / "grants"
CALLS = Path(__file__).resolve().parent.parent / "calls"
COSME = CALLS / "cosme_cluster_2020"


def grants(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRANTS, *map(str, args)], capture_output=True, text=True, check=False, cwd=cwd)


def committed_draw(tmp_path: Path, call: Path, proposals: Path) -> tuple[dict[str, Any], Path]:
    """Commit, then draw; the draw's JSON and the record's path."""
    done = grants("lottery", "commit", call, "--seed-file", "seed.txt", "--out", "commitment.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = grants(
        "lottery", "draw", call, proposals, "--commitment", "commitment.json", "--seed-file", "seed.txt",
        "--out", "draw.json", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data, tmp_path / "draw.json"


def call_with(tmp_path: Path, folder: Path, randomise: str) -> Path:
    """The seed call with a ``randomise:`` block added to its allocation (the last block of every seed call)."""
    text = (folder / "call.yaml").read_text(encoding="utf-8")
    assert list(yaml.safe_load(text))[-1] == "allocation"
    path = tmp_path / "call.yaml"
    path.write_text(f"{text.rstrip()}\n  randomise: {randomise}\n", encoding="utf-8")
    return path


def test_cosme_funds_the_clear_proposals_and_draws_the_rest_among_the_grey_zone(tmp_path: Path) -> None:
    drawn, record = committed_draw(tmp_path, COSME / "call.yaml", COSME / "proposals.yaml")
    funded = [g["id"] for g in drawn["grants"]]
    assert set(drawn["clear"]) <= set(funded)
    assert set(funded) - set(drawn["clear"]) <= set(drawn["grey"])
    assert len(funded) == 12  # the call's max_grants
    chances = {c["id"]: c["chance"] for c in drawn["chances"]}
    slots = 12 - len(drawn["clear"])
    assert sum(chances[pid] for pid in drawn["grey"]) == pytest.approx(slots, abs=0.01)
    assert all(chances[pid] == 1 for pid in drawn["clear"]) and all(chances[pid] == 0 for pid in drawn["out"])
    verified = grants("lottery", "verify", record, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["verified"] is True


def test_anyone_can_recompute_the_uniform_order_from_the_revealed_seed(tmp_path: Path) -> None:
    drawn, _ = committed_draw(tmp_path, COSME / "call.yaml", COSME / "proposals.yaml")
    seed = (tmp_path / "seed.txt").read_text(encoding="utf-8").strip()
    assert (
        hashlib.sha256(seed.encode()).hexdigest()
        == json.loads((tmp_path / "commitment.json").read_text())["commitment"]
    )
    tickets = {pid: hashlib.sha256(f"{seed}:{pid}".encode()).hexdigest() for pid in drawn["grey"]}
    assert drawn["grey"] == sorted(tickets, key=lambda pid: tickets[pid], reverse=True)


def test_a_record_whose_scores_were_changed_after_the_draw_does_not_verify(tmp_path: Path) -> None:
    _, record = committed_draw(tmp_path, COSME / "call.yaml", COSME / "proposals.yaml")
    data = json.loads(record.read_text(encoding="utf-8"))
    data["proposals"]["text"] = data["proposals"]["text"].replace("relevance: 3.5,", "relevance: 4.5,", 3)
    record.write_text(json.dumps(data), encoding="utf-8")
    verified = grants("lottery", "verify", record)
    assert verified.returncode == 1
    assert "FAILED proposals file" in verified.stdout and "does not verify" in verified.stdout


def test_a_seed_that_is_not_the_committed_one_is_refused(tmp_path: Path) -> None:
    grants(
        "lottery", "commit", COSME / "call.yaml", "--seed-file", "seed.txt", "--out", "commitment.json", cwd=tmp_path
    )
    (tmp_path / "other.txt").write_text("00" * 32, encoding="utf-8")
    done = grants(
        "lottery", "draw", COSME / "call.yaml", COSME / "proposals.yaml", "--commitment", "commitment.json",
        "--seed-file", "other.txt", "--out", "draw.json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "other.txt: this seed does not match the commitment in commitment.json" in done.stderr
    assert not (tmp_path / "draw.json").exists()


def test_a_seed_already_drawn_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "seed.txt").write_text("kept\n", encoding="utf-8")
    done = grants("lottery", "commit", COSME / "call.yaml", "--seed-file", "seed.txt", "--out", "c.json", cwd=tmp_path)
    assert done.returncode == 2 and "seed.txt: exists already" in done.stderr
    assert (tmp_path / "seed.txt").read_text(encoding="utf-8") == "kept\n"


def test_a_lot_weighted_by_the_odds_of_funding_favours_the_likelier(tmp_path: Path) -> None:
    call = call_with(tmp_path, COSME, "{weights: probability}")
    drawn, record = committed_draw(tmp_path, call, COSME / "proposals.yaml")
    grey = [c for c in drawn["chances"] if c["zone"] == "grey"]
    assert all(c["weight"] == pytest.approx(max(c["p_above_line"], 1e-4)) for c in grey)
    likeliest, unlikeliest = max(grey, key=lambda c: c["weight"]), min(grey, key=lambda c: c["weight"])
    assert likeliest["chance"] > unlikeliest["chance"]
    assert grants("lottery", "verify", record).returncode == 0
    allocated = json.loads(grants("allocate", call, COSME / "proposals.yaml", "--json").stdout)
    assert "this call funds its grey zone by lot: grants lottery draw makes the decision" in allocated["notes"]


def test_the_lot_keeps_the_calls_caps(tmp_path: Path) -> None:
    folder = CALLS / "interreg_europe_2016_call2"
    drawn, _ = committed_draw(tmp_path, call_with(tmp_path, folder, "{weights: uniform}"), folder / "proposals.yaml")
    ranked = json.loads(grants("rank", folder / "call.yaml", folder / "proposals.yaml", "--json").stdout)
    lead = {e["id"]: e["lead_country"] for e in ranked["entries"]}
    per_country = Counter(lead[g["id"]] for g in drawn["grants"])
    assert drawn["grey"] and max(per_country.values()) <= 2
    assert sum(float(g["amount"]) for g in drawn["grants"]) <= float(drawn["budget"])
