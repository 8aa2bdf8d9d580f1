"""The app's pages built as component trees (no browser), and the code behind them."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import ipyvuetify as v
import ipywidgets as widgets
import numpy as np
import pytest
import solara
from ipyvuetify.extra import FileInput

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import DEFAULT_HOLDOUT, DEFAULT_SYNTHETIC, load_posterior, load_synthetic
from egov_abm.calibration.report import identification
from egov_abm.calibration.sem_ensemble import load_sem_ensemble
from egov_abm.model import InputError, Params, month_date
from egov_abm.scenarios.parallel import Cancelled, default_workers
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz import app, calibration_page, calibration_view, compare_page, compare_view, explore_page, plots
from egov_abm.viz.calibration_view import MAX_UPLOAD_BYTES, read_sem_file, read_shipped, read_upload, shipped_sem_files
from egov_abm.viz.compare_view import (
    WORKERS,
    CompareForm,
    WorkerGate,
    check_form,
    outcome_table,
    run_comparison,
)
from egov_abm.viz.controls import (
    SHORT_NAMES,
    UI_LIMITS,
    adults_text,
    calibration_window_text,
    control,
    controls,
    horizon_text,
)
from egov_abm.viz.explore_model import MAX_DRAWN, ExploreModel, network_drawing, scenario_names

CITIZENS = control("n_agents").label
CONTACTS = control("mean_degree").label


def _text(rc, cls: str) -> str:
    return rc.find(v.Html, class_=cls).widget.children[0]


def _images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(widgets.Image).widgets]


def _slider(rc, label: str):
    return rc.find(v.Slider, label=label).widget


# ----------------------------------------------------------------------------------------- explore
def _drawn(rc) -> list[str]:
    """The text of the map and the two charts (HTML and SVG)."""
    found = {w.attributes.get("class"): w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets}
    return [found[c] for c in ("explore-map", "explore-chart", "explore-histograms")]


def _hints(rc) -> int:
    return len(rc.find(v.Html, class_="reset-hint").widgets)


def test_explore_page_steps_the_model_and_redraws():
    box, rc = solara.render(app.Layout(children=[explore_page.Explore()]), handle_error=False)
    # the page starts watching in January 2020, the earlier months run unseen
    assert _text(rc, "explore-month") == "month 165 of 296"
    assert "watching from January 2020" in _text(rc, "explore-settings")
    before = _drawn(rc)
    assert "<svg" in before[1] and before[0].count("class='tile'") == 20
    step = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(3):
        step.click()
    assert _text(rc, "explore-month") == "month 168 of 296"
    after = _drawn(rc)
    assert all(a != b for a, b in zip(before, after, strict=True)), "the map and both charts are redrawn"
    assert "April 2020:" in after[1]  # each month's values on hover
    # every slider shows its value; a change says "press Reset to apply" until Reset applies it
    assert _text(rc, "value-n_agents") == "Population: 2,000 citizens"
    assert _hints(rc) == 0
    _slider(rc, CITIZENS).v_model = 3000
    assert _text(rc, "value-n_agents") == "Population: 3,000 citizens" and _hints(rc) == 1
    assert _text(rc, "explore-month") == "month 168 of 296"  # nothing applied yet
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert _text(rc, "explore-month") == "month 165 of 296" and _hints(rc) == 0
    assert "3,000 citizens" in _text(rc, "explore-settings")


def test_explore_page_survives_out_of_range_values():
    box, rc = solara.render(app.Layout(children=[explore_page.Explore()]), handle_error=False)
    _slider(rc, CONTACTS).v_model = 10_000
    seed = rc.find(v.TextField, label="Seed (whole number)").widget
    seed.v_model = "-5"  # the seed field applies each keystroke to the settings (Reset builds with them)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    alerts = " ".join(str(w.children) for w in rc.find(v.Alert).widgets)
    assert f"{CONTACTS}: 10000 is outside 2 to 500; used 500." in alerts
    assert "Seed: '-5' is outside 0 to 2,147,483,647; used 0." in alerts
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert _text(rc, "explore-month") == "month 166 of 296"


def test_explore_model_validates_every_input():
    m = ExploreModel(scenario="nope", n_agents="many", network="tree", mean_degree=2.5, dose_scale=-1,
                     p_success=2, start_at="1999-01", seed="1.5")
    assert m.input_notes == [
        "Scenario: 'nope' is not one of " + ", ".join(scenario_names()) + "; used 'baseline'.",
        "Population (citizens): 'many' is not a number; used 2000.",
        "Social network kind: 'tree' is not one of homophily, small_world, scale_free, complete; used 'homophily'.",
        "Mean degree (contacts): 2.5 is not a whole number; used 2.",
        "Policy dose (× scenario dose): -1 is outside 0 to 3; used 0.",
        "Service quality (probability): 2 is outside 0 to 1; used 1.",
        "Start at: '1999-01' is not one of scenario start, 2012-01, 2016-01, 2020-01, 2024-01; "
        "used 'scenario start'.",
        "Seed: '1.5' is not a whole number; used 1.",
    ]
    assert (m.n, m.params.mean_degree, m.params.p_success, m.seed_value) == (2000, 2, 1.0, 1)


def _sliders() -> dict:
    box, rc = solara.render(app.Layout(children=[explore_page.Explore()]), handle_error=False)
    return {name: _slider(rc, control(name).label) for name in ("n_agents", "mean_degree", "p_success", "dose_scale")}


def test_explore_controls_read_the_parameters_metadata():
    sliders = _sliders()
    fields = Params.fields()
    for name in ("n_agents", "mean_degree", "p_success"):
        meta = fields[name].metadata
        slider, full = sliders[name], meta["range"]
        expected = UI_LIMITS[name][0] if name in UI_LIMITS else full
        assert (slider.min, slider.max) == tuple(expected), name
        assert full[0] <= slider.min <= slider.max <= full[1], f"{name}: the page range lies inside the parameter's"
        assert slider.label == f"{SHORT_NAMES[name]} ({meta['unit']})", "slider labels show the parameter's unit"
        assert control(name).doc == meta["doc"] and meta["doc"] in control(name).describe()
    assert sliders["mean_degree"].max == fields["mean_degree"].metadata["range"][1] == 500  # every graph is direct
    assert sliders["p_success"].min == fields["p_success"].metadata["range"][0]  # no UI limit: the full range
    assert explore_page.SETTINGS and control("network").choices == tuple(fields["network"].metadata["choices"])
    assert (sliders["dose_scale"].min, sliders["dose_scale"].max) == UI_LIMITS["dose_scale"][0]
    # every declared limit has a reason and lies inside what the model or the command line accepts
    for name, (limit, reason) in UI_LIMITS.items():
        c = control(name)
        assert c.allowed == tuple(limit) and c.reason == reason and len(reason) > 20
        assert c.full[0] <= limit[0] <= limit[1] <= c.full[1], name
    assert control("replicates").full == (1, 10_000)  # egov-abm compare --replicates
    assert {c.name for c in controls().values() if c.reason} == set(UI_LIMITS)


def test_explore_model_clamps_to_the_same_ranges_as_the_controls():
    params = _sliders()
    m = ExploreModel(n_agents=10**9, mean_degree=10**6, p_success=-1, dose_scale=99, seed=-3)
    assert (m.n, m.params.mean_degree, m.params.p_success, m.dose_scale, m.seed_value) == (
        params["n_agents"].max, params["mean_degree"].max, params["p_success"].min, params["dose_scale"].max, 0)
    assert len(m.input_notes) == 5


def test_explore_page_explains_each_control_and_its_limit():
    box, rc = solara.render(app.Layout(children=[explore_page.Explore()]), handle_error=False)
    shown = [w.children[0] for w in rc.find(v.Html, tag="p").widgets]
    degree = control("mean_degree").describe()
    assert degree in shown
    assert degree.endswith("Here 2 to 500.")  # every graph is built directly now: the model's whole range
    assert control("p_success").describe() in shown


def test_texts_state_the_data():
    adults = demographic_constants()["adult_population_2021"]
    assert adults_text() == f"{adults / 1e6:.1f} M adults"
    baseline = load_scenario("baseline")
    start, end = month_date(baseline.params.start_month, 0), month_date(baseline.params.start_month,
                                                                       baseline.months)
    assert horizon_text() == f"{start:%B %Y} to {end:%B %Y}" == "April 2006 to December 2030"
    compare_page.compare_choice.set(["service_quality"])
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    shown = " ".join(str(w.children) for w in rc.find(v.Html).widgets)
    assert f"baseline run from {horizon_text()} with the calibrated parameters" in shown
    agents = control("compare_agents")
    slider = rc.find(v.Slider, label=agents.label).widget
    assert (slider.min, slider.max) == agents.allowed == UI_LIMITS["compare_agents"][0]


def test_explore_model_scales_doses_fast_forwards_and_is_reproducible():
    m = ExploreModel(scenario="digital_only_mandate", dose_scale=3.0, start_at="2024-01", n_agents=1000)
    base = ExploreModel(scenario="digital_only_mandate", dose_scale=1.0, n_agents=1000)
    assert str(m.date) == "2024-01-01" and m.month == 213
    for scaled, plain in zip(m.interventions, base.interventions, strict=True):
        expected = min(3 * plain.dose, 1.0) if plain.kind in ("service_quality", "mandate") else 3 * plain.dose
        assert scaled.dose == pytest.approx(expected)
    again = ExploreModel(scenario="digital_only_mandate", dose_scale=3.0, start_at="2024-01", n_agents=1000)
    assert [r["adoption"] for r in again.outcomes] == [r["adoption"] for r in m.outcomes]
    assert not ExploreModel(start_at="2024-01", n_agents=500).outcomes[-1]["month"] < 213


def test_explore_model_stops_at_the_horizon():
    m = ExploreModel(n_agents=300, start_at="2024-01")
    while m.running:
        m.step()
    assert m.month == m.horizon == 296


def test_network_drawing_samples_large_populations_and_keeps_only_drawn_ties():
    small = ExploreModel(n_agents=1000)
    d = small.drawing()
    assert not d.sampled and len(d.index) == 1000 and d.edges_shown
    large = ExploreModel(n_agents=5000)
    d = network_drawing(large)
    assert d.sampled and len(d.index) == MAX_DRAWN and len(np.unique(d.index)) == MAX_DRAWN
    # every drawn segment joins two drawn citizens who are neighbours in the model
    lookup = {tuple(np.round(p, 12)): i for p, i in zip(d.xy, d.index, strict=True)}
    for a, b in d.segments[:200]:
        i, j = lookup[tuple(np.round(a, 12))], lookup[tuple(np.round(b, 12))]
        assert j in set(large.adjacency.neighbours(i))
    assert not network_drawing(ExploreModel(n_agents=500, network="complete")).edges_shown
    fig = plots.network_figure(large, d)
    assert "a random sample of 2,000 of 5,000 citizens" in fig.axes[0].get_title()
    counts = [int(t.get_text().rsplit("(", 1)[1].rstrip(")").replace(",", ""))
              for t in fig.axes[0].get_legend().get_texts()]
    assert sum(counts) == MAX_DRAWN


# ----------------------------------------------------------------------------------------- compare
def test_compare_form_rejects_bad_values_with_one_message_each():
    form, errors = check_form([], 0, "lots", "x", "sure", scenario_names()[1:])
    assert form is None
    assert errors == ["Scenarios: choose at least one policy scenario to compare with the baseline.",
                      "Uncertainty: 'sure' is not one of chance, calibration, full.",
                      "Replicates per scenario: 0 is outside 1 to 50.",
                      "Population per run (citizens): 'lots' is not a whole number.",
                      "Seed: 'x' is not a whole number."]
    form, errors = check_form(["baseline", "skills_60plus", "skills_60plus"], 2, 800, " 7 ", "chance",
                              scenario_names()[1:])
    assert errors == [] and form == CompareForm(("skills_60plus",), 2, 800, 7, "chance") and form.n_runs == 4
    # typed out of range: the seed must fit a 32-bit signed integer
    assert check_form(["skills_60plus"], 2, 800, "-3", "full", scenario_names()[1:])[1] == [
        "Seed: -3 is outside 0 to 2,147,483,647."]


def test_the_page_and_the_command_line_default_to_full_uncertainty():
    from egov_abm.scenarios.cli import compare

    option = next(p for p in compare.params if p.name == "uncertainty")
    assert compare_view.DEFAULT_UNCERTAINTY == option.default == CompareForm((), 1, 500, 1).uncertainty
    assert list(option.type.choices) == list(compare_page.UNCERTAINTY_LEVELS)  # what the page offers


def test_run_comparison_uses_common_random_numbers():
    form = CompareForm(("awareness_campaign",), 2, 500, 3, "chance")
    done = []
    result = run_comparison(form, workers=1, progress=done.append)
    assert sum(done) == 4
    assert len(result.runs) == 2 * 2 * 297
    base = result.table.set_index("scenario").loc["baseline"]
    assert base["extra_adopters"] == 0.0 and base["cost_kzt"] == 0.0
    assert result.table.set_index("scenario").loc["awareness_campaign", "cost_kzt"] > 0
    shown = outcome_table(result)
    assert list(shown["Scenario"]) == ["awareness_campaign", "baseline"]
    assert f"scaled to {adults_text()};" in " ".join(
        str(w.children) for w in solara.render(compare_page.CompareResults(result, 1.0), handle_error=False)[1]
        .find(v.Html).widgets)


def test_compare_page_runs_in_the_background_and_shows_results():
    compare_page.compare_choice.set(["service_quality"])
    compare_page.compare_replicates.set(1)
    compare_page.compare_agents.set(500)
    compare_page.compare_seed.set("2")
    compare_page.compare_uncertainty.set("chance")
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    with WORKERS.hold(WORKERS.total):  # another session's comparison holds every worker: this one queues
        rc.find(v.Btn, children=["Run comparison"]).widget.click()
        deadline = time.monotonic() + 30
        while not rc.find(v.Html, class_="compare-queue").widgets and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _text(rc, "compare-queue").startswith("waiting: 1 comparison ahead (the app runs at most ")
        assert compare_page.compare_task.pending and compare_page.compare_done.value == 0
    deadline = time.monotonic() + 240
    while not compare_page.compare_task.finished and time.monotonic() < deadline:
        time.sleep(0.2)
    assert compare_page.compare_task.finished, "the comparison did not finish within 240 s"
    expected = "2 runs (2 scenarios × 1 replicate, 500 citizens each)"
    while time.monotonic() < deadline:  # the page re-renders just after the task reports
        messages = " ".join(str(w.children) for w in rc.find(v.Alert).widgets)
        if expected in messages:
            break
        time.sleep(0.2)
    assert expected in messages
    assert len(rc.find(widgets.Image).widgets) == 2  # curves with bands, gaps
    shown = " ".join(str(w.unsafe_innerHTML) for w in rc.find(solara.widgets.HTML).widgets)
    assert "P(beats baseline)" in shown and "P(row beats column)" in shown and "left behind" in shown


def test_comparisons_of_all_sessions_share_the_worker_cap_first_come_first_served():
    gate = WorkerGate(2)
    lock = threading.Lock()
    events, peak = [], []

    def comparison(name, wanted, started):
        def told(ahead):
            with lock:
                events.append((name, "waits", ahead))

        with gate.hold(wanted, on_wait=told, poll=0.01) as granted:
            with lock:
                events.append((name, "runs", granted))
                peak.append(gate.in_use)
            started.set()
            time.sleep(0.2)

    threads = []
    for name, wanted in (("first", 2), ("second", 5), ("third", 1)):
        started = threading.Event()
        t = threading.Thread(target=comparison, args=(name, wanted, started))
        t.start()
        threads.append(t)
        if name == "first":
            assert started.wait(5)
        else:
            time.sleep(0.05)  # queued in this order
    for t in threads:
        t.join(10)
    assert max(peak) <= 2
    assert [e for e in events if e[1] == "runs"] == [("first", "runs", 2), ("second", "runs", 2),
                                                    ("third", "runs", 1)]
    assert ("second", "waits", 1) in events and ("third", "waits", 2) in events
    assert gate.in_use == 0


def test_a_comparison_cancelled_while_queued_leaves_the_queue():
    gate = WorkerGate(1)
    with gate.hold(1):
        with pytest.raises(Cancelled):
            with gate.hold(1, should_stop=lambda: True, poll=0.01):
                pass
    with gate.hold(1) as granted:  # the cancelled one is not in the way
        assert granted == 1 and gate.in_use == 1


def test_run_comparison_takes_workers_from_the_shared_gate(monkeypatch):
    seen = []
    gate = WorkerGate(3)

    def fake(chosen, baseline, **kw):
        seen.append((kw["workers"], gate.in_use))
        raise Cancelled("stop here")

    monkeypatch.setattr(compare_view, "compare_scenarios", fake)
    for form, workers in ((CompareForm(("skills_60plus",), 1, 500, 1), None),
                          (CompareForm(("skills_60plus",), 5, 500, 1), None),
                          (CompareForm(("skills_60plus",), 5, 500, 1), 1)):
        with pytest.raises(Cancelled):
            run_comparison(form, workers=workers, gate=gate)
    assert seen == [(2, 2), (3, 3), (1, 1)]  # no more than the runs, the cap, or what was asked
    assert gate.in_use == 0
    assert compare_view.WORKERS.total == default_workers()


def test_compare_page_shows_form_errors_and_runs_nothing():
    compare_page.compare_choice.set([])
    compare_page.compare_seed.set("seven")
    box, rc = solara.render(app.Layout(children=[compare_page.Compare()]), handle_error=False)
    rc.find(v.Btn, children=["Run comparison"]).widget.click()
    messages = " ".join(str(w.children) for w in rc.find(v.Alert).widgets)
    assert "Scenarios: choose at least one policy scenario" in messages
    assert "Seed: 'seven' is not a whole number." in messages


def test_plots_of_a_comparison():
    result = run_comparison(CompareForm(("service_quality",), 2, 500, 1, "chance"), workers=1)
    fig = plots.compare_figure(result.runs)
    level, diff = fig.axes
    baseline_effect = diff.get_lines()[0].get_ydata()
    assert np.all(np.asarray(baseline_effect) == 0.0), "the baseline differs from itself by exactly zero"
    assert len(plots.gap_figure(result.runs).axes) == 2


# ------------------------------------------------------------------------------------- calibration
def _alerts(rc) -> str:
    return " ".join(" ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets)


def test_calibration_page_shows_the_shipped_fit_and_reports_a_bad_upload():
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    view = read_sem_file(shipped_sem_files()[0])
    cfi = view.fit.set_index("index").loc["Comparative fit index (CFI)", "value"]
    assert cfi == pytest.approx(0.991, abs=0.001)
    assert len(rc.find(widgets.Image).widgets) == 1  # path diagram
    assert calibration_window_text() == "2006-2021"  # the shipped posterior's start_month and end_month
    headings = [w.children[0] for w in rc.find(v.Html, tag="h4").widgets]
    assert f"Dynamics calibrated to {calibration_window_text()} (ABC-SMC posterior)" in headings
    assert rc.find(v.Html, class_="calibration-file").widget.children[0] == "File: sem_default.json (shipped)"
    assert not rc.find(v.TextField).widgets, "no box takes a path on the server"
    chooser = rc.find(FileInput).widget
    assert chooser.accept == ".json,application/json" and not chooser.multiple

    calibration_page.load_upload("mine.json", 9, io.BytesIO(b"{not json"))
    assert _alerts(rc) == "mine.json: not valid JSON (line 1: Expecting property name enclosed in double quotes)"
    assert len(rc.find(widgets.Image).widgets) == 1, "the page keeps showing the file it showed"
    good = shipped_sem_files()[0].read_bytes().replace(b'"note": "', b'"note": "Uploaded copy. ')
    calibration_page.load_upload("copy.json", len(good), io.BytesIO(good))
    assert _alerts(rc) == ""
    assert rc.find(v.Html, class_="calibration-file").widget.children[0] == "File: copy.json (uploaded)"
    assert any("Uploaded copy." in str(w.children) for w in rc.find(v.Html, tag="p").widgets)
    calibration_page._choose_shipped(shipped_sem_files()[0].name)  # choosing a shipped file again replaces the upload
    assert rc.find(v.Html, class_="calibration-file").widget.children[0] == "File: sem_default.json (shipped)"


def _sem_doc(**changes) -> bytes:
    doc = json.loads(shipped_sem_files()[0].read_text(encoding="utf-8"))
    doc.update(changes)
    return json.dumps(doc).encode()


class _Broken(io.RawIOBase):
    def read(self, n=-1):
        raise Exception("Timeout")  # what ipyvuetify's ClientSideFile raises when the browser sends nothing


BAD_UPLOADS = {
    "not_utf8": (b'{"sem": {"x": "\xff\xfe"}}', None, "up.json: not UTF-8 text (byte 15); expected a JSON file"),
    "not_json": (b"hello", None, "up.json: not valid JSON (line 1: Expecting value)"),
    "nested_deep": (b"[" * 100_000 + b"]" * 100_000, None, "up.json: not valid JSON (nested too deeply)"),
    "no_sem": (b"[1, 2]", None, "up.json: expected a JSON object with an object field 'sem'"),
    "sem_text": (_sem_doc(sem={"var_attitude": "one"}), None,
                 "up.json: sem: var_attitude: expected a number, got 'one'"),
    "r2_text": (_sem_doc(r2="high"), None, "up.json: r2: expected an object of R² values"),
    "r2_value_text": (_sem_doc(r2={"readiness": "high"}), None, 'up.json: r2.readiness: expected a number, got "high"'),
    "fit_text": (_sem_doc(fit={"cfi": "good"}), None, 'up.json: fit.cfi: expected a number, got "good"'),
    "estimate_text": (_sem_doc(estimates=[{"lval": "a", "op": "~", "rval": "b", "estimate": "x"}]), None,
                      'up.json: estimates[0].estimate: expected a number, got "x"'),
    "n_text": (_sem_doc(n="many"), None, 'up.json: n: expected a whole number of respondents, got "many"'),
    "declared_too_big": (b"{}", 5_000_000,
                         "up.json: 5,000,000 bytes, larger than 1 MB; a SEM parameters file is a few kB"),
    "too_big": (b" " * (MAX_UPLOAD_BYTES + 10), 10, "up.json: larger than 1 MB; a SEM parameters file is a few kB"),
    "never_arrives": (_Broken(), 10, "up.json: the upload did not complete; try again"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_every_bad_upload_is_one_line(case):
    data, size, message = BAD_UPLOADS[case]
    with pytest.raises(InputError) as info:
        read_upload("up.json", size if size is not None else len(data),
                    data if isinstance(data, io.RawIOBase) else io.BytesIO(data))
    assert str(info.value) == message


def test_the_calibration_page_shows_each_bad_upload_in_one_line_and_keeps_working():
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    for data, size, message in BAD_UPLOADS.values():
        calibration_page.load_upload("up.json", size if size is not None else len(data),
                        data if isinstance(data, io.RawIOBase) else io.BytesIO(data))
        assert _alerts(rc) == message
        assert len(rc.find(widgets.Image).widgets) == 1
        assert rc.find(v.Html, class_="calibration-file").widget.children[0] == "File: sem_default.json (shipped)"


def test_an_upload_name_never_shows_a_path():
    with pytest.raises(InputError) as info:
        read_upload("/etc/secret/dir\\x\n.json", 3, io.BytesIO(b"{}"))
    assert str(info.value) == "x.json: expected a JSON object with an object field 'sem'"
    with pytest.raises(InputError, match="^the uploaded file: not valid JSON"):
        read_upload("", 1, io.BytesIO(b"{"))


def test_read_sem_file_refuses_special_and_oversized_files(tmp_path):
    with pytest.raises(InputError, match=": not a regular file$"):
        read_sem_file("/dev/zero")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(InputError, match="larger than 1 MB"):
        read_sem_file(big)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputError, match=": not a regular file$"):
        read_sem_file(tmp_path / "fifo")
    with pytest.raises(InputError, match="not_shipped.json: not a shipped SEM parameters file"):
        read_shipped("not_shipped.json")


def _table(rc, name: str) -> str:
    """The HTML of the Calibration page's table ``name`` (fit, paths, loadings, ensemble, posterior, holdout)."""
    found = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
             if f"calibration-{name}" in w.attributes.get("class", "").split()]
    assert len(found) == 1, f"expected one {name} table, found {len(found)}"
    return found[0]


