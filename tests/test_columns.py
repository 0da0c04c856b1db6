"""Proposals read straight into columns (``rules.columns``) against the models they stand in for.

The columnar reader may refuse what the models accept (the models then read the file), but
never the other way round, and what it takes must give the very columns, proposals and
verdicts the models give. Proposals are drawn with the values that sit on either side of
every constraint: amounts in every spelling, wrong types, missing and unknown keys.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jiter
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from benchmarks.bench_eligibility import SEE_CALL, generated
from rules.areas import call_areas
from rules.check import check
from rules.columns import ParsedColumns, cents, read_columns, read_json_columns
from rules.eligibility import Context, MinCountries, _millionths, _partner_rates
from rules.errors import ProposalError
from rules.load import PROPOSALS, load_call, load_for_rules, load_proposals
from rules.money import MAX_AMOUNT, format_cents, format_money, from_cents, to_cents
from rules.table import NO_AMOUNT, ORG_TYPES, ProposalTable, compile_proposals
from tests.test_check_bulk import CALLS, LAZY_COLUMNS, bulk, verdicts

AMOUNTS = [
    "1", "0", "12.5", "12.50", "0.01", "12.505", "1e3", "6e7", "1E+2", " 12", "1_000", "-1", "-0", "+5",
    "999999999999.99", "1000000000000", "0012", "\u0663", "", "1.", ".5", "NaN", "Infinity",
    5, 0, -3, 10**12 - 1, 10**12, 1.5, 2.0, True, None, [],
]  # fmt: skip
TEXTS = ["A", "Ab", "Organisation 1", "", 5, None, True, "x" * 101]
PLACES = [("IT", "ITH3"), ("IT", None), ("GR", None), ("UA", "Kyiv"), ("Italy", "Veneto"), ("AT", 3), ("I", None)]
TYPES = ["sme", "university", "public_authority", "other", "SME", None, 1]
ROLES = ["partner", "partner", "Lead", None, 0]
DURATIONS = [24, 36, 1, 1200, 0, 1201, "24", 24.0, True, None]
HEADCOUNTS = [None, 5, 0, -1, "5", "5.5", 5.5, True]
SCORES: list[Any] = [
    4,
    3.5,
    0,
    None,
    2.25,
    -1,
    10**20,
    1e300,
    "4.5",
    " 4 ",
    "x",
    "",
    True,
    float("nan"),
    float("inf"),
    [],
    {},
]
SHEET_KEYS: list[tuple[str, Any]] = [
    ("comments", {"impact": "clear"}),
    ("imported_by", "agency"),
    ("imported_by", None),
]
SHEET_KEYS += [("comments", {"impact": 3}), ("comments", []), ("imported_by", 3), ("score", 1)]
UNUSED: list[tuple[str, Any]] = [
    ("evaluations", []),
    ("evaluations", [{"evaluator": "E", "scores": {}}]),
    ("gender_balance", None),
]
UNUSED += [("gender_balance", "0.5"), ("consensus", None), ("evaluations", None), ("foo", 1)]


def _rarely(draw: st.DrawFn, odds: int = 8) -> bool:
    """True about once in ``odds`` draws (and not in the simplest examples, which hypothesis favours)."""
    return draw(st.integers(0, odds - 1)) == odds - 1


def _value(draw: st.DrawFn, values: list[Any], good: int, odds: int = 8) -> Any:
    """One of the first ``good`` values, or rarely (once in ``odds``) any of them."""
    return draw(st.sampled_from(values if _rarely(draw, odds) else values[:good]))


@st.composite
def partner(draw: st.DrawFn, lead: bool) -> Any:
    country, region = _value(draw, PLACES, 5)
    found: dict[str, Any] = {"name": _value(draw, TEXTS, 3), "country": country, "region": region}
    if draw(st.booleans()):
        found["type"] = _value(draw, TYPES, 4)
    if lead or draw(st.booleans()):
        found["role"] = "lead" if lead else _value(draw, ROLES, 2)
    for key, values, good in (("budget", AMOUNTS, 10), ("turnover", AMOUNTS, 10), ("headcount", HEADCOUNTS, 3)):
        if draw(st.booleans()):
            found[key] = _value(draw, values, good)
    for key in ("organisation_id", "city"):
        if draw(st.booleans()):
            found[key] = _value(draw, TEXTS, 3)
    if _rarely(draw, 40):
        del found["country"]
    return draw(st.sampled_from([[], "partner", None])) if _rarely(draw, 60) else found


@st.composite
def sheet(draw: st.DrawFn) -> Any:
    """One evaluator's scores, numbers as sheets hold them; rarely text, a boolean, NaN, a key too many or too few."""
    criteria = draw(st.lists(st.sampled_from(["impact", "quality", "budget"]), max_size=3, unique=True))
    found: dict[str, Any] = {
        "evaluator": _value(draw, TEXTS, 3, odds=30),
        "scores": {c: _value(draw, SCORES, 6, odds=30) for c in criteria},
    }
    if _rarely(draw, 4):
        key, value = _value(draw, SHEET_KEYS, 3)
        found[key] = value
    if _rarely(draw, 40):
        del found[draw(st.sampled_from(["evaluator", "scores"]))]
    return draw(st.sampled_from([[], "E", None, {"impact": 3}])) if _rarely(draw, 60) else found


