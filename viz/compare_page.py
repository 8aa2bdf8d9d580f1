"""The Compare page: policy scenarios against the baseline, run in the background on the app's worker processes."""

from __future__ import annotations

import io
import time

import solara
import solara.lab

from egov_abm.viz import plots
from egov_abm.viz.common import TITLE, ControlsHelp, NavigationTabs, heading, paragraph
from egov_abm.viz.compare_view import WORKERS, CompareResult, check_form, display_table, run_comparison
from egov_abm.viz.controls import adults_text, control, horizon_text
from egov_abm.viz.explore_model import scenario_names

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
