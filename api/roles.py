"""The three roles a token acts in, and the default agency; a module of its own so the command line names them
without loading the store."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    agency = "agency"
    evaluator = "evaluator"
    finance = "finance"


DEFAULT_AGENCY = "main"  # the agency of a single-agency server, and of calls and tokens made before tenancy
