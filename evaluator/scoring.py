"""Evaluators' scores: checked against the call's criteria, then one score per criterion.

Every score sheet is checked in full before anything is computed, and all its
problems are raised together in one :class:`ScoreError`, because a panel secretary
corrects a score sheet in one pass, not one error at a time.

Consolidated values are computed exactly (as fractions) and *reported* to two
decimals, rounding halves up (away from zero). The reported value is the one that is
compared with thresholds and that ranks: what an applicant reads in the evaluation
summary is what decided, and two proposals that read the same are ex aequo.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from rules.errors import Problem, ScoreError
from rules.model import Call, Criterion, Scoring
from rules.proposal import Proposal

REPORTED = Decimal("0.01")
"""Consolidated scores are reported (and compared) to this precision."""

Method = Literal["mean", "median", "trimmed_mean", "consensus"]
Rule = Callable[[list[Fraction]], Fraction]


class Correction(Protocol):
    """What calibration subtracts from one evaluator's score on one criterion."""

    def correction(self, evaluator: str, criterion: Criterion) -> Fraction: ...


class CriterionScore(BaseModel):
    """One criterion of one proposal: the consolidated value and what it rests on (frozen: proposals share them)."""

    model_config = ConfigDict(frozen=True)

    criterion: str
    value: Decimal | None = Field(
        description="consolidated score to 2 decimals (halves up); None: no applicable score and no consensus"
    )
    method: Method
    scores: int = Field(description="applicable scores; 'not applicable' ones are excluded, never counted as zero")
    not_applicable: int = 0
    spread: Decimal | None = Field(default=None, description="highest minus lowest evaluator score, uncalibrated")
    disagreement: bool = Field(default=False, description="spread above the call's limit and no consensus recorded")
    too_few: bool = Field(default=False, description="fewer applicable scores than the call's min_evaluators")
    calibrated: bool = False
    clipped: bool = Field(default=False, description="the calibrated value fell outside the scale and was clipped")


class ConsolidatedScores(BaseModel):
    proposal: str
    evaluators: int
    criteria: dict[str, CriterionScore]
    flags: list[str] = Field(default_factory=list, description="what a panel should look at, in words")

    def values(self) -> dict[str, Decimal]:
        return values_of(self.criteria)


def values_of(criteria: Mapping[str, CriterionScore]) -> dict[str, Decimal]:
    """The criteria that have a consolidated value."""
    return {c: s.value for c, s in criteria.items() if s.value is not None}


def show(number: Decimal) -> str:
    """A number as people write it: 3, 0.5, 4.25 (no exponent, no trailing zeros)."""
    return format(number.normalize(), "f")


def counted(n: int, singular: str, plural: str) -> str:
    """``1 evaluator``, ``2 evaluators``: flags and reasons are read by people."""
    return f"{n} {singular if n == 1 else plural}"


def scale_text(criterion: Criterion) -> str:
    low, high = criterion.scale
    return f"the {show(low)}–{show(high)} scale in steps of {show(criterion.step)}"


def reported(value: Fraction) -> Decimal:
    """Round an exact value to :data:`REPORTED`, halves away from zero (the rule printed in reports)."""
    hundredths = math.floor(abs(value) * 100 + Fraction(1, 2))
    return (Decimal(hundredths if value >= 0 else -hundredths) / 100).quantize(REPORTED)


# --- validation -----------------------------------------------------------------------------------------------


def validate_scores(call: Call, proposals: Sequence[Proposal]) -> None:
    """Raise one ScoreError listing every score that does not fit the call's criteria."""
    criteria = {c.id: c for c in call.criteria}
    fine: set[tuple[tuple[str, Decimal | None], ...]] = set()
    problems = [
        p
        for i, proposal in enumerate(proposals)
        if not _usual(criteria, proposal, fine)
        for p in _proposal_problems(criteria, proposal, i)
    ]
    if problems:
        raise ScoreError(problems)


def _usual(
    criteria: dict[str, Criterion], proposal: Proposal, fine: set[tuple[tuple[str, Decimal | None], ...]]
) -> bool:
    """The usual proposal: no consensus, each evaluator once, every sheet plain; told without writing a message.

    ``fine`` holds the sheets (as their items) already found plain: a call's scales allow
    a few thousand sheets, so 100,000 proposals check a few thousand sheets, not 300,000.
    """
    if proposal.consensus or len({e.evaluator for e in proposal.evaluations}) < len(proposal.evaluations):
        return False
    for evaluation in proposal.evaluations:
        sheet = tuple(evaluation.scores.items())
        if sheet not in fine:
            if not _plain(criteria, evaluation.scores):
                return False
            fine.add(sheet)
    return True


