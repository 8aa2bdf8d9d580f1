"""The Compare page's decision outputs, formatting, brief, bad input and cancel, built as component trees."""

from __future__ import annotations

import re
import time

import ipyvuetify as v
import numpy as np
import pytest
import solara

from egov_abm.scenarios import resources
from egov_abm.scenarios.colours import scenario_colours
from egov_abm.viz import app, compare_page, compare_view, plots
from egov_abm.viz.compare_view import (
    NONE,
    CompareForm,
    brief_html,
    decision_table,
    equity_table,
    information_table,
    outcome_table,
    pairwise_table,
    run_comparison,
    summary_lines,
)

POLICIES = ("technology_only", "citizen_centric", "skills_60plus")


@pytest.fixture(scope="module")
def result():
    """Three policies, four paired draws of 500 citizens at full uncertainty, run in this process."""
    return run_comparison(CompareForm(POLICIES, 4, 500, 1, "full"), workers=1)


@pytest.fixture
def fresh_page():
    """The Compare page's state as a new session has it; put back afterwards."""
    names = ("compare_choice", "compare_replicates", "compare_agents", "compare_seed", "compare_uncertainty",
             "compare_errors", "compare_last", "compare_stopping", "compare_fresh")
    saved = {n: getattr(compare_page, n).value for n in names}
    yield
    for n, value in saved.items():
        getattr(compare_page, n).set(value)


def _html(rc) -> str:
    return " ".join(str(w.unsafe_innerHTML) for w in rc.find(solara.widgets.HTML).widgets)


def _alerts(rc, cls: str | None = None) -> list[str]:
    found = rc.find(v.Alert, class_=cls) if cls else rc.find(v.Alert)
    return [" ".join(map(str, w.children)) for w in found.widgets]


def _wait(condition, seconds: float = 240.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ------------------------------------------------------------------------------------ what it shows
def test_decision_table_gives_how_sure_regret_and_cost_with_units(result):
    shown = decision_table(result)
    assert list(shown["Scenario"]) == [*POLICIES, "baseline"]
    assert "P(beats baseline)" in shown.columns and "Expected regret (users)" in shown.columns
    t = result.table.set_index("scenario")
    for name, row in zip(shown["Scenario"], shown.itertuples(index=False), strict=True):
        cells = dict(zip(shown.columns, row, strict=True))
        # one format per column, whatever the size of the number: the cost always one decimal in bn KZT
        assert re.fullmatch(r"\d[\d,]*\.\d bn KZT", cells["Cost (median)"])
        assert cells["Expected regret (users)"] == f"{t.loc[name, 'regret_mean']:,.0f}"
        if name == "baseline":
            assert cells["P(beats baseline)"] == NONE and cells["Cost (median)"] == "0.0 bn KZT"
            continue
        assert cells["P(beats baseline)"] == f"{100 * t.loc[name, 'p_beats_baseline']:.0f} %"
        median, interval = cells["Extra users at the horizon (median; 90 % interval)"].split("\n")
        assert median == f"{t.loc[name, 'extra_horizon_q50']:+,.0f}" and " to " in interval
        per = cells["KZT per extra user (median; 90 % interval)"]
        assert per == NONE or re.fullmatch(r"[\d,]+ KZT\n[\d,]+ to [\d,]+ KZT", per)


def test_pairwise_and_equity_tables(result):
    pairwise = pairwise_table(result)
    names = ["baseline", *POLICIES]
    assert list(pairwise.columns) == ["P(row beats column)", *names]
    p = result.comparison.pairwise
    for a, row in zip(names, pairwise.itertuples(index=False), strict=True):
        for b, cell in zip(names, row[1:], strict=True):
            assert cell == (NONE if a == b else f"{100 * p.loc[a, b]:.0f} %")
            if a != b:
                assert p.loc[a, b] + p.loc[b, a] == pytest.approx(1.0)  # ties count half
    equity = equity_table(result)
    assert list(equity.columns[1:]) == ["Rural: extra users, left behind", "Aged 60+: extra users, left behind",
                                        "School education only: extra users, left behind"]
    baseline = equity.set_index("Scenario").loc["baseline"]
    assert all(cell.startswith(f"{NONE}\n") and cell.endswith(" left behind") for cell in baseline)


def test_outcomes_give_calendar_months_and_gaps_in_points(result):
    shown = outcome_table(result)
    for cell in shown["50 % of adults reached"]:
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{4}|not by Dec 2030", cell)
    assert all(re.fullmatch(r"-?\d+\.\d pp", c) for c in shown["Urban–rural gap"])
    assert all(re.fullmatch(r"\d+\.\d %", c) for c in shown["Adoption, Dec 2030"])


def test_summary_names_the_policy_with_the_least_regret(result):
    t = result.table.set_index("scenario")
    best = min(POLICIES, key=lambda n: t.loc[n, "regret_mean"])
    lines = summary_lines(result)
    assert lines[0].startswith(f"{best} is the best bet")
    assert "With 4 draws, a probability moves in steps of 25 points" in lines[-1]


def test_information_needs_enough_draws(result):
    table, lines = information_table(result)
    assert table.empty and lines == ["Too few paired draws (4) to tell which input would change the answer: that "
                                     "needs at least 20 replicates."]


def test_tables_have_no_index_column_and_the_one_palette(result):
    colours = scenario_colours([*POLICIES, "baseline"])
    html = compare_page.table_html(decision_table(result), colours)
    assert "<th>#</th>" not in html and "<th></th>" not in html
    headers = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html)
    assert headers[0] == "Scenario" and len(headers) == len(decision_table(result).columns)
    dots = re.findall(r"background:(#[0-9A-Fa-f]{6})'></span><span>([a-z0-9_]+)</span>", html)
    assert dots and all(colours[name] == colour for colour, name in dots)
    assert "#F0E442" not in {c.upper() for c in colours.values()}  # Okabe-Ito's yellow is left out


