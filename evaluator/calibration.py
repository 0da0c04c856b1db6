"""Calibration of lenient and severe evaluators: an additive model fitted by sparse least squares.

The model (docs/scoring.md gives the reasoning)::

    score[e, p, c] * W / width[c]  =  quality[p, c]  +  offset[e]  +  noise

one quality per proposal and criterion (so per-criterion thresholds still mean
something after calibration), one offset per evaluator across all criteria
(leniency is a habit of the person, and pooling criteria gives each offset three
times the data). Scores are rescaled to the widest scale ``W`` of the call, so an
offset is in points of that scale; on the usual call where every criterion is 0–5
it is simply in points.

Offsets are only identified up to a constant within a group of evaluators connected
through shared proposals: the constraint is that the offsets of each group sum to
zero (the group's average evaluator is taken as neutral). Groups that share no
proposal are reported, not bridged, and an evaluator alone in a group keeps the
scores they gave (offset ``None``): nothing in the data says how lenient they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

from evaluator.scoring import REPORTED, validate_scores
from rules.model import Call, Criterion
from rules.proposal import Proposal

TOLERANCE = 1e-12
"""lsqr's stopping tolerances: far below the 0.01 the offsets are reported to."""


class EvaluatorOffset(BaseModel):
    evaluator: str
    offset: Decimal | None = Field(
        description="points above (+, lenient) or below (−, severe) the group's average evaluator, 2 decimals; "
        "None: alone in its group, so not estimable"
    )
    scores: int = Field(description="applicable scores the evaluator gave")
    group: int = Field(description="1-based index into Calibration.groups")


class Calibration(BaseModel):
    """The fitted offsets: what the ranking subtracts from each evaluator's scores."""

    call_id: str
    scale_width: Decimal = Field(description="offsets are in points of a scale this wide (the call's widest)")
    offsets: list[EvaluatorOffset]
    groups: list[list[str]] = Field(
        description="evaluators connected through shared proposals; offsets compare only within a group"
    )
    observations: int = Field(description="scores used in the fit")
    residual_sd: Decimal | None = Field(
        default=None, description="spread of the scores the model does not explain, in points (None: no dof left)"
    )
    _by_evaluator: dict[str, Fraction] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        self._by_evaluator = {o.evaluator: Fraction(o.offset) for o in self.offsets if o.offset is not None}

    @property
    def connected(self) -> bool:
        return len(self.groups) <= 1

    def correction(self, evaluator: str, criterion: Criterion) -> Fraction:
        """The reported offset, rescaled to the criterion's scale: exact, so anyone can redo it by hand."""
        width = criterion.scale[1] - criterion.scale[0]
        return self._by_evaluator.get(evaluator, Fraction(0)) * Fraction(width) / Fraction(self.scale_width)


@dataclass(frozen=True)
class _Observations:
    """Every applicable score as one row: who gave it, to which proposal, in which cell, rescaled."""

    evaluators: list[str]
    evaluator: np.ndarray
    proposal: np.ndarray
    cell: np.ndarray
    value: np.ndarray


def calibrate(call: Call, proposals: Sequence[Proposal]) -> Calibration:
    """Check the scores, then fit each evaluator's offset."""
    validate_scores(call, proposals)
    return fit_offsets(call, proposals)


def fit_offsets(call: Call, proposals: Sequence[Proposal]) -> Calibration:
    """Fit the additive model on validated scores; see the module docstring for the model."""
    width = max(c.scale[1] - c.scale[0] for c in call.criteria)
    obs = _observations(call, proposals, width)
    groups = _groups(obs, len(proposals))
    group_of = np.array(_group_of(groups, obs.evaluators), dtype=np.int64)
    estimable = np.array([len(groups[g]) > 1 for g in group_of], dtype=bool)
    offsets, residual_sd = _solve(obs, group_of, estimable)
    counts = np.bincount(obs.evaluator, minlength=len(obs.evaluators))
    return Calibration(
        call_id=call.id,
        scale_width=width,
        offsets=[
            EvaluatorOffset(
                evaluator=name,
                offset=_decimal(offsets[i]) if estimable[i] else None,
                scores=int(counts[i]),
                group=int(group_of[i]) + 1,
            )
            for i, name in enumerate(obs.evaluators)
        ],
        groups=groups,
        observations=len(obs.value),
        residual_sd=None if residual_sd is None else _decimal(residual_sd),
    )


