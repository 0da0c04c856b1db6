"""Inline SVG charts for the HTML reports.

Reports must open anywhere, offline, and be archived as one file with the
decision they document, so charts are plain SVG computed here rather than a
JavaScript library or an image made by a plotting package. Each chart has its
axes with tick labels and titles, and a legend for every colour it uses, so a
printed report reads without tooltips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 74
TICKS = 4
COLOURS = {"funded": "#2e7d32", "partial": "#66bb6a", "reserve": "#f9a825", "not fundable": "#bdbdbd"}
LEGEND = {
    "funded": "funded in full",
    "partial": "funded in part (bar: the amount granted)",
    "reserve": "reserve list",
    "not fundable": "not funded",
}


@dataclass(frozen=True)
class Bar:
    """One ranked proposal: its amount spans the x axis, its score is the height.

    ``granted`` is the amount funded, or None; a funded bar is as wide as its grant.
    """

    label: str
    amount: Decimal
    score: Decimal
    status: str
    granted: Decimal | None = None

    @property
    def width_amount(self) -> Decimal:
        return self.granted if self.granted is not None else self.amount


def _scale(value: Decimal, top: Decimal, length: int) -> float:
    return float(value / top) * length if top else 0.0


def _short(amount: Decimal, currency: str) -> str:
    """``EUR 12.5M`` for a tick label: the exact figures are in the tables."""
    for size, unit in ((Decimal(10) ** 9, "bn"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if abs(amount) >= size:
            return f"{currency} {amount / size:.3g}{unit}"
    return f"{currency} {amount:,.0f}"


def _frame(body: list[str], title: str, x_title: str, y_title: str, legend: list[tuple[str, str]]) -> str:
    """The SVG with both axes, their titles and a legend row under the x axis."""
    bottom, plot_left = HEIGHT - BOTTOM, LEFT
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<g class="axis x-axis"><line x1="{plot_left}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
        f'stroke="#333"/></g>',
        f'<g class="axis y-axis"><line x1="{plot_left}" y1="{TOP}" x2="{plot_left}" y2="{bottom}" stroke="#333"/></g>',
        *body,
        f'<text class="axis-title x-title" x="{(plot_left + WIDTH - RIGHT) / 2:.0f}" y="{bottom + 34}" '
        f'font-size="12" text-anchor="middle">{escape(x_title)}</text>',
        f'<text class="axis-title y-title" transform="translate(14 {(TOP + bottom) / 2:.0f}) rotate(-90)" '
        f'font-size="12" text-anchor="middle">{escape(y_title)}</text>',
    ]
    x = plot_left
    items = []
    for colour, label in legend:
        items.append(
            f'<rect x="{x}" y="{HEIGHT - 20}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 10}" font-size="12">{escape(label)}</text>'
        )
        x += 28 + 7 * len(label)
    parts.append(f'<g class="legend">{"".join(items)}</g>')
    parts.append("</svg>")
    return "\n".join(parts)


def _x_ticks(low: Decimal, high: Decimal, currency: str) -> list[str]:
    plot_w, bottom = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    ticks = []
    for k in range(TICKS + 1):
        value = low + (high - low) * k / TICKS
        x = LEFT + _scale(value - low, high - low, plot_w)
        anchor = "end" if k == TICKS else "middle"
        ticks.append(
            f'<g class="tick x-tick"><line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" font-size="11" text-anchor="{anchor}">'
            f"{_short(value, currency)}</text></g>"
        )
    return ticks


def _y_ticks(top: Decimal, label: str = "{:g}") -> list[str]:
    plot_h, bottom = HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    ticks = []
    for k in range(TICKS + 1):
        value = top * k / TICKS
        y = bottom - _scale(value, top, plot_h)
        ticks.append(
            f'<g class="tick y-tick"><line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{label.format(float(value))}</text></g>"
        )
    return ticks


def funding_line(bars: Sequence[Bar], budget: Decimal, currency: str) -> str:
    """The funded proposals laid end to end, as wide as their grants, then the others, against the budget.

    Funded bars come first (in rank order) whatever the mode: an integer program may fund a
    proposal ranked below one it leaves out, and in rank order that bar would stand past the
    budget line, as if the budget were overspent. Funded, they add up to what is awarded.
    """
    if not bars:
        return ""
    ordered = [b for b in bars if b.granted is not None] + [b for b in bars if b.granted is None]
    span = max(sum((b.width_amount for b in ordered), Decimal(0)), budget)
    top = max(b.score for b in ordered) or Decimal(1)
    plot_w, plot_h, bottom = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    body, x = [*_x_ticks(Decimal(0), span, currency), *_y_ticks(top)], Decimal(0)
    for bar in ordered:
        left = LEFT + _scale(x, span, plot_w)
        width = max(_scale(bar.width_amount, span, plot_w) - 1, 1)
        height = _scale(bar.score, top, plot_h)
        granted = f", granted {currency} {bar.granted:,.2f}" if bar.granted is not None else ""
        body.append(
            f'<rect class="bar" data-status="{escape(bar.status)}" x="{left:.1f}" y="{bottom - height:.1f}" '
            f'width="{width:.1f}" height="{height:.1f}" fill="{COLOURS.get(bar.status, "#90a4ae")}">'
            f"<title>{escape(bar.label)}: {escape(LEGEND.get(bar.status, bar.status))}, score {bar.score}, "
            f"requested {currency} {bar.amount:,.2f}{granted}</title></rect>"
        )
        x += bar.width_amount
    line_x = LEFT + _scale(budget, span, plot_w)
    body.append(
        f'<line class="budget-line" x1="{line_x:.1f}" y1="{TOP - 8}" x2="{line_x:.1f}" y2="{bottom}" '
        f'stroke="#c62828" stroke-width="2" stroke-dasharray="6 3"/>'
    )
    anchor = "end" if line_x > WIDTH * 0.7 else "start"
    shift = -4 if anchor == "end" else 4
    body.append(
        f'<text x="{line_x + shift:.1f}" y="{TOP - 12}" fill="#c62828" font-size="12" text-anchor="{anchor}">'
        f"budget {currency} {budget:,.0f}</text>"
    )
    statuses = dict.fromkeys(b.status for b in ordered)
    legend = [(COLOURS[s], LEGEND[s]) for s in COLOURS if s in statuses]
    legend.append(("#c62828", "budget (dashed line)"))
    x_title = f"amount in {currency}: funded proposals first, as granted, then the others as requested, in rank order"
    return _frame(body, "funding line", x_title, "ranking score", legend)


def sweep(points: Sequence[tuple[Decimal, int]], currency: str) -> str:
    """Grants funded as the budget moves: where more money changes the outcome."""
    if len(points) < 2:
        return ""
    low, high = points[0][0], points[-1][0]
    most = max(n for _, n in points) or 1
    plot_w, plot_h, bottom = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    coords = [
        (LEFT + _scale(b - low, high - low, plot_w), bottom - _scale(Decimal(n), Decimal(most), plot_h))
        for b, n in points
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body = [*_x_ticks(low, high, currency), *_y_ticks(Decimal(most), "{:.0f}")]
    body.append(f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    body += [
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0"><title>{currency} {b:,.0f}: {n} grants'
        f"</title></circle>"
        for (x, y), (b, n) in zip(coords, points, strict=True)
    ]
    legend = [("#1565c0", "grants funded at each budget")]
    return _frame(body, "budget sweep", f"budget in {currency}", "grants funded", legend)


def funding_odds(odds: Sequence[tuple[str, Decimal, bool]]) -> str:
    """Each proposal's probability of funding under score noise, in rank order; funded today in green."""
    if not odds:
        return ""
    plot_w, plot_h, bottom = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    width = plot_w / len(odds)
    body = _y_ticks(Decimal(1), "{:.0%}")
    for k, (label, probability, funded_now) in enumerate(odds):
        height = _scale(probability, Decimal(1), plot_h)
        colour = COLOURS["funded"] if funded_now else COLOURS["reserve"]
        body.append(
            f'<rect x="{LEFT + k * width:.1f}" y="{bottom - height:.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {probability:.0%} of draws funded'
            f"</title></rect>"
        )
    legend = [(COLOURS["funded"], "funded on the scores as they are"), (COLOURS["reserve"], "not funded today")]
    return _frame(body, "funding odds", "proposals in rank order", "probability of funding (0 to 100%)", legend)