@st.composite
def proposal(draw: st.DrawFn, n: int) -> Any:
    partners = [draw(partner(lead=k == 0)) for k in range(draw(st.integers(1, 4)))]
    found: dict[str, Any] = {
        "id": f"P{n}",
        "requested_amount": _value(draw, AMOUNTS, 10),
        "duration_months": _value(draw, DURATIONS, 4),
        "partners": draw(st.sampled_from([[], {}, None])) if _rarely(draw, 40) else partners,
    }
    for key, values in (("acronym", TEXTS), ("title", TEXTS), ("topic", TEXTS), ("total_cost", AMOUNTS)):
        if draw(st.booleans()):
            found[key] = _value(draw, values, 3)
    if draw(st.booleans()):
        found["evaluations"] = draw(st.lists(sheet(), max_size=3))
    if _rarely(draw, 10):
        key, value = draw(st.sampled_from(UNUSED))
        found[key] = value
    if _rarely(draw, 40):
        del found[draw(st.sampled_from(["id", "requested_amount", "duration_months", "partners"]))]
    if _rarely(draw, 40) and isinstance(partners[0], dict):
        found["partners"] = [*partners, dict(partners[0])]  # a second lead
    return found


def _both(data: Any) -> tuple[ParsedColumns | None, list[Any] | None]:
    """What the columnar reader makes of the data, and what the models do (None: refused).

    The reader of the file's bytes takes no more than the reader of jiter's dicts, and reads it the same.
    """
    text = json.dumps(data)
    columns = read_columns(jiter.from_json(text.encode(), catch_duplicate_keys=True, cache_mode="keys"), True)
    decoded = read_json_columns(text.encode())
    if decoded is not None:
        assert columns is not None, "msgspec's structs took proposals the dicts' columns refuse"
        _same_columns(decoded, columns)
    try:
        return columns, PROPOSALS.validate_json(text)
    except ValidationError:
        return columns, None


def _same_columns(ours: ParsedColumns, theirs: ParsedColumns) -> None:
    assert (ours.ids, ours.places) == (theirs.ids, theirs.places)
    assert np.array_equal(ours.p_partners, theirs.p_partners)
    for name, column in theirs.columns.items():
        mine = ours.columns[name]
        same = mine.dtype == column.dtype and np.array_equal(mine, column) if isinstance(column, np.ndarray) else None
        assert same if same is not None else mine == column, name
    assert list(ours.table().proposals) == list(theirs.table().proposals)


