"""Hostile YAML and JSON given to ``grants``: each refusal is one located line, never a traceback or a long wait.

The API reads its uploads with the same reader (tests/api/test_hostile_requests.py
holds it to the same answers).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GRANTS = Path(sys.executable).parent / "grants"
SEED = Path(__file__).resolve().parents[1] / "calls" / "cosme_cluster_2020"
LEVELS = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'] + [
    f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)
]
HOSTILE_CALLS = {
    "aliases a millionfold": ("\n".join(LEVELS) + "\n", 2, "YAML aliases expand this document from 28 to"),
    "a 5,000-digit number": ("id: x\nbudget:\n  total: " + "9" * 5000 + "\n", 3, "a number of 5,000 digits"),
    "nesting past libyaml's limit": ("id: x\nnested: " + "[" * 5000 + "]" * 5000 + "\n", 2, "nesting depth"),
    "a tag that builds an object": (
        "id: !!python/object/apply:os.system ['echo owned']\n",
        1,
        "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "a binary tag": ("id: !!binary aGVsbG8=\n", 1, "tag:yaml.org,2002:binary"),
}


def _grants(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRANTS, *arguments], capture_output=True, text=True, check=False, timeout=60)


@pytest.mark.parametrize("name", HOSTILE_CALLS)
def test_a_hostile_call_file_is_one_located_error(tmp_path: Path, name: str) -> None:
    text, line, message = HOSTILE_CALLS[name]
    path = tmp_path / "call.yaml"
    path.write_text(text)
    done = _grants("validate", str(path))
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr and "owned" not in done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error {path}:{line}: ") and message in done.stderr


def test_a_5000_digit_number_in_json_proposals_is_one_located_error(tmp_path: Path) -> None:
    path = tmp_path / "proposals.json"
    path.write_text('[\n  {"id": "P1",\n   "requested_amount": ' + "9" * 5000 + "}\n]\n")
    done = _grants("check", str(SEED / "call.yaml"), str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error {path}:3: a number of 5,000 digits; at most 100 are read"


def test_json_nested_past_the_limit_is_an_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "proposals.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    done = _grants("check", str(SEED / "call.yaml"), str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error {path}: the document nests deeper than 1,000 levels"


def test_a_long_number_in_quotes_is_text_and_read() -> None:
    from rules.errors import CallError
    from rules.yamlio import parse_yaml

    assert parse_yaml(f"id: '{'9' * 5000}'\n", "call.yaml", CallError) == {"id": "9" * 5000}
