"""`egov-abm compare`: common random numbers, files, and the arithmetic of the table."""

import json

import numpy as np
import pandas as pd
import pytest

from egov_abm.scenarios.cli import main


def test_identical_scenario_differs_by_exactly_zero_and_files_are_written(tmp_path, capsys):
    (tmp_path / "copy.toml").write_text('name = "copy_of_baseline"\ninclude = "baseline"\n')
    out = tmp_path / "cmp"
    code = main(["compare", str(tmp_path / "copy.toml"), "rural_infrastructure", "--replicates", "3",
                 "--agents", "600", "--workers", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "copy_of_baseline" in text
    reps = pd.read_parquet(out / "replicates.parquet")
    copy = reps[reps.scenario == "copy_of_baseline"]
    assert (copy["extra_adopters"] == 0).all() and (copy["cost_kzt"] == 0).all()
    runs = pd.read_parquet(out / "timeseries.parquet")
    a = runs[runs.scenario == "baseline"].drop(columns="scenario").reset_index(drop=True)
    b = runs[runs.scenario == "copy_of_baseline"].drop(columns="scenario").reset_index(drop=True)
    assert a.equals(b)  # common random numbers: every month of every replicate identical
    table = pd.read_parquet(out / "comparison.parquet")
    row = table[table.scenario == "rural_infrastructure"].iloc[0]
    assert row["cost_per_extra_adopter_kzt"] == pytest.approx(row["cost_kzt"] / row["extra_adopters"])
    r = reps[reps.scenario == "rural_infrastructure"]
    assert row["extra_adopters"] == pytest.approx(r["extra_adopters"].mean())
    assert row["extra_q05"] <= row["extra_adopters"] <= row["extra_q95"]
    # cost beyond the baseline = national cumulative cost of the scenario's runs at the horizon
    last = runs[(runs.scenario == "rural_infrastructure") & (runs.month == runs.month.max())]
    assert r["cost_kzt"].mean() == pytest.approx(last["cumulative_cost_kzt_national"].mean())
    meta = json.loads((out / "compare.json").read_text())
    assert meta["replicates"] == 3 and meta["agents"] == 600
    assert (out / "report.md").exists() and (out / "adoption.png").exists() and (out / "regions.png").exists()
    assert (out / "difference.png").exists() and "](difference.png)" in (out / "report.md").read_text()
    page = (out / "brief.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "rural_infrastructure" in page  # 4 charts, the map
    assert "paired by draw" in page
    assert "<table" in page and "<pre" not in page and "What the model can and cannot say" in page
    assert np.isfinite(row["months_to_50"])


def test_compare_bad_input_one_line(tmp_path, capsys):
    code = main(["compare", "no_such_policy", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "no_such_policy" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "short.toml").write_text('name = "short"\ninclude = "baseline"\nmonths = 12\n')
    code = main(["compare", str(tmp_path / "short.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "must have the baseline's start and horizon" in err


def test_outcome_registry_one_definition_for_compare_sweeps_and_plots():
    from egov_abm.model import InputError
    from egov_abm.scenarios import outcomes

    frame = pd.DataFrame({"month": [0, 1, 2, 3], "adoption": [0.1, 0.4, 0.55, 0.8],
                          "adoption_urban": [0.2, 0.5, 0.6, 0.9], "adoption_rural": [0.0, 0.3, 0.5, 0.7],
                          "adoption_age_18_29": [0.3, 0.6, 0.7, 0.95], "adoption_age_60plus": [0.0, 0.1, 0.2, 0.4]})
    gap = outcomes.get("gap_urban_rural")
    assert gap.direction == "min" and gap.unit == "share of adults"
    assert gap.series(frame).tolist() == pytest.approx([0.2, 0.2, 0.1, 0.2])
    assert gap.value(frame) == pytest.approx(0.9 - 0.7)
    assert outcomes.get("gap_young_old").value(frame) == pytest.approx(0.55)
    assert outcomes.get("months_to_50").value(frame) == 2.0 and outcomes.get("months_to_10").value(frame) == 0.0
    assert np.isnan(outcomes.get("months_to_90").value(frame))
    assert outcomes.get("months_to_50").direction == "min" and not outcomes.get("months_to_50").per_month
    assert outcomes.get("adoption").value(frame) == 0.8 and outcomes.get("adoption").direction == "max"
    assert outcomes.values(frame, ["adoption", "months_to_50"]) == {"adoption": 0.8, "months_to_50": 2.0}
    with pytest.raises(InputError, match="unknown outcome 'adoptoin'"):
        outcomes.get("adoptoin", ["adoption"])
    with pytest.raises(ValueError, match="direction"):
        outcomes.Outcome("x", "x", "", "up", lambda f: f["x"])
    with pytest.raises(ValueError, match="one number per run"):
        outcomes.get("months_to_50").series(frame)


def test_median_months_counts_never_as_last():
    import numpy as np
    import pandas as pd

    from egov_abm.scenarios.compare import _median_months

    assert _median_months(pd.Series([10.0, 12.0, 14.0])) == 12.0
    assert np.isnan(_median_months(pd.Series([10.0, np.nan, np.nan])))  # most replicates never reach it
    assert _median_months(pd.Series([10.0, 20.0, np.nan])) == 20.0


def _paired_runs():
    """Two policies and a baseline over months 0..4, three paired draws (12-month shares), costs at the horizon."""
    rows = []
    shares = {"baseline": [[0.5, 0.55, 0.6, 0.65, 0.7], [0.5, 0.5, 0.5, 0.5, 0.5], [0.4, 0.5, 0.6, 0.65, 0.68]],
              "a": [[0.5, 0.6, 0.7, 0.75, 0.8], [0.5, 0.5, 0.6, 0.6, 0.6], [0.4, 0.5, 0.6, 0.6, 0.66]],
              "b": [[0.5, 0.55, 0.6, 0.7, 0.72], [0.5, 0.5, 0.5, 0.55, 0.55], [0.4, 0.5, 0.6, 0.7, 0.75]]}
    cost = {"baseline": 0.0, "a": 100.0, "b": 50.0}
    for name, draws in shares.items():
        for r, series in enumerate(draws):
            for month, share in enumerate(series):
                rows.append({"scenario": name, "replicate": r, "month": month, "adoption": share,
                             "cumulative_cost_kzt_national": cost[name] * month / 4})
    return pd.DataFrame(rows)


def _policy(name, start, end):
    from types import SimpleNamespace

    return SimpleNamespace(name=name, policies=[SimpleNamespace(intervention=SimpleNamespace(start=start, end=end))])


def test_decision_outputs_are_the_paired_arithmetic_of_the_draws():
    from egov_abm.scenarios.decisions import decision_table

    table, pairwise = decision_table(_paired_runs(), [_policy("a", 1, 3), _policy("b", 1, 3)], "baseline", 100.0,
                                     target=0.7)
    a = table.set_index("scenario").loc["a"]
    b = table.set_index("scenario").loc["b"]
    # horizon (month 4), per draw: a - baseline = 10, 10, -2 users; b - baseline = 2, 5, 7
    assert a["extra_horizon_q50"] == pytest.approx(10.0) and a["extra_horizon_q05"] == pytest.approx(-0.8)
    assert b["extra_horizon_q50"] == pytest.approx(5.0)
    assert a["p_beats_baseline"] == pytest.approx(2 / 3) and b["p_beats_baseline"] == 1.0
    # programme end = month 2 (end exclusive 3): a - baseline = 10, 10, 0; two years later is past the horizon
    assert a["end_month"] == 2 and a["extra_end_q50"] == pytest.approx(10.0)
    assert a["end_plus_2y_month"] == 4
    # regret: best of each draw is 80 / 60 / 75 users; a: 0, 0, 9 -> 3; b: 8, 5, 0 -> 13/3; baseline: 10, 10, 7 -> 9
    t = table.set_index("scenario")
    assert t.loc["a", "regret_mean"] == pytest.approx(3.0) and t.loc["b", "regret_mean"] == pytest.approx(13 / 3)
    assert t.loc["baseline", "regret_mean"] == pytest.approx(9.0)
    # pairwise at the horizon: a beats b in draws 0 and 1, not 2
    assert pairwise.loc["a", "b"] == pytest.approx(2 / 3) and pairwise.loc["b", "a"] == pytest.approx(1 / 3)
    assert pairwise.loc["a", "baseline"] == pytest.approx(2 / 3) and np.isnan(pairwise.loc["a", "a"])
    # cost per extra user where a gains: 100 / 10 in draws 0 and 1; draw 2 has no gain
    assert a["cost_per_extra_user_q50"] == pytest.approx(10.0) and a["share_draws_without_gain"] == pytest.approx(1 / 3)
    # months to 70 % from the start (month 1): a reaches it at 2 / never / never; baseline at 4 / never / never
    # -> a reaches it in 1 of 3 draws: under half, so no median is given
    assert a["share_draws_reaching_target"] == pytest.approx(1 / 3) and np.isnan(a["months_gained_median"])
    # b reaches it at 3 / never / 3, baseline at 4 / never / never (counted as 5): gains 1 and 2
    assert b["share_draws_reaching_target"] == pytest.approx(2 / 3) and b["months_gained_median"] == 1.5


def test_uncertainty_levels_pair_the_draws_and_hold_what_they_should(tmp_path, capsys):
    from egov_abm.calibration.posterior import load_posterior
    from egov_abm.scenarios.scenario import load_scenario

    base = load_scenario("baseline")
    post = load_posterior()
    chance = base.variants(4, 1, "chance")
    assert all(v is base for v in chance)
    calib = base.variants(4, 1, "calibration")
    full = base.variants(4, 1, "full")
    idx = post.draw_indices(4, 1)
    for v_c, v_f, i in zip(calib, full, idx, strict=True):
        assert v_c.params.intention_slope == base.params.intention_slope and v_c.sem_member == base.sem_member
        assert v_c.params.q_social_per_year == post.values(i)["q_social_per_year"]
        assert v_f.params.intention_slope == post.values(i)["intention_slope"] and v_f.sem_member == post.member(i)
    out = tmp_path / "cmp"
    code = main(["compare", "awareness_campaign", "--replicates", "3", "--agents", "400", "--workers", "1",
                 "--uncertainty", "calibration", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "uncertainty 'calibration'" in printed and "P(row beats column)" in printed
    meta = json.loads((out / "compare.json").read_text())
    assert meta["uncertainty"] == "calibration" and meta["ensemble"]
    assert {r["scenario"] for r in meta["decision"]["table"]} == {"baseline", "awareness_campaign"}
    table = pd.read_parquet(out / "comparison.parquet")
    assert {"p_beats_baseline", "regret_mean", "extra_end_q50", "extra_horizon_q95"} <= set(table.columns)
    assert "Uncertainty shown: **calibration**" in (out / "report.md").read_text()
    assert pd.read_parquet(out / "pairwise.parquet")["scenario"].tolist() == ["baseline", "awareness_campaign"]
    # three draws are too few to tell which input matters: it says so instead of fitting noise
    assert meta["decision"]["value_of_information"] == [] and "Too few paired draws (3)" in meta["decision"]["voi_note"]
    assert "## What would change the answer" in (out / "report.md").read_text()
    from egov_abm.scenarios.decisions import uncertain_inputs

    # the calibrated rates vary at this level, the slope and the SEM member do not; at full, all of them
    calib_inputs = set(uncertain_inputs(base, 4, 1, "calibration").columns)
    assert "q_social_per_year" in calib_inputs and not calib_inputs & {"intention_slope", "sem_member"}
    assert {"intention_slope", "sem_member"} <= set(uncertain_inputs(base, 4, 1, "full").columns)
    assert uncertain_inputs(base, 4, 1, "chance").empty


def test_equity_counts_gains_and_those_left_behind_in_each_group():
    from egov_abm.scenarios.decisions import equity_table, group_shares

    runs = _paired_runs()
    runs["adoption_rural"] = runs["adoption"] - 0.1
    runs["adoption_region_x"] = runs["adoption"]
    shares = {"rural": 0.4, "region_x": 0.25, "age_60plus": 0.2}
    eq = equity_table(runs, "baseline", 1000.0, shares).set_index(["scenario", "group"])
    assert list(eq.index.get_level_values("group").unique()) == ["rural", "region_x"]  # no 60+ column: left out
    # rural: 400 adults; a - baseline at the horizon = (0.1, 0.1, -0.02) x 400 -> median 40
    assert eq.loc[("a", "rural"), "extra_users_q50"] == pytest.approx(40.0)
    assert eq.loc[("baseline", "rural"), "extra_users_q50"] == 0.0
    # left behind in the baseline: 400 x (1 - (0.6, 0.4, 0.58)) -> median 400 x 0.42
    assert eq.loc[("baseline", "rural"), "left_behind_q50"] == pytest.approx(168.0)
    assert eq.loc[("a", "region_x"), "adults"] == 250.0
    from egov_abm.calibration.defaults import population_spec

    g = group_shares(population_spec())
    assert g["urban"] + g["rural"] == pytest.approx(1.0)
    assert sum(v for k, v in g.items() if k.startswith("region_")) == pytest.approx(1.0)
    assert sum(v for k, v in g.items() if k.startswith("education_")) == pytest.approx(1.0)


def test_value_of_information_and_flip_point_on_a_known_case():
    from egov_abm.scenarios.decisions import flip_points, value_of_information

    rng = np.random.default_rng(0)
    theta = rng.random(2000)
    noise = rng.random(2000)  # an input nothing depends on
    users = pd.DataFrame({"baseline": np.zeros(2000), "a": theta, "b": np.full(2000, 0.5)})
    inputs = pd.DataFrame({"theta": theta, "noise": noise})
    voi = value_of_information(users, inputs, {"theta": "the input that matters"})
    # EVPI = E[max(theta, 0.5)] - max(E[theta], 0.5) = 0.625 - 0.5; knowing theta removes all of it
    assert voi.attrs["evpi_users"] == pytest.approx(0.125, abs=0.01)
    top = voi.iloc[0]
    assert top["input"] == "theta" and top["evppi_users"] == pytest.approx(voi.attrs["evpi_users"], rel=0.02)
    assert voi.set_index("input").loc["noise", "evppi_users"] < 0.01
    flips = flip_points(users, inputs, [("a", "b")], ["theta", "noise"])
    row = flips.set_index("input").loc["theta"]
    assert row["flips_at"] == pytest.approx(0.5, abs=0.01) and not row["a_ahead_below"]


def test_each_scenario_keeps_its_colour_the_baseline_is_black_and_nothing_is_yellow():
    from egov_abm.scenarios.colours import PALETTE, scenario_colours
    from egov_abm.viz.plots import scenario_colours as app_colours

    a = scenario_colours(["baseline", "technology_only", "citizen_centric"])
    b = scenario_colours(["baseline", "citizen_centric", "skills_60plus", "technology_only", "mine"])
    assert a["baseline"] == b["baseline"] == "#000000"
    assert a["technology_only"] == b["technology_only"] and a["citizen_centric"] == b["citizen_centric"]
    assert len(set(b.values())) == len(b) and "#F0E442" not in PALETTE
    assert app_colours(["baseline", "technology_only"]) == scenario_colours(["baseline", "technology_only"])


def test_tile_map_places_every_region_once_and_colours_by_value():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from egov_abm.calibration.defaults import population_spec
    from egov_abm.model.outcomes import slug
    from egov_abm.scenarios import tilemap

    regions = {slug(r) for r in population_spec().region_names}
    assert set(tilemap.TILES) == regions and len(set(tilemap.TILES.values())) == len(regions)  # no two on one tile
    fig, ax = plt.subplots()
    tilemap.draw(ax, {"karaganda": 1.0, "almaty_city": 0.0}, vmin=0.0, vmax=1.0)
    faces = {tuple(round(c, 3) for c in p.get_facecolor()) for p in ax.patches}
    assert len(ax.patches) == 20 and len(faces) == 3  # the two values and grey for the 18 without one
    plt.close(fig)


def test_pdf_brief_is_printed_by_chromium_or_refused_before_any_run(tmp_path, capsys, monkeypatch):
    import os
    import shutil

    from egov_abm.scenarios import brief

    args = ["compare", "technology_only", "--replicates", "2", "--agents", "300", "--uncertainty", "chance",
            "--workers", "1", "--pdf"]
    have = any(shutil.which(b) for b in brief.BROWSERS)
    assert have or not os.environ.get("CI"), "CI installs Debian's chromium: the PDF must be tested there"
    if have:
        code = main([*args, "--out", str(tmp_path / "with")])
        out, err = capsys.readouterr()
        assert code == 0, err
        pdf = (tmp_path / "with" / "brief.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000 and "brief.pdf" in out
        files = json.loads((tmp_path / "with" / "_egov_abm.json").read_text())["files"]
        assert "brief.pdf" in files
    monkeypatch.setattr(brief, "BROWSERS", ("no-such-browser-here",))
    code = main([*args, "--out", str(tmp_path / "without")])
    err = capsys.readouterr().err
    assert code == 2 and "--pdf: needs Chromium or Chrome" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "without").exists()


def test_brief_of_nine_long_named_policies_fits_1366_px_in_chromium(tmp_path):
    import dataclasses
    import os
    import shutil

    from egov_abm.scenarios.compare import compare_scenarios, write_comparison
    from egov_abm.scenarios.scenario import load_scenario

    chromium = shutil.which("chromium")
    if chromium is None:
        assert not os.environ.get("CI"), "CI installs Debian's chromium"
        pytest.skip("no Chromium")
    from playwright.sync_api import sync_playwright

    base = load_scenario("baseline").with_overrides(n_agents=300)
    policy = load_scenario("technology_only").with_overrides(n_agents=300)
    names = ["digital_only_mandate_extended", "rural_infrastructure_programme", "awareness_campaign_national",
             "citizen_centric_package", "trust_transparency_programme", "service_quality_programme",
             "skills_60plus_courses", "technology_only_package"]
    result = compare_scenarios([dataclasses.replace(policy, name=n) for n in names], base, seed=1, replicates=2,
                               ensemble="chance", workers=1)
    write_comparison(result, tmp_path / "c")
    widths: list = []

    def measure() -> None:  # in a thread of its own: Playwright's sync API refuses a thread with an event loop
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto((tmp_path / "c" / "brief.html").as_uri())
            widths.extend(page.evaluate("[document.documentElement.scrollWidth, ...[...document.querySelectorAll("
                                        "'table')].map(t => t.scrollWidth - t.parentElement.clientWidth)]"))
            browser.close()

    import threading

    thread = threading.Thread(target=measure)
    thread.start()
    thread.join(timeout=120)
    assert widths and widths[0] <= 1366 and max(widths[1:]) <= 0, widths


def test_a_finished_run_is_collected_at_once_only_when_large(monkeypatch):
    import gc

    from egov_abm.scenarios import runner
    from egov_abm.scenarios.scenario import load_scenario

    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(a) or 0)
    base = load_scenario("baseline")
    runner.release(base.with_overrides(n_agents=runner.COLLECT_FROM - 1))
    assert calls == []  # a small model is left to Python's own collector
    runner.release(base.with_overrides(n_agents=runner.COLLECT_FROM))
    assert calls == [()]
