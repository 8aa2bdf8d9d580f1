"""Figures of the app, as plain functions from model or results to a matplotlib ``Figure``.

Colours are the Okabe-Ito palette, distinguishable with the common forms of
colour blindness; states and scenarios are also told apart by marker or
line style where it matters. Figures are built with ``matplotlib.figure.Figure``
(no pyplot state), so they are safe to build in the server's threads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from egov_abm.model import AGE_BANDS, AdoptionModel, slug
from egov_abm.scenarios import outcomes

OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")
#: unaware, aware, adopter (current user), lapsed; the order of ``model.state_code``.
STATE_COLOURS = ("#BBBBBB", "#E69F00", "#0072B2", "#D55E00")
STATE_LABELS = ("unaware of the portal", "aware, not using", "using the portal", "lapsed (stopped using)")
AGE_COLOURS = ("#56B4E9", "#009E73", "#E69F00", "#CC79A7")
CONSTRUCTS = (("attitude", "Personal attitude"), ("trust", "Trust in e-government"),
              ("readiness", "E-government readiness"))
CONSTRUCT_BINS = np.linspace(-4.0, 4.0, 41)


#: PNG settings for the browser: light compression encodes several times faster than the default.
PNG_OPTIONS = {"pil_kwargs": {"compress_level": 1}}


def _figure(width: float, height: float, **margins) -> Figure:
    """A figure with fixed margins (a constrained layout costs ~0.1 s a redraw)."""
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(**{"left": 0.08, "right": 0.98, "bottom": 0.2, "top": 0.88, "wspace": 0.08, **margins})
    return fig


def scenario_colours(names) -> dict[str, str]:
    """A fixed colour per scenario, the same as the CLI's reports (:mod:`egov_abm.scenarios.colours`)."""
    from egov_abm.scenarios.colours import scenario_colours as colours

    return colours(names)


# ------------------------------------------------------------------------------------------ explore
def network_figure(model: AdoptionModel, drawing) -> Figure:
    """The social graph, citizens coloured by adoption state (a sample when the population is large)."""
    fig = _figure(6.0, 5.2, left=0.0, right=1.0, bottom=0.1, top=0.92)
    ax = fig.add_subplot()
    if drawing.edges_shown and len(drawing.segments):
        ax.add_collection(LineCollection(drawing.segments, colors="#888888", linewidths=0.3, alpha=0.25, zorder=1))
    state = model.state_code[drawing.index]
    for code, (colour, label) in enumerate(zip(STATE_COLOURS, STATE_LABELS, strict=True)):
        sel = state == code
        ax.scatter(drawing.xy[sel, 0], drawing.xy[sel, 1], s=7, c=colour, linewidths=0, zorder=2 + code,
                   label=f"{label} ({sel.sum():,})")
    for (x, y), name in zip(drawing.centres, model.region_names, strict=True):
        ax.text(x, y + 0.44, name, ha="center", va="bottom", fontsize=6, color="#333333")
    ax.set_aspect("equal")
    ax.set_xlim(0, drawing.extent[0])
    ax.set_ylim(0, drawing.extent[1] + 0.05)
    ax.axis("off")
    drawn = len(drawing.index)
    what = (f"a random sample of {drawn:,} of {model.n:,} citizens" if drawing.sampled
            else f"all {model.n:,} citizens")
    edges = "" if drawing.edges_shown else "; complete graph, edges not drawn"
    ax.set_title(f"Social network, {model.date:%B %Y}: {what}{edges}\n"
                 "one disc per region (urban core, rural rim); grey lines are ties", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False,
              markerscale=2.0)
    return fig


def _dates(model: AdoptionModel) -> np.ndarray:
    return np.array([row["date"] for row in model.outcomes], dtype="datetime64[D]")


