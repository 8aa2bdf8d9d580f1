"""Small charts for the Explore page as SVG and HTML text: drawn in the browser, with values on hover.

A chart here is a string (``<svg>…</svg>`` or ``<div>…</div>``) built from a
few numbers per month, so a redraw costs the server a few milliseconds and the
browser sends no image. Every point a reader may ask about has a ``<title>``
(the browser shows it on hover): each month of a line chart, each bar of a
histogram, each region's tile. Legends sit outside the plotting area, so they
never cover data.

matplotlib draws the same kind of figures for files (reports, briefs); it
costs about 0.1 s per figure and a PNG per redraw, too slow for a month that
must redraw in well under half a second (Step 14). Vega-Lite (Altair) would
give hover too, but the Vega-Lite Solara serves locally (5.2) does not render
Altair 6's specifications.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Sequence

import numpy as np

FONT = "font-family:Roboto,Arial,sans-serif"


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a chart: values per month (NaN for none), its colour and dash pattern."""

    name: str
    values: Sequence[float]
    colour: str
    dash: str = ""  # SVG stroke-dasharray, "" for solid
    width: float = 1.6


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = (hi - lo) / count
    return [lo + k * step for k in range(count + 1)]


def line_chart(months: Sequence, panels: Sequence[tuple[str, Sequence[Series]]], *, y_label: str,
               y_max: float = 100.0, unit: str = "%", width: int = 820, height: int = 300,
               month_names: Sequence[str] | None = None, marks: Sequence[tuple[int, str]] = ()) -> str:
    """Side-by-side panels of lines over the same months, y from 0 to ``y_max``; hover a month for its values.

    Args:
        months: the dates of the x axis (``numpy.datetime64`` or ``datetime``), the whole horizon; the series
            may be shorter (the months simulated so far).
        panels: (title, series) per panel.
        y_label: the y axis's label (left of the first panel).
        y_max: top of the y axis (the bottom is 0); values beyond are drawn at the edge.
        unit: written after tick labels and hover values.
        width: of the whole chart, in pixels.
        height: of the whole chart, in pixels.
        month_names: how the hover names each month (default: the dates as text).
        marks: (month index, label) of months to mark with a dotted vertical line and the label on hover
            (where the page starts watching, a policy's start).
    """
    dates = np.asarray(months, dtype="datetime64[M]")
    n_months = len(dates)
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    names = list(month_names) if month_names is not None else [str(d) for d in dates]
    left, right, top, bottom, gap = 58, 14, 46, 30, 40
    k = len(panels)
    pw = (width - left - right - gap * (k - 1)) / k
    ph = height - top - bottom
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' style='{FONT};font-size:11px' role='img'>"]
    out.append(f"<text x='12' y='{top + ph / 2}' transform='rotate(-90 12 {top + ph / 2})' text-anchor='middle' "
               f"fill='#333'>{_esc(y_label)}</text>")
    span = max(n_months - 1, 1)
    first_year, last_year = int(years[0]), int(years[-1])
    step_years = max(1, math.ceil((last_year - first_year + 1) / 7))
    for p, (title, series) in enumerate(panels):
        x0 = left + p * (pw + gap)

        def x(i: float, x0: float = x0) -> float:
            return x0 + pw * i / span

        def y(v: float) -> float:
            return top + ph * (1 - min(max(v, 0.0), y_max) / y_max)

        out.append(f"<text x='{x0}' y='14' font-weight='bold' fill='#222'>{_esc(title)}</text>")
        lx = x0
        for s in series:  # legend row under the title, outside the plot
            dash = f" stroke-dasharray='{s.dash}'" if s.dash else ""
            out.append(f"<line x1='{lx}' y1='28' x2='{lx + 18}' y2='28' stroke='{s.colour}' "
                       f"stroke-width='{s.width + 0.4}'{dash}/>")
            out.append(f"<text x='{lx + 22}' y='32' fill='#333'>{_esc(s.name)}</text>")
            lx += 30 + 6.2 * len(s.name)
        for t in _ticks(0.0, y_max):
            out.append(f"<line x1='{x0}' y1='{y(t):.1f}' x2='{x0 + pw:.1f}' y2='{y(t):.1f}' stroke='#e4e4e4'/>")
            if p == 0:
                out.append(f"<text x='{x0 - 5}' y='{y(t) + 4:.1f}' text-anchor='end' fill='#555'>"
                           f"{t:g}{_esc(unit)}</text>")
        for year in range(first_year, last_year + 1, step_years):
            i = int(np.searchsorted(years, year))
            if i < n_months:
                out.append(f"<line x1='{x(i):.1f}' y1='{top + ph}' x2='{x(i):.1f}' y2='{top + ph + 4}' "
                           f"stroke='#888'/><text x='{x(i):.1f}' y='{top + ph + 16}' text-anchor='middle' "
                           f"fill='#555'>{year}</text>")
        out.append(f"<rect x='{x0}' y='{top}' width='{pw:.1f}' height='{ph}' fill='none' stroke='#bbb'/>")
        for row, (mark, text) in enumerate(marks):
            if 0 <= mark < n_months:
                out.append(f"<line x1='{x(mark):.1f}' y1='{top}' x2='{x(mark):.1f}' y2='{top + ph}' stroke='#777' "
                           f"stroke-dasharray='2 3'><title>{_esc(text)}</title></line>")
                out.append(f"<text x='{x(mark) + 3:.1f}' y='{top + 12 + 12 * row}' fill='#666' font-size='10'>"
                           f"{_esc(text[:24])}</text>")
        length = 0
        for s in series:
            values = np.asarray(s.values, dtype=float)
            length = max(length, len(values))
            points = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if np.isfinite(v)]
            if len(points) > 1:
                dash = f" stroke-dasharray='{s.dash}'" if s.dash else ""
                out.append(f"<polyline fill='none' stroke='{s.colour}' stroke-width='{s.width}'{dash} "
                           f"points='{' '.join(points)}'/>")
        # one hover strip per simulated month: its values in the title
        strip = pw / span
        for i in range(length):
            parts = [f"{s.name} {s.values[i]:.1f}{unit}" for s in series
                     if i < len(s.values) and np.isfinite(s.values[i])]
            out.append(f"<rect class='hover' x='{x(i) - strip / 2:.1f}' y='{top}' width='{strip:.2f}' "
                       f"height='{ph}' fill='transparent'><title>{_esc(names[i])}: {_esc(', '.join(parts))}"
                       f"</title></rect>")
    out.append("</svg>")
    return "".join(out)


