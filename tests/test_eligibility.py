"""Every rule kind of the eligibility vocabulary, with a passing and a failing consortium."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rules.check import check
from rules.proposal import Proposal
from tests.factories import call, partner, proposal
from tests.grants_cli import grants


def reasons(rules: list[dict[str, Any]], *proposals: Proposal, **call_extra: Any) -> dict[str, list[str]]:
    """Each proposal's failure reasons (an empty list: eligible)."""
    report = check(call(rules, **call_extra), list(proposals))
    return {r.id: [f.reason for f in r.failures] for r in report.results}


def is_eligible(rule: dict[str, Any], p: Proposal, **call_extra: Any) -> bool:
    return not reasons([rule], p, **call_extra)[p.id]


def why(rule: dict[str, Any], p: Proposal, **call_extra: Any) -> str:
    failures = reasons([rule], p, **call_extra)[p.id]
    assert len(failures) == 1, failures
    return failures[0]


SEE: dict[str, Any] = {"rule": "partner_area", "area": "see_2007_2013"}


def see_consortium(*extra: Any) -> Proposal:
    return proposal(
        partners=[
            partner("CNA Emilia-Romagna", "IT", "Emilia-Romagna", role="lead"),
            partner("Plovdiv RDA", "BG"),
            partner("Odesa RSA", "UA", "Odesa"),
            *extra,
        ]
    )


# --- partner_area -----------------------------------------------------------------------------
def test_consortium_inside_see_is_eligible() -> None:
    assert is_eligible(SEE, see_consortium())


def test_lazio_partner_is_outside_see_and_the_reason_names_region_and_area() -> None:
    reason = why(SEE, see_consortium(partner("Regione Lazio", "IT", "Lazio")))
    assert reason == "partner 4 (Regione Lazio, ITI4 Lazio, Italy) is outside SEE 2007–2013"


def test_italian_partner_without_region_is_asked_for_one() -> None:
    reason = why(SEE, see_consortium(partner("Comune di Roma", "IT")))
    assert "gives no region, and Italy is only partly in SEE 2007–2013" in reason


def test_austria_written_au_gets_a_lookalike_hint() -> None:
    reason = why(SEE, see_consortium(partner("AREA m Styria GmbH", "AU")))
    assert "(AU is Australia; did you mean AT, Austria?)" in reason


def test_min_share_lets_a_minority_of_partners_be_outside() -> None:
    rule = {**SEE, "min_share": 0.75}
    three_of_four = see_consortium(partner("Regione Lazio", "IT", "Lazio"))
    two_of_four = proposal(partners=[partner("A", "AT"), partner("B", "HU"), partner("C", "CZ"), partner("D", "PL")])
    assert is_eligible(rule, three_of_four)
    assert why(rule, two_of_four).startswith("only 2 of 4 partners are in SEE 2007–2013, at least 75% required")


# --- lead_partner_area ----------------------------------------------------------------------
def test_lead_in_the_area_passes_and_a_lead_outside_fails_even_with_partners_inside() -> None:
    rule = {"rule": "lead_partner_area", "area": "eu27"}
    assert is_eligible(rule, proposal(partners=[partner("Lead", "SI", role="lead"), partner("B", "RS")]))
    serbian_lead = proposal(partners=[partner("Lead", "RS", role="lead"), partner("B", "SI"), partner("C", "AT")])
    assert why(rule, serbian_lead) == (
        "lead partner 1 (Lead, Serbia) is outside EU27 (Member States from 1 February 2020)"
    )


# --- min_partners ---------------------------------------------------------------------------
def test_too_few_and_too_many_partners() -> None:
    rule = {"rule": "min_partners", "count": 3, "max": 4}
    assert is_eligible(rule, proposal())
    assert why(rule, proposal(partners=[partner("A", "AT"), partner("B", "SI")])) == (
        "has 2 partners, at least 3 required"
    )
    five = proposal(partners=[partner(str(i), "AT") for i in range(5)])
    assert why(rule, five) == "has 5 partners, at most 4 allowed"


# --- min_countries --------------------------------------------------------------------------
def test_three_partners_from_two_countries_are_not_transnational_enough() -> None:
    rule = {"rule": "min_countries", "count": 3}
    assert is_eligible(rule, proposal())
    two_countries = proposal(partners=[partner("A", "AT"), partner("B", "AT"), partner("C", "SI")])
    assert why(rule, two_countries) == "partners come from 2 countries (AT, SI), at least 3 required"


