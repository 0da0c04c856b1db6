"""Small factories so tests read like the domain: a partner in Lazio, a call with a cap."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules.model import Call
from rules.proposal import Partner, Proposal, Role


def partner(
    name: str = "Cluster Org", country: str = "AT", region: str | None = None, role: str = "partner", **extra: Any
) -> Partner:
    return Partner.model_validate(
        {"name": name, "country": country, "region": region, "role": role, "type": "cluster_organisation", **extra}
    )


def proposal(
    id: str = "P1",
    partners: list[Partner] | None = None,
    requested: str | int = 400_000,
    months: int = 24,
    **extra: Any,
) -> Proposal:
    members = partners or [partner("Lead", "AT", role="lead"), partner("B", "SI"), partner("C", "HU")]
    if not any(p.role == "lead" for p in members):
        members = [members[0].model_copy(update={"role": Role.lead}), *members[1:]]
    return Proposal.model_validate(
        {
            "id": id,
            "acronym": id,
            "title": f"Proposal {id}",
            "requested_amount": Decimal(requested),
            "duration_months": months,
            "partners": [m.model_dump() for m in members],
            **extra,
        }
    )


def call(eligibility: list[dict[str, Any]] | None = None, **extra: Any) -> Call:
    """A small valid call: three 0-5 criteria, EUR 1,000,000, grants of at most 500,000."""
    data: dict[str, Any] = {
        "id": "TEST-CALL",
        "title": "Test call",
        "programme": "Test",
        "budget": {"total": 1_000_000, "max_grant": 500_000, "expected_grants": 3},
        "eligibility": eligibility or [],
        "criteria": [
            {"id": "excellence", "name": "Excellence", "threshold": 3},
            {"id": "impact", "name": "Impact", "threshold": 3},
            {"id": "implementation", "name": "Implementation", "threshold": 3},
        ],
        "overall_threshold": 10,
    }
    data.update(extra)
    return Call.model_validate(data)
