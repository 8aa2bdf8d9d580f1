"""The Explore page: one scenario month by month (Mesa's SolaraViz drives the model of :mod:`.explore_model`)."""

from __future__ import annotations

import solara
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz import plots
from egov_abm.viz.common import TITLE, ControlsHelp, NavigationTabs, heading
from egov_abm.viz.controls import control
from egov_abm.viz.explore_model import START_CHOICES, ExploreModel, scenario_names


def _slider(name: str, value, step) -> Slider:
    """A Mesa slider over the page's range of control ``name``, labelled with its unit."""
    c = control(name)
    return Slider(c.label, value=value, min=c.allowed[0], max=c.allowed[1], step=step)


def explore_params() -> dict:
    """The Explore page's controls (Mesa ``model_params``): ranges, units and labels from :mod:`viz.controls`."""
    names = scenario_names()
    baseline = load_scenario("baseline").params
    network = control("network")
    return {
        "scenario": {"type": "Select", "value": "baseline", "values": names, "label": "Scenario"},
        "n_agents": _slider("n_agents", 2000, 100),
        "network": {"type": "Select", "value": baseline.network, "values": list(network.choices),
                    "label": network.label},
        "mean_degree": _slider("mean_degree", baseline.mean_degree, 1),
        "dose_scale": _slider("dose_scale", 1.0, 0.1),
        "p_success": _slider("p_success", round(baseline.p_success, 2), 0.01),
        "start_at": {"type": "Select", "value": "scenario start", "values": list(START_CHOICES),
                     "label": "Start watching at (earlier months run unseen)"},
        "seed": {"type": "InputText", "value": "1", "label": f"{control('seed').label} (whole number)"},
    }


@solara.component
def ExploreStatus(model: ExploreModel):
    """Where the run is, what the scenario does, and any page value that was corrected."""
    update_counter.get()
    row = model.outcomes[-1]
    with solara.Row(style={"flex-wrap": "wrap", "gap": "24px", "align-items": "baseline"}):
        heading(3, f"{model.date:%B %Y}")
        solara.Text(f"month {model.month} of {model.horizon}", classes=["explore-month"])
        solara.Text(f"Used the portal in the last 12 months: {100 * row['adoption']:.1f} % of adults "
                    f"({100 * row['share_active_month']:.1f} % this month)",
                    classes=["explore-adoption"])
        solara.Text(f"Ever used: {100 * row['share_ever_used']:.1f} %")
        solara.Text(f"Online: {100 * row['internet_access']:.1f} %")
        if row["cumulative_cost_kzt"] > 0:
            solara.Text(f"Spent so far (simulated citizens): {row['cumulative_cost_kzt'] / 1e6:,.1f} M KZT")
    p = model.params
    solara.Text(f"Scenario '{model.scenario_name}': {model.scenario.description}", style={"font-size": "0.9em"})
    solara.Text(f"Settings in use: {model.n:,} citizens, {p.network} network with {p.mean_degree} contacts each on "
                f"average, policy dose × {model.dose_scale:g}, portal use succeeds with probability "
                f"{p.p_success:.2f}, seed {model.seed_value}.", classes=["explore-settings"],
                style={"font-size": "0.9em"})
    for note in model.input_notes:
        solara.Warning(note, dense=True)
    if not model.running:
        solara.Info(f"The scenario's horizon ({model.date:%B %Y}) is reached: press Reset to start again.",
                    dense=True)


@solara.component
def ExploreFigures(model: ExploreModel):
    """Network, adoption curves and construct distributions; redrawn once per month stepped."""
    update_counter.get()
    key = (id(model), model.month)
    network = solara.use_memo(lambda: plots.network_figure(model, model.drawing()), [key])
    adoption = solara.use_memo(lambda: plots.adoption_figure(model), [key])
    distribution = solara.use_memo(lambda: plots.distribution_figure(model), [key])
    with solara.Columns([5, 7]):
        solara.FigureMatplotlib(network, dependencies=[key], format="png", **plots.PNG_OPTIONS)
        with solara.Column():
            solara.FigureMatplotlib(adoption, dependencies=[key], format="png", **plots.PNG_OPTIONS)
            solara.FigureMatplotlib(distribution, dependencies=[key], format="png", **plots.PNG_OPTIONS)


@solara.component
def Explore():
    """Watch one scenario month by month (Mesa SolaraViz controls in the sidebar)."""
    model = solara.use_reactive(solara.use_memo(ExploreModel, []))
    params = solara.use_memo(explore_params, [])
    SolaraViz(model, components=[], model_params=params, name=TITLE, play_interval=150)
    NavigationTabs()
    with solara.Column(style={"padding": "0 16px"}):
        ExploreStatus(model.value)
        ExploreFigures(model.value)
        ControlsHelp(["n_agents", "network", "mean_degree", "dose_scale", "p_success", "seed"])
