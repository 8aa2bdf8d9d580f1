"""The Compare page: policy scenarios against the baseline, run in the background on the app's worker processes.

It shows the decision outputs of ``egov-abm compare``: how sure we are
(P(beats baseline), pairwise P), expected regret, cost per extra user, who
gains and who is left behind, what would change the answer, and the brief to
download. The last finished comparison stays on the page until a new one is
complete; a cancel ends the runs under way (:mod:`egov_abm.scenarios.parallel`).
"""

from __future__ import annotations

import functools
import html
import time

import pandas as pd
import solara
import solara.lab

from egov_abm.scenarios.colours import scenario_colours
from egov_abm.scenarios.decisions import UNCERTAINTY_LEVELS, UNCERTAINTY_TEXT
from egov_abm.viz import plots
from egov_abm.viz.common import TITLE, ControlsHelp, NavigationTabs, heading, paragraph
from egov_abm.viz.compare_view import (
    DEFAULT_UNCERTAINTY,
    WORKERS,
    CompareResult,
    brief_html,
    check_form,
    csv_bytes,
    decision_table,
    draws_text,
    equity_table,
    information_table,
    memory_message,
    outcome_table,
    pairwise_table,
    run_comparison,
    summary_lines,
)
from egov_abm.viz.controls import adults_text, control, horizon_text
from egov_abm.viz.explore_model import scenario_names

compare_choice = solara.reactive(["technology_only", "citizen_centric"])
compare_replicates = solara.reactive(10)  # as egov-abm compare
compare_agents = solara.reactive(5000)
compare_seed = solara.reactive("1")
compare_uncertainty = solara.reactive(DEFAULT_UNCERTAINTY)
compare_errors = solara.reactive([])
compare_done = solara.reactive(0)
compare_total = solara.reactive(0)
compare_ahead = solara.reactive(0)  # comparisons (of any session) ahead of this one while it waits for workers
compare_workers = solara.reactive(0)  # worker processes of the comparison under way, once it has them
compare_stopping = solara.reactive(False)  # Cancel was pressed and the runs are being ended
compare_last = solara.reactive(None)  # (CompareResult, seconds) of the last comparison that finished
compare_fresh = solara.reactive(False)  # compare_last is the result of the comparison under way (or the last one)

CSS = """
.compare-results {max-width: 100%}
.compare-scroll {max-width: 100%; overflow-x: auto}
.compare-table {border-collapse: collapse; width: 100%; font-size: 13px; margin: 4px 0 14px 0}
.compare-table caption {text-align: left; font-weight: 600; padding: 4px 0; caption-side: top}
.compare-table th {background: #F0F0F0; text-align: left; vertical-align: bottom; padding: 4px 6px;
    font-weight: 600; overflow-wrap: anywhere}
.compare-table td {border-bottom: 1px solid #DDDDDD; padding: 4px 6px; vertical-align: top}
.compare-table td.n, .compare-table th.n {text-align: right}
.compare-table td.n {white-space: nowrap; font-variant-numeric: tabular-nums}
.compare-table .sub {color: #555555; font-size: 11px}
.compare-dot {display: inline-block; width: 0.8em; height: 0.8em; border-radius: 50%; margin-right: 0.35em;
    vertical-align: middle; flex: none}
.compare-name {white-space: nowrap}
.compare-results img {max-width: 100%; height: auto}
.compare-page {padding: 8px 16px 96px 16px; max-width: 100%}
"""


@solara.lab.task(prefer_threaded=True)
def compare_task(form) -> tuple[CompareResult, float]:
    """Run a comparison in the background; progress is the share of runs done; keep it once it is complete."""
    compare_done.set(0)
    compare_ahead.set(0)
    compare_workers.set(0)
    started = time.perf_counter()

    def progress(k):
        compare_done.set(compare_done.value + k)
        compare_task.progress = 100.0 * compare_done.value / form.n_runs

    try:
        result = run_comparison(form, progress=progress, should_stop=lambda: not compare_task.is_current(),
                                on_wait=compare_ahead.set, on_start=compare_workers.set)
    finally:
        compare_ahead.set(0)
    seconds = time.perf_counter() - started
    if compare_task.is_current():
        compare_last.set((result, seconds))
        compare_fresh.set(True)
    return result, seconds


