"""Sweeps: spec validation, designs, the Dask runner (real local clusters), resume, failures, analysis."""

import ipaddress
import json
import math
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from egov_abm.model import InputError
from egov_abm.scenarios.cli import main
from egov_abm.scenarios.experiments.analysis import analyze_dir
from egov_abm.scenarios.experiments.spec import Factor, SweepError, SweepSpec, design_size, load_sweep, make_design
from egov_abm.scenarios.experiments.sweep import (
    ResultStore,
    SweepInterrupted,
    local_cluster,
    plan_sweep,
    prepare_dir,
    run_sweep,
)
from egov_abm.scenarios.runner import run_one
from egov_abm.scenarios.scenario import SCENARIO_DIR, load_scenario

distributed = pytest.importorskip("distributed")

SMOKE = SCENARIO_DIR / "sweeps" / "smoke.toml"
VOLATILE = ["seconds", "worker"]  # differ between two executions of the same run


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


SMALL = """
name = "small"
scenario = "baseline"
seed = 3
replicates = {replicates}
months = {months}
[fixed]
n_agents = {agents}
[design]
method = "grid"
[parameters]
p_external_per_year = {{ values = [0.02, 0.06] }}
q_social_per_year = {{ min = 0.4, max = 1.2, steps = 3 }}
[outcomes]
summary = ["adoption", "months_to_5", "gap_urban_rural"]
series = ["adoption"]
every = 12
"""


def small_plan(tmp_path, replicates=2, months=48, agents=500):
    return plan_sweep(load_sweep(write_spec(tmp_path, SMALL.format(replicates=replicates, months=months,
                                                                   agents=agents))))


@pytest.fixture(scope="module")
def client():
    c, cluster = local_cluster(2)  # as the sweep starts it
    yield c
    c.close()
    cluster.close()


def stored(out_dir) -> pd.DataFrame:
    return pd.read_parquet(out_dir).sort_values("run_id").reset_index(drop=True)


