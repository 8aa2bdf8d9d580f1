"""The egov-abm browser app: Explore, Compare, Calibration and About pages (Solara).

Start it with ``egov-abm app`` (or ``solara run egov_abm.viz.app``). This module
holds the routes only; each page is a module of its own
(:mod:`.explore_page`, :mod:`.compare_page`, :mod:`.calibration_page`, :mod:`.about_page`) with user-interface
code only: the
model the Explore page drives is in :mod:`.explore_model`, comparisons run through
:mod:`.compare_view` (worker processes import :mod:`scenarios.compare`, never the pages), and figures come from
:mod:`.plots`.
"""

from __future__ import annotations

import warnings

import solara

from egov_abm.viz.about_page import About
from egov_abm.viz.calibration_page import Calibration
from egov_abm.viz.common import TITLE, NavigationTabs
from egov_abm.viz.compare_page import Compare
from egov_abm.viz.explore_page import Explore

# Solara warns (12 lines, on every page load) that its session cookie falls back to SameSite=Lax when the app is
# served over plain http on an address other than "localhost" (127.0.0.1, the default here). Lax is what this app
# needs: it is not embedded in another site's frame. So just that warning is filtered, not Solara's others.
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https", category=UserWarning)

__all__ = ["TITLE", "Calibration", "Compare", "Explore", "Layout", "NavigationTabs", "routes"]


@solara.component
def Layout(children=[]):  # noqa: B006 (Solara's layout signature)
    """Solara's app layout without its own navigation (the pages show :func:`NavigationTabs`)."""
    return solara.AppLayout(children=children, navigation=False)


routes = [
    solara.Route(path="/", component=Explore, label="Explore", layout=Layout),
    solara.Route(path="compare", component=Compare, label="Compare"),
    solara.Route(path="calibration", component=Calibration, label="Calibration"),
    solara.Route(path="about", component=About, label="About"),
]