def test_min_countries_in_an_area_counts_only_countries_inside_it() -> None:
    rule = {"rule": "min_countries", "count": 3, "area": "eu27"}
    with_serbia = proposal(partners=[partner("A", "AT"), partner("B", "SI"), partner("C", "RS")])
    assert "partners come from 2 countries in EU27" in why(rule, with_serbia)
    assert is_eligible({"rule": "min_countries", "count": 3}, with_serbia)


def test_of_which_requires_so_many_countries_in_an_area() -> None:
    rule = {"rule": "min_countries", "count": 3, "of_which": {"area": "eu27", "count": 2}}
    assert is_eligible(rule, proposal(partners=[partner("A", "AT"), partner("B", "SI"), partner("C", "RS")]))
    mostly_ipa = proposal(partners=[partner("A", "AT"), partner("B", "ME"), partner("C", "RS")])
    assert why(rule, mostly_ipa) == "1 countries in EU27 (Member States from 1 February 2020) (AT), at least 2 required"


# --- partner_type ---------------------------------------------------------------------------
def test_university_is_not_an_allowed_cluster_partner() -> None:
    rule = {"rule": "partner_type", "allowed": ["cluster_organisation", "business_network"]}
    assert is_eligible(rule, proposal())
    with_university = proposal(partners=[partner("A", "AT"), partner("TU Graz", "AT", type="university")])
    assert why(rule, with_university) == (
        "partner 2 (TU Graz, Austria) is a university, not one of cluster_organisation, business_network"
    )


def test_required_type_must_be_among_the_partners() -> None:
    rule = {"rule": "partner_type", "required": ["public_authority"]}
    assert why(rule, proposal()) == "no partner is a public_authority"
    assert is_eligible(rule, proposal(partners=[partner("A"), partner("Region", "SI", type="public_authority")]))


def test_private_company_may_take_part_but_not_lead() -> None:
    rule = {"rule": "partner_type", "lead_allowed": ["public_authority"]}
    company_partner = proposal(
        partners=[partner("Region", "AT", type="public_authority"), partner("Firm", "SI", type="private_for_profit")]
    )
    company_lead = proposal(
        partners=[
            partner("Firm", "SI", type="private_for_profit", role="lead"),
            partner("Region", "AT", type="public_authority"),
        ]
    )
    assert is_eligible(rule, company_partner)
    assert why(rule, company_lead) == "lead partner 1 (Firm, Slovenia) is a private_for_profit, which may not lead"


# --- sme (Recommendation 2003/361/EC) -------------------------------------------------------
def firm(headcount: int, turnover: str | None = None, balance_sheet: str | None = None) -> Proposal:
    figures: dict[str, Any] = {"headcount": headcount, "turnover": turnover, "balance_sheet": balance_sheet}
    return proposal(
        partners=[partner("Lead", "AT", type="public_authority"), partner("Firm", "SI", type="sme", **figures)]
    )


@pytest.mark.parametrize(
    ("headcount", "turnover", "balance_sheet", "is_sme"),
    [
        (249, "50000000", None, True),  # headcount strictly below 250, turnover not exceeding 50M
        (250, "1000000", None, False),  # 250 staff is large whatever the money
        (249, "50000000.01", None, False),
        (249, "90000000", "43000000", True),  # turnover too high, but the balance sheet fits
        (249, "50000000.01", "43000000.01", False),
        (10, "2000000", "2000000", True),
    ],
)
def test_sme_ceilings_of_the_recommendation(
    headcount: int, turnover: str, balance_sheet: str | None, is_sme: bool
) -> None:
    assert is_eligible({"rule": "sme"}, firm(headcount, turnover, balance_sheet)) is is_sme


@pytest.mark.parametrize(
    ("headcount", "turnover", "smallest_class"),
    [
        (9, "2000000", "micro"),
        (10, "2000000", "small"),
        (9, "2000000.01", "small"),
        (49, "10000000", "small"),
        (50, "10000000", "medium"),
        (49, "10000000.01", "medium"),
    ],
)
def test_micro_small_medium_boundaries(headcount: int, turnover: str, smallest_class: str) -> None:
    classes = ["micro", "small", "medium"]
    allowed_up_to = classes[: classes.index(smallest_class) + 1]
    assert is_eligible({"rule": "sme", "classes": allowed_up_to}, firm(headcount, turnover))
    if smallest_class != "micro":
        below = classes[: classes.index(smallest_class)]
        assert not is_eligible({"rule": "sme", "classes": below}, firm(headcount, turnover))


