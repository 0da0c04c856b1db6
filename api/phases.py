"""The phases a call moves through, declared as data, and what each phase lets happen.

A call starts as a ``draft`` (the agency uploads it, its proposals, assigns
evaluators), is opened for evaluation, closed, ranked (the ranking is frozen from
one snapshot of the submitted sheets), allocated (a deciding allocation run on that
ranking) and decided. What-if allocations and simulations run in any phase.
Each transition is named, done by one role, and audited; :data:`WRITABLE` says
in which phases each kind of write is accepted, so a write outside its phase is
refused with the phases it needs. Every check reads these two
tables: a new phase or transition is a line here, not an ``if`` in a router.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import audit
from api.auth import Principal, Role
from api.db.limits import Storable
from api.db.models import CallRow
from api.problems import Conflict, Forbidden
from rules.errors import GrantsError, Problem


class Phase(StrEnum):
    draft = "draft"
    evaluation_open = "evaluation_open"
    evaluation_closed = "evaluation_closed"
    ranked = "ranked"
    allocated = "allocated"
    decided = "decided"


@dataclass(frozen=True)
class Transition:
    name: str
    source: Phase
    target: Phase
    role: Role
    needs_reason: bool = False
    made_by: str | None = None  # the write that makes this transition, when it is not a bare move


TRANSITIONS = (
    Transition("open_evaluation", Phase.draft, Phase.evaluation_open, Role.agency),
    Transition("close_evaluation", Phase.evaluation_open, Phase.evaluation_closed, Role.agency),
    Transition("reopen_evaluation", Phase.evaluation_closed, Phase.evaluation_open, Role.agency, needs_reason=True),
    Transition("rank", Phase.evaluation_closed, Phase.ranked, Role.agency),
    Transition(
        "allocate",
        Phase.ranked,
        Phase.allocated,
        Role.agency,
        made_by="a deciding allocation run",
    ),
    Transition("decide", Phase.allocated, Phase.decided, Role.agency),
)
BY_NAME = {t.name: t for t in TRANSITIONS}


class Write(StrEnum):
    """The kinds of write a phase allows or not."""

    call_version = "call_version"
    proposals = "proposals"
    assignments = "assignments"
    scores = "scores"
    consensus = "consensus"
    reopen_sheet = "reopen_sheet"
    deciding_allocation = "deciding_allocation"


DRAFT, OPEN, CLOSED = Phase.draft, Phase.evaluation_open, Phase.evaluation_closed
WRITABLE: dict[Write, frozenset[Phase]] = {
    Write.call_version: frozenset({DRAFT, OPEN}),
    Write.proposals: frozenset({DRAFT, OPEN}),
    Write.assignments: frozenset({DRAFT, OPEN}),
    Write.scores: frozenset({OPEN}),
    Write.consensus: frozenset({OPEN, CLOSED}),
    Write.reopen_sheet: frozenset({CLOSED}),
    Write.deciding_allocation: frozenset({Phase.ranked}),
}


class Phased(Protocol):
    """A call as a phase check needs it: its ORM row, or a Core read of the same columns."""

    @property
    def id(self) -> str: ...

    @property
    def phase(self) -> str: ...


def phase_of(row: Phased) -> Phase:
    return Phase(row.phase)


def require(row: Phased, write: Write, what: str) -> None:
    """Refuse (409) a write the call's phase does not allow, naming the phases that would."""
    phase = phase_of(row)
    allowed = WRITABLE[write]
    if phase not in allowed:
        needed = " or ".join(sorted(allowed))
        raise Conflict(f"call {row.id!r} is {phase}: {what} only while it is {needed}")


class TransitionRequest(Storable):
    transition: str = Field(description="one of: " + ", ".join(BY_NAME))
    reason: str = Field(default="", max_length=2000, description="why; required to reopen an evaluation")


class PhaseOut(BaseModel):
    call_id: str
    phase: Phase
    transitions: list[str] = Field(description="the transitions possible from here")


def phase_out(row: CallRow) -> PhaseOut:
    phase = phase_of(row)
    return PhaseOut(call_id=row.id, phase=phase, transitions=[t.name for t in TRANSITIONS if t.source is phase])


def transition(session: Session, principal: Principal, row: CallRow, request: TransitionRequest) -> Transition:
    """Check that the named transition starts from the call's phase and is the caller's to make; move and audit.

    The caller commits: a transition that also stores something (the frozen ranking,
    the deciding run) commits with it or not at all.
    """
    step = BY_NAME.get(request.transition)
    if step is None:
        message = f"no transition {request.transition!r}; the transitions are {', '.join(BY_NAME)}"
        raise GrantsError([Problem(message, "transition")])
    if principal.role is not step.role:
        raise Forbidden(f"{step.name} is the {step.role}'s to do, not the {principal.role}'s")
    if phase_of(row) is not step.source:
        raise Conflict(f"call {row.id!r} is {row.phase}; {step.name} goes from {step.source} to {step.target}")
    if step.needs_reason and not request.reason.strip():
        raise GrantsError([Problem(f"{step.name} needs a reason, kept in the audit log", "reason")])
    before = {"phase": row.phase}
    row.phase = step.target.value
    after = {"phase": row.phase, "transition": step.name, "reason": request.reason or None}
    audit.record(session, principal.name, "call.phase", f"call/{row.id}/phase", before, after)
    return step
