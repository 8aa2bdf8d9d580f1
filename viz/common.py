"""What every page of the app shares: the title, headings, paragraphs, the controls' help and the page tabs."""

from __future__ import annotations

import solara

from egov_abm.viz.controls import control

TITLE = "egov-abm: e-government portal adoption in Kazakhstan"
#: One sidebar width on every page (set with the tabs, which every page shows): Solara sizes the sidebar to its
#: content, between 400 and 600 px, so it jumped from page to page.
SIDEBAR_CSS = (".solara-content-main.v-navigation-drawer { width: 400px !important; min-width: 400px !important; "
               "max-width: 400px !important; }")


@solara.component
def ControlsHelp(names: list[str]):
    """What each control means and the range the page accepts (and why, where the model accepts more)."""
    with solara.Details("About the controls"):
        for name in names:
            paragraph(control(name).describe())


def heading(level: int, text: str):
    """A heading (plain HTML: Solara's Markdown would fetch a maths renderer from the internet)."""
    return solara.v.Html(tag=f"h{level}", children=[text], style_="margin: 8px 0 4px 0")


def paragraph(text: str):
    """A paragraph of plain text."""
    return solara.v.Html(tag="p", children=[text], style_="font-size: 0.9em; max-width: 70em")


@solara.component
def NavigationTabs():
    """The pages as a row of named buttons at the top of the page (the current one outlined)."""
    from egov_abm.viz.app import routes  # the app's routes (it imports this module first)

    router = solara.use_router()
    paths = ["/" if r.path == "/" else f"/{r.path}" for r in routes]
    current = "/" + router.path.strip("/")
    index = paths.index(current) if current in paths else 0

    def go(i):
        router.push(paths[i])

    solara.Style(SIDEBAR_CSS)
    with solara.Row(style={"gap": "4px", "padding": "0 16px", "border-bottom": "1px solid #DDDDDD"}):
        for i, r in enumerate(routes):
            solara.Button(r.label, text=i != index, outlined=i == index, color="primary",
                          on_click=lambda i=i: go(i), classes=[f"nav-{r.label.lower()}"])
