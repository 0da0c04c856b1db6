"""The ex aequo ordering as it was before it was made O(n log n), kept only as the tests' yardstick.

It re-evaluates the whole tied group for every place it fills (quadratic), which makes
it easy to check against the annex's wording; the fast ordering must agree with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

from evaluator.ex_aequo import Above, Candidate, Key, Order, Sortable, _decision, _sortable, draw_ticket


def reference_order(call_id: str, keys: Sequence[Key], candidates: Iterable[Candidate]) -> Order:
    result = Order()
    above = Above()
    by_score = sorted(candidates, key=lambda c: (-c.score, c.id))
    for _, group in itertools.groupby(by_score, key=lambda c: c.score):
        _break_ties(call_id, keys, list(group), above, result)
    return result


def _break_ties(call_id: str, keys: Sequence[Key], group: list[Candidate], above: Above, result: Order) -> None:
    placed: list[tuple[Candidate, Above]] = []
    drawn: set[str] = set()
    fixed = {key.name: {c.id: _sortable(key.value(c, above)) for c in group} for key in keys if not key.contextual}
    while group:
        context = Above(set(above.topics), set(above.countries))
        survivors = _survivors(keys, group, context, fixed)
        if len(survivors) > 1 and not {c.id for c in survivors} <= drawn:
            drawn = {c.id for c in survivors}
            result.unresolved.append([c.id for c in sorted(survivors, key=lambda c: draw_ticket(call_id, c.id))])
        chosen = min(survivors, key=lambda c: draw_ticket(call_id, c.id))
        placed.append((chosen, context))
        group.remove(chosen)
        above.add(chosen)
    for (higher, context), (lower, _) in itertools.pairwise(placed):
        result.tie_breaks[higher.id] = _decision(call_id, keys, higher, lower, context)
    result.ranked += [c for c, _ in placed]


def _survivors(
    keys: Sequence[Key], group: list[Candidate], above: Above, fixed: Mapping[str, Mapping[str, Sortable]]
) -> list[Candidate]:
    survivors = group
    for key in keys:
        if len(survivors) == 1:
            break
        known = fixed.get(key.name)
        values = [known[c.id] if known is not None else _sortable(key.value(c, above)) for c in survivors]
        best = max(values)
        survivors = [c for c, v in zip(survivors, values, strict=True) if v == best]
    return survivors