def adoption_figure(model: AdoptionModel) -> Figure:
    """Share of adults using the portal each month: overall, urban vs rural, and by age band."""
    fig = _figure(8.0, 3.4, left=0.08, bottom=0.2)
    left, right = fig.subplots(1, 2, sharey=True)
    dates = _dates(model)
    rows = model.outcomes

    def series(key):
        return 100 * np.array([r[key] for r in rows], dtype=float)

    left.plot(dates, series("adoption"), color="#000000", lw=2, label="all adults")
    left.plot(dates, series("adoption_urban"), color="#0072B2", lw=1.4, label="urban")
    left.plot(dates, series("adoption_rural"), color="#E69F00", lw=1.4, ls="--", label="rural")
    for band, colour, style in zip(AGE_BANDS, AGE_COLOURS, ("-", "--", "-.", ":"), strict=True):
        right.plot(dates, series(f"adoption_age_{slug(band)}"), color=colour, lw=1.4, ls=style, label=f"aged {band}")
    left.set_ylabel("used the portal in the last 12 months (% of adults)", fontsize=8)
    left.set_title("Adoption, overall and urban / rural", fontsize=9)
    right.set_title("Adoption by age band", fontsize=9)
    for ax in (left, right):
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        ax.tick_params(labelsize=8)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    return fig