# ------------------------------------------------------------------ spec
BAD_SPECS = {
    "seed_above_int64": ('name = "x"\nseed = 18446744073709551616\n[parameters]\n'
                         'q_social_per_year = { values = [0.1] }\n',
                         "seed: expected a whole number in [0, 2**63 - 1], got 18446744073709551616"),
    "no_parameters": ('name = "x"\n', "parameters: required field is missing"),
    "unknown_field": ('name = "x"\nreps = 2\n[parameters]\nq_social_per_year = { min = 0.1, max = 0.5 }\n',
                      "unknown field 'reps'"),
    "unknown_param": ('name = "x"\n[design]\nmethod = "lhs"\nsamples = 4\n[parameters]\nq = { min = 0, max = 1 }\n',
                      "parameters.q: unknown parameter"),
    "min_not_below_max": ('name = "x"\n[design]\nmethod = "lhs"\nsamples = 4\n[parameters]\n'
                          'q_social_per_year = { min = 0.5, max = 0.5 }\n', "expected min < max"),
    "out_of_range": ('name = "x"\n[design]\nmethod = "lhs"\nsamples = 4\n[parameters]\n'
                     'p_success = { min = 0.5, max = 1.5 }\n', "parameters.p_success.max: p_success: expected a value"
                                                               " in [0.0, 1.0]"),
    "sobol_not_power_of_two": ('name = "x"\n[design]\nmethod = "sobol"\nsamples = 100\n[parameters]\n'
                               'q_social_per_year = { min = 0.1, max = 0.5 }\n', "needs a power of 2"),
    "text_in_sobol": ('name = "x"\n[design]\nmethod = "sobol"\nsamples = 8\n[parameters]\n'
                      'network = { values = ["homophily"] }\n', "only a grid takes listed values"),
    "grid_without_steps": ('name = "x"\n[parameters]\nq_social_per_year = { min = 0.1, max = 0.5 }\n',
                           "a grid needs steps"),
    "log_needs_positive": ('name = "x"\n[design]\nmethod = "lhs"\nsamples = 4\n[parameters]\n'
                           'q_social_per_year = { min = 0.0, max = 0.5, scale = "log" }\n',
                           "a log scale needs min > 0"),
    "repeated_int": ('name = "x"\n[parameters]\nmean_degree = { min = 4, max = 6, steps = 5 }\n',
                     "repeat a whole number"),
    "fixed_and_varied": ('name = "x"\n[fixed]\nq_social_per_year = 0.3\n[parameters]\n'
                         'q_social_per_year = { values = [0.1] }\n', "also varies in [parameters]"),
    "bad_dose": ('name = "x"\n[parameters]\n[levers]\ndose_scale = { values = [1, -1] }\n',
                 "levers.dose_scale.values[1]: expected a number in [0, 10]"),
    "bad_fixed_dose": ('name = "x"\n[parameters]\nq_social_per_year = { values = [0.1] }\n[levers]\ndose_scale = 11\n',
                       "levers.dose_scale: expected a number in [0, 10]"),
    "dose_in_parameters": ('name = "x"\n[parameters]\ndose_scale = { values = [1, 2] }\n',
                           "parameters.dose_scale: a policy lever, not a model parameter; put it under [levers]"),
    "dose_in_fixed": ('name = "x"\n[fixed]\ndose_scale = 2\n[parameters]\nq_social_per_year = { values = [0.1] }\n',
                      "fixed.dose_scale: a policy lever, not a model parameter; put it under [levers]"),
    "parameter_in_levers": ('name = "x"\n[parameters]\n[levers]\nq_social_per_year = { values = [0.1] }\n',
                            "levers.q_social_per_year: unknown lever (known: dose_scale); model parameters go under"),
    "bad_replicates": ('name = "x"\nreplicates = 0\n[parameters]\nq_social_per_year = { values = [0.1] }\n',
                       "replicates: expected a whole number in [1, 10000], got 0"),
    "bad_method": ('name = "x"\n[design]\nmethod = "factorial"\n[parameters]\nq_social_per_year = { values = [0.1] }\n',
                   "design.method: expected one of grid, lhs, sobol, morris"),
    "morris_odd_levels": ('name = "x"\n[design]\nmethod = "morris"\nsamples = 4\nlevels = 3\n[parameters]\n'
                          'q_social_per_year = { min = 0.1, max = 0.5 }\n', "design.levels: expected an even"),
    "missing_scenario": ('name = "x"\nscenario = "nope"\n[parameters]\nq_social_per_year = { values = [0.1] }\n',
                         "scenario: scenario 'nope': no such file"),
    "bad_toml": ('name = "x\n', "not valid TOML"),
    "outcome_not_list": ('name = "x"\n[parameters]\nq_social_per_year = { values = [0.1] }\n[outcomes]\n'
                         'summary = "adoption"\n', "outcomes: summary: expected a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_sweep_files_give_one_line_naming_file_and_field(case, tmp_path, capsys):
    text, fragment = BAD_SPECS[case]
    path = write_spec(tmp_path, text)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    code = main(["sweep", str(path), "--out", str(out_dir / "sub")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and fragment in err, err
    assert not (out_dir / "sub").exists() and (out_dir / "keep.txt").read_text() == "mine"


def test_unknown_outcome_is_caught_before_any_run(tmp_path, capsys):
    path = write_spec(tmp_path, 'name = "x"\n[parameters]\nq_social_per_year = { values = [0.1] }\n'
                                '[outcomes]\nsummary = ["adoptoin"]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "outcomes.summary: unknown outcome 'adoptoin'" in err
    assert not (tmp_path / "o").exists()


def test_levers_are_declared_apart_from_parameters_varied_or_fixed(tmp_path):
    varied = load_sweep(write_spec(tmp_path, 'name = "x"\n[parameters]\nq_social_per_year = { values = [0.1, 0.2] }\n'
                                             '[levers]\ndose_scale = { min = 0.5, max = 1.5, steps = 3 }\n'))
    assert varied.names == ["q_social_per_year", "dose_scale"]
    assert [f.lever for f in varied.factors] == [False, True] and varied.fixed_levers == {}
    assert sorted(make_design(varied).points["dose_scale"].unique()) == [0.5, 1.0, 1.5]
    fixed = load_sweep(write_spec(tmp_path, 'name = "y"\nmonths = 1\n[fixed]\nn_agents = 100\n[parameters]\n'
                                            'q_social_per_year = { values = [0.1] }\n[levers]\ndose_scale = 2\n',
                                  "fixed.toml"))
    assert fixed.names == ["q_social_per_year"] and fixed.fixed_levers == {"dose_scale": 2.0}
    assert {t.dose_scale for t in plan_sweep(fixed).tasks} == {2.0}
    default = load_sweep(write_spec(tmp_path, SMALL.format(replicates=1, months=1, agents=100), "default.toml"))
    assert {t.dose_scale for t in plan_sweep(default).tasks} == {1.0}


def test_grid_design_is_the_product_of_values_in_file_order(tmp_path):
    spec = load_sweep(write_spec(tmp_path, SMALL.format(replicates=1, months=1, agents=100)))
    design = make_design(spec)
    assert design_size(spec) == len(design.points) == 6
    assert design.points[["p_external_per_year", "q_social_per_year"]].values.tolist() == [
        [0.02, 0.4], [0.02, 0.8], [0.02, 1.2], [0.06, 0.4], [0.06, 0.8], [0.06, 1.2]]


@pytest.mark.parametrize("method,extra,size", [("lhs", "", 10), ("sobol", "", 16 * 5),
                                               ("sobol", "second_order = true\n", 16 * 8),
                                               ("morris", "levels = 4\n", 16 * 4)])
def test_sampled_designs_size_bounds_and_seed(method, extra, size, tmp_path):
    samples = 10 if method == "lhs" else 16
    text = (f'name = "x"\nseed = 5\n[design]\nmethod = "{method}"\nsamples = {samples}\n{extra}[parameters]\n'
            'p_external_per_year = { min = 0.003, max = 0.3, scale = "log" }\n'
            'mean_degree = { min = 4, max = 20 }\nq_social_per_year = { min = 0.1, max = 1.9 }\n')
    spec = load_sweep(write_spec(tmp_path, text))
    a, b = make_design(spec), make_design(spec)
    assert design_size(spec) == len(a.points) == size
    assert a.points.equals(b.points) and np.array_equal(a.raw, b.raw)
    p = a.points
    assert p["p_external_per_year"].between(0.003, 0.3).all()
    assert p["mean_degree"].dtype == np.int64 and p["mean_degree"].between(4, 20).all()
    # log scale: the raw sample is the natural log of the value
    assert np.allclose(np.exp(a.raw[:, 0]), p["p_external_per_year"])
    other = load_sweep(write_spec(tmp_path, text.replace("seed = 5", "seed = 6"), "other.toml"))
    assert not make_design(other).points.equals(p)


# ---------------------------------------------------------------- running
def test_local_cluster_workers_run_no_profiler(client):
    """Dask's workers sample their task's stack every 10 ms by default; the sweep's local cluster switches it off."""
    import dask

    assert dask.config.get("distributed.worker.profile.enabled") is True  # the default, in this process
    assert client.run(lambda dask_worker: dask.config.get("distributed.worker.profile.enabled")) == {
        w: False for w in client.scheduler_info()["workers"]}
    assert client.run(lambda dask_worker: sorted(name for name in dask_worker.periodic_callbacks
                                                 if name.startswith("profile"))) == {
        w: [] for w in client.scheduler_info()["workers"]}


def test_smoke_sweep_on_two_worker_cluster_one_row_per_point_and_replicate(client, tmp_path):
    spec = load_sweep(SMOKE)
    plan = plan_sweep(spec)
    stats = run_sweep(plan, tmp_path / "smoke", client=client)
    assert stats.workers == 2 and stats.computed == 12 and stats.failed == 0 and stats.skipped == 0
    frame = pd.read_parquet(tmp_path / "smoke")
    assert len(frame) == 6 * 2 == len(plan.tasks)
    assert sorted(zip(frame["point"], frame["replicate"], strict=True)) == [(p, r) for p in range(6) for r in range(2)]
    assert frame["run_id"].is_unique and (frame["status"] == "ok").all() and frame["error"].isna().all()
    assert frame["worker"].nunique() == 2  # both workers took runs
    assert len(frame["series_month"].iloc[0]) == 21  # months 0, 6, ..., 120
    # every stored run is exactly what a direct call of the model gives
    row = frame[(frame["point"] == 4) & (frame["replicate"] == 1)].iloc[0]
    scenario = load_scenario("baseline").with_overrides(n_agents=1000, p_external_per_year=0.06,
                                                        q_social_per_year=0.8)
    direct = run_one(scenario, 1, 1, months=120)
    assert row["adoption"] == direct["adoption"].iloc[-1]
    assert row["gap_urban_rural"] == direct["adoption_urban"].iloc[-1] - direct["adoption_rural"].iloc[-1]
    assert list(row["series_adoption"]) == direct["adoption"].iloc[::6].tolist()
    assert row["share_aware"] == direct["share_aware"].iloc[-1]
    # common random numbers: a point's replicates differ, replicate r is the same stream everywhere
    # (their series: two replicates of 1,000 citizens can end on the same share by chance)
    assert frame.groupby("point")["series_adoption"].agg(lambda s: len({tuple(x) for x in s})).min() == 2
    meta = json.loads((tmp_path / "smoke" / "_sweep.json").read_text())
    assert meta["runs"] == 12 and meta["points"] == 6 and meta["method"] == "grid"


@pytest.mark.slow
def test_killed_worker_mid_sweep_every_run_exactly_once(tmp_path):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=50)
    client = Client(cluster)
    try:
        plan = small_plan(tmp_path, replicates=4, months=120, agents=2000)
        killed = []
        finished = []

        def kill_a_busy_worker(row):
            finished.append(row)
            if killed:
                return
            for address, keys in client.processing().items():
                if keys:
                    pid = client.run(os.getpid, workers=[address])[address]
                    os.kill(pid, signal.SIGKILL)
                    killed.append((address, keys, pid, len(finished)))
                    return

        # one run a task, so each finished row is one gathered result
        stats = run_sweep(plan, tmp_path / "out", client=client, progress=kill_a_busy_worker, batch=1)
        assert killed, "no worker was busy to kill"
        address, keys, pid, finished_before = killed[0]
        assert keys  # it was running (or holding) a run when it died
        frame = pd.read_parquet(tmp_path / "out")
        assert len(frame) == 24 and frame["run_id"].is_unique
        assert set(frame["run_id"]) == {t.run_id for t in plan.tasks}
        assert (frame["status"] == "ok").all(), frame["error"].dropna().tolist()
        assert stats.computed == 24 and stats.failed == 0
        # what the killed worker held was done again elsewhere: its runs are at most those gathered before the kill
        # (the surviving worker may do all the others before the restarted one is up: the runs are short)
        assert (frame["worker"] == f"{socket.gethostname()}:{pid}").sum() <= finished_before < 24
        deadline = time.time() + 30  # the nanny restarts the dead worker
        while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert pid not in client.run(os.getpid).values()
    finally:
        client.close()
        cluster.close()


def test_interrupted_sweep_resumes_without_recomputing_and_matches_uninterrupted(client, tmp_path):
    plan = small_plan(tmp_path)
    total = len(plan.tasks)
    seen = []

    def interrupt_after_five(row):
        seen.append(row["run_id"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted, match="runs are stored"):
        run_sweep(plan, tmp_path / "a", client=client, progress=interrupt_after_five, flush_runs=1000)
    first = pd.read_parquet(tmp_path / "a")
    assert len(first) == 5 and set(first["run_id"]) == set(seen)  # written on the interrupt, none lost

    again = []
    stats = run_sweep(plan, tmp_path / "a", client=client, progress=lambda row: again.append(row["run_id"]))
    assert stats.skipped == 5 and stats.computed == total - 5
    assert not set(again) & set(seen) and len(again) == total - 5
    resumed = stored(tmp_path / "a")

    run_sweep(plan, tmp_path / "b", client=client)
    whole = stored(tmp_path / "b")
    assert resumed["run_id"].is_unique and len(resumed) == total
    pd.testing.assert_frame_equal(resumed.drop(columns=VOLATILE), whole.drop(columns=VOLATILE))

    # a third call computes nothing
    stats = run_sweep(plan, tmp_path / "a", client=client)
    assert stats.computed == 0 and stats.skipped == total


def test_batches_give_the_same_table_as_one_run_per_task_and_resume_mid_batch(client, tmp_path):
    """Runs grouped several per Dask task store exactly what one run per task stores; an interrupt
    in the middle of a batch keeps the rows already seen, and the rest are computed on resume."""
    plan = small_plan(tmp_path)
    total = len(plan.tasks)
    run_sweep(plan, tmp_path / "one", client=client, batch=1)
    one = stored(tmp_path / "one")
    run_sweep(plan, tmp_path / "five", client=client, batch=5)  # 5 + 5 + 2: the last batch is short
    pd.testing.assert_frame_equal(stored(tmp_path / "five").drop(columns=VOLATILE), one.drop(columns=VOLATILE))

    seen = []

    def interrupt_after_seven(row):
        seen.append(row["run_id"])
        if len(seen) == 7:  # the second row of the second batch
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted, match="runs are stored"):
        run_sweep(plan, tmp_path / "cut", client=client, progress=interrupt_after_seven, flush_runs=1000, batch=5)
    assert set(pd.read_parquet(tmp_path / "cut")["run_id"]) == set(seen)
    stats = run_sweep(plan, tmp_path / "cut", client=client, batch=4)
    assert stats.skipped == 7 and stats.computed == total - 7
    resumed = stored(tmp_path / "cut")
    assert resumed["run_id"].is_unique and len(resumed) == total
    pd.testing.assert_frame_equal(resumed.drop(columns=VOLATILE), one.drop(columns=VOLATILE))


def test_batch_size_groups_small_runs_and_leaves_large_runs_alone(tmp_path):
    from egov_abm.scenarios.experiments.sweep import BATCH_CITIZEN_MONTHS, MAX_BATCH, _failed_rows, batch_size

    tasks = small_plan(tmp_path, replicates=50, months=24, agents=2000).tasks  # 300 runs of 48,000 citizen-months
    assert batch_size(tasks, 2) == BATCH_CITIZEN_MONTHS // 48_000
    assert batch_size(tasks[:16], 2) == 2  # at least four batches per worker
    assert batch_size(tasks[:1], 2) == 1 and batch_size([], 2) == 1
    large = small_plan(tmp_path, replicates=1, months=240, agents=5000).tasks  # 1.2 million citizen-months each
    assert batch_size(large, 2) == 1
    tiny = small_plan(tmp_path, replicates=300, months=12, agents=100).tasks
    assert batch_size(tiny, 1) == MAX_BATCH
    rows = _failed_rows(tasks[:3], RuntimeError("worker lost"))  # a batch that could not be computed
    assert [r["run_id"] for r in rows] == [t.run_id for t in tasks[:3]]
    assert all(r["status"] == "failed" and r["error"] == "RuntimeError: worker lost" for r in rows)


def test_failing_runs_are_recorded_and_the_sweep_goes_on_then_retried(client, tmp_path):
    text = ('name = "fails"\nreplicates = 1\nmonths = 12\n[fixed]\nmean_degree = 20\n[parameters]\n'
            'n_agents = { values = [10, 300] }\n')
    with pytest.raises(InputError, match="design point 0: n_agents, mean_degree: a homophily graph with mean_degree "
                                         "20 needs n_agents > mean_degree, got n_agents 10"):
        plan_sweep(load_sweep(write_spec(tmp_path, text)))  # a point the model cannot run is refused before any run
    plan = plan_sweep(load_sweep(write_spec(tmp_path, text.replace("[10, 300]", "[30, 300]"))))
    plan.tasks[0].params["n_agents"] = 10  # so this run raises in its worker
    stats = run_sweep(plan, tmp_path / "out", client=client)
    assert stats.computed == 2 and stats.failed == 1
    frame = pd.read_parquet(tmp_path / "out").set_index("n_agents")
    assert frame.loc[30, "status"] == "failed"
    assert frame.loc[30, "error"] == ("ParamError: parameters: n_agents, mean_degree: a homophily graph with "
                                      "mean_degree 20 needs n_agents > mean_degree, got n_agents 10")
    assert np.isnan(frame.loc[30, "adoption"])
    assert frame.loc[300, "status"] == "ok" and frame.loc[300, "adoption"] >= 0
    # a failed run is not retried unless asked, and retrying replaces its row
    assert run_sweep(plan, tmp_path / "out", client=client).computed == 0
    stats = run_sweep(plan, tmp_path / "out", client=client, retry_failed=True)
    assert stats.computed == 1 and stats.failed == 1
    again = pd.read_parquet(tmp_path / "out")
    assert len(again) == 2 and again["run_id"].is_unique


def test_changed_sweep_file_is_refused_for_an_existing_folder(client, tmp_path, capsys):
    plan = small_plan(tmp_path, replicates=1, months=12)
    run_sweep(plan, tmp_path / "out", client=client)
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    changed = write_spec(tmp_path, SMALL.format(replicates=3, months=12, agents=500), "changed.toml")
    code = main(["sweep", str(changed), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "holds a different sweep (changed: replicates)" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before


def test_not_a_sweep_folder_is_refused(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    assert main(["sweep", str(SMOKE), "--out", str(tmp_path / "mine")]) == 2
    assert "folder is not empty and holds no sweep" in capsys.readouterr().err


def test_cli_sweep_on_an_existing_scheduler_then_analyze(client, tmp_path, capsys):
    path = write_spec(tmp_path, SMALL.format(replicates=2, months=24, agents=300))
    out = tmp_path / "out"
    code = main(["sweep", str(path), "--out", str(out), "--scheduler", client.scheduler.address])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "6 points x 2 replicate(s) = 12 runs of 300 citizens over 24 months" in text
    assert "12 runs in" in text and "on 2 worker(s)" in text
    assert main(["sweep", str(path), "--out", str(out), "--scheduler", client.scheduler.address]) == 0
    assert "all 12 runs were already done" in capsys.readouterr().out
    assert main(["analyze", str(out)]) == 0
    text = capsys.readouterr().out
    assert "12 runs (12 ok, 0 failed, 0 not run yet)" in text
    summary = pd.read_csv(out / "_analysis" / "summary.csv")
    frame = pd.read_parquet(out)
    assert len(summary) == 6
    expected = frame.groupby("point")["adoption"].mean()
    assert np.allclose(summary.set_index("point")["adoption_mean"], expected)
    for name in ("report.md", "outcomes_by_parameter.png", "series_adoption.png"):
        assert (out / "_analysis" / name).stat().st_size > 0
    # analysis files do not disturb reading the results
    assert len(pd.read_parquet(out)) == 12


def test_cli_flags_are_validated(tmp_path, capsys, monkeypatch):
    from egov_abm.scenarios.experiments import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "CONNECT_TIMEOUT", "1s")  # nothing listens on port 9: no need to wait 10 s
    assert main(["sweep", str(SMOKE), "--scheduler", "localhost"]) == 2
    assert "expected an address such as tcp://host:8786" in capsys.readouterr().err
    assert main(["sweep", str(SMOKE), "--scheduler", "tcp://127.0.0.1:9", "--workers", "2"]) == 2
    assert "--workers sizes a local cluster" in capsys.readouterr().err
    assert main(["sweep", str(SMOKE), "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")]) == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: cannot read" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert main(["sweep", str(SMOKE), "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    assert "6 points x 2 replicate(s) = 12 runs" in capsys.readouterr().out
    assert not (tmp_path / "dry").exists()


# --------------------------------------------------------------- analysis
def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1):
    v1 = 0.5 * (1 + b * math.pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * math.pi ** 8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    return [v1 / var, v2 / var, 0.0], [(v1 + v13) / var, v2 / var, v13 / var]


def test_sobol_indices_of_ishigami_through_the_analysis_path(tmp_path):
    """Analytic S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244); bound 0.04 at N = 2048."""
    factors = tuple(Factor(name=f"x{k}", kind="float", low=-math.pi, high=math.pi) for k in (1, 2, 3))
    spec = SweepSpec(name="ishigami", description="test function", scenario="none", seed=11, replicates=1,
                     months=0, ensemble=False, fixed={}, method="sobol", samples=2048, second_order=False, levels=4,
                     factors=factors, summary=("y",), series=(), every=1)
    design = make_design(spec)
    out = tmp_path / "ishigami"
    out.mkdir()
    points = design.points.assign(**{f"raw_x{k}": design.raw[:, k - 1] for k in (1, 2, 3)})
    points.to_parquet(out / "_design.parquet")
    runs = pd.DataFrame({"point": points["point"], "replicate": 0, "run_id": [f"r{p}" for p in points["point"]]})
    runs.to_parquet(out / "_runs.parquet")
    meta = {"name": "ishigami", "method": "sobol", "seed": 11, "replicates": 1, "second_order": False,
            "levels": 4, "parameters": [{"name": f.name} for f in factors], "problem": spec.problem(),
            "summary": ["y"], "series": [], "scenario": "none", "months": 0, "start_month": "2006-04"}
    (out / "_sweep.json").write_text(json.dumps(meta))
    import pyarrow as pa

    schema = pa.schema([("run_id", pa.string()), ("point", pa.int64()), ("status", pa.string()),
                        ("y", pa.float64())])
    store = ResultStore(out, schema)
    for k, y in enumerate(ishigami(design.raw)):
        store.add({"run_id": f"r{k}", "point": k, "status": "ok", "y": float(y)})
    store.flush()
    result, target = analyze_dir(out)
    s1, st = ishigami_indices()
    table = result.indices.set_index("parameter")
    assert len(design.points) == 2048 * 5
    assert np.allclose(table["S1"].to_numpy(), s1, atol=0.04), table
    assert np.allclose(table["ST"].to_numpy(), st, atol=0.04), table
    assert (target / "sobol_indices.png").exists() and (target / "indices.csv").exists()


def test_morris_ranks_ishigami_x3_as_interacting(tmp_path):
    factors = tuple(Factor(name=f"x{k}", kind="float", low=-math.pi, high=math.pi) for k in (1, 2, 3))
    spec = SweepSpec(name="m", description="", scenario="none", seed=2, replicates=1, months=0, ensemble=False,
                     fixed={}, method="morris", samples=200, second_order=False, levels=4, factors=factors,
                     summary=("y",), series=(), every=1)
    design = make_design(spec)
    from egov_abm.scenarios.experiments.analysis import analyze

    points = design.points.assign(**{f"raw_x{k}": design.raw[:, k - 1] for k in (1, 2, 3)})
    runs = pd.DataFrame({"point": points["point"], "replicate": 0, "run_id": points["point"].astype(str)})
    results = pd.DataFrame({"run_id": runs["run_id"], "status": "ok", "y": ishigami(design.raw)})
    meta = {"method": "morris", "seed": 2, "levels": 4, "parameters": [{"name": f.name} for f in factors],
            "problem": spec.problem(), "summary": ["y"], "second_order": False}
    t = analyze(meta, points, runs, results).indices.set_index("parameter")
    # x2 acts alone (sigma from its non-linearity only); x3 acts only through x1: mu near 0, mu* > 0
    assert t.loc["x1", "mu_star"] > t.loc["x3", "mu_star"] > 0
    assert abs(t.loc["x3", "mu"]) < 0.5 * t.loc["x3", "mu_star"]


def test_prepare_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    plan = small_plan(tmp_path, replicates=1, months=1, agents=100)
    from egov_abm.model import InputError

    with pytest.raises(InputError, match="exists and is not a folder"):
        prepare_dir(plan, tmp_path / "f")


def test_spec_error_type(tmp_path):
    with pytest.raises(SweepError):
        load_sweep(write_spec(tmp_path, 'name = "x"\n[parameters]\n'))


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_keeps_finished_runs_and_a_rerun_completes(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it; a second sweep meanwhile is refused."""
    import subprocess
    import sys

    # 360 runs: about 10 s of work on two workers, well beyond the moments of the test's signals
    spec = write_spec(tmp_path, SMALL.format(replicates=60, months=240, agents=1500))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "egov_abm.scenarios.cli", "sweep", str(spec), "--out", str(out), "--workers", "2"]
    # a shell that started pytest in the background may have set SIGINT to ignored, and children inherit that
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        while not (out / ".lock").exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(4)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "another sweep is writing to this folder" in second.stderr
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    stored_runs = pd.read_parquet(out)
    k = len(stored_runs)
    assert f"interrupted: {k} of 360 runs are stored" in err and 0 < k < 360
    assert stored_runs["run_id"].is_unique
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{360 - k} runs in" in rerun.stdout and f"{k} were already done" in rerun.stdout
    final = pd.read_parquet(out)
    assert len(final) == 360 and final["run_id"].is_unique and (final["status"] == "ok").all()


@pytest.mark.slow
def test_bench_sweep_prints_direct_and_cluster_rows(tmp_path, capsys):
    spec = write_spec(tmp_path, SMALL.format(replicates=1, months=12, agents=200))
    code = main(["bench", "--sweep", str(spec), "--workers", "1", "--repeat", "1", "--json", str(tmp_path / "b.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = json.loads((tmp_path / "b.json").read_text())
    assert [(r["mode"], r["workers"], r["runs"]) for r in rows] == [("direct", 1, 6), ("cold", 1, 6), ("warm", 1, 6)]
    assert all(r["runs_per_s"] > 0 for r in rows) and rows[0]["overhead_ms_per_run"] == 0
    assert "overhead ms/run" in out
    assert main(["bench", "--workers", "2"]) == 2
    assert "--workers: only used with --sweep" in capsys.readouterr().err


def test_ensemble_and_dose_scale_runs_equal_direct_calls(client, tmp_path):
    """Replicate r takes posterior draw r (varied parameters kept as set); dose_scale scales every dose."""
    text = ('name = "ens"\nscenario = "technology_only"\nseed = 4\nreplicates = 2\nmonths = 240\nensemble = true\n'
            '[fixed]\nn_agents = 400\n[parameters]\nq_social_per_year = { values = [0.5] }\n'
            '[levers]\ndose_scale = { values = [0.0, 2.0] }\n'
            '[outcomes]\nsummary = ["adoption", "cumulative_cost_kzt"]\n'
            'series = []\n')
    plan = plan_sweep(load_sweep(write_spec(tmp_path, text)))
    run_sweep(plan, tmp_path / "out", client=client)
    frame = pd.read_parquet(tmp_path / "out")
    assert "series_month" not in frame.columns and len(frame) == 4
    scenario = load_scenario("technology_only").with_overrides(n_agents=400, q_social_per_year=0.5)
    variants = scenario.variants(2, 4, ensemble=True)
    assert variants[0].params != variants[1].params  # two different posterior draws
    assert {v.params.q_social_per_year for v in variants} == {0.5}
    for dose in (0.0, 2.0):
        for r in (0, 1):
            direct = run_one(variants[r], 4, r, months=240, dose_scale=dose)
            row = frame[(frame["dose_scale"] == dose) & (frame["replicate"] == r)].iloc[0]
            assert row["adoption"] == direct["adoption"].iloc[-1]
            assert row["cumulative_cost_kzt"] == direct["cumulative_cost_kzt"].iloc[-1]
    by_dose = frame.groupby("dose_scale")["adoption"].mean()
    assert by_dose[2.0] > by_dose[0.0]


def test_shipped_sweeps_by_name_and_unknown_name(tmp_path, capsys):
    assert load_sweep("smoke").path == SMOKE
    assert design_size(load_sweep("overhead")) == 100 and load_sweep("overhead").replicates == 3
    sobol = load_sweep("sobol_dynamics")
    assert sobol.method == "sobol" and design_size(sobol) == 1280
    assert main(["sweep", "smok", "--dry-run"]) == 2
    assert "smok: no such file or shipped sweep (shipped: overhead, smoke, sobol_dynamics)" in capsys.readouterr().err


def test_damaged_sweep_folder_gives_one_line(client, tmp_path, capsys):
    plan = small_plan(tmp_path, replicates=1, months=6, agents=200)
    out = tmp_path / "out"
    run_sweep(plan, out, client=client)
    (out / "part-zzz.parquet").write_text("not parquet")
    assert main(["analyze", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the results" in err and "part-zzz.parquet" in err
    (out / "part-zzz.parquet").unlink()
    meta = json.loads((out / "_sweep.json").read_text())
    del meta["method"]
    (out / "_sweep.json").write_text(json.dumps(meta))
    assert main(["analyze", str(out)]) == 2
    assert "_sweep.json: method: required field is missing" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("dashboard", [False, True], ids=["no_dashboard", "dashboard"])
def test_local_sweep_listens_on_this_machine_only(tmp_path, listening, dashboard):
    if dashboard:
        pytest.importorskip("bokeh")
    seen, links = [], []

    def progress(row):
        if not seen:  # the cluster is up and computing: read the socket table of this process and its workers
            seen.extend(listening(os.getpid()))

    stats = run_sweep(small_plan(tmp_path, replicates=1, months=12, agents=300), tmp_path / "out", workers=1,
                      progress=progress, dashboard=links.append if dashboard else None)
    assert stats.computed == 6
    ports = {port for _, _, port in seen}
    assert len(ports) >= 3, f"expected the scheduler, the worker and its nanny listening, got {seen}"
    exposed = [s for s in seen if not ipaddress.ip_address(s[1]).is_loopback]
    assert not exposed, f"listening beyond this machine: {exposed}"
    if dashboard:
        assert len(links) == 1 and links[0].startswith("http://127.0.0.1:") and links[0].endswith("/status")
        assert int(links[0].split(":")[2].split("/")[0]) in ports


@pytest.mark.slow
def test_cli_dashboard_flag(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, SMALL.format(replicates=1, months=12, agents=300))
    assert main(["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:1", "--dashboard"]) == 2
    err = capsys.readouterr().err
    assert "--dashboard serves a local cluster's dashboard; a --scheduler cluster has its own" in err
    monkeypatch.setitem(sys.modules, "bokeh", None)  # as if bokeh were not installed
    assert main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--dashboard"]) == 2
    err = capsys.readouterr().err
    assert "--dashboard: Dask's dashboard needs the bokeh package (pip install 'egov-abm[dashboard]')" in err
    assert not (tmp_path / "a").exists(), "refused before anything is written"
    monkeypatch.delitem(sys.modules, "bokeh")
    pytest.importorskip("bokeh")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "b"), "--workers", "1", "--dashboard"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Dask dashboard: http://127\.0\.0\.1:\d+/status$", out, re.M), out


def test_cluster_that_fails_to_start_is_one_line(tmp_path, capsys, monkeypatch):
    from egov_abm.scenarios.experiments import sweep as sweep_module

    def nanny_fails(workers, **options):
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(sweep_module, "local_cluster", nanny_fails)
    spec = write_spec(tmp_path, SMALL.format(replicates=1, months=12, agents=200))
    with pytest.raises(SystemExit) as exited:  # the sweep command exits with SweepInterrupted.exit_code
        main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1"])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "the local Dask cluster failed to start (RuntimeError: Nanny failed to start.); nothing was run" in err


def _start_sweep(tmp_path, spec):
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "egov_abm.scenarios.cli", "sweep", str(spec), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc, out


def _finish(proc, send):
    try:
        send()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return err


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 1.5, "lock", "lock+1"])
def test_ctrl_c_at_any_moment_of_the_start_is_one_line(delay, tmp_path):
    """Ctrl-C while the libraries import, and while the local cluster starts (the lock is taken just before)."""
    spec = write_spec(tmp_path, SMALL.format(replicates=1, months=12, agents=200))
    proc, out = _start_sweep(tmp_path, spec)
    if isinstance(delay, str):
        deadline = time.time() + 60
        while not (out / ".lock").exists() and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(1.0 if delay == "lock+1" else 0.0)
    else:
        time.sleep(delay)
    err = _finish(proc, lambda: os.killpg(proc.pid, signal.SIGINT))
    assert proc.returncode == 130, err  # held back during the cluster's start, Ctrl-C still ends it before any run
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err, err


@pytest.mark.slow
def test_sigterm_writes_finished_runs_as_ctrl_c_does(tmp_path):
    """After the first periodic write (30 s), runs finished since are written on SIGTERM too, none lost."""
    # 3,600 runs: about 100 s of work on two workers, so the sweep is under way at the signal (after about 36 s)
    spec = write_spec(tmp_path, SMALL.format(replicates=600, months=240, agents=1500))
    proc, out = _start_sweep(tmp_path, spec)
    try:
        deadline = time.time() + 240
        while not list(out.glob("part-*.parquet")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        written = len(pd.read_parquet(out))
        time.sleep(5)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    err = _finish(proc, lambda: os.kill(proc.pid, signal.SIGTERM))  # the main process only, as a service manager
    assert proc.returncode == 143, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    stored_runs = pd.read_parquet(out)
    k = len(stored_runs)
    assert f"terminated: {k} of 3600 runs are stored" in err and written < k < 3600
    assert stored_runs["run_id"].is_unique


def test_a_signal_during_a_sweep_is_raised_at_the_next_safe_point_and_a_second_at_once():
    from egov_abm.scenarios.experiments.sweep import _signals_at_safe_points, _Terminated

    seen = []

    def previous_handler(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, previous_handler)
    try:
        with _signals_at_safe_points() as guard:
            assert guard.check() is False  # nothing noted yet
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # handled here: noted, not raised
            with pytest.raises(_Terminated):
                guard.check()
            assert guard.check() is False  # raised once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert seen == []  # the handler installed before is called only at the safe point
            with pytest.raises(KeyboardInterrupt):
                guard.check()
            assert seen == [signal.SIGINT]
            os.kill(os.getpid(), signal.SIGTERM)
            with pytest.raises(_Terminated):  # a second signal while one is noted: raised where it lands
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
        assert signal.getsignal(signal.SIGINT) is previous_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, before)
