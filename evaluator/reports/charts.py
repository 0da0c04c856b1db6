"""Inline SVG charts for the HTML reports.

Reports must open anywhere, offline, and be archived as one file with the
decision they document, so charts are plain SVG computed here rather than a
JavaScript library or an image made by a plotting package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH, HEIGHT, MARGIN = 760, 260, 48
COLOURS = {"funded": "#2e7d32", "partial": "#66bb6a", "reserve": "#f9a825", "not fundable": "#bdbdbd"}


@dataclass(frozen=True)
class Bar:
    """One ranked proposal: its request spans the x axis, its score is the height."""

    label: str
    amount: Decimal
    score: Decimal
    status: str


def _frame(body: list[str], title: str) -> str:
    head = f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">'
    axes = (
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - 10}" y2="{HEIGHT - MARGIN}" stroke="#333"/>'
        f'<line x1="{MARGIN}" y1="10" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="#333"/>'
    )
    return "\n".join([head, axes, *body, "</svg>"])


def _scale(value: Decimal, top: Decimal, length: int) -> float:
    return float(value / top) * length if top else 0.0


def funding_line(bars: Sequence[Bar], budget: Decimal, currency: str) -> str:
    """Requests laid end to end in rank order against the budget: where the line falls."""
    if not bars:
        return ""
    span = max(sum((b.amount for b in bars), Decimal(0)), budget)
    top = max(b.score for b in bars) or Decimal(1)
    plot_w, plot_h = WIDTH - MARGIN - 10, HEIGHT - MARGIN - 10
    body, x = [], Decimal(0)
    for bar in bars:
        left = MARGIN + _scale(x, span, plot_w)
        width = max(_scale(bar.amount, span, plot_w) - 1, 1)
        height = _scale(bar.score, top, plot_h)
        body.append(
            f'<rect x="{left:.1f}" y="{HEIGHT - MARGIN - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{COLOURS.get(bar.status, "#90a4ae")}"><title>{escape(bar.label)}: {escape(bar.status)}, '
            f"score {bar.score}, {currency} {bar.amount:,.2f}</title></rect>"
        )
        x += bar.amount
    line_x = MARGIN + _scale(budget, span, plot_w)
    body.append(
        f'<line x1="{line_x:.1f}" y1="10" x2="{line_x:.1f}" y2="{HEIGHT - MARGIN}" stroke="#c62828" '
        f'stroke-width="2" stroke-dasharray="6 3"/>'
    )
    body.append(
        f'<text x="{line_x + 4:.1f}" y="22" fill="#c62828" font-size="12">budget {currency} {budget:,.0f}</text>'
    )
    body.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 16}" font-size="12">cumulative requests in rank order '
        f"(0 to {currency} {span:,.0f}); bar height: ranking score</text>"
    )
    return _frame(body, "funding line")


def sweep(points: Sequence[tuple[Decimal, int]], currency: str) -> str:
    """Grants funded as the budget moves: where more money changes the outcome."""
    if len(points) < 2:
        return ""
    low, high = points[0][0], points[-1][0]
    most = max(n for _, n in points) or 1
    plot_w, plot_h = WIDTH - MARGIN - 10, HEIGHT - MARGIN - 10
    coords = [
        (MARGIN + _scale(b - low, high - low, plot_w), HEIGHT - MARGIN - _scale(Decimal(n), Decimal(most), plot_h))
        for b, n in points
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body = [f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>']
    body += [
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0"><title>{currency} {b:,.0f}: {n} grants'
        f"</title></circle>"
        for (x, y), (b, n) in zip(coords, points, strict=True)
    ]
    body.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 16}" font-size="12">budget from {currency} {low:,.0f} to '
        f"{currency} {high:,.0f}; height: grants funded (up to {most})</text>"
    )
    return _frame(body, "budget sweep")


def funding_odds(odds: Sequence[tuple[str, Decimal, bool]]) -> str:
    """Each proposal's probability of funding under score noise, in rank order; funded today in green."""
    if not odds:
        return ""
    plot_w, plot_h = WIDTH - MARGIN - 10, HEIGHT - MARGIN - 10
    width = plot_w / len(odds)
    body = []
    for k, (label, probability, funded_now) in enumerate(odds):
        height = _scale(probability, Decimal(1), plot_h)
        colour = COLOURS["funded"] if funded_now else COLOURS["reserve"]
        body.append(
            f'<rect x="{MARGIN + k * width:.1f}" y="{HEIGHT - MARGIN - height:.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {probability:.0%} of draws funded'
            f"</title></rect>"
        )
    body.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 16}" font-size="12">proposals in rank order (green: funded on the scores '
        f"as they are); height: probability of funding, 0 to 100%</text>"
    )
    return _frame(body, "funding odds")
