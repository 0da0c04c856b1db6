"""Proposals compiled into columns, so rules run over arrays instead of objects.

Checking 100,000 proposals means half a million partners; resolving each partner's
region once per distinct (country, region) pair and evaluating every rule as a
numpy expression over all partners keeps the rule engine well above 50,000
proposals per second. Explanations are produced only for the proposals that fail.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from rules.errors import Problem, ProposalError, RegionError
from rules.money import to_cents
from rules.proposal import OrganisationType, Partner, Proposal, Role
from rules.regions import Location, resolve_location
from rules.sme import sme_class

ORG_TYPES = list(OrganisationType)
TYPE_INDEX = {t: i for i, t in enumerate(ORG_TYPES)}
NO_AMOUNT = -1


@dataclass
class ProposalTable:
    """Columns over proposals (``p_*``) and over all partners, flattened (``x_*``).

    The fields are what every use needs: who the partners are and where. The columns of
    amounts, durations and organisation types are built the first time a rule reads them,
    so a call that never asks about them (no rules at all, say) does not pay for them:
    on 100,000 proposals that is a second of ``grants check``. A table read straight from a
    file's data (``rules.columns``) is given them all, and builds a proposal object only
    when something reads it.
    """

    proposals: Sequence[Proposal]
    locations: list[Location]
    p_partners: np.ndarray
    p_first: np.ndarray
    x_owner: np.ndarray
    x_location: np.ndarray
    x_lead: np.ndarray
    countries: list[str] = field(default_factory=list)
    x_country: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @property
    def size(self) -> int:
        return len(self.proposals)

    @functools.cached_property
    def partners(self) -> list[Partner]:
        return [partner for proposal in self.proposals for partner in proposal.partners]

    @functools.cached_property
    def ids(self) -> list[str]:
        return [p.id for p in self.proposals]

    @functools.cached_property
    def x_name(self) -> list[str]:
        return [q.name for q in self.partners]

    @functools.cached_property
    def p_requested(self) -> np.ndarray:
        return np.fromiter((to_cents(p.requested_amount) for p in self.proposals), dtype=np.int64, count=self.size)

    @functools.cached_property
    def p_total_cost(self) -> np.ndarray:
        return np.fromiter((_amount(p.total_cost) for p in self.proposals), dtype=np.int64, count=self.size)

    @functools.cached_property
    def p_duration(self) -> np.ndarray:
        return np.fromiter((p.duration_months for p in self.proposals), dtype=np.int32, count=self.size)

    @functools.cached_property
    def x_type(self) -> np.ndarray:
        return np.fromiter((TYPE_INDEX[q.type] for q in self.partners), dtype=np.int8, count=len(self.partners))

    @functools.cached_property
    def x_sme_class(self) -> np.ndarray:
        return np.fromiter(map(sme_class, self.partners), dtype=np.int8, count=len(self.partners))

    @functools.cached_property
    def x_budget(self) -> np.ndarray:
        return np.fromiter((_amount(q.budget) for q in self.partners), dtype=np.int64, count=len(self.partners))

    def per_proposal(self, partner_values: np.ndarray) -> np.ndarray:
        """Sum a per-partner column into a per-proposal one."""
        return np.bincount(self.x_owner, weights=partner_values, minlength=self.size)

    def sum_per_proposal(self, partner_amounts: np.ndarray) -> np.ndarray:
        """Sum an integer per-partner column exactly (bincount would go through floats)."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(partner_amounts.astype(np.int64), self.p_first)

    def partner(self, index: int) -> Partner:
        """The partner object behind a flattened index."""
        owner = int(self.x_owner[index])
        return self.proposals[owner].partners[index - int(self.p_first[owner])]

    @functools.cached_property
    def p_lead(self) -> np.ndarray:
        """Each proposal's lead partner (the model lets a proposal have exactly one)."""
        return np.flatnonzero(self.x_lead)

    @functools.cached_property
    def location_labels(self) -> list[str]:
        return [location.label() for location in self.locations]

    def partner_labels(self, partners: np.ndarray) -> list[str]:
        """How reasons name partners: ``partner 3 (Name, ITI4 Lazio, Italy)``, each place's label written once."""
        numbers = (partners - self.p_first[self.x_owner[partners]] + 1).tolist()
        names, labels = self.x_name, self.location_labels
        return [
            f"partner {number} ({names[j]}, {labels[at]})"
            for number, j, at in zip(numbers, partners.tolist(), self.x_location[partners].tolist(), strict=True)
        ]

    def per_partner_of(self, proposals: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """The partners of these proposals (those ``keep`` marks, if given), in order."""
        chosen = np.zeros(self.size, dtype=bool)
        chosen[proposals] = True
        wanted = chosen[self.x_owner]
        return np.flatnonzero(wanted if keep is None else wanted & keep)

    def grouped(self, proposals: np.ndarray, partners: np.ndarray, values: list[str]) -> list[list[str]]:
        """Per proposal (in increasing order), the values of its partners among ``partners`` (in order)."""
        owners = self.x_owner[partners]
        starts = np.searchsorted(owners, proposals, side="left").tolist()
        ends = np.searchsorted(owners, proposals, side="right").tolist()
        return [values[a:b] for a, b in zip(starts, ends, strict=True)]


def _amount(value: Decimal | None) -> int:
    return NO_AMOUNT if value is None else to_cents(value)


def repeated_ids(ids: list[str], source: str = "") -> list[Problem]:
    """One problem at each place of an id used more than once, naming the others.

    A verdict, a score or a grant is keyed by proposal id, so a second proposal with the
    same id would silently stand for the first. Each place is reported, so the user sees
    the line of every copy, not only of the later one. Ids are nearly always distinct, so
    the places are gathered only when the set of ids is smaller than the list.
    """
    if len(set(ids)) == len(ids):
        return []
    places: dict[str, list[int]] = {}
    for i, id in enumerate(ids):
        places.setdefault(id, []).append(i)
    repeated = [(id, at) for id, at in places.items() if len(at) > 1]
    return [
        Problem(f"proposal id {id!r} is used {len(at)} times (entries {_listed(at)})", f"{i}.id", source)
        for id, at in repeated
        for i in at
    ]


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def compile_proposals(proposals: Sequence[Proposal], source: str = "") -> ProposalTable:
    """Build the columns; a repeated id and every partner whose place cannot be resolved is one problem each.

    Each column is one comprehension over the flattened partners, and each distinct
    (country, region) is resolved once: half a million partners compile in about a second.
    """
    partners = [partner for proposal in proposals for partner in proposal.partners]
    table = assemble(
        proposals,
        [p.id for p in proposals],
        np.fromiter((len(p.partners) for p in proposals), dtype=np.int32, count=len(proposals)),
        [(partner.country, partner.region) for partner in partners],
        np.fromiter((q.role is Role.lead for q in partners), dtype=bool, count=len(partners)),
        source,
    )
    table.partners = partners
    return table


def assemble(
    proposals: Sequence[Proposal],
    ids: list[str],
    p_partners: np.ndarray,
    places: list[tuple[str, str | None]],
    x_lead: np.ndarray,
    source: str = "",
) -> ProposalTable:
    """The table of the columns every use needs, however they were read; places resolved, ids checked."""
    problems = repeated_ids(ids, source)
    index = {place: n for n, place in enumerate(dict.fromkeys(places))}
    locations = []
    unknown: list[tuple[tuple[str, str | None], RegionError]] = []
    for place in index:
        try:
            locations.append(resolve_location(*place))
        except RegionError as exc:
            unknown.append((place, exc))
            locations.append(Location("ZZ"))
    if unknown:
        problems += _place_problems(unknown, p_partners, places, source)
    if problems:
        raise ProposalError(problems)
    x_location = np.fromiter(map(index.__getitem__, places), dtype=np.int32, count=len(places))
    countries = sorted({loc.country for loc in locations})
    country_index = {c: n for n, c in enumerate(countries)}
    location_country = np.array([country_index[loc.country] for loc in locations], dtype=np.int32)
    table = ProposalTable(
        proposals=proposals,
        locations=locations,
        p_partners=p_partners,
        p_first=np.concatenate(([0], np.cumsum(p_partners)[:-1])).astype(np.int64),
        x_owner=np.repeat(np.arange(len(ids), dtype=np.int32), p_partners),
        x_location=x_location,
        x_lead=x_lead,
        countries=countries,
        x_country=location_country[x_location] if len(locations) else x_location,
    )
    table.ids = ids
    return table


def _place_problems(
    unknown: list[tuple[tuple[str, str | None], RegionError]],
    p_partners: np.ndarray,
    places: list[tuple[str, str | None]],
    source: str,
) -> list[Problem]:
    """Each unresolved place at the first partner that gives it, as ``3.partners.1.region``."""
    first: dict[tuple[str, str | None], int] = {}
    for j, place in enumerate(places):
        first.setdefault(place, j)
    starts = list(itertools.accumulate(p_partners.tolist(), initial=0))
    problems = []
    for place, exc in unknown:
        partner = first[place]
        i = bisect.bisect_right(starts, partner) - 1
        field_name = "region" if "region" in exc.problems[0].message else "country"
        problems.append(Problem(exc.problems[0].message, f"{i}.partners.{partner - starts[i]}.{field_name}", source))
    return problems
