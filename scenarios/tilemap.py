"""A tile-grid map of Kazakhstan's 20 regions: one square per region, placed roughly where it lies.

A tile grid shows every region at the same size, so small cities (Almaty,
Astana, Shymkent) are as visible as the steppe regions, and a value can be
written inside each tile. The positions (column west to east, row north to
south) are a modelling choice, not a projection: they keep neighbours next to
each other as far as a 6 x 5 grid allows (assumption).
"""

from __future__ import annotations

import numpy as np

#: Region (as in the outcome columns ``adoption_region_<slug>``) -> (column, row) of its tile.
TILES = {
    "west_kazakhstan": (0, 0), "kostanay": (2, 0), "north_kazakhstan": (3, 0), "pavlodar": (4, 0),
    "atyrau": (0, 1), "aktobe": (1, 1), "akmola": (2, 1), "astana_city": (3, 1), "abai": (4, 1),
    "east_kazakhstan": (5, 1),
    "mangystau": (0, 2), "kyzylorda": (1, 2), "ulytau": (2, 2), "karaganda": (3, 2), "zhetisu": (4, 2),
    "turkistan": (1, 3), "zhambyl": (2, 3), "almaty_region": (3, 3),
    "shymkent_city": (1, 4), "almaty_city": (3, 4),
}
SHORT = {"west_kazakhstan": "W Kaz", "north_kazakhstan": "N Kaz", "east_kazakhstan": "E Kaz",
         "almaty_region": "Alm reg", "astana_city": "Astana", "almaty_city": "Almaty", "shymkent_city": "Shymk",
         "mangystau": "Mangys", "kyzylorda": "Kyzyl", "karaganda": "Karag", "turkistan": "Turkis",
         "kostanay": "Kostan", "pavlodar": "Pavlod", "zhetisu": "Zhetisu", "zhambyl": "Zhamb"}


def label(region: str) -> str:
    """A short name that fits a tile."""
    return SHORT.get(region, region.replace("_", " ").title())


def draw(ax, values: dict[str, float], *, vmin: float, vmax: float, cmap: str = "Blues",
         fmt: str = "{:+.1f}", title: str = "") -> object:
    """Draw the tiles on ``ax`` coloured by ``values`` (region -> number; missing: grey); return the mappable."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    norm = Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9)
    colours = plt.get_cmap(cmap)
    for region, (col, row) in TILES.items():
        value = values.get(region)
        known = value is not None and np.isfinite(value)
        face = colours(norm(value)) if known else "#dddddd"
        ax.add_patch(Rectangle((col, -row), 0.94, 0.94, facecolor=face, edgecolor="white"))
        dark = known and (abs(norm(value) - 0.5) > 0.3 if vmin < 0 else norm(value) > 0.6)
        ax.text(col + 0.47, -row + 0.64, label(region), ha="center", va="center", fontsize=6,
                color="white" if dark else "#1a1a1a")
        ax.text(col + 0.47, -row + 0.3, fmt.format(value) if known else "–", ha="center", va="center",
                fontsize=7.5, fontweight="bold", color="white" if dark else "#1a1a1a")
    ax.set_xlim(-0.05, 6)
    ax.set_ylim(-4.05, 1)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return plt.cm.ScalarMappable(norm=norm, cmap=colours)