def histograms(panels: Sequence[tuple[str, np.ndarray, np.ndarray | None, float]], edges: np.ndarray, *,
               x_label: str, now_label: str, width: int = 820, height: int = 210) -> str:
    """Histograms side by side: per panel (title, density now, density at the start or None, mean now).

    Bars are now, the black outline the start, the orange line the mean now; hover a bar for its numbers.
    """
    left, right, top, bottom, gap = 44, 10, 40, 34, 18
    k = len(panels)
    pw = (width - left - right - gap * (k - 1)) / k
    ph = height - top - bottom
    widths = np.diff(edges)
    top_density = max(max(float(np.max(d)) for _, d, _, _ in panels),
                      max((float(np.max(s)) for _, _, s, _ in panels if s is not None), default=0.0), 1e-9)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' style='{FONT};font-size:11px' role='img'>"]
    out.append(f"<text x='10' y='{top + ph / 2}' transform='rotate(-90 10 {top + ph / 2})' text-anchor='middle' "
               f"fill='#333'>density</text>")
    legend = [("#56B4E9", now_label, ""), ("#000000", "at the start", ""), ("#D55E00", "mean now", "")]
    lx = width - right - 330
    for colour, name, _ in legend:
        out.append(f"<rect x='{lx}' y='6' width='12' height='10' fill='{colour}'/>"
                   f"<text x='{lx + 16}' y='15' fill='#333'>{_esc(name)}</text>")
        lx += 28 + 6.2 * len(name)
    lo, hi = float(edges[0]), float(edges[-1])
    for p, (title, now, start, mean) in enumerate(panels):
        x0 = left + p * (pw + gap)

        def x(v: float, x0: float = x0) -> float:
            return x0 + pw * (v - lo) / (hi - lo)

        def y(d: float) -> float:
            return top + ph * (1 - d / top_density)

        out.append(f"<text x='{x0 + pw / 2}' y='{top - 8}' text-anchor='middle' font-weight='bold' "
                   f"fill='#222'>{_esc(title)}</text>")
        for i, d in enumerate(now):
            share = d * widths[i] * 100
            was = f"; at the start {start[i] * widths[i] * 100:.1f} %" if start is not None else ""
            out.append(f"<rect x='{x(edges[i]):.1f}' y='{y(d):.1f}' width='{pw * widths[i] / (hi - lo):.2f}' "
                       f"height='{top + ph - y(d):.1f}' fill='#56B4E9'><title>{_esc(title)} {edges[i]:+.1f} to "
                       f"{edges[i + 1]:+.1f} SD: {share:.1f} % of citizens{was}</title></rect>")
        if start is not None:
            steps = " ".join(f"{x(edges[i]):.1f},{y(d):.1f} {x(edges[i + 1]):.1f},{y(d):.1f}"
                             for i, d in enumerate(start))
            out.append(f"<polyline fill='none' stroke='#000' stroke-width='1' points='{steps}' "
                       f"pointer-events='none'/>")
        out.append(f"<line x1='{x(mean):.1f}' y1='{top}' x2='{x(mean):.1f}' y2='{top + ph}' stroke='#D55E00' "
                   f"stroke-width='1.5'><title>mean now {mean:+.2f} SD</title></line>")
        out.append(f"<line x1='{x0}' y1='{top + ph}' x2='{x0 + pw:.1f}' y2='{top + ph}' stroke='#888'/>")
        for t in range(int(lo), int(hi) + 1, 2):
            out.append(f"<text x='{x(t):.1f}' y='{top + ph + 14}' text-anchor='middle' fill='#555'>{t:+d}</text>")
        out.append(f"<text x='{x0 + pw / 2}' y='{height - 4}' text-anchor='middle' fill='#555'>{_esc(x_label)}"
                   f"</text>")
    out.append("</svg>")
    return "".join(out)


