"""Calibration of the dynamics: observation model, ABC-SMC recovery, checkpoint and resume."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from egov_abm.calibration.abc import AbcModel, abc_smc, calibrate_dynamics, history_path
from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import DEFAULT_POSTERIOR, load_posterior, write_posterior
from egov_abm.calibration.priors import Prior
from egov_abm.calibration.simulate import SimConfig, Simulator
from egov_abm.calibration.targets import (
    END_MONTH,
    START_MONTH,
    block_distance,
    distance,
    household_share,
    load_observations,
    observe,
    residuals,
)
from egov_abm.model import InputError, Params, month_index
from egov_abm.scenarios.scenario import load_scenario

TRUTH = {"access_social_per_year": 0.8, "p_external_per_year": 0.05, "q_social_per_year": 0.9}
PRIORS = (Prior("access_social_per_year", 0.0, 1.5), Prior("p_external_per_year", 0.005, 0.5, log=True),
          Prior("q_social_per_year", 0.0, 2.0))


def base_params():
    base = load_scenario("baseline", apply_posterior=False).params.to_dict()
    for name in ("n_agents", "start_month", *TRUTH):
        base.pop(name)
    return base


def synthetic_observations(seed):
    """The real targets' dates and noise, with values from a run at TRUTH (another seed)."""
    config = SimConfig(base_params=base_params(), n_agents=2000, seed=seed)
    sim = Simulator(config, PRIORS)
    values = sim(np.array([TRUTH[p.name] for p in PRIORS]))
    return [dataclasses.replace(o, value=float(v)) for o, v in zip(sim.observations, values, strict=True)]


def test_observation_model_on_a_run():
    obs = load_observations()
    assert {o.target for o in obs} == {"internet_access", "digital_literacy", "registered_users", "households_using",
                                       "internet_gap_urban_rural"}
    assert month_index("2012-05", START_MONTH) == 73 and month_index("2006-04", START_MONTH) == 0
    c = demographic_constants()
    rows = [dict(internet_access=0.5, digital_literacy=0.4, share_ever_used=0.01, adoption=0.2,
                 internet_access_urban=0.6, internet_access_rural=0.35)] * 200
    sim = observe(rows, obs, c)
    reg = [k for k, o in enumerate(obs) if o.target == "registered_users"][0]
    assert sim[reg] == pytest.approx(0.01 * c["adult_population_2012"])
    hh = [k for k, o in enumerate(obs) if o.target == "households_using"][0]
    h, rho = c["adults_per_household"], c["household_icc"]
    assert sim[hh] == pytest.approx(household_share(0.2, h, rho))
    assert household_share(0.2, h, 0.0) == pytest.approx(1 - 0.8 ** h)  # independent members
    # two adults, correlation rho: P(neither) = (1 - u) (1 - u + rho u)
    assert household_share(0.2, 2.0, 0.3) == pytest.approx(1 - 0.8 * (0.8 + 0.3 * 0.2))
    assert household_share(0.2, h, 0.3) < household_share(0.2, h, 0.0)
    # residuals are in noise units; counts on the log scale
    exact = np.array([o.value for o in obs])
    assert distance(exact, obs) == pytest.approx(0.0)
    shifted = exact.copy()
    shifted[reg] *= np.exp(obs[reg].sd)
    assert residuals(shifted, obs)[reg] == pytest.approx(1.0)
    gap = [k for k, o in enumerate(obs) if o.target == "internet_gap_urban_rural"][0]
    assert sim[gap] == pytest.approx(0.25)


def test_blocks_weigh_the_same_whatever_their_number_of_figures():
    obs = load_observations()
    blocks = [o.block for o in obs]
    assert {b: blocks.count(b) for b in set(blocks)} == {"internet": 16, "literacy": 3, "portal use": 4,
                                                          "patterns": 11}
    exact = np.array([o.value for o in obs])
    # one noise SD off on every internet figure: that block's mean square is 1, the others 0 -> sqrt(1 / 4)
    off = exact + np.array([o.sd if o.block == "internet" else 0.0 for o in obs])
    assert block_distance(off, obs) == pytest.approx(0.5)
    # the same on the one registered-users figure (log scale) and the 3 households figures: portal block only
    off = exact.copy()
    for k, o in enumerate(obs):
        if o.block == "portal use":
            off[k] = o.value * np.exp(o.sd) if o.target == "registered_users" else o.value + o.sd
    assert block_distance(off, obs) == pytest.approx(0.5)


