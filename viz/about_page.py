"""The About page: the model in one screen (what it simulates, the evidence, assumptions, limits, version, citation).

Numbers on the page are read from the project's files: the version from the
installed package, the calibration's from ``calibration/params`` (through
:func:`.calibration_view.shipped_calibration`), the years of each data source
from its file in ``calibration/data``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import solara

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, demographic_constants
from egov_abm.scenarios.runner import package_version
from egov_abm.viz.calibration_view import shipped_calibration
from egov_abm.viz.common import TITLE, NavigationTabs, heading
from egov_abm.viz.controls import calibration_window_text

DATA_DIR = Path(DEFAULT_SEM_FILE).parents[1] / "data"

#: The three papers the model stands on, as the project's copies give them: (reference, what the model takes).
PAPERS = (
    ("Amirova, A. K. (2021). Transforming e-government adoption in a framework of innovative civil service of "
     "Kazakhstan. DOI 10.32523/2079-620X-2021-1-140-150.",
     "Survey of 422 portal users: attitude and trust drive readiness, readiness the intention to use the portal "
     "(R² = .718). The citizens are drawn from its structural equation model."),
    ("E-government as a tool to improve the efficiency of public administration: The case of Kazakhstan (2023), "
     "21(2), 578–591. DOI 10.21511/ppm.21(2).2023.53.",
     "E-Government Development Index 2003–2022, portal user shares 2015–2021, the pandemic as an accelerator."),
    ("A case study of e-government in Kazakhstan (6 focus groups, 25 interviews, participant observation).",
     "The e-government paradox: faster transactions, less attention to core services, petty corruption down, "
     "limited participation; outcomes outside this model."),
)
PAPERS_NOTE = "The project's copies of papers 2 and 3 do not name their authors: take those from the publisher."

#: Data sources: (what, files, who published it). Their years are read from the files.
DATA_SOURCES = (
    ("Internet users", ("internet_users.csv",), "ITU / World Bank, via Our World in Data"),
    ("Digital literacy and portal use", ("digital_literacy.csv", "egov_usage.csv", "adoption_evidence.csv"),
     "Bureau of National Statistics (household ICT survey), press reports"),
    ("Population by region, urban and rural", ("population_totals.csv", "regions_2023.csv"),
     "Bureau of National Statistics"),
    ("E-Government Development Index", ("egdi.csv",), "UN DESA E-Government Survey"),
    ("Figures after 2021, for validation only", ("validation_2022plus.csv",),
     "Bureau of National Statistics and press reports; never fitted"),
)


def _years(files: tuple[str, ...]) -> str:
    """First and last year the files hold (their ``year`` or ``date`` column)."""
    years: list[int] = []
    for name in files:
        table = pd.read_csv(DATA_DIR / name)
        column = table["year"] if "year" in table else table["date"]
        years += [int(str(v)[:4]) for v in column.dropna()]
    return f"{min(years)}–{max(years)}" if years else "–"


@functools.cache
def data_sources() -> list[tuple[str, str, str]]:
    """The data sources as (what, years, source and files), the years read from the files once."""
    rows = []
    for what, files, source in DATA_SOURCES:
        try:
            years = _years(files)
        except (OSError, ValueError, KeyError):
            years = "–"
        rows.append((what, years, f"{source} ({', '.join(files)})"))
    return rows


@functools.cache
def facts() -> dict:
    """The figures the page quotes, from the project's files (read once)."""
    shipped = shipped_calibration()
    return {"version": package_version(), "window": calibration_window_text(),
            "adults": demographic_constants()["adult_population_2021"], "members": len(shipped.members),
            **{f"posterior_{k}": v for k, v in shipped.posterior.figures.items()},
            **{f"holdout_{k}": v for k, v in shipped.holdout.figures.items()}}


def simulates_text(f: dict) -> str:
    """What the model simulates, in a paragraph."""
    return ("Each simulated citizen is an adult of Kazakhstan. Month by month from the portal's launch in April 2006, "
            "citizens gain internet access and digital skill, hear of the portal, move their attitude and trust "
            "with their neighbours and their own experience, take the portal up (a Bass diffusion on a social "
            "network, scaled by the intention the survey's structural equation model gives them), obtain public "
            "services online, at a public service centre or through a household member, and may stop using it. "
            "Policies (infrastructure, skills, trust, awareness, service quality, digital-only mandates, assisted "
            "help) are compared with a baseline on the same random numbers.")