#: Sequential colours of the tile map, light to dark (ColorBrewer Blues, 7 classes).
BLUES = ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594")


def _blue(share: float) -> str:
    return BLUES[min(len(BLUES) - 1, max(0, int(share * len(BLUES))))]


def tile_map(values: dict[str, float], adults: dict[str, float], *, title: str, tile: int = 86) -> str:
    """Kazakhstan's regions as a tile grid (:mod:`egov_abm.scenarios.tilemap`), coloured by a share in [0, 1].

    ``values`` and ``adults`` are per region slug (as the outcome columns ``adoption_region_<slug>``); each tile
    shows the region's short name and share, and on hover its full name, share and adults.
    """
    from egov_abm.scenarios.tilemap import TILES, label

    cols = 1 + max(c for c, _ in TILES.values())
    rows = 1 + max(r for _, r in TILES.values())
    cells = []
    for region, (col, row) in TILES.items():
        value = values.get(region)
        known = value is not None and np.isfinite(value)
        face = _blue(value) if known else "#dddddd"
        ink = "#ffffff" if known and value >= 4 / len(BLUES) else "#1a1a1a"
        full = region.replace("_", " ").title()
        hover = (f"{full}: {100 * value:.1f} % used the portal in the last 12 months; "
                 f"{adults.get(region, 0):,.0f} adults" if known else f"{full}: no citizens simulated")
        cells.append(f"<div class='tile' data-region='{region}' title='{_esc(hover)}' style='grid-column:{col + 1};"
                     f"grid-row:{row + 1};background:{face};color:{ink};display:flex;flex-direction:column;"
                     f"justify-content:center;align-items:center;border-radius:3px'>"
                     f"<span style='font-size:11px'>{_esc(label(region))}</span>"
                     f"<b style='font-size:14px'>{100 * value:.0f} %</b></div>" if known else
                     f"<div class='tile' data-region='{region}' title='{_esc(hover)}' style='grid-column:{col + 1};"
                     f"grid-row:{row + 1};background:{face};display:flex;justify-content:center;"
                     f"align-items:center;border-radius:3px'>{_esc(label(region))}</div>")
    legend = "".join(f"<span style='display:inline-block;width:26px;height:10px;background:{c}'></span>"
                     for c in BLUES)
    return (f"<div class='tile-map' style='{FONT}'><div style='font-weight:bold;font-size:12px;margin-bottom:4px'>"
            f"{_esc(title)}</div><div style='display:grid;grid-template-columns:repeat({cols},{tile}px);"
            f"grid-template-rows:repeat({rows},{int(tile * 0.62)}px);gap:3px'>{''.join(cells)}</div>"
            f"<div style='font-size:11px;color:#555;margin-top:4px'>0 % {legend} 100 % of the region's adults; "
            f"tile grid, not to scale; hover a tile for its numbers</div></div>")