def _start_comparison():
    form, errors = check_form(compare_choice.value, compare_replicates.value, compare_agents.value,
                              compare_seed.value, compare_uncertainty.value, scenario_names()[1:])
    if form is not None:
        message = memory_message(form)
        errors = [message] if message else []
    compare_errors.set(errors)
    if not errors:
        compare_total.set(form.n_runs)
        compare_stopping.set(False)
        compare_fresh.set(False)
        compare_task(form)


def _cancel():
    compare_stopping.set(True)
    compare_task.cancel()


# ----------------------------------------------------------------------------------------- tables
def _name(name: str, colours: dict[str, str], breaks: bool = False) -> str:
    """A scenario's name after a dot of its colour; with ``breaks``, it may break after an underscore."""
    words = ("_<wbr>" if breaks else "_").join(html.escape(part) for part in name.split("_"))
    return (f"<span class='compare-dot' style='background:{colours.get(name, '#999999')}'></span>"
            f"<span>{words}</span>")


def _cell(text: str) -> str:
    """A cell's text: its first line as is, the others smaller (an interval under its median)."""
    first, *rest = str(text).split("\n")
    return html.escape(first) + "".join(f"<br><span class='sub'>{html.escape(r)}</span>" for r in rest)


def table_html(frame: pd.DataFrame, colours: dict[str, str] | None = None, caption: str = "",
               names_in_header: bool = False, text: int = 1) -> str:
    """An HTML table of text cells: the first ``text`` columns are words, the others numbers.

    With ``colours``, the first column names scenarios (after a dot of their colour), and so do the headings
    with ``names_in_header``. No index column; numbers right-aligned and unbroken, headings wrapped, so the
    table fits the page's width.
    """
    def name(value, breaks: bool = False) -> str:
        return _name(str(value), colours, breaks) if colours is not None else html.escape(str(value))

    head = [html.escape(str(frame.columns[0]))] + [
        name(c, breaks=True) if names_in_header else html.escape(str(c)) for c in frame.columns[1:]]
    th = "".join(f"<th{'' if k < text else ' class=n'}>{h}</th>" for k, h in enumerate(head))
    body = "".join(
        f"<tr><td class='{'compare-name' if colours is not None else ''}'>{name(row[0])}</td>"
        + "".join(f"<td{'' if k < text else ' class=n'}>{_cell(c)}</td>" for k, c in enumerate(row[1:], 1))
        + "</tr>" for row in frame.itertuples(index=False))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table class='compare-table'>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def Table(frame: pd.DataFrame, colours: dict[str, str] | None, caption: str = "", names_in_header: bool = False,
          text: int = 1, classes: list[str] | None = None):
    """:func:`table_html` on the page, in a box that scrolls rather than widen the page (it should not need to)."""
    return solara.HTML(tag="div", unsafe_innerHTML=table_html(frame, colours, caption, names_in_header, text),
                       classes=["compare-scroll", *(classes or [])])


