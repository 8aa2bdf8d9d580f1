"""The egov-abm browser app: Explore, Compare and Calibration pages (Solara, Mesa's SolaraViz).

Start it with ``egov-abm app`` (or ``solara run egov_abm.viz.app``). This module holds
user-interface code only: the model the Explore page drives is in
:mod:`viz.explore_model`, comparisons run through :mod:`viz.compare_view`
(worker processes import :mod:`scenarios.compare`, never this module), and
figures come from :mod:`viz.plots`.
"""

from __future__ import annotations

import io
import time
from typing import cast

import solara
import solara.lab
from ipyvuetify.extra import FileInput
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from egov_abm.model import InputError
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz import plots
from egov_abm.viz.calibration_view import (
    MAX_UPLOAD_TEXT,
    posterior_table,
    read_shipped,
    read_upload,
    shipped_sem_files,
)
from egov_abm.viz.compare_view import WORKERS, CompareResult, check_form, display_table, run_comparison
from egov_abm.viz.controls import adults_text, calibration_window_text, control, horizon_text
from egov_abm.viz.explore_model import START_CHOICES, ExploreModel, scenario_names

TITLE = "egov-abm: e-government portal adoption in Kazakhstan"


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


# ------------------------------------------------------------------------------------------- explore
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


# ------------------------------------------------------------------------------------------- compare
compare_choice = solara.reactive(["technology_only", "citizen_centric"])
compare_replicates = solara.reactive(5)
compare_agents = solara.reactive(5000)
compare_seed = solara.reactive("1")
compare_ensemble = solara.reactive(True)
compare_errors = solara.reactive([])
compare_done = solara.reactive(0)
compare_total = solara.reactive(0)
compare_ahead = solara.reactive(0)  # comparisons (of any session) ahead of this one while it waits for workers


@solara.lab.task(prefer_threaded=True)
def compare_task(form) -> CompareResult:
    """Run a comparison in the background; progress is the share of runs done."""
    compare_done.set(0)
    compare_ahead.set(0)
    started = time.perf_counter()

    def progress(k):
        compare_done.set(compare_done.value + k)
        compare_task.progress = 100.0 * compare_done.value / form.n_runs

    try:
        result = run_comparison(form, progress=progress, should_stop=lambda: not compare_task.is_current(),
                                on_wait=compare_ahead.set)
    finally:
        compare_ahead.set(0)
    return result, time.perf_counter() - started


def _start_comparison():
    form, errors = check_form(compare_choice.value, compare_replicates.value, compare_agents.value,
                              compare_seed.value, compare_ensemble.value, scenario_names()[1:])
    compare_errors.set(errors)
    if form is not None:
        compare_total.set(form.n_runs)
        compare_task(form)


