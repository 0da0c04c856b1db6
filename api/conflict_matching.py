"""When two organisation names, or identifiers, are the same organisation.

A conflict check that compares names as typed misses the evaluator from "Univеrsity
of Sevilla" (a Cyrillic е), "Agencia Regional de la Energía (AREC)" against "AREC",
and "Ecoinnova S.L." against "Ecoinnova". Names are folded to one key: look-alike
letters from other scripts to the Latin letter they imitate (Unicode's confusables
table, through ``confusable_homoglyphs``), then accents, case, punctuation and
filler words (:func:`rules.regions.normalise`), and legal-form suffixes dropped. An
acronym in parentheses is a second key. An identifier (PIC, VAT number) matches
when both sides give one, whatever its spacing or punctuation.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from confusable_homoglyphs.confusables import confusables_data

from rules.regions import normalise

PARENTHESES = re.compile(r"\(([^()]*)\)")
MIN_ACRONYM = 3  # shorter ones ("EU", "UN") name too many organisations to mean a conflict
LEGAL_FORMS = frozenset(
    {
        "ab",
        "ad",
        "ag",
        "aps",
        "as",
        "asbl",
        "bv",
        "cic",
        "cv",
        "cvba",
        "doo",
        "dd",
        "ead",
        "eeig",
        "eg",
        "egmbh",
        "eood",
        "ev",
        "eurl",
        "gbr",
        "ggmbh",
        "gie",
        "gmbh",
        "inc",
        "jsc",
        "kft",
        "kg",
        "kgaa",
        "ks",
        "llc",
        "llp",
        "lp",
        "ltd",
        "limited",
        "nv",
        "oe",
        "og",
        "ood",
        "oy",
        "oyj",
        "oü",
        "plc",
        "sa",
        "saa",
        "sarl",
        "sas",
        "sasu",
        "scarl",
        "scrl",
        "se",
        "sl",
        "sll",
        "slu",
        "snc",
        "spa",
        "sprl",
        "spzoo",
        "sro",
        "srl",
        "sc",
        "ug",
        "uab",
        "vzw",
        "zrt",
        "zoo",
    }
)


@cache
def _latin(character: str) -> str:
    """The ASCII letter or digit a character imitates, or the character itself."""
    if character.isascii():
        return character
    for glyph in confusables_data.get(character, ()):
        if glyph["c"].isascii() and glyph["c"].isalnum():
            return str(glyph["c"])
    return character


def fold_homoglyphs(text: str) -> str:
    """Compatibility forms composed (fullwidth, ligatures), then look-alikes to Latin (е → e, ı → i)."""
    return "".join(_latin(c) for c in unicodedata.normalize("NFKC", text))


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", fold_homoglyphs(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.findall(r"[a-z0-9]+", plain.replace(".", "").replace("/", ""))


def _without_legal_form(text: str) -> str:
    """The name with trailing legal forms dropped: "S.L.", "GmbH", "Ltd", "sp. z o.o." (all folded first)."""
    words = _words(text)
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    while len(words) > 2 and "".join(words[-3:]) in LEGAL_FORMS:
        del words[-3:]
    return " ".join(words)


def organisation_keys(name: str) -> frozenset[str]:
    """Every form under which the organisation is known: its folded name, and an acronym in parentheses."""
    acronyms = [a for a in (normalise(fold_homoglyphs(m)) for m in PARENTHESES.findall(name)) if len(a) >= MIN_ACRONYM]
    bare = PARENTHESES.sub(" ", name)
    keys = {normalise(_without_legal_form(bare)), *acronyms}
    return frozenset(k for k in keys if k)


def identifier_key(identifier: str | None) -> str | None:
    """An organisation identifier with spacing, dots and dashes dropped ("ES B-123.456" → "ESB123456")."""
    if identifier is None:
        return None
    key = "".join(c for c in fold_homoglyphs(identifier).upper() if c.isalnum())
    return key or None