def assumptions(f: dict) -> list[str]:
    """The main assumptions, one line each."""
    members = f"an ensemble of {f['members']} SEMs" if f["members"] else "an ensemble of SEMs"
    calibrated = (f"{f['posterior_parameters']} rates are calibrated by ABC-SMC; the record pins down "
                  f"{f['posterior_identified']} of them" if "posterior_parameters" in f
                  else "the rates are calibrated by ABC-SMC")
    return [
        "The survey's responses are not public: the SEM is fitted to a survey reconstructed to reproduce every "
        "published aggregate of Amirova (2021). Those aggregates leave the split of readiness between attitude and "
        f"trust open, so runs carry {members} (docs/SEM.md).",
        "The survey's respondents were young, educated portal users; attitude and trust of rural, older and less "
        "educated citizens are shifted from them (assumptions in group_effects.csv).",
        f"The simulated citizens stand for the {f['adults'] / 1e6:.1f} million adults of 2021; the age and education "
        "structure are rounded estimates (demographics.csv).",
        f"{calibrated}. Service quality, help at centres and from household members, and the sizes of the "
        "satisfaction and lapse effects are assumptions (docs/ODD.md, parameter table).",
    ]


def limits_text(f: dict) -> list[str]:
    """What the model cannot say."""
    out = [
        "It simulates whether adults take up and keep using the portal, through access, skills, awareness, attitude, "
        f"trust and the channels open to them, calibrated to Kazakhstan's record {f['window']}; figures after 2021 "
        "are kept for validation only.",
        "It has no institutional outcomes: it says nothing about core public services, corruption or participation, "
        "so a policy that wins here is not thereby better for governance.",
        "Doses and unit costs of policies are assumptions, labelled in their files (scenarios/policies, "
        "scenarios/data/levers.csv).",
    ]
    if "holdout_model_covered_90" in f:
        out.append(f"Fitted on the record before {f['holdout_from']}, the model's own 90 % band held "
                   f"{f['holdout_model_covered_90']:.0%} of the {f['holdout_figures']} later figures, "
                   f"{f['holdout_covered_90']:.0%} with their observation noise (Calibration page).")
    return out


def citation_text(version: str) -> str:
    """How to cite the software (no DOI or address is claimed: the project has none)."""
    return (f"egov-abm, version {version} (2026). An agent-based simulation of e-government portal adoption in "
            "Kazakhstan.")


ABOUT_CSS = """
.about-grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0 28px; max-width: 100%; }
.about-grid p, .about-grid li { font-size: 0.84rem; line-height: 1.35; margin: 0 0 5px 0; }
.about-grid ul, .about-grid ol { padding-left: 18px; margin: 0 0 4px 0; }
.about-grid h4 { margin: 6px 0 3px 0; }
.about-grid .about-note { font-size: 0.78rem; color: #555555; }
.about-cite { background: #F5F5F5; padding: 6px 8px; border-left: 3px solid #1976D2; }
"""


def _p(text: str, cls: str = ""):
    return solara.v.Html(tag="p", children=[text], class_=cls)


def _list(items: list, tag: str = "ul", cls: str = ""):
    return solara.v.Html(tag=tag, class_=cls, children=[solara.v.Html(tag="li", children=item if isinstance(
        item, list) else [item]) for item in items])


def _bold(text: str):
    return solara.v.Html(tag="b", children=[text])


@solara.component
def About():
    """The model in one screen."""
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    solara.Style(ABOUT_CSS)
    f = facts()
    with solara.Column(gap="0px", style={"padding": "0 16px", "max-width": "100%"}, classes=["about-page"]):
        heading(3, "About egov-abm")
        with solara.v.Html(tag="div", class_="about-grid"):
            with solara.v.Html(tag="div", class_="about-simulates"):
                heading(4, "What it simulates")
                _p(simulates_text(f))
                heading(4, "What the model cannot say")
                _list(limits_text(f), cls="about-limits")
            with solara.v.Html(tag="div", class_="about-evidence"):
                heading(4, "The evidence")
                _list([[_bold(ref), " ", use] for ref, use in PAPERS], tag="ol", cls="about-papers")
                heading(4, "The data (calibration/data)")
                _list([[_bold(what), f" {years}: {source}"] for what, years, source in data_sources()],
                      cls="about-data")
            with solara.v.Html(tag="div", class_="about-assumptions"):
                heading(4, "Main assumptions")
                _list(assumptions(f))
                heading(4, "Version and how to cite")
                _p(f"egov-abm {f['version']}", "about-version")
                _p(citation_text(f["version"]), "about-cite")
                _p("For the evidence, cite the papers listed here (Amirova 2021 for the survey and its structural "
                   f"equation model) and the data sources. {PAPERS_NOTE}")
                _p("The model is described in docs/ODD.md (ODD+D protocol), the SEM in docs/SEM.md, the calibration "
                   "in docs/calibration/report.md.", "about-note")
