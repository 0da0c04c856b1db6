"""Bounds on the work one request may ask for, checked before the bulk of its body is parsed.

A body under the 20 MB limit could still hold the server for minutes: a score sheet
of a million unknown criteria, a proposals file of 330,000 partners (YAML is read
at about 2,000 partners a second). So each kind of body has its own size limit,
enforced by :class:`api.problems.BodyLimit` on the declared length or as the body
streams in, and an upload's proposals and partners are counted on its text, by
their keys, before it is parsed. Every refusal is then a 413 or 422 within a
second, and since uploads are parsed before they take their turn as a writer, no
other write waits behind one.
"""

from __future__ import annotations

import re

from rules.errors import GrantsError

KIB, MIB = 1024, 1024 * 1024
MAX_BODY_BYTES = 20 * MIB
DEFAULT_BODY_BYTES = 1 * MIB
BODY_LIMITS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("PUT", re.compile(r"^/calls/[^/]+/proposals/[^/]+/(?:scores|consensus)$"), 256 * KIB),
    ("POST", re.compile(r"^/calls$"), 2 * MIB),
    ("POST", re.compile(r"^/calls/[^/]+/proposals$"), MAX_BODY_BYTES),
)
MAX_CRITERIA_PER_SHEET = 100
MAX_PROPOSALS_PER_UPLOAD = 5_000
MAX_PARTNERS_PER_UPLOAD = 20_000
PARTNERS_KEY = re.compile(r"""partners["']?\s*:""")  # starting with a literal, so the scan is fast
PARTNER_KEY = re.compile(r"""country["']?\s*:""")


def body_limit(method: str, path: str) -> int:
    """The most bytes a body sent to this route may have."""
    for route_method, pattern, limit in BODY_LIMITS:
        if method == route_method and pattern.match(path):
            return limit
    return DEFAULT_BODY_BYTES


def refuse_oversized_upload(text: str) -> None:
    """Refuse an upload of more proposals or partners than one request is allowed, before it is parsed.

    Counted by their keys (every proposal has ``partners``, every partner a ``country``),
    so the count can only be too high, and only for text that writes those words as keys.
    """
    proposals = _count(PARTNERS_KEY, "partners", text)
    partners = _count(PARTNER_KEY, "country", text)
    too_many = [
        f"about {count:,} {what} (at most {limit:,})"
        for count, what, limit in (
            (proposals, "proposals", MAX_PROPOSALS_PER_UPLOAD),
            (partners, "partners", MAX_PARTNERS_PER_UPLOAD),
        )
        if count > limit
    ]
    if too_many:
        raise GrantsError(
            f"this upload holds {' and '.join(too_many)} in one upload: send the proposals in several uploads"
        )


def _count(key: re.Pattern[str], word: str, text: str) -> int:
    """How many times the key is written; ``str.count`` first, as most uploads are far below the bounds."""
    written = text.count(word)
    return written if written <= MAX_PARTNERS_PER_UPLOAD // 4 else sum(1 for _ in key.finditer(text))
