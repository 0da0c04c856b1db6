"""The three roles a token acts in; a module of its own so the command line names them without loading the store."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    agency = "agency"
    evaluator = "evaluator"
    finance = "finance"