@solara.component
def CompareResults(result: CompareResult, seconds: float):
    """Decision outputs, charts and downloads of a finished comparison."""
    form = result.form
    names = [*form.scenarios, "baseline"]
    colours = scenario_colours(names)
    reps = f"{form.replicates} replicate{'s' if form.replicates != 1 else ''}"
    downloads = solara.use_memo(
        lambda: (functools.partial(brief_html, result), functools.partial(csv_bytes, result.table),
                 functools.partial(csv_bytes, result.runs)), [result])
    information, information_lines = solara.use_memo(lambda: information_table(result), [result])
    with solara.Column(classes=["compare-results"], gap="4px"):
        solara.Success(f"{form.n_runs} runs ({len(form.scenarios) + 1} scenarios × {reps}, "
                       f"{form.n_agents:,} citizens each) in {seconds:.1f} s; uncertainty '{form.uncertainty}', "
                       f"seed {form.seed}.", dense=True)
        for line in summary_lines(result):
            paragraph(line)
        with solara.Row(gap="8px", style={"flex-wrap": "wrap"}):
            solara.FileDownload(downloads[0], filename="brief.html", label="Download the brief (HTML)",
                                mime_type="text/html")
            solara.FileDownload(downloads[1], filename="comparison_table.csv", label="Download table (CSV)")
            solara.FileDownload(downloads[2], filename="comparison_runs.csv",
                                label="Download monthly results of every run (CSV)")

        heading(4, "How sure we are")
        paragraph(f"Users: adults who used the portal in the last 12 months, scaled to {adults_text()}; "
                  f"{draws_text(result)}. Each draw is paired: the same random streams"
                  + (" and the same posterior draw" if form.uncertainty != "chance" else "")
                  + " in every scenario, so differences come from the policy.")
        Table(decision_table(result), colours, "Against the baseline, at the horizon", classes=["compare-decision"])
        paragraph("P(beats baseline): share of draws with more users than the baseline. Expected regret: users short "
                  "of the best option of each draw, averaged over the draws (lower is better). Cost: national, "
                  "beyond the baseline; KZT per extra user over the draws with a gain.")
        Table(pairwise_table(result), colours, "P(row beats column): share of paired draws with more users",
              names_in_header=True, classes=["compare-pairwise"])

        heading(4, "Who gains, who is left behind")
        Table(equity_table(result), colours, "Extra users in each group and its adults not using the portal "
              "(national, median of the draws)", classes=["compare-equity"])

        heading(4, "What would change the answer")
        for line in information_lines[:1]:
            paragraph(line)
        if len(information):
            Table(information, None, text=2, classes=["compare-information"])
        for line in information_lines[1:]:
            paragraph(line)

        heading(4, "Adoption and gaps")
        Table(outcome_table(result), colours, "Means over the draws", classes=["compare-outcomes"])
        solara.FigureMatplotlib(plots.compare_figure(result.runs), format="png", **plots.PNG_OPTIONS)
        solara.FigureMatplotlib(plots.gap_figure(result.runs), format="png", **plots.PNG_OPTIONS)
        paragraph("Bands are the 5th-95th percentiles over the draws. Doses and unit costs of the shipped policies "
                  "are assumptions, labelled in their files and in the brief's appendix.")


def _status():
    """What the comparison under way is doing: waiting for workers, starting them, running, stopping."""
    done, total = compare_done.value, compare_total.value
    if compare_stopping.value:
        solara.Text("Stopping: ending the runs under way…", classes=["compare-progress"])
        solara.ProgressLinear(True)
    elif compare_ahead.value:
        ahead = compare_ahead.value
        solara.Text(f"waiting: {ahead} comparison{'s' if ahead != 1 else ''} ahead (the app runs at most "
                    f"{WORKERS.total} worker process{'es' if WORKERS.total != 1 else ''} at a time)",
                    classes=["compare-queue"])
        solara.ProgressLinear(True)
    elif compare_workers.value and done == 0:
        n = compare_workers.value
        solara.Text(f"Starting {n} worker process{'es' if n != 1 else ''}: each loads the model before its first "
                    f"run ({done} of {total} runs done)", classes=["compare-progress"])
        solara.ProgressLinear(True)
    else:
        n = compare_workers.value
        where = f" on {n} worker process{'es' if n != 1 else ''}" if n else ""
        solara.Text(f"Running: {done} of {total} runs done{where}", classes=["compare-progress"])
        solara.ProgressLinear(compare_task.progress if compare_task.progress is not None else True)