def test_observation_noise_is_bounded_and_has_the_stated_spread():
    from egov_abm.calibration.targets import noisy

    obs = load_observations()
    rng = np.random.default_rng(3)
    sim = np.array([0.03 if o.target not in ("registered_users", "internet_gap_urban_rural") else o.value
                    for o in obs])
    draws = np.array([noisy(sim, obs, rng) for _ in range(4000)])
    shares = [k for k, o in enumerate(obs) if o.target not in ("registered_users", "internet_gap_urban_rural")]
    assert (draws[:, shares] >= 0.0).all() and (draws[:, shares] <= 1.0).all()  # never a negative share
    k = shares[0]  # internet 2006: mean 0.03, SD 0.03 (beta)
    assert draws[:, k].mean() == pytest.approx(0.03, abs=0.002)
    assert draws[:, k].std() == pytest.approx(obs[k].sd, rel=0.06)
    reg = [k for k, o in enumerate(obs) if o.target == "registered_users"][0]
    assert np.log(draws[:, reg]).std() == pytest.approx(obs[reg].sd, rel=0.06)


def test_a_figure_after_2021_or_out_of_range_is_refused_in_a_fitting_role(tmp_path):
    from egov_abm.calibration.targets import TARGETS_FILE

    head = TARGETS_FILE.read_text(encoding="utf-8").splitlines()[0]
    for row, message in (("internet_access,2022-07,0.93,0.03,s,o,src,n", "later figures are for validation"),
                         ("internet_access,2020-07,1.3,0.03,s,o,src,n", r"expected a share in \[0, 1\], got 1.3"),
                         ("internet_access,July 2020,0.9,0.03,s,o,src,n", "date: expected YYYY-MM")):
        path = tmp_path / "t.csv"
        path.write_text(head + "\n" + row + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=message):
            load_observations(path)


def test_simulator_runs_the_model_as_built_directly():
    """Through the scenario runner, with the graph built once and reused, a run is the model's own run."""
    from egov_abm.calibration.defaults import load_sem, population_spec
    from egov_abm.calibration.simulate import SimTask, simulate
    from egov_abm.model import AdoptionModel, Params

    config = SimConfig(base_params=base_params(), n_agents=300, seed=2006, months=30)
    sim = Simulator(config, PRIORS, [o for o in load_observations() if o.month < 30])
    theta = np.array([0.5, 0.02, 1.1])
    sim(np.array([0.1, 0.2, 0.3]))  # builds the shared graph
    params = Params.from_mapping({**config.base_params, "n_agents": 300, "start_month": START_MONTH,
                                  **dict(zip(TRUTH, theta, strict=True))})
    direct = AdoptionModel(params=params, sem=load_sem(), population=population_spec(), seed=2006,
                           create_agents=False)
    direct.run(30)
    rows = sim.run(dict(zip(TRUTH, theta, strict=True)))
    urban = direct.pop.urban
    assert rows[-1].pop("internet_access_urban") == np.count_nonzero(direct.access & urban) / urban.sum()
    assert rows[-1].pop("internet_access_rural") == np.count_nonzero(direct.access & ~urban) / (~urban).sum()
    assert [{k: v for k, v in r.items() if not k.startswith("internet_access_")} for r in rows] == direct.outcomes
    task = SimTask(config, tuple(theta), PRIORS, tuple(sim.observations))
    np.testing.assert_array_equal(simulate(task), observe(direct.outcomes, sim.observations, sim.constants))


def test_posterior_file_round_trip(tmp_path):
    post = load_posterior()
    out = write_posterior(post, tmp_path / "post.json")
    assert [p.name for p in tmp_path.iterdir()] == ["post.json"]
    again = load_posterior(out)
    np.testing.assert_array_equal(again.particles, post.particles)
    assert again.names == post.names and again.meta == post.meta
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="not a posterior"):
        load_posterior(tmp_path / "bad.json")


@pytest.mark.slow
def test_recovers_known_parameters_within_90_percent_interval(tmp_path):
    observations = synthetic_observations(seed=77)
    config = SimConfig(base_params=base_params(), n_agents=2000, seed=2006)
    post = abc_smc(config, tmp_path / "h.db", budget=1500, population=80, workers=2, priors=PRIORS,
                   observations=observations, min_tolerance=0.3)
    assert len(post.generations) >= 3
    summary = {row["parameter"]: row for row in post.summary()}
    for name, value in TRUTH.items():
        assert summary[name]["q05"] <= value <= summary[name]["q95"], (name, summary[name])
    # the internet series identifies access growth: the 90 % interval is under a third of the prior's width
    width = summary["access_social_per_year"]["q95"] - summary["access_social_per_year"]["q05"]
    assert width < 1.5 / 3
    assert np.isclose(post.weights.sum(), 1.0) and (post.weights > 0).all()
    # the distances recorded are those of the particles: a replay under the same seed gives them again
    model = AbcModel(config, PRIORS, observations)
    for i in np.argsort(post.distances)[:3]:
        sims = model.simulate(post.values(int(i)), post.member(int(i)))
        assert block_distance(sims, observations) == pytest.approx(post.distances[i], abs=1e-12)


