"""Hostile YAML and JSON given to ``grants``: each refusal is one located line, never a traceback or a long wait.

The API reads its uploads with the same reader (tests/api/test_hostile_requests.py
holds it to the same answers).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.errors import ProposalError

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
    assert (
        done.stderr.strip() == f"error {path}:3: a number of 5,000 digits; at most 4,300 are read (write it in quotes)"
    )


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


ROOT = Path(__file__).resolve().parents[1]
YAML_FILES = sorted(
    [*ROOT.glob("calls/*/*.yaml"), *ROOT.glob("tests/broken_calls/*.yaml"), *ROOT.glob("rules/areas/*.yaml")]
)
SCALARS = [
    "NO", "yes", "off", "True", "~", "null", "", "0x1F", "0o17", "017", "1e3", "1.5e3", ".inf", "-.inf", "1_000",
    "+12", "-0", "1:20", "10:30", "2021-03-04", "2021-03-04T10:00:00Z", "2021-03-04 10:00:00", "1.", ".5", "+.5",
    "12345678901234567890", "=", "1e400", "001", "a b", "'quoted'", '"esc\\u00e9"',
]  # fmt: skip


def _both(text: str) -> tuple[object, object]:
    import yaml
    import yaml_rs

    from rules.yamlio import Loader

    return yaml.load(text, Loader=Loader), yaml_rs.loads(text)  # noqa: S506 - a safe loader


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(ROOT)) for p in YAML_FILES])
def test_the_fast_reader_reads_every_shipped_file_as_pyyaml_does(path: Path) -> None:
    from rules.yamlio import _plain_data

    text = path.read_text(encoding="utf-8")
    if not _plain_data(text):
        pytest.skip("read by PyYAML alone")
    try:
        slow, fast = _both(text)
    except Exception:  # noqa: BLE001 - a broken call: both refuse it, PyYAML's message is the one shown
        pytest.skip("malformed on purpose")
    assert fast == slow


@pytest.mark.parametrize("scalar", SCALARS)
def test_the_fast_reader_reads_each_scalar_as_pyyaml_does(scalar: str) -> None:
    slow, fast = _both(f"k: {scalar}\n")
    assert repr(fast) == repr(slow)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, 1]), st.booleans())
def test_the_fast_json_reader_reads_as_the_standard_library(value: object, indent: int | None, ascii: bool) -> None:
    import json

    from rules.yamlio import parse_json

    text = json.dumps(value, indent=indent, ensure_ascii=ascii)
    assert repr(parse_json(text, "p.json", ProposalError)) == repr(json.loads(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": "P1",\n  "id": "P2"}]', "p.json:2: key 'id' is written twice (first on line 1)"),
        ('[{"a": {"b": 1, "b": 2}}]', "p.json:1: key 'b' is written twice (first on line 1)"),
        ('[\n{"id": "P1",,}\n]', "p.json:2: malformed JSON: Expecting property name enclosed in double quotes"),
        ("[" * 500 + "]" * 500, None),
        ('["\\ud800"]', None),
    ],
)
def test_what_the_fast_json_reader_refuses_the_standard_library_reads_again(text: str, message: str | None) -> None:
    """Past jiter's 200 levels and at a lone surrogate the standard library still reads the file;
    repeated keys and syntax errors get its located message."""
    import json

    from rules.yamlio import parse_json

    if message is None:
        assert parse_json(text, "p.json", ProposalError) == json.loads(text)
        return
    with pytest.raises(ProposalError) as refused:
        parse_json(text, "p.json", ProposalError)
    assert [str(p) for p in refused.value.problems] == [message]
