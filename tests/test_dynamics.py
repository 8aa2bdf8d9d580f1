"""Calibration of the dynamics: observation model, ABC-SMC recovery, checkpoint and resume."""

import dataclasses

import numpy as np
import pytest

from egov_abm.calibration.defaults import demographic_constants
from egov_abm.calibration.posterior import DEFAULT_POSTERIOR, load_posterior, write_posterior
from egov_abm.calibration.priors import Prior
from egov_abm.calibration.sampler import abc_smc
from egov_abm.calibration.simulate import SimConfig, Simulator
from egov_abm.calibration.targets import (
    END_MONTH,
    START_MONTH,
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
    assert {o.target for o in obs} == {"internet_access", "digital_literacy", "registered_users", "households_using"}
    assert month_index("2012-05", START_MONTH) == 73 and month_index("2006-04", START_MONTH) == 0
    c = demographic_constants()
    rows = [dict(internet_access=0.5, digital_literacy=0.4, share_ever_used=0.01, adoption=0.2)] * 200
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
    assert sim.run(dict(zip(TRUTH, theta, strict=True))) == direct.outcomes
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
def test_recovers_known_parameters_within_90_percent_interval():
    observations = synthetic_observations(seed=77)
    config = SimConfig(base_params=base_params(), n_agents=2000, seed=2006)
    post = abc_smc(config, budget=900, population=60, seed=3, workers=2, priors=PRIORS,
                     observations=observations, min_tolerance=0.3)
    assert len(post.generations) >= 3
    summary = {row["parameter"]: row for row in post.summary()}
    for name, value in TRUTH.items():
        assert summary[name]["q05"] <= value <= summary[name]["q95"], (name, summary[name])
    # the internet series identifies access growth: the 90 % interval is under a third of the prior's width
    width = summary["access_social_per_year"]["q95"] - summary["access_social_per_year"]["q05"]
    assert width < 1.5 / 3
    assert np.isclose(post.weights.sum(), 1.0) and (post.weights > 0).all()


@pytest.mark.slow
def test_interrupted_calibration_resumes_to_the_same_posterior(tmp_path):
    observations = synthetic_observations(seed=5)
    config = SimConfig(base_params=base_params(), n_agents=500, seed=2006)
    kw = dict(population=24, seed=9, workers=2, priors=PRIORS, observations=observations, min_tolerance=0.0,
              max_generations=3, batch=8)
    whole = abc_smc(config, budget=10_000, **kw)
    ckpt = tmp_path / "post.checkpoint"
    cut = whole.generations[0]["simulations"] + whole.generations[1]["simulations"] + 8
    part = abc_smc(config, budget=cut, checkpoint=ckpt, **kw)  # stops inside generation 2
    assert len(part.generations) == 2 and ckpt.exists()
    resumed = abc_smc(config, budget=10_000, checkpoint=ckpt, **kw)
    assert len(resumed.generations) == 3
    np.testing.assert_array_equal(resumed.particles, whole.particles)
    np.testing.assert_array_equal(resumed.weights, whole.weights)


def test_checkpoint_of_another_calibration_is_refused(tmp_path):
    observations = synthetic_observations(seed=5)
    config = SimConfig(base_params=base_params(), n_agents=300, seed=2006)
    ckpt = tmp_path / "c.checkpoint"
    abc_smc(config, budget=40, population=12, seed=1, workers=1, priors=PRIORS, observations=observations,
              checkpoint=ckpt, max_generations=1)
    with pytest.raises(InputError, match="checkpoint of a different calibration"):
        abc_smc(config, budget=40, population=12, seed=2, workers=1, priors=PRIORS, observations=observations,
                  checkpoint=ckpt, max_generations=1)


def test_baseline_runs_on_the_posterior_and_reproduces_the_history():
    """`egov-abm run` defaults: April 2006 start, posterior medians; the run is as close to the record as a
    typical accepted particle (distance at most the posterior's median distance)."""
    from egov_abm.scenarios.runner import run_one

    post = load_posterior()
    scenario = load_scenario("baseline")
    assert scenario.params.start_month == "2006-04" and scenario.posterior == DEFAULT_POSTERIOR.resolve()
    for name, value in post.median_values().items():
        assert getattr(scenario.params, name) == value
    months = month_index(END_MONTH, START_MONTH)
    frame = run_one(scenario.with_overrides(n_agents=post.meta["n_agents"]), 1, months=months)
    assert str(frame["date"].iloc[0].date()) == "2006-04-01"
    obs = load_observations()
    dist = distance(observe(frame.to_dict("records"), obs, demographic_constants()), obs)
    assert dist <= np.median(post.distances)
    assert post.meta["command"].startswith("egov-abm calibrate dynamics")


def test_calibrate_dynamics_writes_the_posterior_and_a_rerun_resumes(tmp_path):
    from egov_abm.calibration.sampler import calibrate_dynamics, checkpoint_path

    out = tmp_path / "post.json"
    kw = dict(population=10, agents=100, seed=1, workers=1)
    post = calibrate_dynamics(30, out, **kw)
    assert post.meta["command"] == ("egov-abm calibrate dynamics --budget 30 --population 10 --agents 100 "
                                    "--seed 1 --tolerance 1.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["post.json", checkpoint_path(out).name]
    written = load_posterior(out)
    np.testing.assert_array_equal(written.particles, post.particles)
    assert written.names == [p.name for p in Params.uncertainties()]
    lines = []
    again = calibrate_dynamics(30, out, **kw, log=lines.append)
    assert lines[0].startswith("resuming after generation 0")
    np.testing.assert_array_equal(again.particles, post.particles)
    with pytest.raises(InputError, match="is a folder"):
        calibrate_dynamics(30, tmp_path, **kw)


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