def test_an_interrupted_calibration_continues_from_its_history(tmp_path):
    observations = synthetic_observations(seed=5)
    config = SimConfig(base_params=base_params(), n_agents=300, seed=2006)
    kw = dict(population=16, workers=1, priors=PRIORS, observations=observations, min_tolerance=0.0)
    db = tmp_path / "post.abc.db"
    first = abc_smc(config, db, budget=10_000, max_generations=2, **kw)
    assert len(first.generations) == 2 and first.meta["stopped"] == "generations"
    lines = []
    more = abc_smc(config, db, budget=10_000, max_generations=3, log=lines.append, **kw)
    assert lines[0].startswith(f"continuing from {db}: 2 generation(s)")
    assert len(more.generations) == 3
    assert more.generations[:2] == first.generations  # the first two are those of the history, unchanged
    assert more.meta["simulations"] == first.meta["simulations"] + more.generations[2]["simulations"]
    # the budget stops it plainly: a generation that cannot complete within it is not started past it
    used = more.meta["simulations"]
    stopped = abc_smc(config, db, budget=used + 5, max_generations=10, **kw)
    assert stopped.meta["stopped"] == "budget" and len(stopped.generations) == 3


def test_history_of_another_calibration_or_damaged_is_refused(tmp_path):
    observations = synthetic_observations(seed=5)
    config = SimConfig(base_params=base_params(), n_agents=300, seed=2006)
    db = tmp_path / "c.abc.db"
    abc_smc(config, db, budget=40, population=12, workers=1, priors=PRIORS, observations=observations,
            max_generations=1)
    with pytest.raises(InputError, match="history of a different calibration"):
        abc_smc(config, db, budget=40, population=14, workers=1, priors=PRIORS, observations=observations,
                max_generations=1)
    bad = tmp_path / "bad.abc.db"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(InputError, match="not a readable calibration history"):
        abc_smc(config, bad, budget=40, population=12, workers=1, priors=PRIORS, observations=observations)


def test_baseline_runs_on_the_posteriors_best_point_and_reproduces_the_history():
    """`egov-abm run` defaults: April 2006 start, the posterior's best particle and its SEM member."""
    from egov_abm.scenarios.runner import run_one

    post = load_posterior()
    scenario = load_scenario("baseline")
    assert scenario.params.start_month == "2006-04" and scenario.posterior == DEFAULT_POSTERIOR.resolve()
    best = post.best_index
    assert post.distances[best] == post.distances.min()
    for name, value in post.values(best).items():
        assert getattr(scenario.params, name) == value
    assert scenario.sem_member == post.member(best)
    months = month_index(END_MONTH, START_MONTH)
    frame = run_one(scenario.with_overrides(n_agents=post.meta["n_agents"]), 1, months=months)
    assert str(frame["date"].iloc[0].date()) == "2006-04-01"
    assert post.meta["command"].startswith("egov-abm calibrate dynamics")


def test_the_shipped_posterior_replays_under_the_current_code():
    """The best particles of the shipped posterior, run again as the calibration ran them (same size, seed and
    SEM member), give the distances recorded in the file. A model change that moves them by more than the
    model's own noise (0.05: the best particle's distance has an SD of 0.048 across ten model seeds at 5,000
    citizens) fails here: refit the posterior (`egov-abm calibrate dynamics`)."""
    from egov_abm.calibration.abc import calibration_config

    post = load_posterior()
    observations = load_observations()
    recorded = [dataclasses.asdict(o) for o in observations]
    assert post.meta["observations"] == recorded, "the targets changed since the posterior was fitted"
    model = AbcModel(calibration_config(post.meta["n_agents"]), Params.uncertainties(), observations)
    for i in np.argsort(post.distances)[:3]:
        sims = model.simulate(post.values(int(i)), post.member(int(i)))
        assert block_distance(sims, observations) == pytest.approx(post.distances[i], abs=0.05), int(i)