def test_calibration_tables_have_plain_column_names_and_full_values():
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    tables = {name: _table(rc, name) for name in ("fit", "paths", "loadings", "ensemble", "posterior", "holdout")}
    raw = {"lval", "rval", "op", "std_estimate", "se", "p_value", "estimate", "q05", "q50", "q95", "width_vs_prior",
           "model_q05", "covered_90", "index", "value", "guide"}
    for name, text in tables.items():
        headers = re.findall(r"<th[^>]*>([^<]*)</th>", text)
        assert headers and not raw & set(headers), f"{name} table: {headers}"
        assert not any("_" in h for h in headers), f"{name} table: {headers}"
    assert "<th>Fit index</th>" in tables["fit"] and "Published (Amirova 2021, final model)" in tables["fit"]
    view = read_shipped(shipped_sem_files()[0].name)
    for value in view.fit["value"].iloc[2:]:  # every index written out in full (three decimals), not cut
        assert f">{value:.3f}<" in tables["fit"]
    assert "Personal attitude → E-government readiness" in tables["paths"]
    assert tables["paths"].count("&lt; 0.001") == 3  # the three paths' p-values, not 0.0
    # the SEM ensemble's range of each path, from the ensemble file
    members = load_sem_ensemble()
    for field in ("readiness_on_attitude", "readiness_on_trust", "intention_on_readiness"):
        values = [getattr(m, field) for m in members]
        assert f"{min(values):.3f} – {max(values):.3f}" in tables["paths"], field
    assert tables["ensemble"].count("<tr>") == len(members) + 1
    assert "Cronbach&#x27;s α of the factor</th>" in tables["loadings"]


