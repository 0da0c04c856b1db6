"""Places: many spellings and NUTS versions resolve to one region; areas compare identities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rules.areas import builtin_areas
from rules.errors import RegionError
from rules.regions import resolve_country, resolve_location


def in_area(area: str, country: str, region: str | None = None) -> bool:
    return builtin_areas()[area].contains(resolve_location(country, region))


@pytest.mark.parametrize(
    ("country", "region", "inside"),
    [
        ("IT", "Emilia-Romagna", True),
        ("IT", "Lazio", False),
        ("UA", "Odesa", True),
        ("UA", "Kyiv", False),
        ("MD", None, True),
        ("CZ", None, False),
        ("Moldova", None, True),
        ("IT", "Bozen", True),
        ("IT", "Toscana", False),
        ("UA", "Lviv", False),
    ],
)
def test_see_2007_2013_area(country: str, region: str | None, inside: bool) -> None:
    assert in_area("see_2007_2013", country, region) is inside


@pytest.mark.parametrize(
    ("country", "spellings"),
    [
        ("IT", ["Emilia Romagna", "Emilia-Romagna", "EMILIA-ROMAGNA", "emilia romagna", "ITD5", "ITH5", "IT-45"]),
        ("UA", ["Ivano-Frankivsk", "Ivano-Frankovskaya", "Ivo-Frankovskaya", "Ivano-Frankivska oblast", "UA-26"]),
        ("UA", ["Odessa", "Odesa", "Odes'ka", "Odeska oblast", "UA-51"]),
        ("UA", ["Kyiv", "Kiev", "UA-30"]),
        ("IT", ["Bolzano", "Bozen", "Provincia Autonoma di Bolzano", "Südtirol", "Sudtirol", "ITD1", "ITH1"]),
        ("IT", ["Friuli-Venezia Giulia", "Friuli Venezia Giulia", "friuli venezia-giulia", "ITD4", "ITH4"]),
        ("ES", ["Cataluña", "Cataluna", "Catalonia", "Catalunya", "ES51", "ES-CT"]),
        ("FR", ["Provence-Alpes-Côte d'Azur", "Provence-Alpes-Cote d'Azur", "PACA", "FR82", "FRL0"]),
    ],
)
def test_spellings_codes_and_accents_meet_in_one_region(country: str, spellings: list[str]) -> None:
    regions = {resolve_location(country, s).region for s in spellings}
    assert len(regions) == 1


@pytest.mark.parametrize(
    ("country", "old", "new"),
    [
        ("IT", "ITD5", "ITH5"),
        ("IT", "ITE4", "ITI4"),
        ("GR", "GR30", "EL30"),
        ("GR", "GR12", "EL52"),
        ("FR", "FR82", "FRL0"),
        ("FR", "FR71", "FRK2"),
        ("SI", "SI02", "SI04"),
    ],
)
def test_nuts_2006_and_later_codes_are_the_same_region(country: str, old: str, new: str) -> None:
    assert resolve_location(country, old).region == resolve_location(country, new).region


def test_a_nuts_2_code_lies_inside_its_nuts_1_land() -> None:
    upper_bavaria = resolve_location("DE", "DE21")
    assert upper_bavaria.region is not None and upper_bavaria.region.id == "DE2"
    assert in_area("central_europe_2007_2013", "DE", "DE21")
    assert not in_area("central_europe_2007_2013", "DE", "DE71")


def test_a_nuts_3_code_resolves_to_its_nuts_2_region() -> None:
    rimini = resolve_location("IT", "ITD59")
    assert rimini.region is not None and rimini.region.name == "Emilia-Romagna"


def test_area_drawn_on_nuts_2006_matches_a_partner_writing_nuts_2013() -> None:
    assert in_area("see_2007_2013", "IT", "ITH3")
    assert in_area("med_2007_2013", "GR", "EL30")
    assert not in_area("med_2007_2013", "FR", "FRJ2")


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("EL", "GR"),
        ("UK", "GB"),
        ("Greece", "GR"),
        ("XK", "XK"),
        ("Kosovo", "XK"),
        ("Czech Republic", "CZ"),
        ("FYROM", "MK"),
        ("the former Yugoslav Republic of Macedonia", "MK"),
    ],
)
def test_country_aliases(written: str, iso: str) -> None:
    assert resolve_country(written) == iso


def test_unknown_region_is_an_error_with_suggestions() -> None:
    with pytest.raises(RegionError, match=r"unknown region 'Emilia Romanga' in Italy \(IT\); did you mean ITH5 Emilia"):
        resolve_location("IT", "Emilia Romanga")


def test_merged_region_names_of_the_cloud_text_suggest_both_regions() -> None:
    with pytest.raises(RegionError, match="did you mean ITF5 Basilicata, ITF4 Puglia"):
        resolve_location("IT", "Puglia Basilicata")


def test_unknown_country_suggests_a_close_name() -> None:
    with pytest.raises(RegionError, match=r"unknown country 'Itlay' \(did you mean Italy"):
        resolve_country("Itlay")


def test_region_of_another_country_is_refused() -> None:
    with pytest.raises(RegionError, match="region 'ITH5' is in Italy"):
        resolve_location("AT", "ITH5")


@pytest.mark.parametrize(
    ("country", "code", "closest"),
    [
        ("IT", "ITX9", "ITI4 Lazio"),
        ("IT", "ITQQ", "ITI4 Lazio"),
        ("ES", "ES99", "ES62 Región de Murcia"),
        ("GR", "EL99", "EL65"),
    ],
)
def test_a_nuts_shaped_code_of_no_region_is_an_error_with_the_closest_known_codes(
    country: str, code: str, closest: str
) -> None:
    with pytest.raises(RegionError, match=f"unknown NUTS region '{code}' in .*; did you mean .*{closest}"):
        resolve_location(country, code)


@pytest.mark.parametrize(
    ("country", "code", "label"),
    [("IT", "ITD55", "ITH5 Emilia-Romagna, Italy"), ("IT", "ITC", "ITC, Italy"), ("ES", "ES11", "ES11, Spain")],
)
def test_a_unit_of_the_country_not_in_the_table_is_still_read(country: str, code: str, label: str) -> None:
    assert resolve_location(country, code).label() == label


def test_grants_check_names_the_line_of_an_unknown_nuts_code(tmp_path: Path) -> None:
    seed = Path(__file__).resolve().parents[1] / "calls" / "see_2007_2013_call4"
    text = (seed / "proposals.yaml").read_text().replace("region: ITD5", "region: ITX9", 1)
    path = tmp_path / "proposals.yaml"
    path.write_text(text)
    done = subprocess.run(
        [Path(sys.executable).parent / "grants", "check", str(seed / "call.yaml"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "ITX9" in row)
    assert done.returncode == 2
    assert f"{path}:{line}: " in done.stderr and "unknown NUTS region 'ITX9' in Italy (IT)" in done.stderr


def test_every_shipped_area_resolves_and_names_somewhere() -> None:
    """Shipped areas are resolved only when a call reads them: a broken file would surface late, so it fails here."""
    areas = builtin_areas()
    assert list(areas) == sorted(areas)  # one per file in rules/areas, by file name
    for name in areas:
        area = areas[name]
        assert area.id == name and (area.whole or area.regions), name


def test_a_call_loads_without_resolving_the_shipped_areas() -> None:
    """Resolving them all was a tenth of a second of every command; a call's check resolves those it names."""
    code = (
        "from rules.load import load_call; from rules.areas import _builtin_area; "
        "load_call('calls/see_2007_2013_call4/call.yaml'); print(_builtin_area.cache_info().currsize)"
    )
    root = Path(__file__).resolve().parents[1]
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert found.stdout.split() == ["0"]