def test_a_scenario_name_is_shown_as_text():
    frame = compare_view.pd.DataFrame({"Scenario": ["<b>x</b>"], "P": ["1 %"]})
    assert "<b>x</b>" not in compare_page.table_html(frame, {"<b>x</b>": "#000000"})


def test_the_brief_is_self_contained(result):
    page = brief_html(result).decode("utf-8")
    assert page.startswith("<!doctype html>") and "<h2>How sure we are</h2>" in page
    assert "P(beats baseline)" in page and "Who gains, who is left behind" in page
    assert "data:image/png;base64," in page and not re.search(r"src=['\"]https?:", page)


def test_chart_legends_sit_above_the_axes(result):
    for fig in (plots.compare_figure(result.runs), plots.gap_figure(result.runs)):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        assert all(ax.get_legend() is None for ax in fig.axes)
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            inside = ax.get_window_extent(renderer)
            assert box.y0 >= inside.y1, "the legend overlaps the axes"
            assert box.y0 >= ax.title.get_window_extent(renderer).y1 - 1, "the legend overlaps a title"
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels == ["baseline", *POLICIES]
        colours = scenario_colours(labels)
        assert [h.get_color() for h in legend.legend_handles] == [colours[n] for n in labels]


# ----------------------------------------------------------------------------------- the page itself
def test_the_memory_guard_is_one_message_and_the_page_stays_usable(fresh_page, monkeypatch):
    compare_page.compare_choice.set(["service_quality"])
    compare_page.compare_replicates.set(1)
    compare_page.compare_agents.set(20_000)
    compare_page.compare_seed.set("1")
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    monkeypatch.setattr(resources, "available_bytes", lambda: 100_000_000)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    errors = _alerts(rc, "compare-error")
    assert len(errors) == 1 and errors[0].startswith("The comparison: ")
    assert "MB are available (choose fewer citizens per run)." in errors[0]
    assert not compare_page.compare_task.pending
    monkeypatch.setattr(resources, "available_bytes", lambda: None)  # memory enough again: it runs
    compare_page.compare_agents.set(500)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    assert _alerts(rc, "compare-error") == []
    assert _wait(lambda: compare_page.compare_task.finished), "the comparison did not finish"


def test_a_typed_seed_out_of_range_is_one_message(fresh_page):
    compare_page.compare_choice.set(["service_quality"])
    compare_page.compare_seed.set("99999999999")
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    assert _alerts(rc, "compare-error") == ["Seed: 99,999,999,999 is outside 0 to 2,147,483,647."]
    assert rc.find(v.Btn, children=["Run comparison"]).widget.disabled is False