def _csv(frame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


@solara.component
def CompareResults(result: CompareResult, seconds: float):
    """Table, curves, gaps and downloads of a finished comparison."""
    form = result.form
    reps = f"{form.replicates} replicate{'s' if form.replicates != 1 else ''}"
    solara.Success(f"{form.n_runs} runs ({len(form.scenarios) + 1} scenarios × {reps}, "
                   f"{form.n_agents:,} citizens each) in {seconds:.1f} s.", dense=True)
    heading(4, f"Cost-effectiveness at the horizon (extra adopters scaled to {adults_text()})")
    solara.DataFrame(display_table(result.table), items_per_page=20)
    with solara.Row():
        solara.FileDownload(lambda: _csv(result.table), filename="comparison_table.csv",
                            label="Download table (CSV)")
        solara.FileDownload(lambda: _csv(result.runs), filename="comparison_runs.csv",
                            label="Download monthly results of every run (CSV)")
    solara.FigureMatplotlib(plots.compare_figure(result.runs), format="png", **plots.PNG_OPTIONS)
    solara.FigureMatplotlib(plots.gap_figure(result.runs), format="png", **plots.PNG_OPTIONS)
    paragraph(
        "Bands are the 5th-95th percentiles over replicates. Each replicate uses the same random streams "
        + ("and the same posterior draw " if form.ensemble else "")
        + "in every scenario, so differences come from the policy. Doses and unit costs of the shipped "
        "policies are assumptions, labelled in their files.")


@solara.component
def Compare():
    """Pick policy scenarios, run them against the baseline in the background, read the results."""
    available = scenario_names()[1:]
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    with solara.Sidebar(), solara.Card("Comparison"):
        solara.SelectMultiple("Policy scenarios (the baseline always runs)", values=compare_choice,
                              all_values=available)
        replicates, agents = control("replicates"), control("compare_agents")
        solara.SliderInt(replicates.label, value=compare_replicates, min=replicates.allowed[0],
                         max=replicates.allowed[1])
        solara.SliderInt(agents.label, value=compare_agents, min=agents.allowed[0], max=agents.allowed[1],
                         step=500)
        solara.InputText(f"{control('seed').label} (whole number)", value=compare_seed)
        solara.Checkbox(label="Calibration uncertainty: each replicate takes its own posterior draw",
                        value=compare_ensemble)
        with solara.Row():
            solara.Button("Run comparison", color="primary", on_click=_start_comparison,
                          disabled=compare_task.pending)
            solara.Button("Cancel", on_click=compare_task.cancel, disabled=not compare_task.pending)
    with solara.Column(style={"padding": "8px 16px"}):
        heading(2, "Compare policy scenarios with the baseline")
        for message in compare_errors.value:
            solara.Error(message, dense=True)
        if compare_task.pending and compare_ahead.value:
            ahead = compare_ahead.value
            solara.Text(f"waiting: {ahead} comparison{'s' if ahead != 1 else ''} ahead (the app runs at most "
                        f"{WORKERS.total} worker process{'es' if WORKERS.total != 1 else ''} at a time)",
                        classes=["compare-queue"])
            solara.ProgressLinear(True)
        elif compare_task.pending:
            solara.Text(f"Running: {compare_done.value} of {compare_total.value} runs done",
                        classes=["compare-progress"])
            solara.ProgressLinear(compare_task.progress if compare_task.progress is not None else True)
        elif compare_task.error:
            solara.Error(f"The comparison failed: {compare_task.exception}")
        elif compare_task.cancelled:
            solara.Warning("The comparison was cancelled.")
        if compare_task.finished and compare_task.value is not None:
            result, seconds = compare_task.value
            CompareResults(result, seconds)
        elif compare_task.not_called:
            paragraph("Choose scenarios in the sidebar and press 'Run comparison'. Each scenario and the "
                      f"baseline run from {horizon_text()} with the calibrated parameters.")
        ControlsHelp(["replicates", "compare_agents", "seed"])


# --------------------------------------------------------------------------------------- calibration
calibration_file = solara.reactive(shipped_sem_files()[0].name)  # the shipped file chosen (its name)
calibration_upload = solara.reactive(None)  # the SemView of the last good upload, shown instead of calibration_file
calibration_upload_error = solara.reactive("")  # one line about the last bad upload


def load_upload(name, size, file_obj) -> None:
    """Check an uploaded SEM file in memory; show it, or keep the page as it was and say why not in one line."""
    try:
        view = read_upload(name, size, file_obj)
    except InputError as exc:
        calibration_upload_error.set(str(exc))
        return
    calibration_upload_error.set("")
    calibration_upload.set(view)


def _choose_shipped(name: str) -> None:
    calibration_file.set(name)
    calibration_upload.set(None)
    calibration_upload_error.set("")


@solara.component
def SemUpload(on_file):
    """A file chooser (and drop target) for one JSON file, read in the browser and sent to the server in memory.

    ``on_file(name, size, file_obj)`` is called in a background thread; ``file_obj`` reads from the browser.
    It is the widget of Solara's ``FileDrop`` with a file chooser, so a file can be picked as well as dropped.
    """
    info, set_info = solara.use_state(cast(list, []))
    files, set_files = solara.use_state(cast(list, []))
    chooser = FileInput.element(multiple=False, accept=".json,application/json", show_progress=False,
                                on_file_info=set_info)

    def wire():  # as Solara's FileDrop: a fresh reader of the file now chosen (needs the render context)
        if not info:
            return
        widget = cast(FileInput, solara.get_widget(chooser))
        widget.version += 1
        widget.reset_stats()
        set_files(widget.get_files(timeout=UPLOAD_TIMEOUT))

    solara.use_effect(wire, [info])

    def read(cancel):
        if files:
            on_file(files[0].get("name"), files[0].get("size"), files[0]["file_obj"])

    solara.use_thread(read, [files])
    return chooser


#: Seconds to wait for the browser to send an upload's bytes.
UPLOAD_TIMEOUT = 30


def _sem_figure(view):
    try:
        return plots.sem_path_figure(view.paths, view.r2, view.correlation), None
    except Exception:  # noqa: BLE001 (any odd but valid file: one line instead of a traceback)
        return None, f"{view.source}: its paths cannot be drawn; check the estimates with 'egov-abm calibrate sem'"


@solara.component
def Calibration():
    """The SEM the agents are drawn from: path diagram, fit indices, loadings; and the dynamics posterior."""
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    with solara.Sidebar(), solara.Card("Parameters file"):
        solara.Select("Shipped SEM parameters", value=calibration_file.value, on_value=_choose_shipped,
                      values=[p.name for p in shipped_sem_files()])
        paragraph(f"Or upload a file written by 'egov-abm calibrate sem' (JSON, at most {MAX_UPLOAD_TEXT}); "
                  "it is read in memory and kept for this page only.")
        SemUpload(load_upload)
    shipped, shipped_error = solara.use_memo(lambda: _read_shipped(calibration_file.value), [calibration_file.value])
    view = calibration_upload.value or shipped
    diagram, figure_error = solara.use_memo(lambda: _sem_figure(view) if view else (None, None), [view])
    posterior = solara.use_memo(lambda: posterior_table().round(4), [])  # read the posterior file once
    window = solara.use_memo(calibration_window_text, [])
    with solara.Column(style={"padding": "8px 16px"}):
        heading(2, "Calibration: the structural equation model behind the citizens")
        if calibration_upload_error.value:
            solara.Error(calibration_upload_error.value, classes=["calibration-error"])
        error = shipped_error if view is None else figure_error
        if error:
            solara.Error(error, classes=["calibration-error"])
            return
        kind = "uploaded" if calibration_upload.value is not None else "shipped"
        solara.Text(f"File: {view.source} ({kind})", classes=["calibration-file"])
        solara.FigureMatplotlib(diagram, format="png", **plots.PNG_OPTIONS)
        with solara.Columns([1, 1]):
            with solara.Column():
                heading(4, "Fit indices")
                solara.DataFrame(view.fit.round(3), items_per_page=10)
            with solara.Column():
                heading(4, "Structural paths")
                solara.DataFrame(view.paths.round(4), items_per_page=10)
        heading(4, "Measurement model: standardised loadings and Cronbach's alpha")
        solara.DataFrame(view.loadings.round(3), items_per_page=12)
        paragraph(view.note)
        heading(4, f"Dynamics calibrated to {window} (ABC-SMC posterior)")
        solara.DataFrame(posterior, items_per_page=12)


def _read_shipped(name: str):
    try:
        return read_shipped(name), None
    except InputError as exc:
        return None, str(exc)


@solara.component
def NavigationTabs():
    """The pages as a row of named buttons at the top of the page (the current one outlined)."""
    router = solara.use_router()
    paths = ["/" if r.path == "/" else f"/{r.path}" for r in routes]
    current = "/" + router.path.strip("/")
    index = paths.index(current) if current in paths else 0

    def go(i):
        router.push(paths[i])

    with solara.Row(style={"gap": "4px", "padding": "0 16px", "border-bottom": "1px solid #DDDDDD"}):
        for i, r in enumerate(routes):
            solara.Button(r.label, text=i != index, outlined=i == index, color="primary",
                          on_click=lambda i=i: go(i), classes=[f"nav-{r.label.lower()}"])


@solara.component
def Layout(children=[]):  # noqa: B006 (Solara's layout signature)
    """Solara's app layout without its own navigation (the pages show :func:`NavigationTabs`)."""
    return solara.AppLayout(children=children, navigation=False)


routes = [
    solara.Route(path="/", component=Explore, label="Explore", layout=Layout),
    solara.Route(path="compare", component=Compare, label="Compare"),
    solara.Route(path="calibration", component=Calibration, label="Calibration"),
]