def distribution_figure(model: AdoptionModel) -> Figure:
    """Histograms of attitude, trust and readiness now (filled) and at the start (outline)."""
    fig = _figure(8.0, 2.6, left=0.07, bottom=0.2)
    axes = fig.subplots(1, 3, sharey=True)
    start = {"attitude": model.attitude0, "trust": model.trust0, "readiness": getattr(model, "readiness0", None)}
    for ax, (name, title) in zip(axes, CONSTRUCTS, strict=True):
        ax.stairs(_density(getattr(model, name)), CONSTRUCT_BINS, fill=True, color="#56B4E9",
                  label=f"{model.date:%b %Y}")
        if start[name] is not None:
            ax.stairs(_density(start[name]), CONSTRUCT_BINS, color="#000000", lw=1.0, label="at the start")
        ax.axvline(float(np.mean(getattr(model, name))), color="#D55E00", lw=1.2, label="mean now")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("standard deviations of the survey", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("density", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def _density(values: np.ndarray) -> np.ndarray:
    """Histogram density over CONSTRUCT_BINS, values beyond the range counted in the end bins."""
    counts, _ = np.histogram(np.clip(values, CONSTRUCT_BINS[0], CONSTRUCT_BINS[-1]), bins=CONSTRUCT_BINS)
    return counts / (counts.sum() * np.diff(CONSTRUCT_BINS))


# ------------------------------------------------------------------------------------------ compare
def _band(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    grouped = runs.groupby(["scenario", "date"], sort=False)[column]
    return pd.DataFrame({"median": grouped.median(), "lo": grouped.quantile(0.05),
                         "hi": grouped.quantile(0.95)}).reset_index()


def _legend_rows(names) -> tuple[int, int]:
    """Columns and rows of a legend of ``names`` above the axes."""
    columns = min(len(names), 5)
    return columns, -(-len(names) // columns)


def _scenario_legend(fig: Figure, ax, columns: int) -> None:
    """One legend for the figure, above its axes (and their titles), so it covers no data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=columns, fontsize=8,
               frameon=False, handlelength=2.5, columnspacing=1.5)


def compare_figure(runs: pd.DataFrame, baseline: str = "baseline") -> Figure:
    """Adoption per scenario (median, 90 % band over replicates) and its difference from the baseline.

    The difference is taken replicate by replicate (common random numbers),
    then summarised, so the band shows the spread of the policy effect. The
    legend sits above the axes, where it covers no data.
    """
    names = list(pd.unique(runs["scenario"]))
    columns, rows = _legend_rows(names)
    height = 3.6 + 0.22 * rows
    fig = _figure(9.0, height, left=0.07, right=0.98, bottom=0.12 * 3.6 / height,
                  top=1 - (0.3 + 0.22 * rows) / height, wspace=0.22)
    level, diff = fig.subplots(1, 2)
    colours = scenario_colours(names)
    runs = runs.assign(adoption_pct=100 * runs["adoption"])
    base = runs[runs["scenario"] == baseline].set_index(["replicate", "date"])["adoption_pct"]
    runs = runs.join(base.rename("base_pct"), on=["replicate", "date"])
    runs["diff_pp"] = runs["adoption_pct"] - runs["base_pct"]
    levels, diffs = _band(runs, "adoption_pct"), _band(runs, "diff_pp")
    for name in names:
        for ax, table in ((level, levels), (diff, diffs)):
            t = table[table["scenario"] == name]
            ax.plot(t["date"], t["median"], color=colours[name], lw=2 if name == baseline else 1.4, label=name)
            ax.fill_between(t["date"], t["lo"], t["hi"], color=colours[name], alpha=0.18, lw=0)
    level.set_ylabel("used the portal in the last 12 months (% of adults)", fontsize=8)
    level.set_title("Adoption: median and 90 % band over replicates", fontsize=9)
    diff.set_ylabel("difference from baseline (percentage points)", fontsize=8)
    diff.set_title("Effect against the baseline (same seeds)", fontsize=9)
    diff.axhline(0, color="#000000", lw=0.8)
    for ax in (level, diff):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    _scenario_legend(fig, level, columns)
    return fig


def gap_figure(runs: pd.DataFrame) -> Figure:
    """Urban-rural and young-old (18-29 minus 60+) gaps in adoption per scenario, median over replicates.

    The legend sits above the axes, where it covers no data.
    """
    names = list(pd.unique(runs["scenario"]))
    columns, rows = _legend_rows(names)
    height = 3.0 + 0.22 * rows
    fig = _figure(9.0, height, left=0.07, right=0.98, bottom=0.12 * 3.0 / height,
                  top=1 - (0.3 + 0.22 * rows) / height, wspace=0.08)
    ur, yo = fig.subplots(1, 2, sharey=True)
    colours = scenario_colours(names)
    gaps = [outcomes.get(name) for name in ("gap_urban_rural", "gap_young_old")]
    runs = runs.assign(**{g.name: 100 * g.series(runs) for g in gaps})
    for ax, gap in zip((ur, yo), gaps, strict=True):
        title = gap.label
        table = _band(runs, gap.name)
        for name in names:
            t = table[table["scenario"] == name]
            ax.plot(t["date"], t["median"], color=colours[name], lw=2 if name == "baseline" else 1.4, label=name)
        ax.set_title(title, fontsize=9)
        ax.axhline(0, color="#000000", lw=0.8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    ur.set_ylabel("gap (percentage points)", fontsize=8)
    _scenario_legend(fig, ur, columns)
    return fig


# -------------------------------------------------------------------------------------- calibration
#: Latent boxes of the final (citizen-centric) model: name -> (x, y, label).
_NODES = {"attitude": (0.12, 0.75, "Personal\nattitude"), "trust": (0.12, 0.25, "Trust"),
          "readiness": (0.5, 0.5, "E-government\nreadiness"), "intention": (0.88, 0.5, "Intention\nto use")}


def sem_path_figure(paths: pd.DataFrame, r2: dict[str, float], correlation: float | None) -> Figure:
    """Path diagram of the structural part: standardised coefficients on the arrows, R² in the boxes.

    ``paths`` has columns ``lval`` (outcome), ``rval`` (cause), ``std_estimate``
    and ``p_value``; latents not in the diagram are left out.
    """
    fig = _figure(7.0, 3.2, left=0.0, right=1.0, bottom=0.0, top=0.9)
    ax = fig.add_subplot()
    ax.set_xlim(-0.12, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.5", "fc": "#E8F1FA", "ec": "#0072B2"}
    for name, (x, y, label) in _NODES.items():
        text = label + (f"\nR² = {r2[name]:.2f}" if name in r2 else "")
        ax.text(x, y, text, ha="center", va="center", fontsize=9, bbox=box)
    for _, row in paths.iterrows():
        if row["lval"] not in _NODES or row["rval"] not in _NODES:
            continue
        x0, y0, _ = _NODES[row["rval"]]
        x1, y1, _ = _NODES[row["lval"]]
        p = row.get("p_value")
        stars = "" if p is None or pd.isna(p) else ("***" if p < 0.001 else "**" if p < 0.01 else
                                                    "*" if p < 0.05 else " (n.s.)")
        ax.annotate("", xy=(x1 - 0.1, y1), xytext=(x0 + 0.1, y0),
                    arrowprops={"arrowstyle": "-|>", "color": "#000000", "lw": 1.4})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.06, f"{row['std_estimate']:.3f}{stars}", ha="center",
                fontsize=9, color="#D55E00")
    if correlation is not None:
        ax.annotate("", xy=(0.08, 0.35), xytext=(0.08, 0.65),
                    arrowprops={"arrowstyle": "<|-|>", "color": "#555555", "lw": 1.0,
                                "connectionstyle": "arc3,rad=0.4"})
        ax.text(-0.11, 0.5, f"r = {correlation:.3f}", fontsize=9, color="#555555", va="center")
    ax.set_title("Structural model (standardised): * p < .05, ** p < .01, *** p < .001", fontsize=9)
    return fig
