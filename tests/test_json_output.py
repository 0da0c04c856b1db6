"""``--json`` is a contract: on every call and in every mode, stdout is one JSON document and nothing else.

Each command runs as the installed ``grants`` in its own process, so whatever a solver
library prints from native code on creation (HiGHS's banner) lands where a user's pipe
would read it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.commands.calls import _write_rows
from api.commands.screen import print_json

GRANTS = Path(sys.executable).parent / "grants"
ROOT = Path(__file__).resolve().parents[1]
CALLS = sorted(p.parent for p in (ROOT / "calls").glob("*/call.yaml"))
SCENARIOS = "- name: the call's own\n- name: at most three grants\n  max_grants: 3\n- name: rank mode\n  mode: rank\n"


def _commands(folder: Path, scenarios: Path) -> dict[str, list[str]]:
    files = [str(folder / "call.yaml"), str(folder / "proposals.yaml")]
    return {
        "check": ["check", *files],
        "rank": ["rank", *files],
        "allocate": ["allocate", *files],
        "allocate rank mode": ["allocate", *files, "--mode", "rank"],
        "allocate optimal mode": ["allocate", *files, "--mode", "optimal"],
        "simulate budgets": ["simulate", *files, "--budgets", "100000:5000000:3"],
        "simulate noise": ["simulate", *files, "--noise", "0.5", "--runs", "20"],
        "simulate scenarios": ["simulate", *files, "--scenarios", str(scenarios)],
    }


def _document(arguments: list[str], compact: bool = False) -> object:
    """The one document ``grants`` wrote to a pipe; ``compact``: on one line, as ``--json`` writes to a program."""
    done = subprocess.run([GRANTS, *arguments], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert not compact or done.stdout.count("\n") == 1, f"grants {' '.join(arguments)}: not compact"
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"grants {' '.join(arguments)}: stdout is not one JSON document ({exc}): {done.stdout[:300]!r}")


@pytest.mark.parametrize("folder", CALLS, ids=[p.name for p in CALLS])
def test_every_json_command_prints_only_its_document(folder: Path, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(SCENARIOS)
    for name, arguments in _commands(folder, scenarios).items():
        document = _document([*arguments, "--json"], compact=name != "check")  # check: a verdict a line
        assert document, name


@pytest.mark.parametrize("kind", ["call", "proposal"])
def test_schema_prints_only_its_document(kind: str) -> None:
    assert isinstance(_document(["schema", kind]), dict)


JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=JSON_DATA)
def test_the_document_reads_back_as_the_data_it_was_given(data: object, capsys: pytest.CaptureFixture[str]) -> None:
    """pydantic-core writes the documents: any letter, control, big number or float reads back as json.dumps's would."""
    capsys.readouterr()
    print_json(data)
    written = capsys.readouterr().out
    assert written.endswith("\n") and written.count("\n") == 1  # compact when read by a program
    assert json.loads(written) == json.loads(json.dumps(data)) == data


VERDICT = st.tuples(st.text(), st.booleans(), st.lists(JSON_DATA))
ROWS = st.lists(VERDICT.map(lambda v: {"id": v[0], "eligible": v[1], "failures": v[2]}))  # id first, as check writes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_check_writes_one_verdict_a_line_and_reads_back_as_given(
    rows: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Line breaks go only between verdicts, whatever quotes and braces their strings hold."""
    capsys.readouterr()
    _write_rows(rows)
    written = capsys.readouterr().out
    assert json.loads(written) == rows
    assert written.count("\n") == max(len(rows), 1) or any("id" in str(r["failures"]) for r in rows)
