"""Countries and regions: many spellings and code versions, one canonical place.

Programme areas of 2007-2013 were drawn on NUTS 2006 codes, proposals arrive with
NUTS 2013/2021 codes, ISO 3166-2 codes or names in local or English spelling.
Everything is resolved here to one :class:`Region` so that eligibility compares
identities, never strings. ISO data comes from pycountry; the NUTS table across
versions is our own (``data/regions.csv``), because no offline package ships one.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import pycountry

from rules.errors import Problem, RegionError

# Codes that people and EU texts use but ISO 3166-1 does not, or uses for something else.
COUNTRY_ALIASES = {
    "EL": "GR",  # Eurostat / NUTS code of Greece
    "UK": "GB",  # EU usage for the United Kingdom
    "FYROM": "MK",
    "KOSOVO": "XK",
    "TURKEY": "TR",
    "CZECH REPUBLIC": "CZ",
    "FORMER YUGOSLAV REPUBLIC OF MACEDONIA": "MK",
    "THE FORMER YUGOSLAV REPUBLIC OF MACEDONIA": "MK",
    "MACEDONIA": "MK",
    "MOLDOVA": "MD",
    "RUSSIA": "RU",
}
# Kosovo: user-assigned code used by the EU; pycountry does not know it.
EXTRA_COUNTRIES = {"XK": "Kosovo"}
# Two-letter codes that look like a European country but are not one (seen in real texts).
LOOKALIKES = {"AU": "AT", "SL": "SI", "SW": "SE", "DN": "DK", "EN": "GB"}  # not GE: Georgia takes part in EU calls
# NUTS level-0 prefix where it differs from the ISO code.
NUTS_PREFIX = {"GR": "EL", "GB": "UK"}
# The NUTS 1 units of each country in every version since 2003 (a unit's letter or digit after the
# country prefix is stable enough to check a code's first three characters against it).
NUTS1 = {
    country: frozenset(prefix + unit for unit in units.split())
    for country, prefix, units in (
        ("AT", "AT", "1 2 3"),
        ("BE", "BE", "1 2 3"),
        ("BG", "BG", "3 4"),
        ("CY", "CY", "0"),
        ("CZ", "CZ", "0"),
        ("DE", "DE", "1 2 3 4 5 6 7 8 9 A B C D E F G"),
        ("DK", "DK", "0"),
        ("EE", "EE", "0"),
        ("ES", "ES", "1 2 3 4 5 6 7"),
        ("FI", "FI", "1 2"),
        ("FR", "FR", "1 2 3 4 5 6 7 8 9 A B C D E F G H I J K L M Y"),
        ("GR", "EL", "1 2 3 4 5 6"),
        ("HR", "HR", "0"),
        ("HU", "HU", "1 2 3"),
        ("IE", "IE", "0"),
        ("IT", "IT", "C D E F G H I"),
        ("LT", "LT", "0"),
        ("LU", "LU", "0"),
        ("LV", "LV", "0"),
        ("MT", "MT", "0"),
        ("NL", "NL", "1 2 3 4"),
        ("PL", "PL", "1 2 3 4 5 6 7 8 9"),
        ("PT", "PT", "1 2 3"),
        ("RO", "RO", "1 2 3 4"),
        ("SE", "SE", "1 2 3"),
        ("SI", "SI", "0"),
        ("SK", "SK", "0"),
    )
}
# Countries whose every NUTS 2 region (of each version) is in data/regions.csv: there a code is known or wrong.
COMPLETE_NUTS2 = frozenset({"IT", "GR", "SI", "HR", "CY", "MT"})

_FILLER_WORDS = {
    "oblast",
    "oblast'",
    "region",
    "regione",
    "province",
    "provincia",
    "autonoma",
    "autonomous",
    "of",
    "di",
    "de",
    "del",
    "la",
    "the",
    "voivodship",
    "voivodeship",
}


def normalise(text: str) -> str:
    """Fold case, accents, punctuation and generic words so spelling variants meet."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = re.split(r"[^a-z0-9']+", ascii_text)
    kept = [w.replace("'", "") for w in words if w and w not in _FILLER_WORDS]
    return "".join(kept) or ascii_text.replace(" ", "")


@dataclass(frozen=True)
class Region:
    """A region under every code it has had; ``id`` is its newest code."""

    id: str
    country: str
    name: str
    level: str
    codes: frozenset[str] = field(default_factory=frozenset)
    parent: str | None = None

    def label(self) -> str:
        return self.name if self.id == self.name else f"{self.id} {self.name}"


@dataclass(frozen=True)
class Location:
    """Where a partner is: an ISO country and, when given, a canonical region."""

    country: str
    region: Region | None = None

    def label(self) -> str:
        name = country_name(self.country)
        return f"{self.region.label()}, {name}" if self.region else name


@cache
def country_name(code: str) -> str:
    """The name people use (pycountry's lookup costs microseconds, and reasons name a country per partner)."""
    if code in EXTRA_COUNTRIES:
        return EXTRA_COUNTRIES[code]
    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or country.name if country else code


@cache
def resolve_country(text: str) -> str:
    """ISO 3166-1 alpha-2 code of a country given by code or name; RegionError if unknown."""
    key = text.strip().upper()
    key = COUNTRY_ALIASES.get(key, key)
    if key in EXTRA_COUNTRIES:
        return key
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        names = [c.name for c in pycountry.countries] + list(EXTRA_COUNTRIES.values())
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise RegionError(f"unknown country {text!r}{hint}") from None


def lookalike_hint(country: str) -> str:
    """A hint for codes that are real ISO codes but probably a typo for a European one."""
    meant = LOOKALIKES.get(country)
    if not meant:
        return ""
    return f" ({country} is {country_name(country)}; did you mean {meant}, {country_name(meant)}?)"


class RegionIndex:
    """Every known region, findable by any code version, ISO 3166-2 code, name or alias."""

    def __init__(self, table: list[Region], names: dict[tuple[str, str], Region]):
        self._by_code: dict[str, Region] = {}
        for region in table:
            for code in region.codes:
                self._by_code.setdefault(code.upper(), region)
        self._by_name = dict(names)
        self._countries_loaded: set[str] = set()

    def get(self, region_id: str) -> Region | None:
        return self._by_code.get(region_id.upper())

    def ancestors(self, region: Region) -> list[Region]:
        """The region and each larger unit it lies in, smallest first."""
        chain = [region]
        while chain[-1].parent and (parent := self.get(chain[-1].parent)) and parent not in chain:
            chain.append(parent)
        return chain

    def resolve(self, country: str, text: str) -> Region:
        """The canonical region of ``text`` within ``country``; RegionError with suggestions."""
        self._load_subdivisions(country)
        raw = text.strip()
        code = raw.upper()
        region = self._by_code.get(code) or self._by_code.get(f"{country}-{code}")
        if region is None:
            region = self._by_name.get((country, normalise(raw)))
        if region is None and _looks_like_nuts(country, code):
            region = self._by_code.get(code[:4]) or self._by_code.get(code[:3])
            if region is None and not _possible_nuts(country, code):
                raise RegionError(self._unknown_code(country, raw))
            if region is None:
                region = Region(id=code, country=country, name=code, level="NUTS", codes=frozenset({code}))
        if region is None:
            raise RegionError(self._unknown(country, raw))
        if region.country != country:
            raise RegionError(
                f"region {raw!r} is in {country_name(region.country)} ({region.country}), "
                f"not in {country_name(country)} ({country})"
            )
        return region

    def _unknown(self, country: str, raw: str) -> str:
        names = {r.name: r for (c, _), r in self._by_name.items() if c == country}
        close = difflib.get_close_matches(raw, list(names), n=3, cutoff=0.5)
        if not close:
            normal = {normalise(n): n for n in names}
            close = [normal[m] for m in difflib.get_close_matches(normalise(raw), list(normal), n=3)]
        hint = f"; did you mean {', '.join(names[c].label() for c in close)}?" if close else ""
        return f"unknown region {raw!r} in {country_name(country)} ({country}){hint}"

    def _unknown_code(self, country: str, raw: str) -> str:
        """A NUTS-shaped code that is no unit of the country, with the known codes closest to it."""
        prefix = NUTS_PREFIX.get(country, country)
        listed = {
            c: r for c, r in self._by_code.items() if r.country == country and c.startswith(prefix) and c.isalnum()
        }
        close = difflib.get_close_matches(raw.upper(), sorted(listed), n=3, cutoff=0.5)
        shown = [listed[c].label() if listed[c].id == c else f"{c} {listed[c].name}" for c in close]
        if not shown:
            shown = difflib.get_close_matches(raw.upper(), sorted(NUTS1.get(country, ())), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(shown)}?" if shown else ""
        return f"unknown NUTS region {raw!r} in {country_name(country)} ({country}){hint}"

    def _load_subdivisions(self, country: str) -> None:
        """Add pycountry's ISO 3166-2 subdivisions of a country the first time it is asked for."""
        if country in self._countries_loaded:
            return
        self._countries_loaded.add(country)
        for sub in pycountry.subdivisions.get(country_code=country) or []:
            known = self._by_code.get(sub.code)
            if known is None:
                known = Region(
                    id=sub.code,
                    country=country,
                    name=sub.name,
                    level=sub.type,
                    codes=frozenset({sub.code}),
                    parent=sub.parent_code,
                )
                self._by_code[sub.code] = known
            self._by_name.setdefault((country, normalise(sub.name)), known)


def _looks_like_nuts(country: str, code: str) -> bool:
    prefix = NUTS_PREFIX.get(country, country)
    return re.fullmatch(rf"{prefix}[0-9A-Z]{{1,3}}", code) is not None


def _possible_nuts(country: str, code: str) -> bool:
    """Whether an unlisted NUTS-shaped code could still be a unit: not where the table is complete,
    and only under one of the country's NUTS 1 units where those are known."""
    if code in NUTS1.get(country, ()):
        return True
    if country in COMPLETE_NUTS2:
        return False
    return country not in NUTS1 or code[:3] in NUTS1[country]


def _split(cell: str) -> list[str]:
    return [x.strip() for x in cell.split("|") if x.strip()]


@cache
def region_index() -> RegionIndex:
    """The index built from ``data/regions.csv``; built once per process."""
    table: list[Region] = []
    names: dict[tuple[str, str], Region] = {}
    text = resources.files("rules").joinpath("data/regions.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        versions = [row["nuts_2021"], row["nuts_2013"], row["nuts_2006"], row["iso3166_2"]]
        codes = [c for cell in versions for c in _split(cell)]
        aliases = _split(row["aliases"])
        codes += [a for a in aliases if a.isupper() and a.isalnum()]
        region = Region(
            id=codes[0],
            country=row["country"],
            name=row["name"],
            level=row["level"],
            codes=frozenset(codes),
        )
        table.append(region)
        for name in [row["name"], *row["name"].split("/"), *aliases]:
            names.setdefault((region.country, normalise(name)), region)
    return RegionIndex(table, names)


def resolve_location(country: str, region: str | None) -> Location:
    """Resolve a partner's country and optional region; raises RegionError with a reason."""
    iso = resolve_country(country)
    if not region or not region.strip():
        return Location(iso)
    return Location(iso, region_index().resolve(iso, region))


def problem_for(exc: RegionError, path: str) -> Problem:
    """Relocate a RegionError's message to the field it came from."""
    return Problem(message=exc.problems[0].message, path=path)
