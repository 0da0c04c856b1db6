"""The five real calls validate and check; broken calls fail at their line; schemas are JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from rules.check import check
from rules.load import load_call, load_proposals
from tests.grants_cli import grants

CALLS = sorted(p.parent for p in Path("calls").glob("*/call.yaml"))
BROKEN = Path("tests/broken_calls")
# file -> (line, field, the start of the message)
BROKEN_EXPECTED = {
    "amount_with_three_decimals": (6, "budget.max_grant", "Decimal input should have no more than 2 decimal places"),
    "budget_beyond_a_trillion": (5, "budget.total", "Input should be less than 1000000000000"),
    "cofinancing_above_100_percent": (9, "budget.cofinancing.default", "Input should be less than or equal to 1"),
    "malformed_yaml": (13, "", "malformed YAML: did not find expected ',' or '}'"),
    "grants_beyond_a_million": (17, "allocation.max_grants", "Input should be less than or equal to 1000000"),
    "misspelt_field": (4, "budjet", "unknown field 'budjet'; did you mean 'budget'?"),
    "negative_budget": (5, "budget.total", "Input should be greater than 0"),
    "overall_threshold_above_maximum": (14, "overall_threshold", "overall_threshold 16 is above the highest"),
    "quota_without_bound": (17, "allocation.constraints.0", "a quota needs at least one of max_share"),
    "repeated_criterion": (10, "criteria", "criterion ids repeat: impact"),
    "rule_without_kind": (9, "eligibility.0.rule", "missing 'rule:', the kind of rule"),
    "step_does_not_divide_scale": (11, "criteria.0", "step 0.7 does not divide the scale [0, 5]"),
    "threshold_above_scale": (12, "criteria.1", "threshold 6 is outside the scale [0, 5]"),
    "time_limit_beyond_a_week": (17, "allocation.time_limit_seconds", "Input should be a finite number"),
    "tie_break_names_missing_criterion": (15, "tie_break", "tie_break names criterion 'relevance'"),
    "unknown_area": (9, "eligibility.0.area", "unknown area 'see_2014_2020'; known: central_europe_2007_2013"),
    "unknown_country_in_area": (11, "areas.0.countries.2", "unknown country 'XX'"),
    "unknown_region_in_area": (
        12,
        "areas.0.partial.IT.1",
        "unknown region 'Lazzio' in Italy (IT); did you mean ITI4 Lazio",
    ),
    "area_named_like_a_builtin_one": (12, "areas.1.id", "area id 'eu27' is the built-in EU27"),
    "areas_including_each_other": (11, "areas.0.include", "areas include each other in a cycle: north, south"),
    "unknown_rule_kind": (9, "eligibility.0.rule", "unknown rule kind 'partner_region'"),
    "unknown_tie_break_key": (15, "tie_break.1", "unknown tie-break key 'coin_flip'"),
    "zero_partners": (9, "eligibility.0.count", "Input should be greater than or equal to 1"),
}


def test_the_five_calls_are_there() -> None:
    assert [c.name for c in CALLS] == [
        "central_europe_2007_2013_call4",
        "cosme_cluster_2020",
        "interreg_europe_2016_call2",
        "med_2007_2013_call2",
        "see_2007_2013_call4",
    ]


@pytest.mark.parametrize("folder", CALLS, ids=lambda p: p.name)
def test_call_validates_without_warnings_and_checks_its_proposals(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    validated = grants(capsys, monkeypatch, "validate", str(folder / "call.yaml"))
    assert validated.code == 0 and "valid call" in validated.out and "0 warnings" in validated.out
    checked = grants(capsys, monkeypatch, "check", str(folder / "call.yaml"), str(folder / "proposals.yaml"), "--json")
    assert checked.code == 0
    verdicts = json.loads(checked.out)
    assert 30 <= len(verdicts) <= 80
    failed_rules = {f["rule"] for v in verdicts for f in v["failures"]}
    assert sum(v["eligible"] for v in verdicts) > len(verdicts) / 2
    assert len(failed_rules) >= 5, "ineligible proposals should fail for different reasons"


@pytest.mark.parametrize("folder", CALLS, ids=lambda p: p.name)
def test_scores_fit_the_calls_criteria(folder: Path) -> None:
    call = load_call(folder / "call.yaml")
    criteria = {c.id: c for c in call.criteria}
    proposals = load_proposals(folder / "proposals.yaml")
    nulls = disagreements = 0
    for p in proposals:
        assert len(p.evaluations) == 3, p.id
        for evaluation in p.evaluations:
            assert set(evaluation.scores) == set(criteria), p.id
            for cid, score in evaluation.scores.items():
                nulls += score is None
                assert score is None or criteria[cid].on_scale(score), (p.id, cid, score)
        for cid in criteria:
            given = [s for e in p.evaluations if (s := e.scores[cid]) is not None]
            limit = call.scoring.disagreement_limit
            disagreements += limit is not None and max(given) - min(given) > limit
    assert nulls >= 1 and disagreements >= 1
    assert any(p.consensus for p in proposals)
    assert len({p.topic for p in proposals}) >= 4


@pytest.mark.parametrize("folder", CALLS, ids=lambda p: p.name)
def test_funding_is_contested(folder: Path) -> None:
    """More is requested by eligible proposals than the budget, so a funding line shows."""
    call = load_call(folder / "call.yaml")
    proposals = load_proposals(folder / "proposals.yaml")
    eligible = check(call, proposals).eligible_ids
    assert sum(p.requested_amount for p in proposals if p.id in eligible) > call.budget.total


def seed(folder: str, acronym: str) -> tuple[bool, list[str], int, set[str]]:
    call = load_call(Path("calls", folder, "call.yaml"))
    found = next(p for p in load_proposals(Path("calls", folder, "proposals.yaml")) if p.acronym == acronym)
    result = check(call, [found]).results[0]
    countries = {p.country for p in found.partners}
    return result.eligible, [f.reason for f in result.failures], len(found.partners), countries


def test_cloud_with_its_emilia_romagna_lead_is_eligible_in_see() -> None:
    assert seed("see_2007_2013_call4", "CLOUD")[0]


def test_two_ins_clusters_is_eligible_in_med() -> None:
    assert seed("med_2007_2013_call2", "2InS Clusters")[0]


def test_innogrow_has_nine_partners_from_eight_countries_and_is_eligible() -> None:
    eligible, _, partners, countries = seed("interreg_europe_2016_call2", "INNOGROW")
    assert eligible and partners == 9 and len({c.replace("UK", "GB") for c in countries}) == 8


def test_essence_as_written_says_which_countries_au_and_sl_meant() -> None:
    eligible, reasons, partners, _ = seed("central_europe_2007_2013_call4", "ESSENCE")
    assert not eligible and partners == 10
    assert "(AU is Australia; did you mean AT, Austria?)" in reasons[0]
    assert "(SL is Sierra Leone; did you mean SI, Slovenia?)" in reasons[0]


def test_every_broken_call_has_an_expectation() -> None:
    assert sorted(p.stem for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_EXPECTED)


@pytest.mark.parametrize("name", sorted(BROKEN_EXPECTED))
def test_broken_call_fails_validation_at_its_line(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    line, field, message = BROKEN_EXPECTED[name]
    path = BROKEN / f"{name}.yaml"
    result = grants(capsys, monkeypatch, "validate", str(path))
    assert result.code == 2
    where = f"{path}:{line}:" + (f" {field}:" if field else "")
    assert f"error {where} {message}" in result.err, result.err


@pytest.mark.parametrize("kind", ["call", "proposal"])
def test_schema_output_is_json_schema(
    kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = grants(capsys, monkeypatch, "schema", kind)
    assert printed.code == 0
    assert jsonschema_rs.meta.is_valid(json.loads(printed.out))


def test_real_proposals_are_valid_against_the_proposal_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = json.loads(grants(capsys, monkeypatch, "schema", "proposal").out)
    validator = jsonschema_rs.validator_for(schema)
    for p in load_proposals("calls/see_2007_2013_call4/proposals.yaml"):
        validator.validate(p.model_dump(mode="json"))


def test_unknown_schema_kind_is_a_user_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = grants(capsys, monkeypatch, "schema", "ranking")
    assert result.code == 2 and "'ranking' is not one of 'call', 'proposal'" in result.err
