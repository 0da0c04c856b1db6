"""Inline SVG charts of the Bayesian ranking: the caterpillar of ranks and a proposal's rankogram.

Plain SVG computed here, like the other charts (``evaluator.reports.charts``), so a
report opens offline and is archived as one file with the decision it documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from evaluator.bayesian import BayesianEntry, BayesianResult, FundingLine

WIDTH, LABEL, RIGHT, TOP, ROW, AXIS = 760, 120, 16, 28, 14, 40
ZONE_COLOURS = {"in": "#2e7d32", "grey": "#f9a825", "out": "#9e9e9e"}
LINE_COLOUR = "#c62828"


def _x(rank: float, ranked: int) -> float:
    """Rank 1 at the left of the plot, rank ``ranked`` at the right."""
    span = max(ranked - 1, 1)
    return LABEL + (rank - 1) / span * (WIDTH - LABEL - RIGHT)


def caterpillar(entries: Sequence[BayesianEntry], line: FundingLine) -> str:
    """Each proposal's expected rank (dot) with its 50% (thick) and 90% (thin) intervals, and the funding line."""
    if not entries:
        return ""
    n = line.ranked
    height = TOP + ROW * len(entries) + AXIS
    body = []
    for row, e in enumerate(entries):
        y = TOP + ROW * row + ROW / 2
        colour = ZONE_COLOURS[e.zone]
        tip = (
            f"{e.id}: expected rank {e.expected_rank}, 50% {e.rank_50.low}–{e.rank_50.high}, "
            f"90% {e.rank_90.low}–{e.rank_90.high}, P(above the line) {e.p_above_line:.0%}, {e.zone}"
        )
        body += [
            f"<g><title>{escape(tip)}</title>"
            f'<text x="{LABEL - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{escape(e.id)}</text>'
            f'<line x1="{_x(e.rank_90.low, n):.1f}" y1="{y:.1f}" x2="{_x(e.rank_90.high, n):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
            f'<line x1="{_x(e.rank_50.low, n):.1f}" y1="{y:.1f}" x2="{_x(e.rank_50.high, n):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="5"/>'
            f'<circle cx="{_x(e.expected_rank, n):.1f}" cy="{y:.1f}" r="3.5" fill="#212121"/></g>'
        ]
    body += _funding_line(line, n, TOP - 6, TOP + ROW * len(entries))
    body += _rank_axis(n, TOP + ROW * len(entries))
    title = f"expected rank with 50% and 90% credible intervals, list {line.list_name}"
    return _svg(height, title, body)


def rankogram(proposal_id: str, probabilities: Sequence[float], line: FundingLine) -> str:
    """The probability of each rank for one proposal, bars left of the funding line in green."""
    if not probabilities:
        return ""
    n, plot_h = len(probabilities), 160
    top = max(probabilities) or 1.0
    base = TOP + plot_h
    width = (WIDTH - LABEL - RIGHT) / n
    body = []
    for rank, p in enumerate(probabilities, start=1):
        h = p / top * plot_h
        x = LABEL + (rank - 1) * width
        colour = ZONE_COLOURS["in"] if rank <= line.funded else ZONE_COLOURS["out"]
        body.append(
            f'<rect x="{x + 0.5:.1f}" y="{base - h:.1f}" width="{max(width - 1, 0.5):.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>rank {rank}: {p:.1%}</title></rect>'
        )
    line_x = LABEL + line.funded * width
    body.append(
        f'<line x1="{line_x:.1f}" y1="{TOP - 6}" x2="{line_x:.1f}" y2="{base}" stroke="{LINE_COLOUR}" '
        f'stroke-width="2" stroke-dasharray="6 3"/>'
    )
    body.append(f'<text x="{line_x + 4:.1f}" y="{TOP + 4}" fill="{LINE_COLOUR}" font-size="12">funding line</text>')
    body.append(
        f'<text x="{LABEL - 6}" y="{TOP + 8}" font-size="11" text-anchor="end">{top:.0%}</text>'
        f'<text x="{LABEL - 6}" y="{base}" font-size="11" text-anchor="end">0</text>'
    )
    body += [
        f'<text x="{LABEL + (rank - 0.5) * width:.1f}" y="{base + 16}" font-size="11" '
        f'text-anchor="middle">{rank}</text>'
        for rank in _ticks(n)
    ]
    body.append(
        f'<text x="{LABEL}" y="{base + 32}" font-size="12">rank of {escape(proposal_id)} in list '
        f"{escape(line.list_name)} (1 is best); bar height: posterior probability</text>"
    )
    return _svg(base + AXIS, f"rankogram of {proposal_id}", body)


def charts(result: BayesianResult) -> list[str]:
    """One caterpillar per ranked list, then the rankogram of each chosen proposal."""
    lines = {line.list_name: line for line in result.lines}
    found = [caterpillar([e for e in result.entries if e.list_name == name], line) for name, line in lines.items()]
    for pid, probabilities in result.rankograms.items():
        found.append(rankogram(pid, probabilities, lines[result.entry(pid).list_name]))
    return found


def _funding_line(line: FundingLine, n: int, top: float, bottom: float) -> list[str]:
    x = _x(line.funded + 0.5, n)
    return [
        f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{LINE_COLOUR}" '
        f'stroke-width="2" stroke-dasharray="6 3"/>',
        f'<text x="{x + 4:.1f}" y="{top + 4:.1f}" fill="{LINE_COLOUR}" font-size="12">'
        f"funding line: {line.funded} of {line.ranked}</text>",
    ]


def _rank_axis(n: int, y: float) -> list[str]:
    parts = [f'<line x1="{LABEL}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#333"/>']
    parts += [
        f'<text x="{_x(rank, n):.1f}" y="{y + 14:.1f}" font-size="11" text-anchor="middle">{rank}</text>'
        for rank in _ticks(n)
    ]
    parts.append(f'<text x="{LABEL}" y="{y + 30:.1f}" font-size="12">rank (1 is best)</text>')
    return parts


def _ticks(n: int) -> list[int]:
    """1, n and round steps between, none crowding the ends."""
    step = max(1, round(n / 10))
    return sorted({1, n, *(k for k in range(step, n, step) if min(k - 1, n - k) >= step / 2)})


def _svg(height: float, title: str, body: list[str]) -> str:
    head = f'<svg viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(title)}" class="chart">'
    return "\n".join([head, *body, "</svg>"])