def test_sme_failure_shows_the_figures() -> None:
    reason = why({"rule": "sme"}, firm(310, "72000000", "51000000"))
    assert reason == (
        "partner 2 (Firm, Slovenia) is not a micro/small/medium SME: "
        "has headcount 310, turnover 72000000, balance sheet 51000000: not an SME"
    )


def test_declared_sme_without_figures_fails_and_says_so() -> None:
    undeclared_figures = proposal(partners=[partner("Lead"), partner("Firm", "SI", type="sme")])
    assert "gives no headcount and no turnover or balance sheet" in why({"rule": "sme"}, undeclared_figures)


@pytest.mark.parametrize(
    ("figures", "missing"),
    [
        ({"headcount": 12}, "gives headcount 12 but no turnover or balance sheet"),
        ({"turnover": 900_000}, "gives no headcount"),
    ],
)
def test_an_sme_with_half_its_figures_is_told_which_half_is_missing(figures: dict[str, Any], missing: str) -> None:
    half = proposal(partners=[partner("Lead"), partner("Firm", "SI", type="sme", **figures)])
    assert why({"rule": "sme"}, half).endswith(f"is not a micro/small/medium SME: {missing}")


def test_sme_rule_for_the_lead_and_a_minimum_count() -> None:
    small_lead = proposal(
        partners=[partner("Lead", "AT", role="lead", headcount=12, turnover=3_000_000), partner("B", "SI")]
    )
    assert is_eligible({"rule": "sme", "applies_to": "lead"}, small_lead)
    assert why({"rule": "sme", "min_count": 2}, small_lead) == "1 partners qualify as SMEs, at least 2 required"


# --- requested_amount -----------------------------------------------------------------------
def test_request_above_the_calls_max_grant_fails_without_repeating_the_cap_in_the_rule() -> None:
    rule = {"rule": "requested_amount"}
    assert is_eligible(rule, proposal(requested="500000.00"))
    assert why(rule, proposal(requested="500000.01")) == (
        "requests EUR 500,000.01, above the maximum grant of EUR 500,000.00"
    )


def test_request_below_an_explicit_minimum() -> None:
    rule = {"rule": "requested_amount", "min": 100_000, "max": 300_000}
    assert why(rule, proposal(requested=99_999)) == "requests EUR 99,999.00, below the minimum grant of EUR 100,000.00"
    assert not is_eligible(rule, proposal(requested=400_000))


# --- duration -------------------------------------------------------------------------------
def test_duration_window() -> None:
    rule = {"rule": "duration", "min_months": 20, "max_months": 24}
    assert is_eligible(rule, proposal(months=24))
    assert why(rule, proposal(months=30)) == "lasts 30 months, 20–24 months allowed"
    assert not is_eligible(rule, proposal(months=18))


# --- cofinancing ----------------------------------------------------------------------------
INTERREG_RATES = {
    "total": 10_000_000,
    "max_grant": 2_000_000,
    "cofinancing": {"by_type": {"public_authority": 0.85, "private_non_profit": 0.75}, "by_country": {"CH": 0}},
}


def interreg(requested: str, swiss_budget: int = 0) -> Proposal:
    partners = [
        partner("Region", "IT", "Veneto", role="lead", type="public_authority", budget=100_000),
        partner("Foundation", "SI", type="private_non_profit", budget=100_000.01),
    ]
    if swiss_budget:
        partners.append(partner("Canton", "CH", type="public_authority", budget=swiss_budget))
    return proposal(partners=partners, requested=requested)


def test_cofinancing_by_partner_budgets_is_exact_to_the_cent() -> None:
    rule = {"rule": "cofinancing"}
    # 85% of 100,000 + 75% of 100,000.01 = 160,000.0075, floored to the cent
    assert is_eligible(rule, interreg("160000.00"), budget=INTERREG_RATES)
    assert why(rule, interreg("160000.01"), budget=INTERREG_RATES) == (
        "requests EUR 160,000.01, above the co-financing ceiling of EUR 160,000.00"
    )


def test_self_funded_swiss_partner_adds_nothing_to_the_ceiling() -> None:
    assert not is_eligible({"rule": "cofinancing"}, interreg("160000.01", swiss_budget=50_000), budget=INTERREG_RATES)