def _same_tables(ours: ProposalTable, theirs: ProposalTable) -> None:
    for name in [*ours.__dataclass_fields__, *LAZY_COLUMNS, "ids", "x_name"]:
        if name in ("proposals", "x_sme_class"):
            continue
        mine, yours = getattr(ours, name), getattr(theirs, name)
        if isinstance(mine, np.ndarray):
            assert mine.dtype == yours.dtype and np.array_equal(mine, yours), name
        else:
            assert mine == yours, name
    assert list(ours.proposals) == list(theirs.proposals)
    assert np.array_equal(ours.x_sme_class, theirs.x_sme_class)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=3).flatmap(
    lambda ns: st.tuples(*(proposal(n) for n in range(len(ns))))
))  # fmt: skip
def test_the_columns_take_only_what_the_models_accept_and_read_it_as_they_do(data: tuple[Any, ...]) -> None:
    columns, proposals = _both(list(data))
    if columns is None:
        return
    assert proposals is not None, "the columns took proposals the models refuse"
    try:
        theirs = compile_proposals(proposals)
    except ProposalError as exc:
        with pytest.raises(ProposalError) as ours:
            columns.table()
        assert ours.value.problems == exc.problems
        return
    _same_tables(columns.table(), theirs)


@pytest.mark.parametrize(
    ("key", "value"),
    [("requested_amount", None), ("duration_months", None), ("id", None), ("partners", None), ("acronym", None)],
)
def test_a_null_where_the_model_wants_a_value_is_left_to_the_models(key: str, value: Any) -> None:
    data = generated(3, seed=1)
    data[1][key] = value
    assert _both(data) == (None, None)


def test_plain_proposals_are_taken_and_give_the_models_columns_and_verdicts() -> None:
    data = generated(3000, seed=11)
    columns, proposals = _both(data)
    assert columns is not None and proposals is not None
    _same_tables(columns.table(), compile_proposals(proposals))
    call = load_call(SEE_CALL)
    assert verdicts(check(call, columns)) == verdicts(check(call, proposals))


@pytest.mark.parametrize("score", ["high", True, float("nan"), {"of": 4}])
def test_a_bad_score_is_reported_at_its_proposal_and_field_as_the_models_report_it(score: Any, tmp_path: Path) -> None:
    data = [dict(p, evaluations=[{"evaluator": "E1", "scores": {"impact": 4, "quality": 3.5}}]) for p in generated(5)]
    path = tmp_path / "proposals.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    assert isinstance(load_for_rules(path), ParsedColumns), "sound sheets are read as columns"
    data[3]["evaluations"] = [{"evaluator": "E1", "scores": {"impact": score, "quality": 3.5}}]
    text = json.dumps(data, indent=1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProposalError) as ours:
        load_for_rules(path)
    with pytest.raises(ProposalError) as models:
        load_proposals(path)
    assert ours.value.problems == models.value.problems
    (problem,) = ours.value.problems
    line = [n for n, written in enumerate(text.splitlines(), 1) if '"impact"' in written][3]
    assert (problem.file, problem.path, problem.line) == (str(path), "3.evaluations.0.scores.impact", line)


@pytest.mark.parametrize("folder", CALLS, ids=[p.name for p in CALLS])
def test_each_calls_bulk_proposals_are_taken_with_their_odd_amounts(folder: Path) -> None:
    """The samples' proposals, their scores (some null) too, without what the columns leave to the models
    (a consensus, a float share); ``6e7`` kept."""
    left = ("consensus", "gender_balance")
    data = [{k: v for k, v in p.items() if k not in left} for p in bulk(folder, 800, seed=3)]
    columns, proposals = _both(data)
    assert columns is not None and proposals is not None
    call = load_call(folder / "call.yaml")
    assert verdicts(check(call, columns)) == verdicts(check(call, proposals))


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 10**12 - 1), st.decimals(0, MAX_AMOUNT - 1, places=2)), max_size=30)
)
def test_cents_are_the_models_amounts_exactly(values: list[Any]) -> None:
    written = [str(v) if isinstance(v, Decimal) else v for v in values]
    expected = [NO_AMOUNT if v is None else to_cents(Decimal(v)) for v in values]
    assert cents(written).tolist() == expected