def test_calibration_page_shows_the_posteriors_identification_and_checks_from_their_files():
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    texts = " ".join(str(w.children[0]) for w in rc.find(v.Html, tag="p").widgets)
    ident = identification(load_posterior())
    verdicts = ident["verdict"].value_counts()
    assert (f"{verdicts['identified']} of {len(ident)} parameters identified, "
            f"{verdicts['weakly identified']} weakly identified") in texts
    posterior = _table(rc, "posterior")
    assert posterior.count("<tr>") == len(ident) + 1
    for row in ident.itertuples():
        assert f"{row.q05:.4g} – {row.q95:.4g}" in posterior
    holdout = load_posterior(DEFAULT_HOLDOUT).meta["holdout"]
    s = holdout["summary"]
    assert (f"model's 50 % / 90 % band: {s['model_covered_50'] * 100:.0f} % / {s['model_covered_90'] * 100:.0f} %; "
            f"with observation noise: {s['covered_50'] * 100:.0f} % / {s['covered_90'] * 100:.0f} %") in texts
    assert _table(rc, "holdout").count("<tr>") == len(holdout["figures"]) + 1
    synthetic = load_synthetic(DEFAULT_SYNTHETIC)
    assert (f"{synthetic['overall_in50'] * 100:.0f} % / {synthetic['overall_in90'] * 100:.0f} % "
            "(nominal 50 % / 90 %") in texts


