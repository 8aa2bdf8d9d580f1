"""The About page built as a component tree (no browser): its sections, and the figures it quotes from files."""

from __future__ import annotations

import ipyvuetify as v
import pandas as pd
import solara

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import DEFAULT_HOLDOUT, load_posterior
from egov_abm.calibration.sem_ensemble import load_sem_ensemble
from egov_abm.scenarios.runner import package_version
from egov_abm.viz import about_page, app

SECTIONS = ["What it simulates", "What the model cannot say", "The evidence", "The data (calibration/data)",
            "Main assumptions", "Version and how to cite"]


def _render():
    box, rc = solara.render(app.Layout(children=[about_page.About()]), handle_error=False)
    return rc


def _texts(rc, tag: str) -> list[str]:
    return ["".join(c if isinstance(c, str) else "".join(map(str, getattr(c, "children", []))) for c in w.children)
            for w in rc.find(v.Html, tag=tag).widgets]


def test_about_is_a_route_with_its_tab():
    assert [r.path for r in app.routes][-1] == "about"
    rc = _render()
    assert "About" in [w.children[0] for w in rc.find(v.Btn).widgets]


def test_about_page_shows_its_sections_and_the_installed_version():
    rc = _render()
    assert _texts(rc, "h4") == SECTIONS
    version = rc.find(v.Html, class_="about-version").widget.children[0]
    assert version == f"egov-abm {package_version()}"
    cite = rc.find(v.Html, class_="about-cite").widget.children[0]
    assert cite.startswith(f"egov-abm, version {package_version()} (2026).")
    assert "doi" not in cite.lower() and "http" not in cite.lower()


def test_about_page_quotes_its_figures_from_the_files():
    items = " ".join(_texts(_render(), "li"))
    assert f"an ensemble of {len(load_sem_ensemble())} SEMs" in items
    assert f"{demographic_constants()['adult_population_2021'] / 1e6:.1f} million adults of 2021" in items
    s = load_posterior(DEFAULT_HOLDOUT).meta["holdout"]["summary"]
    assert f"90 % band held {s['model_covered_90']:.0%} of the" in items
    internet = pd.read_csv(about_page.DATA_DIR / "internet_users.csv")["year"]
    assert f"Internet users {internet.min()}–{internet.max()}: ITU / World Bank" in items
    assert "It has no institutional outcomes" in items
    assert "Amirova, A. K. (2021)" in items


def test_every_data_source_file_exists_and_has_years():
    for what, years, _source in about_page.data_sources():
        assert years != "–", what
        first, last = map(int, years.split("–"))
        assert 2000 <= first <= last <= 2030, (what, years)