@given(st.integers(-(10**16), 10**16))
def test_amounts_in_reasons_read_as_before(amount: int) -> None:
    assert format_cents(amount, "EUR") == format_money(from_cents(amount), "EUR")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(PLACES[:4] + [("AT", None), ("HU", None), ("CZ", None)]), min_size=1, max_size=7),
        min_size=1,
        max_size=20,
    )
)
def test_distinct_countries_are_counted_as_sorting_the_pairs_did(consortia: list[list[tuple[str, str | None]]]) -> None:
    data = [
        {"id": f"P{i}", "requested_amount": 1, "duration_months": 12, "partners": [
            {"name": "N", "country": c, "region": r, "role": "partner" if k else "lead"}
            for k, (c, r) in enumerate(places)
        ]}
        for i, places in enumerate(consortia)
    ]  # fmt: skip
    columns, _ = _both(data)
    assert columns is not None
    table = columns.table()
    call = load_call(SEE_CALL)
    ctx = Context(call=call, areas=call_areas(call.areas), table=table)
    rule = MinCountries(rule="min_countries", count=2, area="see_2007_2013")
    for area in (None, "see_2007_2013"):
        keep = ctx.in_area(area) if area else np.ones(len(table.x_owner), dtype=bool)
        pairs = np.unique(table.x_owner[keep].astype(np.int64) * 1024 + table.x_country[keep])
        assert rule._distinct(ctx, area).tolist() == np.bincount(pairs // 1024, minlength=table.size).tolist()


@pytest.mark.parametrize("folder", CALLS, ids=[p.name for p in CALLS])
def test_each_partners_cofinancing_rate_is_the_one_its_place_and_type_give(folder: Path) -> None:
    call = load_call(folder / "call.yaml")
    table = compile_proposals(PROPOSALS.validate_python(bulk(folder, 300, seed=2)))
    rates, default = call.budget.cofinancing, Decimal("0.8")
    expected = [
        _millionths(rates.rate_for(table.locations[at].country, ORG_TYPES[kind]) if rates else default)
        for at, kind in zip(table.x_location.tolist(), table.x_type.tolist(), strict=True)
    ]
    assert _partner_rates(table, rates, default).tolist() == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"name": "Organisation 1-0"', '"name": "Organisation 1-0", "name": "Other"'),
        ('"id": "P000002"', '"id": "P000002", "id": "P000009"'),
        ('"budget": ', '"budget": "1", "budget": '),
    ],
)
@pytest.mark.parametrize("text", ["", "Cluster: one", "Cluster\\u003a one", "K\\u00f6ln: one"])
def test_a_key_written_twice_is_refused_as_jiter_refuses_it_whatever_the_text_holds(
    old: str, new: str, text: str, tmp_path: Path
) -> None:
    """msgspec keeps a repeated key's last value: the colons counted find it, colons or escapes in the text or not."""
    data = generated(5, seed=4)
    for p in data:
        p["title"] = text
    written = json.dumps(data).replace("\\\\", "\\")
    path = tmp_path / "proposals.json"
    path.write_text(written, encoding="utf-8")
    assert isinstance(load_for_rules(path), ParsedColumns)
    assert read_json_columns(written.encode()) is not None or "\\u003a" in written
    path.write_text(written.replace(old, new, 1), encoding="utf-8")
    assert read_json_columns(path.read_bytes()) is None
    with pytest.raises(ProposalError) as ours:
        load_for_rules(path)
    with pytest.raises(ProposalError) as models:
        load_proposals(path)
    assert ours.value.problems == models.value.problems
    assert "written twice" in ours.value.problems[0].message