def test_an_uploaded_files_names_are_shown_as_text_not_markup():
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    doc = json.loads(_sem_doc())
    doc["estimates"] = [{**e, "rval": "<img src=x onerror=alert(1)>"} if e["rval"] == "trust" and e["op"] == "~"
                        else e for e in doc["estimates"]]
    data = json.dumps(doc).encode()
    calibration_page.load_upload("odd.json", len(data), io.BytesIO(data))
    assert _text(rc, "calibration-file") == "File: odd.json (uploaded)"
    paths = _table(rc, "paths")
    assert "<img" not in paths and "&lt;img src=x onerror=alert(1)&gt; → E-government readiness" in paths
    calibration_page._choose_shipped(shipped_sem_files()[0].name)


def test_only_sem_parameters_files_are_offered_as_shipped():
    names = [p.name for p in shipped_sem_files()]
    assert "sem_default.json" in names and "sem_ensemble.json" not in names
    for name in names:
        assert read_shipped(name).fit is not None  # every offered file opens


def test_a_shipped_calibration_file_that_cannot_be_read_is_one_line_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration_view, "DEFAULT_HOLDOUT", tmp_path / "holdout.json")
    (tmp_path / "holdout.json").write_text("{", encoding="utf-8")
    shipped = calibration_view.shipped_calibration.__wrapped__()
    assert shipped.holdout.error == "holdout.json: not valid JSON (line 1: Expecting property name enclosed in " \
                                    "double quotes)"
    assert str(tmp_path) not in shipped.holdout.error
    assert shipped.posterior.table is not None and shipped.ensemble.table is not None  # the rest still shows