def test_worker_start_up_is_named_in_the_progress_line(fresh_page):
    @solara.component
    def Status():
        compare_page._status()

    compare_page.compare_total.set(9)
    compare_page.compare_done.set(0)
    compare_page.compare_ahead.set(0)
    compare_page.compare_workers.set(2)
    box, rc = solara.render(Status(), handle_error=False)
    assert rc.find(v.Html, class_="compare-progress").widget.children[0] == (
        "Starting 2 worker processes: each loads the model before its first run (0 of 9 runs done)")
    compare_page.compare_done.set(1)
    assert rc.find(v.Html, class_="compare-progress").widget.children[0] == (
        "Running: 1 of 9 runs done on 2 worker processes")
    compare_page.compare_stopping.set(True)
    assert rc.find(v.Html, class_="compare-progress").widget.children[0] == "Stopping: ending the runs under way…"


def test_cancel_stops_and_the_previous_results_stay(fresh_page):
    compare_page.compare_choice.set(["service_quality"])
    compare_page.compare_replicates.set(1)
    compare_page.compare_agents.set(500)
    compare_page.compare_seed.set("3")
    compare_page.compare_uncertainty.set("chance")
    compare_page.compare_last.set(None)
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    first = "2 runs (2 scenarios × 1 replicate, 500 citizens each)"
    assert _wait(lambda: any(first in a for a in _alerts(rc))), "the first comparison did not show"
    assert "P(beats baseline)" in _html(rc)

    compare_page.compare_replicates.set(50)  # a long one: 100 runs of 20,000 citizens
    compare_page.compare_agents.set(20_000)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    assert compare_page.compare_task.pending
    assert any(first in a for a in _alerts(rc)), "the previous results vanished when the new comparison started"
    assert _alerts(rc, "compare-previous") == [
        "The results below are from the previous comparison; they stay until the new one is complete."]
    rc.find(v.Btn, children=["Cancel"]).widget.click()
    assert _wait(lambda: not compare_page.compare_task.pending, 60), "the comparison did not stop"
    assert _wait(lambda: _alerts(rc, "compare-cancelled"), 10)
    assert _alerts(rc, "compare-cancelled") == [
        "The comparison was cancelled. The results below are from the previous one."]
    assert any(first in a for a in _alerts(rc)) and "P(beats baseline)" in _html(rc)
    assert compare_page.compare_done.value < 100
    assert compare_view.WORKERS.in_use == 0, "the cancelled comparison still holds workers"
    # (the task's thread renders the page: the button may be re-enabled a moment after the message shows)
    assert _wait(lambda: not rc.find(v.Btn, children=["Run comparison"]).widget.disabled, 10)


def test_compare_results_show_every_decision_output(result):
    box, rc = solara.render(compare_page.CompareResults(result, 1.0), handle_error=False)
    html = _html(rc)
    for text in ("P(beats baseline)", "P(row beats column)", "Expected regret (users)", "KZT per extra user",
                 "left behind", "50 % of adults reached"):
        assert text in html
    paragraphs = " ".join(str(w.children) for w in rc.find(v.Html, tag="p").widgets)
    assert "Too few paired draws (4)" in paragraphs and "is the best bet" in paragraphs
    labels = [w.children for w in rc.find(v.Btn).widgets]
    assert any("Download the brief (HTML)" in str(c) for c in labels)
    assert np.isfinite(result.table["regret_mean"]).all()


def test_the_page_runs_on_worker_processes_even_with_one_so_cancel_can_end_a_run(monkeypatch):
    import concurrent.futures as cf

    from egov_abm.scenarios.parallel import Cancelled

    seen = []

    def fake(chosen, baseline, **kw):
        seen.append(kw["client"])
        raise Cancelled("stop here")

    monkeypatch.setattr(compare_view, "compare_scenarios", fake)
    started = []
    for workers in (None, 1):
        with pytest.raises(Cancelled):
            run_comparison(CompareForm(("skills_60plus",), 3, 500, 1), workers=workers,
                           gate=compare_view.WorkerGate(1), on_start=started.append)
    assert isinstance(seen[0], cf.ProcessPoolExecutor) and seen[1] is None
    assert started == [1, 0]  # one worker process; then none: workers=1 runs in this process
