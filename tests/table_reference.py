"""The proposal columns as they were built before the columns became one pass each, kept only as the tests' yardstick.

One loop over every partner of every proposal, filling each column element by element
and resolving a place the first time it is seen: slow, and plainly right. The fast
``rules.table.compile_proposals`` must build the same columns from the same proposals.
"""

from __future__ import annotations

import numpy as np

from rules.money import to_cents
from rules.proposal import Proposal, Role
from rules.regions import Location, resolve_location
from rules.sme import sme_class
from rules.table import TYPE_INDEX, ProposalTable, _amount


def reference_table(proposals: list[Proposal]) -> ProposalTable:
    """The columns of resolvable proposals (the reference does not report problems)."""
    cache: dict[tuple[str, str | None], int] = {}
    locations: list[Location] = []
    n_partners = sum(len(p.partners) for p in proposals)
    x_location = np.zeros(n_partners, dtype=np.int32)
    x_type = np.zeros(n_partners, dtype=np.int8)
    x_lead = np.zeros(n_partners, dtype=bool)
    x_sme = np.zeros(n_partners, dtype=np.int8)
    x_budget = np.zeros(n_partners, dtype=np.int64)
    x_owner = np.zeros(n_partners, dtype=np.int32)
    j = 0
    for i, proposal in enumerate(proposals):
        for partner in proposal.partners:
            key = (partner.country, partner.region)
            if key not in cache:
                locations.append(resolve_location(*key))
                cache[key] = len(locations) - 1
            x_owner[j] = i
            x_location[j] = cache[key]
            x_type[j] = TYPE_INDEX[partner.type]
            x_lead[j] = partner.role is Role.lead
            x_sme[j] = sme_class(partner)
            x_budget[j] = _amount(partner.budget)
            j += 1
    p_partners = np.array([len(p.partners) for p in proposals], dtype=np.int32)
    countries = sorted({loc.country for loc in locations})
    location_country = np.array([countries.index(loc.country) for loc in locations], dtype=np.int32)
    table = ProposalTable(
        proposals=proposals,
        locations=locations,
        p_partners=p_partners,
        p_first=np.concatenate(([0], np.cumsum(p_partners)[:-1])).astype(np.int64),
        x_owner=x_owner,
        x_location=x_location,
        x_lead=x_lead,
        countries=countries,
        x_country=location_country[x_location],
    )
    # The columns the fast table builds on first use are set here, so they are the reference's own.
    table.p_requested = np.array([to_cents(p.requested_amount) for p in proposals], dtype=np.int64)
    table.p_total_cost = np.array([_amount(p.total_cost) for p in proposals], dtype=np.int64)
    table.p_duration = np.array([p.duration_months for p in proposals], dtype=np.int32)
    table.x_type, table.x_sme_class, table.x_budget = x_type, x_sme, x_budget
    return table
