"""The score write's shortcuts give what the long way gave: rows as the audit log states them, sheets as validated.

``row_state`` skips the JSON round trip for rows of plain scalars, and the write builds
its sheets with ``model_construct`` from values the store holds (no NUL, no lone
surrogate: those never get in); each is checked here against the long way, on generated values.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.audit_replay import _columns, _plain, row_state
from api.db.models import ProposalRow, ScoreSheet
from api.evaluation import SheetOut, SheetState, _stored_sheet

TEXT = st.text(max_size=20)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3))
MOMENTS = st.datetimes(timezones=st.just(dt.UTC)) | st.datetimes()
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000)


def _long_way(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    state = {c.name: _plain(row[c.name]) for c in _columns(table)}
    found: dict[str, Any] = json.loads(json.dumps(state, default=str, sort_keys=True))
    return found


@given(st.lists(st.one_of(SCALARS, MOMENTS, DECIMALS, st.floats(allow_nan=False)), min_size=10, max_size=10))
def test_a_row_of_scalars_is_stated_as_its_json_round_trip(values: list[Any]) -> None:
    row = {c.name: v for c, v in zip(_columns(ScoreSheet.__table__), values, strict=False)}  # type: ignore[arg-type]
    stated = row_state(ScoreSheet.__table__, row)  # type: ignore[arg-type]
    assert stated == _long_way(ScoreSheet.__table__, row)
    assert list(stated) == sorted(stated)
    assert json.dumps(stated) == json.dumps(_long_way(ScoreSheet.__table__, row))


@given(JSON, SCALARS, DECIMALS)
def test_a_row_with_a_json_column_is_stated_as_its_json_round_trip(data: Any, code: Any, amount: Decimal) -> None:
    columns = _columns(ProposalRow.__table__)  # type: ignore[arg-type]
    row = {c.name: {"data": data, "code": code, "requested_amount": amount}.get(c.name, 7) for c in columns}
    stated = row_state(ProposalRow.__table__, row)  # type: ignore[arg-type]
    assert json.dumps(stated) == json.dumps(_long_way(ProposalRow.__table__, row))


CRITERIA = st.text(alphabet="abcdefgh", min_size=1, max_size=8)
STORED_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)


@given(
    st.dictionaries(CRITERIA, st.none() | DECIMALS, max_size=5),
    st.dictionaries(CRITERIA, STORED_TEXT, max_size=3),
    st.sampled_from(SheetState),
    st.none() | STORED_TEXT,
    MOMENTS,
)
def test_a_sheet_built_from_stored_values_is_the_sheet_validation_builds(
    scores: dict[str, Decimal | None],
    comments: dict[str, str],
    state: SheetState,
    reason: str | None,
    moment: dt.datetime,
) -> None:
    fields = {
        "proposal_id": "P1",
        "evaluator_id": "E1",
        "call_version": 2,
        "version": 3,
        "scores": scores,
        "comments": comments,
        "state": state,
        "reopened_reason": reason,
        "updated_by": "evaluator:E1@agency (token 4)",
        "updated_at": moment,
        "imported_by": None,
    }
    built, validated = _stored_sheet(**fields), SheetOut.model_validate(fields)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