def test_cofinancing_by_total_cost_at_the_default_rate() -> None:
    rule = {"rule": "cofinancing"}
    budget = {"total": 6_000_000, "max_grant": 500_000, "cofinancing": {"default": 0.75}}
    assert is_eligible(rule, proposal(requested=375_000, total_cost=500_000), budget=budget)
    assert not is_eligible(rule, proposal(requested=375_001, total_cost=500_000), budget=budget)
    assert is_eligible(
        {"rule": "cofinancing", "max_rate": 0.8}, proposal(requested=400_000, total_cost=500_000), budget=budget
    )


def test_proposal_without_costs_cannot_be_checked_for_cofinancing() -> None:
    assert why({"rule": "cofinancing", "max_rate": 0.75}, proposal()) == (
        "gives neither partner budgets nor a total cost, so co-financing cannot be checked"
    )


# --- all_of, any_of, not, at_least ----------------------------------------------------------
def test_all_of_lists_every_failing_part() -> None:
    rule = {"rule": "all_of", "rules": [{"rule": "min_partners", "count": 4}, {"rule": "duration", "max_months": 24}]}
    assert why(rule, proposal(months=36)) == "has 3 partners, at least 4 required; lasts 36 months, 1–24 months allowed"
    assert is_eligible(rule, proposal(partners=[partner(str(i)) for i in range(4)]))


def test_any_of_needs_one_alternative() -> None:
    rule = {"rule": "any_of", "rules": [{"rule": "min_partners", "count": 5}, {"rule": "min_countries", "count": 3}]}
    assert is_eligible(rule, proposal())
    two_countries = proposal(partners=[partner("A", "AT"), partner("B", "AT"), partner("C", "SI")])
    assert why(rule, two_countries).startswith("none of the alternatives holds: has 3 partners, at least 5 required | ")


def test_not_turns_a_rule_around() -> None:
    no_ipa_lead = {"rule": "not", "of": {"rule": "lead_partner_area", "area": "see_2007_2013"}}
    assert is_eligible(no_ipa_lead, proposal(partners=[partner("Lead", "FR", role="lead"), partner("B", "SI")]))
    assert why(no_ipa_lead, proposal()) == "must not have the lead partner in see_2007_2013"


def test_at_least_two_partners_financed_by_interreg_europe() -> None:
    rule = {"rule": "at_least", "count": 2, "of": {"rule": "partner_area", "area": "interreg_europe_financed"}}
    assert is_eligible(rule, proposal())
    norway_swiss = proposal(partners=[partner("A", "NO"), partner("B", "CH"), partner("C", "IT", "Veneto")])
    assert why(rule, norway_swiss) == "1 partners meet 'every partner in interreg_europe_financed', at least 2 required"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"rule": "duration", "min_months": 30, "max_months": 20}, "min_months 30 is above max_months 20"),
        ({"rule": "min_partners", "count": 5, "max": 3}, "count 5 is above max 3"),
        ({"rule": "requested_amount", "min": 500_000, "max": 100_000}, "min 500000 is above max 100000"),
    ],
)
def test_a_range_no_proposal_can_meet_is_refused_with_the_call(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=f"{message}: no proposal could pass"):
        call([rule])


def test_an_upside_down_range_is_reported_at_its_rule_not_at_a_pydantic_tag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "call.yaml"
    text = Path("tests/broken_calls/zero_partners.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("count: 0", "count: 5, max: 3"), encoding="utf-8")
    result = grants(capsys, monkeypatch, "validate", str(path))
    assert f"{path}:9: eligibility.0: count 5 is above max 3: no proposal could pass" in result.err


def test_at_least_counts_partners_so_a_share_makes_no_sense() -> None:
    with pytest.raises(ValidationError, match="drop min_share"):
        call([{"rule": "at_least", "count": 2, "of": {**SEE, "min_share": 0.5}}])


def test_check_reports_every_failed_rule_not_only_the_first() -> None:
    rules = [SEE, {"rule": "duration", "max_months": 24}, {"rule": "requested_amount"}]
    failing = see_consortium(partner("Regione Lazio", "IT", "Lazio")).model_copy(
        update={"id": "LATE", "duration_months": 40, "requested_amount": Decimal(600_000)}
    )
    report = check(call(rules), [failing, see_consortium()])
    assert [f.rule for f in report.results[0].failures] == ["partner_area", "duration", "requested_amount"]
    assert report.eligible_ids == {see_consortium().id} and not report.results[0].eligible