def test_the_upload_widget_reads_the_file_in_memory(monkeypatch):
    """The page's file chooser, as a browser drives it: file_info arrives, the bytes are read from the widget."""
    calibration_page._choose_shipped(shipped_sem_files()[0].name)
    box, rc = solara.render(app.Layout(children=[calibration_page.Calibration()]), handle_error=False)
    chooser = rc.find(FileInput).widget
    sent = []

    def get_files(self, timeout=30):
        sent.append(timeout)
        return [{"name": "r2.json", "size": 40, "file_obj": io.BytesIO(_sem_doc(r2="text"))}]

    monkeypatch.setattr(FileInput, "get_files", get_files)
    chooser.file_info = [{"name": "r2.json", "size": 40}]
    deadline = time.monotonic() + 10
    while "r2.json" not in _alerts(rc) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alerts(rc) == "r2.json: r2: expected an object of R² values"
    assert sent == [calibration_page.UPLOAD_TIMEOUT]


# ------------------------------------------------------------------------------------------ server
@pytest.mark.slow
def test_app_server_listens_on_this_machine_only(listening):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "egov_abm.scenarios.cli", "app", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"egov-abm app exited with {proc.returncode}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "egov-abm app did not answer within 120 s"
            time.sleep(0.5)
        seen = listening(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert port in {p for _, _, p in seen}, seen
    exposed = [s for s in seen if not ipaddress.ip_address(s[1]).is_loopback]
    assert not exposed, f"listening beyond this machine: {exposed}"