def validate_sheet(call: Call, proposal_id: str, evaluator: str | None, scores: dict[str, Decimal | None]) -> None:
    """Raise one ScoreError for a sheet a score write brings alone (``evaluator`` None: the consensus).

    The write checks its one sheet, not the proposal's stored data around it, with the rules
    :func:`validate_scores` applies within a proposal; the paths name the sheet's own
    fields (``scores.<criterion>``), as the client sent them.
    """
    criteria = {c.id: c for c in call.criteria}
    if evaluator is None:
        problems = _sheet_problems(criteria, f"proposal {proposal_id}, consensus", scores, "scores")
    else:
        problems = _evaluation_problems(criteria, f"proposal {proposal_id}, evaluator {evaluator}", scores, "scores")
    found = list(problems)
    if found:
        raise ScoreError(found)


def _proposal_problems(criteria: dict[str, Criterion], proposal: Proposal, index: int) -> Iterable[Problem]:
    where = str(index)
    seen: dict[str, int] = {}
    for j, evaluation in enumerate(proposal.evaluations):
        if evaluation.evaluator in seen:
            yield Problem(
                f"proposal {proposal.id}: evaluator {evaluation.evaluator} scored it twice "
                f"(evaluations {seen[evaluation.evaluator] + 1} and {j + 1})",
                f"{where}.evaluations.{j}.evaluator",
            )
        seen.setdefault(evaluation.evaluator, j)
        who = f"proposal {proposal.id}, evaluator {evaluation.evaluator}"
        yield from _evaluation_problems(criteria, who, evaluation.scores, f"{where}.evaluations.{j}.scores")
    if proposal.consensus:
        yield from _sheet_problems(
            criteria, f"proposal {proposal.id}, consensus", dict(proposal.consensus), f"{where}.consensus"
        )


def _evaluation_problems(
    criteria: dict[str, Criterion], who: str, scores: dict[str, Decimal | None], path: str
) -> Iterable[Problem]:
    """An evaluator's sheet: each score on its criterion's scale, and every criterion scored."""
    if _plain(criteria, scores):
        return
    yield from _sheet_problems(criteria, who, scores, path)
    for missing in (c for c in criteria if c not in scores):
        yield Problem(f"{who}: no score for criterion {missing} (write null if it does not apply)", path)


def _plain(criteria: dict[str, Criterion], scores: dict[str, Decimal | None]) -> bool:
    """The usual sheet: every criterion scored, each on its scale."""
    return scores.keys() == criteria.keys() and all(
        value is None or criteria[criterion_id].on_scale(value) for criterion_id, value in scores.items()
    )


def _sheet_problems(
    criteria: dict[str, Criterion], who: str, scores: dict[str, Decimal | None], path: str
) -> Iterable[Problem]:
    for criterion_id, value in scores.items():
        criterion = criteria.get(criterion_id)
        if criterion is None:
            yield Problem(
                f"{who}: unknown criterion {criterion_id!r}; the call's criteria are {', '.join(criteria)}",
                f"{path}.{criterion_id}",
            )
        elif value is not None and not criterion.on_scale(value):
            yield Problem(
                f"{who}, criterion {criterion_id}: {show(value)} is not on {scale_text(criterion)}",
                f"{path}.{criterion_id}",
            )


# --- consolidation --------------------------------------------------------------------------------------------


def _mean(values: list[Fraction]) -> Fraction:
    return sum(values, Fraction(0)) / len(values)


