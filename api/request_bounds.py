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
_KEY = r"""(?:^|[\s{,"'])%s["']?\s*:"""
PARTNERS_KEY = re.compile(_KEY % "partners", re.MULTILINE)
PARTNER_KEY = re.compile(_KEY % "country", re.MULTILINE)


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
    proposals = sum(1 for _ in PARTNERS_KEY.finditer(text))
    partners = sum(1 for _ in PARTNER_KEY.finditer(text))
    too_many = [
        f"about {count:,} {what}; at most {limit:,} are accepted in one upload"
        for count, what, limit in (
            (proposals, "proposals", MAX_PROPOSALS_PER_UPLOAD),
            (partners, "partners", MAX_PARTNERS_PER_UPLOAD),
        )
        if count > limit
    ]
    if too_many:
        raise GrantsError("this upload holds " + " and ".join(too_many) + ": send the proposals in several uploads")
