"""Stacked bar charts as inline SVG, drawn on the server (no JavaScript, no library)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEGEND = 600, 160, 18
# Colour-blind-safe (Okabe-Ito), in order of first appearance.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000")


@dataclass(frozen=True)
class Chart:
    """Counts per series name, one per bucket."""

    series: dict[str, list[int]]
    buckets: int


def bar_chart(chart: Chart) -> Markup:
    """The chart as an <svg> with a <title> per bar (a tooltip and a text for screen readers)."""
    totals = [sum(values[i] for values in chart.series.values()) for i in range(chart.buckets)]
    peak = max(totals, default=0) or 1
    bar = WIDTH / chart.buckets
    parts: list[str] = []
    base = [0.0] * chart.buckets
    names = sorted(chart.series)
    for n, name in enumerate(names):
        colour = PALETTE[n % len(PALETTE)]
        for i, count in enumerate(chart.series[name]):
            if not count:
                continue
            h = count / peak * HEIGHT
            y = HEIGHT - base[i] - h
            base[i] += h
            parts.append(
                f'<rect x="{i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)}: {count}</title></rect>'
            )
    for n, name in enumerate(names):
        x = n * 110
        parts.append(
            f'<rect x="{x}" y="{HEIGHT + 6}" width="10" height="10" '
            f'fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{HEIGHT + 15}" font-size="11">{escape(name)}</text>'
        )
    summary = ", ".join(f"{name} {sum(chart.series[name])}" for name in names) or "no emails"
    return Markup(
        f'<svg role="img" aria-label="{escape(summary)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + LEGEND + 4}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><desc>{escape(summary)}</desc>'
        f"{''.join(parts)}</svg>"
    )