def _median(values: list[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _trimmed_mean(trim: int) -> Rule:
    """Drop ``trim`` scores at each end, but always keep at least one (or the middle two)."""

    def rule(values: list[Fraction]) -> Fraction:
        cut = min(trim, (len(values) - 1) // 2)
        ordered = sorted(values)
        return _mean(ordered[cut : len(ordered) - cut])

    return rule


def consolidation_rule(scoring: Scoring) -> Rule:
    return _rule(scoring.consolidation, scoring.trim)


def _rule(consolidation: str, trim: int) -> Rule:
    rules: dict[str, Rule] = {"mean": _mean, "median": _median, "trimmed_mean": _trimmed_mean(trim)}
    return rules[consolidation]


def consolidate(
    call: Call, proposals: Sequence[Proposal], correction: Correction | None = None
) -> list[ConsolidatedScores]:
    """Check every score, then consolidate each proposal (optionally with calibrated scores)."""
    validate_scores(call, proposals)
    return [consolidate_proposal(call, p, correction) for p in proposals]


def consolidate_proposal(call: Call, proposal: Proposal, correction: Correction | None = None) -> ConsolidatedScores:
    """One proposal's consolidated scores; its scores must have been validated."""
    criteria = criterion_scores(call, proposal, correction)
    return ConsolidatedScores(
        proposal=proposal.id,
        evaluators=len(proposal.evaluations),
        criteria=criteria,
        flags=flags(call, len(proposal.evaluations), criteria.values()),
    )


def criterion_scores(call: Call, proposal: Proposal, correction: Correction | None = None) -> dict[str, CriterionScore]:
    """Each criterion's consolidated score, without the model around them (the ranking reads them directly)."""
    scoring = call.scoring
    settings = (scoring.consolidation, scoring.trim, scoring.disagreement_limit, scoring.min_evaluators)
    return {c.id: _criterion_score(scoring, settings, c, proposal, correction) for c in call.criteria}


def _criterion_score(
    scoring: Scoring, settings: Settings, criterion: Criterion, proposal: Proposal, correction: Correction | None
) -> CriterionScore:
    given = [e.scores.get(criterion.id) for e in proposal.evaluations]
    scores = tuple(sorted(score for score in given if score is not None))
    consensus = proposal.consensus.get(criterion.id) if proposal.consensus else None
    value: Decimal | None
    if consensus is not None:
        value, clipped = consensus.quantize(REPORTED), False
    elif correction is None:
        return _uncorrected(criterion.id, settings, scores, len(given) - len(scores))
    else:
        pairs = [(e.evaluator, e.scores.get(criterion.id)) for e in proposal.evaluations]
        applicable = [(evaluator, score) for evaluator, score in pairs if score is not None]
        value, clipped = _calibrated_value(criterion, applicable, consolidation_rule(scoring), correction)
    return _score(criterion.id, settings, scores, len(given) - len(scores), value, consensus, correction, clipped)


Settings = tuple[str, int, Decimal | None, int]
"""The scoring settings a criterion score depends on: consolidation, trim, disagreement limit, minimum evaluators."""


def _score(
    criterion: str,
    settings: Settings,
    scores: tuple[Decimal, ...],
    not_applicable: int,
    value: Decimal | None,
    consensus: Decimal | None = None,
    correction: Correction | None = None,
    clipped: bool = False,
) -> CriterionScore:
    consolidation, _, limit, minimum = settings
    spread = scores[-1] - scores[0] if scores else None
    return CriterionScore(
        criterion=criterion,
        value=value,
        method="consensus" if consensus is not None else consolidation,
        scores=len(scores),
        not_applicable=not_applicable,
        spread=spread,
        disagreement=consensus is None and spread is not None and limit is not None and spread > limit,
        too_few=len(scores) < minimum,
        calibrated=consensus is None and correction is not None and value is not None,
        clipped=clipped,
    )


@functools.lru_cache(maxsize=1 << 16)
def _uncorrected(
    criterion: str, settings: Settings, scores: tuple[Decimal, ...], not_applicable: int
) -> CriterionScore:
    """A criterion's score from its sorted scores, made once per distinct set and shared (it is frozen).

    Scores come from a short scale in steps, so 10,000 proposals share a few hundred
    distinct sets: the exact Fraction arithmetic runs once for each, not per proposal.
    """
    consolidation, trim, *_ = settings
    value = reported(_rule(consolidation, trim)([Fraction(score) for score in scores])) if scores else None
    return _score(criterion, settings, scores, not_applicable, value)


def _calibrated_value(
    criterion: Criterion, applicable: list[tuple[str, Decimal]], rule: Rule, correction: Correction
) -> tuple[Decimal | None, bool]:
    """The reported value and whether calibration pushed it off the scale (it is then clipped)."""
    if not applicable:
        return None, False
    exact = rule([Fraction(score) - correction.correction(evaluator, criterion) for evaluator, score in applicable])
    low, high = (Fraction(bound) for bound in criterion.scale)
    clipped = min(max(exact, low), high)
    return reported(clipped), clipped != exact


def flags(call: Call, evaluators: int, scores: Iterable[CriterionScore]) -> list[str]:
    """Disagreements and missing evaluators, in the words a panel secretary would use."""
    minimum = call.scoring.min_evaluators
    flags = (
        [f"{counted(evaluators, 'evaluator', 'evaluators')}, fewer than the {minimum} the call asks for"]
        if evaluators < minimum
        else []
    )
    for score in scores:
        if score.too_few and evaluators >= minimum:
            applicable = counted(score.scores, "applicable score", "applicable scores")
            flags.append(f"{score.criterion}: {applicable}, fewer than {minimum}")
        if score.disagreement and score.spread is not None and call.scoring.disagreement_limit is not None:
            flags.append(
                f"{score.criterion}: scores spread {show(score.spread)} points, above the limit of "
                f"{show(call.scoring.disagreement_limit)}: a consensus meeting is needed"
            )
        if score.clipped:
            flags.append(f"{score.criterion}: calibrated score clipped to the scale")
    return flags
