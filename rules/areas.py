"""Programme areas: sets of whole countries and of regions of partly eligible countries.

Areas live in ``rules/areas/*.yaml`` so that calls of the same programme share one
reviewed definition, and a call may add its own under ``areas:``. Region codes of
any NUTS version are resolved to canonical regions when the area is built, so that
an area drawn on NUTS 2006 (ITD5) matches a partner who writes ITH5 or "Emilia Romagna".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from rules.errors import AreaError, Problem, RegionError
from rules.regions import Location, country_name, lookalike_hint, region_index, resolve_country
from rules.yamlio import load_yaml


class AreaSpec(BaseModel):
    """An area as written in YAML, before codes are resolved."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    include: list[str] = Field(default_factory=list, description="other areas whose members belong to this one")
    countries: list[str] = Field(default_factory=list, description="countries eligible as a whole")
    partial: dict[str, list[str]] = Field(
        default_factory=dict, description="country -> eligible regions (NUTS of any version, ISO 3166-2 or names)"
    )
    nuts_version: str | None = None
    status: str | None = None
    source: str | list[str] | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Area:
    """A resolved area: membership is a set lookup on canonical ids."""

    id: str
    name: str
    whole: frozenset[str]
    regions: dict[str, frozenset[str]]

    def contains(self, location: Location) -> bool:
        if location.country in self.whole:
            return True
        eligible = self.regions.get(location.country)
        if not eligible or location.region is None:
            return False
        return any(r.id in eligible for r in region_index().ancestors(location.region))

    def why_not(self, location: Location) -> str:
        """Why a location is outside, in words a call officer would use."""
        eligible = self.regions.get(location.country)
        if eligible and location.region is None:
            return f"gives no region, and {country_name(location.country)} is only partly in {self.name}"
        return f"is outside {self.name}{lookalike_hint(location.country)}"

    @property
    def countries(self) -> frozenset[str]:
        return self.whole | frozenset(self.regions)


def _resolve_spec(spec: AreaSpec, known: Mapping[str, Area], where: str) -> Area:
    whole: set[str] = set()
    regions: dict[str, set[str]] = {}
    problems: list[Problem] = []
    for name in spec.include:
        if name not in known:
            problems.append(Problem(f"unknown area {name!r}", path=f"{where}.include", file=""))
            continue
        whole |= known[name].whole
        for country, ids in known[name].regions.items():
            regions.setdefault(country, set()).update(ids)
    for i, code in enumerate(spec.countries):
        try:
            whole.add(resolve_country(code))
        except RegionError as exc:
            problems.append(Problem(exc.problems[0].message, path=f"{where}.countries.{i}"))
    for country_text, codes in spec.partial.items():
        try:
            country = resolve_country(country_text)
        except RegionError as exc:
            problems.append(Problem(exc.problems[0].message, path=f"{where}.partial.{country_text}"))
            continue
        for i, code in enumerate(codes):
            try:
                regions.setdefault(country, set()).add(region_index().resolve(country, code).id)
            except RegionError as exc:
                problems.append(Problem(exc.problems[0].message, path=f"{where}.partial.{country_text}.{i}"))
    if problems:
        raise AreaError(problems)
    partial = {c: frozenset(ids) for c, ids in regions.items() if c not in whole}
    return Area(spec.id, spec.name, frozenset(whole), partial)


@cache
def builtin_specs() -> dict[str, AreaSpec]:
    """The area files shipped in ``rules/areas``, by id."""
    specs: dict[str, AreaSpec] = {}
    for entry in sorted(resources.files("rules").joinpath("areas").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            spec = AreaSpec.model_validate(load_yaml(entry.read_text(encoding="utf-8")))
            specs[spec.id] = spec
    return specs


def _new_ids(extra: list[AreaSpec]) -> dict[str, int]:
    """A call's own areas by id, with their place in the call; an id already taken is refused.

    A call's ``eu27`` would silently replace the built-in one, and with it every built-in
    area that includes it (``cosme_participants``...), for that call only.
    """
    builtin = builtin_specs()
    index: dict[str, int] = {}
    problems = []
    for i, spec in enumerate(extra):
        if spec.id in builtin:
            message = (
                f"area id {spec.id!r} is the built-in {builtin[spec.id].name}; give the call's own area another id"
            )
            problems.append(Problem(message, path=f"areas.{i}.id"))
        elif spec.id in index:
            problems.append(
                Problem(f"area id {spec.id!r} is used twice (areas {index[spec.id]} and {i})", f"areas.{i}.id")
            )
        index.setdefault(spec.id, i)
    if problems:
        raise AreaError(problems)
    return index


class Areas(Mapping[str, Area]):
    """The areas a call can name: the built-in ones, each resolved when first read, and the call's own.

    Resolving every built-in area (their regions through pycountry's subdivisions) took
    a tenth of a second of every command, for calls that name one area or none. The
    built-in files are shipped and tested to resolve; a call's own areas are resolved
    when the call is loaded, so their mistakes are still told at their line.
    """

    def __init__(self, own: Mapping[str, Area]) -> None:
        self._own = own

    def __getitem__(self, name: str) -> Area:
        if name in self._own:
            return self._own[name]
        if name in builtin_specs():
            return _builtin_area(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._own or name in builtin_specs()  # without resolving it, as Mapping's would

    def __iter__(self) -> Iterator[str]:
        yield from builtin_specs()
        yield from self._own

    def __len__(self) -> int:
        return len(builtin_specs()) + len(self._own)


@cache
def _builtin_area(name: str) -> Area:
    return _resolve_spec(builtin_specs()[name], BUILTIN, f"rules/areas/{name}")


BUILTIN = Areas({})
"""The built-in areas alone (a built-in area includes only built-in ones)."""


def build_areas(extra: list[AreaSpec] | None = None) -> Areas:
    """The built-in areas and a call's own ones, which are resolved here, in dependency order."""
    own = _new_ids(extra or [])
    specs = {s.id: s for s in extra or []}
    built: dict[str, Area] = {}
    areas = Areas(built)
    pending = dict(specs)
    while pending:
        ready = [s for s in pending.values() if all(i in built or i not in specs for i in s.include)]
        if not ready:
            first = min(own[i] for i in pending)
            raise AreaError(
                [
                    Problem(
                        f"areas include each other in a cycle: {', '.join(sorted(pending))}", f"areas.{first}.include"
                    )
                ]
            )
        for spec in ready:
            built[spec.id] = _resolve_spec(spec, areas, f"areas.{own[spec.id]}")
            del pending[spec.id]
    return areas


def builtin_areas() -> Areas:
    return BUILTIN


def call_areas(extra: list[AreaSpec]) -> Areas:
    """The areas a call can name: the built-in ones plus its own."""
    return build_areas(extra) if extra else BUILTIN