def _observations(call: Call, proposals: Sequence[Proposal], width: Decimal) -> _Observations:
    scoring = (e for p in proposals for e in p.evaluations if any(s is not None for s in e.scores.values()))
    names = sorted({e.evaluator for e in scoring})  # one who found nothing applicable has nothing to calibrate
    index = {name: i for i, name in enumerate(names)}
    scale = {c.id: float(width / (c.scale[1] - c.scale[0])) for c in call.criteria}
    cell_of = {c.id: k for k, c in enumerate(call.criteria)}
    rows = [
        (index[e.evaluator], p_index, p_index * len(call.criteria) + cell_of[c], float(score) * scale[c])
        for p_index, proposal in enumerate(proposals)
        for e in proposal.evaluations
        for c, score in e.scores.items()
        if score is not None
    ]
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return _Observations(
        evaluators=names,
        evaluator=np.array(columns[0], dtype=np.int64),
        proposal=np.array(columns[1], dtype=np.int64),
        cell=np.array(columns[2], dtype=np.int64),
        value=np.array(columns[3], dtype=np.float64),
    )


def _groups(obs: _Observations, n_proposals: int) -> list[list[str]]:
    """Evaluators linked through proposals they both scored: largest group first."""
    from scipy import sparse  # scipy is loaded only when calibrating: a ranking without it never waits for it
    from scipy.sparse.csgraph import connected_components

    n = len(obs.evaluators)
    edges = sparse.coo_matrix(
        (np.ones(len(obs.evaluator)), (obs.evaluator, n + obs.proposal)), shape=(n + n_proposals, n + n_proposals)
    )
    _, labels = connected_components(edges, directed=False)
    members: dict[int, list[str]] = {}
    for i, name in enumerate(obs.evaluators):
        members.setdefault(int(labels[i]), []).append(name)
    return sorted(members.values(), key=lambda group: (-len(group), group[0]))


def _group_of(groups: list[list[str]], names: list[str]) -> list[int]:
    where = {name: g for g, group in enumerate(groups) for name in group}
    return [where[name] for name in names]


def _solve(obs: _Observations, group_of: np.ndarray, estimable: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Least squares with one zero-sum row per group; returns offsets (by evaluator) and the residual sd.

    The zero-sum rows make the solution unique without changing the fit: shifting a
    group's offsets by a constant and its proposals' qualities by the opposite leaves
    every residual as it was, so the constraint is met exactly at the optimum.
    """
    used = estimable[obs.evaluator]
    evaluator, value = obs.evaluator[used], obs.value[used]
    cells, cell = np.unique(obs.cell[used], return_inverse=True)
    n_rows, n_cells, n_evaluators = len(value), len(cells), len(obs.evaluators)
    fitted_groups = np.unique(group_of[estimable])
    constraint_row = {g: n_rows + k for k, g in enumerate(fitted_groups)}
    members = np.flatnonzero(estimable)
    rows = np.concatenate([np.arange(n_rows), np.arange(n_rows), [constraint_row[g] for g in group_of[members]]])
    cols = np.concatenate([cell, n_cells + evaluator, n_cells + members])
    from scipy import sparse  # as in _groups: only when calibrating
    from scipy.sparse.linalg import lsqr

    design = sparse.csr_matrix(
        (np.ones(len(rows)), (rows.astype(np.int64), cols)), shape=(n_rows + len(fitted_groups), n_cells + n_evaluators)
    )
    target = np.concatenate([value, np.zeros(len(fitted_groups))])

    offsets = np.zeros(n_evaluators)
    if n_rows == 0:
        return offsets, None
    # Columns scaled to unit norm: lsqr converges much faster when a prolific evaluator's
    # column (hundreds of scores) and a proposal's cell (three scores) weigh alike.
    norms = np.sqrt(np.asarray(design.multiply(design).sum(axis=0))).ravel()
    norms[norms == 0] = 1
    solution = lsqr(design @ sparse.diags(1 / norms), target, atol=TOLERANCE, btol=TOLERANCE, iter_lim=10_000)[0]
    solution /= norms
    offsets[members] = solution[n_cells + members]
    residuals = value - solution[cell] - offsets[evaluator]
    dof = n_rows - n_cells - len(members) + len(fitted_groups)
    return offsets, float(np.sqrt(residuals @ residuals / dof)) if dof > 0 else None


def _decimal(value: float) -> Decimal:
    """A fitted float as a reported Decimal; ``+ 0`` turns a rounded -0.00 into 0.00."""
    return Decimal(value).quantize(REPORTED, rounding=ROUND_HALF_UP) + 0