def _warm_workers() -> None:
    """Start the worker processes' fork server in the background while the page is filled in.

    The server starts once a process; when it runs, a later page's call returns at once (:func:`warm_up`).
    """
    import threading

    from egov_abm.scenarios.parallel import warm_up

    threading.Thread(target=warm_up, name="egov-abm-warm-up", daemon=True).start()


@solara.component
def Compare():
    """Pick policy scenarios, run them against the baseline in the background, read the decision outputs."""
    solara.use_effect(_warm_workers, [])
    available = scenario_names()[1:]
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    with solara.Sidebar(), solara.Card("Comparison"):
        solara.SelectMultiple("Policy scenarios (the baseline always runs)", values=compare_choice,
                              all_values=available)
        solara.Text("Uncertainty the draws carry")
        solara.ToggleButtonsSingle(value=compare_uncertainty, values=list(UNCERTAINTY_LEVELS), dense=True,
                                   classes=["compare-uncertainty"])
        solara.v.Html(tag="p", children=[UNCERTAINTY_TEXT.get(compare_uncertainty.value, "")],
                      style_="font-size: 0.8em; color: #555555; margin: 2px 0 8px 0")
        replicates, agents = control("replicates"), control("compare_agents")
        value_style = {"font-size": "0.9em", "font-weight": "500"}
        solara.Text(f"{replicates.text}: {compare_replicates.value}", classes=["value-replicates"], style=value_style)
        solara.SliderInt(replicates.label, value=compare_replicates, min=replicates.allowed[0],
                         max=replicates.allowed[1])
        solara.Text(f"{agents.text}: {compare_agents.value:,} {agents.unit}", classes=["value-compare_agents"],
                    style=value_style)
        solara.SliderInt(agents.label, value=compare_agents, min=agents.allowed[0], max=agents.allowed[1],
                         step=500)
        n_scenarios = len([s for s in compare_choice.value if s != "baseline"]) + 1
        solara.v.Html(tag="p", class_="compare-size", style_="font-size: 0.85em; margin: 0 0 8px 0", children=[
            f"{n_scenarios} scenarios × {compare_replicates.value} replicates = "
            f"{n_scenarios * compare_replicates.value} runs of {compare_agents.value:,} citizens"])
        solara.InputText(f"{control('seed').label} (whole number)", value=compare_seed)
        with solara.Row():
            solara.Button("Run comparison", color="primary", on_click=_start_comparison,
                          disabled=compare_task.pending)
            solara.Button("Cancel", on_click=_cancel, disabled=not compare_task.pending or compare_stopping.value)
    with solara.Column(classes=["compare-page"]):
        heading(2, "Compare policy scenarios with the baseline")
        for message in compare_errors.value:
            solara.Error(message, dense=True, classes=["compare-error"])
        last = compare_last.value
        # the status sits in a box of its own, so the results below keep their place (and their downloads'
        # state) whatever the status shows
        with solara.Column(gap="4px", classes=["compare-status"]):
            if compare_task.pending:
                _status()
                if last is not None and not compare_fresh.value:
                    solara.Info("The results below are from the previous comparison; they stay until the new one "
                                "is complete.", dense=True, classes=["compare-previous"])
            elif compare_task.error:
                solara.Error(f"The comparison failed: {compare_task.exception}", classes=["compare-error"])
            elif compare_task.cancelled:
                solara.Warning("The comparison was cancelled." + (" The results below are from the previous one."
                                                                  if last else ""), dense=True,
                               classes=["compare-cancelled"])
        if last is not None:
            CompareResults(*last).key("compare-results")
        else:
            paragraph("Choose scenarios in the sidebar and press 'Run comparison'. Each scenario and the "
                      f"baseline run from {horizon_text()} with the calibrated parameters.")
        ControlsHelp(["replicates", "compare_agents", "seed"])