def test_calibrate_dynamics_writes_the_posterior_and_a_rerun_continues(tmp_path):
    out = tmp_path / "post.json"
    kw = dict(population=10, agents=100, workers=1)
    post = calibrate_dynamics(30, out, **kw)
    assert post.meta["command"] == ("egov-abm calibrate dynamics --budget 30 --population 10 --agents 100 "
                                    "--tolerance 1.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [history_path(out).name, "post.json"]
    assert post.meta["stopped"] == "budget" and "not seed-reproducible" in post.meta["seed_note"]
    written = load_posterior(out)
    np.testing.assert_array_equal(written.particles, post.particles)
    assert written.names == [p.name for p in Params.uncertainties()]
    assert len(written.members) == len(written.particles)
    lines = []
    again = calibrate_dynamics(post.meta["simulations"], out, **kw, log=lines.append)  # nothing left to spend
    assert lines[0].startswith("continuing from")
    np.testing.assert_array_equal(again.particles, post.particles)
    with pytest.raises(InputError, match="is a folder"):
        calibrate_dynamics(30, tmp_path, **kw)


def test_holdout_fits_the_early_figures_and_checks_the_rest(tmp_path):
    out = tmp_path / "post.json"
    post = calibrate_dynamics(40, out, population=12, agents=200, workers=1, holdout_from=2019, draws=10)
    fitted = {o["date"][:4] for o in post.meta["observations"]}
    assert max(fitted) == "2018"
    held = post.meta["holdout"]
    assert [f"{r['target']}@{r['date']}" for r in held["figures"]] == post.meta["held_out"]
    assert {r["date"][:4] for r in held["figures"]} == {"2019", "2020", "2021"}
    for r in held["figures"]:
        assert r["model_q05"] <= r["model_q50"] <= r["model_q95"] and 0.0 <= r["pit"] <= 1.0
        assert r["model_covered_90"] == (r["model_q05"] <= r["observed"] <= r["model_q95"])
        if r["target"] != "internet_gap_urban_rural":
            assert r["pred_q05"] >= 0.0  # bounded noise: never a negative share
    s = held["summary"]
    assert s["covered_90"] == np.mean([r["covered_90"] for r in held["figures"]])
    with pytest.raises(InputError, match="leaves 1 figure"):
        calibrate_dynamics(40, tmp_path / "x.json", population=12, agents=200, workers=1, holdout_from=2007)
    with pytest.raises(InputError, match="no figure is that late"):
        calibrate_dynamics(40, tmp_path / "x.json", population=12, agents=200, workers=1, holdout_from=2022)
    assert not (tmp_path / "x.json").exists()


def _posterior_doc(**changes):
    doc = {"method": "ABC-SMC", "names": ["p_external_per_year", "q_social_per_year"],
           "particles": [[0.01, 0.2], [0.02, 0.4], [0.04, 0.6]], "weights": [0.2, 0.3, 0.5],
           "distances": [1.0, 1.0, 1.0], "generations": []}
    return {**doc, **changes}


BAD_POSTERIORS = {
    "nan_weight": ({"weights": [0.2, float("nan"), 0.5]}, "weights: entry 1: expected a finite number >= 0, got nan"),
    "negative_weight": ({"weights": [0.2, -0.3, 0.5]}, "weights: entry 1: expected a finite number >= 0"),
    "zero_sum": ({"weights": [0, 0, 0]}, "weights: expected a positive finite sum, got 0.0"),
    "unknown_name": ({"names": ["p_external_per_year", "q_social"]}, "names: unknown parameter 'q_social'"),
    "text_parameter": ({"names": ["p_external_per_year", "network"]}, "network is not a numeric parameter"),
    "twice": ({"names": ["p_external_per_year", "p_external_per_year"]}, "'p_external_per_year' appears twice"),
    "nan_particle": ({"particles": [[0.01, 0.2], [float("nan"), 0.4], [0.04, 0.6]]},
                     "particles: row 1, p_external_per_year: expected a finite number, got nan"),
    "outside_prior": ({"particles": [[0.01, 0.2], [0.9, 0.4], [0.04, 0.6]]},
                      "particles: row 1, p_external_per_year = 0.9 is outside its prior [0.001, 0.5]"),
    "outside_range": ({"names": ["p_success"], "particles": [[0.5], [1.5], [0.2]]},
                      "particles: row 1, p_success = 1.5 is outside its range [0, 1]"),
    "short_row": ({"particles": [[0.01, 0.2], [0.02], [0.04, 0.6]]}, "particles: rows of different lengths"),
    "wrong_width": ({"particles": [[0.01], [0.02], [0.04]]}, "particles: expected rows of 2 values (one per name)"),
    "weights_count": ({"weights": [0.5, 0.5]}, "weights: expected 3 values (one per particle), got 2"),
    "text_weights": ({"weights": ["a", "b", "c"]}, "weights: expected numbers only"),
    "not_object": (None, "expected a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_POSTERIORS))
def test_bad_posterior_files_are_one_line_naming_the_file(case, tmp_path, capsys):
    import json

    from egov_abm.scenarios.cli import main

    changes, expected = BAD_POSTERIORS[case]
    path = tmp_path / "post.json"
    path.write_text(json.dumps(_posterior_doc(**changes) if changes is not None else [1, 2]), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_posterior(path)
    assert str(info.value).startswith(f"{path}: not a posterior written by ") and expected in str(info.value)
    assert "\n" not in str(info.value)
    (tmp_path / "s.toml").write_text('name = "s"\nposterior = "post.json"\nmonths = 2\n', encoding="utf-8")
    assert main(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "100"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_posterior_weights_need_not_sum_to_one(tmp_path):
    import json

    path = tmp_path / "post.json"
    path.write_text(json.dumps(_posterior_doc(weights=[2, 3, 5])), encoding="utf-8")
    post = load_posterior(path)
    np.testing.assert_allclose(post.weights, [0.2, 0.3, 0.5])
    assert post.median_values()["p_external_per_year"] == 0.02


def test_synthetic_check_counts_true_values_inside_their_intervals(tmp_path):
    from egov_abm.calibration.validation import synthetic_check

    observations = [o for o in load_observations() if o.year <= 2012]
    config = SimConfig(base_params=base_params(), n_agents=200, seed=2006)
    doc = synthetic_check(config, tmp_path, sets=2, budget=40, population=12, observations=observations,
                          priors=PRIORS, seed=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set_0.db", "set_1.db"]
    rows = doc["sets_detail"]
    assert [r["set"] for r in rows] == [0, 1]
    for c in doc["coverage"][:-1]:
        assert c["in50"] == np.mean([r[f"{c['parameter']}_in50"] for r in rows])
        assert c["in90"] == np.mean([r[f"{c['parameter']}_in90"] for r in rows])
        for r in rows:  # a value inside the 50 % interval is inside the 90 % one
            assert r[f"{c['parameter']}_in90"] or not r[f"{c['parameter']}_in50"]
            assert 0.0 <= r[f"{c['parameter']}_rank"] <= 1.0
    assert doc["overall_in90"] == np.mean([c["in90"] for c in doc["coverage"][:-1]])
    assert 0.0 <= doc["coverage"][-1]["mean_mass_on_true"] <= 1.0
    # the true values are those drawn from the prior with the set's seed (reproducible), not the sampler's
    again = synthetic_check(config, tmp_path, sets=2, budget=40, population=12, observations=observations,
                            priors=PRIORS, seed=4)
    assert [r["true_member"] for r in again["sets_detail"]] == [r["true_member"] for r in rows]


def test_calibration_report_has_every_check_and_no_negative_share(tmp_path, capsys):
    from egov_abm.scenarios.cli import main

    out = tmp_path / "rep"
    assert main(["calibrate", "report", "--draws", "10", "--agents", "300", "--workers", "1", "--out", str(out)]) == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    post = load_posterior()
    for heading in ("## Generations", "## Parameters: what the data identify", "## In-sample check",
                    "## Hold-out check: fit before 2018", "## Synthetic check", "## Baseline projection 2022-2030"):
        assert heading in text, heading
    assert f"{post.meta['simulations']:,} model runs" in text
    assert len([line for line in text.splitlines() if line.startswith("| 2")]) >= 9  # projection rows 2022-2030
    ppc = pd.read_csv(out / "posterior_predictive.csv")
    shares = ppc[~ppc["target"].isin(["registered_users", "internet_gap_urban_rural"])]
    assert (shares[["model_q05", "pred_q05"]] >= 0).all().all() and (shares[["pred_q95"]] <= 1).all().all()
    held = pd.read_csv(out / "holdout.csv")
    assert set(held["date"].str[:4]) == {"2018", "2019", "2020", "2021"}
    proj = pd.read_csv(out / "projection_2022_2030.csv")
    for col in ("adoption", "share_active_month", "share_ever_used", "share_assisted"):
        assert (proj[f"{col}_q05"] <= proj[f"{col}_q25"]).all() and (proj[f"{col}_q75"] <= proj[f"{col}_q95"]).all()
