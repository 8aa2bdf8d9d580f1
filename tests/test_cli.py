import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from egov_abm.scenarios.cli import main

BAD_FILES = {
    "unknown_param": ('name = "x"\n[parameters]\nq_social = 0.4\n', "parameters: unknown parameter 'q_social'"),
    "wrong_type": ('name = "x"\n[parameters]\np_success = "high"\n', "parameters: p_success: expected a number"),
    "out_of_range": ('name = "x"\n[parameters]\np_success = 1.2\n', "p_success: expected a value in [0.0, 1.0]"),
    "bad_toml": ('name = "x\n', "not valid TOML"),
    "unknown_field": ('name = "x"\nhorizon = 12\n', "unknown field 'horizon'"),
    "months_type": ('name = "x"\nmonths = "ten"\n', "months: expected a whole number"),
    "bad_start": ('name = "x"\nstart = "April 2006"\n', "start_month: expected a month as YYYY-MM"),
    "no_name": ('months = 3\n', "name: required field is missing"),
    "missing_include": ('name = "x"\ninclude = "nope.toml"\n', "no such file or shipped scenario"),
}


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_files_and_is_reproducible(tmp_path, capsys):
    args = ["run", "--agents", "2000", "--months", "24", "--seed", "1", "--replicates", "2"]
    code, out, _ = run_cli([*args, "--out", str(tmp_path / "a")], capsys)
    assert code == 0, out
    assert ("scenario baseline: 2,000 citizens, 24 months (2006-04 to 2008-04), 2 replicate(s) over posterior draws, "
            "seed 1") in out
    run_cli([*args, "--out", str(tmp_path / "b")], capsys)
    a = pd.read_parquet(tmp_path / "a" / "timeseries.parquet")
    b = pd.read_parquet(tmp_path / "b" / "timeseries.parquet")
    assert a.equals(b)
    assert (tmp_path / "a" / "timeseries.parquet").read_bytes() == (tmp_path / "b" / "timeseries.parquet").read_bytes()
    for col in ("scenario", "replicate", "seed", "month", "date", "adoption", "adoption_urban",
                "adoption_rural", "adoption_age_60plus", "adoption_region_astana_city", "n_uses", "n_failures"):
        assert col in a.columns
    assert len(a) == 2 * 25 and set(a["replicate"]) == {0, 1} and set(a["seed"]) == {1}
    assert a["date"].iloc[-1] == pd.Timestamp("2008-04-01")
    # replicates differ; adoption is a share in [0, 1]
    assert not a[a.replicate == 0]["share_aware"].reset_index(drop=True).equals(
        a[a.replicate == 1]["share_aware"].reset_index(drop=True))
    assert a["adoption"].between(0, 1).all()
    import json
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert meta["seed"] == 1 and meta["parameters"]["n_agents"] == 2000 and meta["version"]
    assert meta["sem"]["intention_on_readiness"] > 0


def test_set_overrides_any_parameter(tmp_path, capsys):
    code, out, err = run_cli(["run", "--agents", "300", "--months", "2", "--set", "network=small_world",
                              "--set", "p_success=0.5", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    import json
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["parameters"]["network"] == "small_world" and meta["parameters"]["p_success"] == 0.5


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--agents", "abc"], "'abc' is not a valid integer"),
        (["run", "--agents", "5"], "5 is not in the range x>=10"),
        (["run", "--months", "-1"], "--months"),
        (["run", "--seed", "-3"], "--seed"),
        (["run", "--frobnicate"], "No such option '--frobnicate'"),
        (["run", "--scenario", "no_such_scenario"], "scenario 'no_such_scenario': no such file or shipped scenario"),
        (["run", "--set", "p_success"], "expected KEY=VALUE"),
        (["run", "--set", "nope=1"], "command line: unknown parameter 'nope'"),
        (["run", "--set", "p_success=2"], "command line: p_success: expected a value in [0.0, 1.0]"),
        (["fly"], "No such command 'fly'"),
    ],
)
def test_bad_flags_one_line_nonzero(args, fragment, capsys, tmp_path):
    code, out, err = run_cli([*args, "--out", str(tmp_path)] if args[0] == "run" and len(args) > 1 else args, capsys)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_scenario_files_one_line_and_nothing_lost(case, tmp_path, capsys):
    text, fragment = BAD_FILES[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "timeseries.parquet").write_bytes(b"earlier results")
    code, _, err = run_cli(["run", "--scenario", str(path), "--months", "2", "--out", str(out_dir)], capsys)
    assert code == 2
    assert fragment in err and str(path) in err, err
    assert len(err.strip().splitlines()) == 1
    assert (out_dir / "timeseries.parquet").read_bytes() == b"earlier results"


def test_include_cycle_is_reported(tmp_path, capsys):
    (tmp_path / "a.toml").write_text('name = "a"\ninclude = "b.toml"\n')
    (tmp_path / "b.toml").write_text('name = "b"\ninclude = "a.toml"\n')
    code, _, err = run_cli(["run", "--scenario", str(tmp_path / "a.toml")], capsys)
    assert code == 2 and "include: cycle" in err and len(err.strip().splitlines()) == 1


def test_include_overrides_base(tmp_path, capsys):
    (tmp_path / "child.toml").write_text('name = "child"\ninclude = "baseline"\nmonths = 3\n'
                                         '[parameters]\np_success = 0.5\n')
    from egov_abm.scenarios.scenario import load_scenario

    s = load_scenario(tmp_path / "child.toml")
    base = load_scenario("baseline")
    assert (s.name, s.months, s.params.p_success) == ("child", 3, 0.5)
    assert s.params.network == base.params.network and s.params.start_month == "2006-04"


def test_console_script_prints_no_traceback(tmp_path):
    exe = [sys.executable, "-m", "egov_abm.scenarios.cli"]
    proc = subprocess.run([*exe, "run", "--agents", "many"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    ok = subprocess.run([*exe, "run", "--agents", "200", "--months", "3", "--out", str(tmp_path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "timeseries.parquet").exists()


def test_scenario_sem_file_is_used_and_validated(tmp_path, capsys):
    import json

    from egov_abm.calibration.defaults import DEFAULT_SEM_FILE

    doc = json.loads(DEFAULT_SEM_FILE.read_text())
    doc["sem"]["cov_attitude_trust"] = 0.1
    (tmp_path / "my_fit.json").write_text(json.dumps(doc))
    (tmp_path / "s.toml").write_text('name = "s"\ninclude = "baseline"\nsem_file = "my_fit.json"\nmonths = 2\n')
    code, _, err = run_cli(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "200",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["sem"]["cov_attitude_trust"] == 0.1 and meta["sem_file"].endswith("my_fit.json")

    (tmp_path / "bad.json").write_text('{"sem": {"cov_attitude_trust": "high"}}')
    (tmp_path / "b.toml").write_text('name = "b"\nsem_file = "bad.json"\n')
    code, _, err = run_cli(["run", "--scenario", str(tmp_path / "b.toml"), "--out", str(tmp_path / "o2")], capsys)
    assert code == 2 and "bad.json" in err and "cov_attitude_trust: expected a number" in err
    assert len(err.strip().splitlines()) == 1


def _toy_posterior(path):
    import json

    doc = {"method": "ABC-SMC", "names": ["p_external_per_year", "q_social_per_year"],
           "particles": [[0.01, 0.2], [0.02, 0.4], [0.04, 0.6], [0.08, 0.8]],
           "weights": [0.1, 0.2, 0.3, 0.4], "distances": [1.3, 0.9, 1.1, 1.2], "generations": [],
           "members": [2, 5, 0, 1]}
    path.write_text(json.dumps(doc))


def test_posterior_best_point_and_ensemble_draws(tmp_path, capsys):
    import json

    from egov_abm.scenarios.scenario import load_scenario

    _toy_posterior(tmp_path / "post.json")
    (tmp_path / "s.toml").write_text('name = "s"\nposterior = "post.json"\nmonths = 3\n'
                                     '[parameters]\nq_social_per_year = 0.5\n')
    s = load_scenario(tmp_path / "s.toml")
    # the best particle (smallest distance: the second) gives p and its SEM member; q is set explicitly
    assert s.params.p_external_per_year == 0.02 and s.params.q_social_per_year == 0.5
    assert s.sem_member == 5
    draws = [d for _, d in s.ensemble(4, seed=3)]
    assert draws == [d for _, d in s.ensemble(4, seed=3)]  # same seed, same draws (common random numbers)
    assert all(set(d) == {"p_external_per_year"} for d in draws)  # the explicit q is never replaced
    code, _, err = run_cli(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "200", "--replicates", "4",
                            "--ensemble", "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["ensemble"] and [d["p_external_per_year"] for d in meta["posterior_draws"]] == [
        d["p_external_per_year"] for _, d in s.ensemble(4, seed=1)]
    particles = meta["posterior_particles"]
    assert [[0.01, 0.02, 0.04, 0.08][i] for i in particles] == [d["p_external_per_year"]
                                                                 for d in meta["posterior_draws"]]
    assert meta["sem_members"] == [[2, 5, 0, 1][i] for i in particles]  # each draw runs on its particle's member
    code, _, err = run_cli(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "200", "--out",
                            str(tmp_path / "one")], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "one" / "run.json").read_text())
    assert meta["posterior_point"] == {"particle": 1, "what": "best particle (smallest distance)", "distance": 0.9,
                                       "sem_member": 5}
    assert meta["sem_member"] == 5 and meta["uncertainty"] == "chance"
    # several replicates default to full, as compare does; --uncertainty chooses, and run says which it used
    code, out, err = run_cli(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "200", "--replicates", "3",
                              "--out", str(tmp_path / "many")], capsys)
    assert code == 0, err
    assert "uncertainty 'full'" in out
    assert json.loads((tmp_path / "many" / "run.json").read_text())["uncertainty"] == "full"
    code, out, err = run_cli(["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "200", "--replicates", "3",
                              "--uncertainty", "calibration", "--out", str(tmp_path / "cal")], capsys)
    assert code == 0, err
    assert "uncertainty 'calibration'" in out
    meta = json.loads((tmp_path / "cal" / "run.json").read_text())
    assert meta["uncertainty"] == "calibration" and meta["sem_members"] is None and meta["sem_member"] == 5
    assert len(meta["posterior_draws"]) == 3 and meta["posterior_point"]["particle"] == 1


def test_ensemble_without_posterior_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["run", "--scenario", "validation/bass", "--agents", "100", "--months", "1",
                            "--replicates", "2", "--ensemble", "--out", str(tmp_path)], capsys)
    assert code == 2 and "needs a 'posterior'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["run", "--replicates", "2", "--ensemble", "--uncertainty", "chance", "--out",
                            str(tmp_path)], capsys)
    assert code == 2 and "--ensemble is --uncertainty full" in err and len(err.strip().splitlines()) == 1


def test_app_rejects_bad_port_and_host_and_a_busy_port(capsys):
    import socket

    code, _, err = run_cli(["app", "--port", "70000"], capsys)
    assert code == 2 and "'--port': 70000 is not in the range 1<=x<=65535" in err
    code, _, err = run_cli(["app", "--host", "no-such-host.invalid"], capsys)
    assert code == 2 and "'no-such-host.invalid' is not a known host name or address" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(["app", "--port", str(port)], capsys)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "choose another with --port" in err
    assert len(err.strip().splitlines()) == 1


def test_a_users_own_model_or_viz_module_shadows_nothing(tmp_path):
    """The package is one namespace, egov_abm: modules named model, viz, ... in the working folder are not read."""
    for name in ("model", "viz", "scenarios", "calibration"):
        (tmp_path / f"{name}.py").write_text(f'raise SystemExit("the user\'s {name}.py was imported")\n')
    script = Path(sys.executable).parent / "egov-abm"
    ran = subprocess.run([str(script), "run", "--agents", "300", "--months", "2", "--out", "out"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "out" / "timeseries.parquet").exists()
    # python -c and python -m put the working folder first on sys.path
    imported = subprocess.run([sys.executable, "-c", "import egov_abm.model, egov_abm.viz.plots; import model"],
                              cwd=tmp_path, capture_output=True, text=True)
    assert imported.returncode == 1 and "the user's model.py was imported" in imported.stderr
    as_module = subprocess.run([sys.executable, "-m", "egov_abm.scenarios.cli", "run", "--agents", "300",
                                "--months", "2", "--out", "out2"], cwd=tmp_path, capture_output=True, text=True)
    assert as_module.returncode == 0, as_module.stderr


def test_every_subpackage_is_installed():
    """pyproject lists packages one by one (the package-dir mapping): a new subpackage must be listed too."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"egov_abm." + ".".join(init.parent.relative_to(root).parts)
             for top in ("model", "scenarios", "calibration", "viz") for init in (root / top).rglob("__init__.py")}
    assert found == listed


# --------------------------------------------------------------------- ordinary input, no traceback
def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_set_of_a_flags_parameter_works_alone_and_is_refused_beside_the_flag(tmp_path, capsys):
    code, out, err = run_cli(["run", "--set", "n_agents=300", "--months", "2", "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and "300 citizens" in out, err
    code, out, err = run_cli(["run", "--set", "n_agents=300", "--set", "n_agents=200", "--months", "2",
                              "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and "200 citizens" in out, err  # a key given twice: the last value
    code, _, err = run_cli(["run", "--agents", "200", "--set", "n_agents=300", "--months", "2"], capsys)
    assert code == 2 and "n_agents is also given by --agents" in _one_line(err)


@pytest.mark.parametrize("network", ["homophily", "small_world", "scale_free"])
def test_population_not_above_the_mean_degree_is_one_line_naming_both(network, tmp_path, capsys):
    code, _, err = run_cli(["run", "--agents", "10", "--months", "2", "--set", f"network={network}",
                            "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and "n_agents, mean_degree" in _one_line(err) and "needs n_agents > mean_degree" in err
    code, _, err = run_cli(["run", "--agents", "11", "--months", "2", "--set", f"network={network}",
                            "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    code, _, err = run_cli(["run", "--agents", "10", "--months", "2", "--set", "network=complete",
                            "--out", str(tmp_path / "c")], capsys)
    assert code == 0, err


@pytest.mark.parametrize("args", [["run"], ["compare", "awareness_campaign"], ["bench"], ["calibrate", "report"],
                                  ["calibrate", "dynamics"]])
def test_seed_above_int64_is_one_line_stating_the_limit(args, capsys):
    code, _, err = run_cli([*args, "--seed", str(2**63)], capsys)
    assert code == 2 and "0<=x<=9223372036854775807" in _one_line(err)


def test_largest_seed_runs_and_is_stored(tmp_path, capsys):
    code, _, err = run_cli(["run", "--agents", "100", "--months", "2", "--seed", str(2**63 - 1),
                            "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert (pd.read_parquet(tmp_path / "a" / "timeseries.parquet")["seed"] == 2**63 - 1).all()


def _special_file(kind, tmp_path):
    import os

    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
        return path
    if kind == "zero":
        return Path("/dev/zero")
    if kind == "folder":
        return tmp_path
    path = tmp_path / "latin1.txt"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    return path


@pytest.fixture
def alarm():
    """Fail instead of hanging: a read that blocks is stopped after 20 s."""
    import signal

    def on_alarm(signum, frame):
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind, expected", [("fifo", "is a pipe, not a regular file"),
                                            ("zero", "is a device, not a regular file"),
                                            ("folder", "is a folder, not a regular file|is a directory"),
                                            ("bad_bytes", "is not UTF-8 text (byte")])
def test_special_and_non_utf8_files_are_one_line_wherever_a_user_file_is_read(kind, expected, tmp_path, capsys,
                                                                             alarm):
    path = _special_file(kind, tmp_path)
    good_spec = Path(__file__).parents[1] / "calibration" / "specs" / "final.sem"
    survey = Path(__file__).parents[1] / "calibration" / "data" / "survey_reconstructed.csv"
    (tmp_path / "s.toml").write_text(f'name = "s"\nmonths = 2\nsem_file = "{path}"\n', encoding="utf-8")
    (tmp_path / "w.toml").write_text(f'name = "w"\nscenario = "{tmp_path / "s.toml"}"\n[parameters]\n'
                                     'p_success = { values = [0.5] }\n', encoding="utf-8")
    (tmp_path / "p.toml").write_text(f'name = "p"\nmonths = 2\nposterior = "{path}"\n', encoding="utf-8")
    link = tmp_path / "link.toml"  # a scenario or sweep is given as a path ending in .toml
    link.symlink_to(path)
    commands = [
        ["run", "--scenario", str(link)],
        ["run", "--scenario", str(tmp_path / "s.toml"), "--agents", "100", "--out", str(tmp_path / "o")],
        ["run", "--scenario", str(tmp_path / "p.toml")],
        ["sweep", str(link), "--dry-run"],
        ["sweep", str(tmp_path / "w.toml"), "--dry-run"],
        ["calibrate", "sem", "--survey", str(path), "--spec", str(good_spec)],
        ["calibrate", "sem", "--survey", str(survey), "--spec", str(path)],
        ["calibrate", "report", "--posterior", str(path)],
    ]
    for args in commands:
        code, _, err = run_cli(args, capsys)
        assert code == 2 and (str(path) in _one_line(err) or str(link) in err), (args, err)
        assert any(text in err for text in expected.split("|")), (args, err)  # click names a folder itself


def test_oversized_user_file_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    from egov_abm.calibration import userfiles

    monkeypatch.setattr(userfiles, "MAX_BYTES", 100)
    path = tmp_path / "big.toml"
    path.write_text('name = "big"\n' + "# padding\n" * 20, encoding="utf-8")
    code, _, err = run_cli(["run", "--scenario", str(path)], capsys)
    assert code == 2 and "at most 100 bytes is read" in _one_line(err)


def _exit_at_once(kind, n, months, seed, queue):
    import os

    os._exit(3)


def _killed(kind, n, months, seed, queue):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def _raises(kind, n, months, seed, queue):
    raise MemoryError("cannot allocate 80 GB")


@pytest.mark.parametrize("child, expected", [(_exit_at_once, "ended with exit status 3 and no result"),
                                             (_killed, "was killed by signal SIGKILL"),
                                             (_raises, "failed: MemoryError: cannot allocate 80 GB")])
def test_bench_reports_a_failed_or_killed_child_in_one_line(child, expected, capsys, monkeypatch):
    import importlib

    bench = importlib.import_module("egov_abm.scenarios.cli.bench")  # the module, not the command of that name
    monkeypatch.setattr(bench, "_measure", child)
    code, _, err = run_cli(["bench", "--agents", "100", "--reference-max", "0", "--months", "1"], capsys)
    lines = [line for line in err.splitlines() if not line.startswith("timing ")]
    assert code == 1 and len(lines) == 1 and expected in lines[0] and "Traceback" not in err, err
    assert "bench: the vectorised run at 100 citizens" in lines[0]


def test_version_and_help_load_no_heavy_library():
    # the CLI imports what a command needs only when that command runs
    code = ("import sys; from egov_abm.scenarios.cli import main; main(['--version']); main(['--help']); "
            "print(sorted(m for m in ('mesa', 'semopy', 'solara', 'distributed', 'numba', 'numpy', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_cli_seed_bound_is_the_models():
    from egov_abm.model import SEED_MAX
    from egov_abm.scenarios import cli

    assert cli.SEED_MAX == SEED_MAX


@pytest.mark.parametrize("args, message", [
    (["--holdout-from", "2022"], "--holdout-from 2022: no figure is that late"),
    (["--holdout-from", "2007"], "--holdout-from 2007: leaves 1 figure(s) to fit, expected at least 5"),
    (["--scheduler", "127.0.0.1:8786"], "--scheduler 127.0.0.1:8786: expected an address such as tcp://host:8786"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers sizes the local run"),
])
def test_calibrate_dynamics_bad_input_is_one_line_and_keeps_the_posterior(args, message, tmp_path, capsys):
    out = tmp_path / "post.json"
    out.write_text("earlier posterior")
    code, _, err = run_cli(["calibrate", "dynamics", "--budget", "20", "--population", "10", "--agents", "100",
                            "--out", str(out), *args], capsys)
    assert code == 2 and _one_line(err).startswith(f"egov-abm: error: {message}"), err
    assert out.read_text() == "earlier posterior" and sorted(p.name for p in tmp_path.iterdir()) == ["post.json"]


def test_a_ctrl_c_whose_interrupt_a_library_swallowed_still_ends_in_one_line(tmp_path, capsys, monkeypatch):
    import os
    import signal

    from egov_abm.scenarios import runner

    run_replicates = runner.run_replicates

    def swallowing(*args, **kwargs):  # Ctrl-C arrives, and some library catches the KeyboardInterrupt it raises
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes, within these
                pass
        except KeyboardInterrupt:
            pass
        return run_replicates(*args, **kwargs)

    monkeypatch.setattr(runner, "run_replicates", swallowing)
    assert main(["run", "--agents", "50", "--months", "1", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err
    assert err == "egov-abm: interrupted; results already written are kept\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the process's own handler is back
    monkeypatch.setattr(runner, "run_replicates", run_replicates)
    assert main(["run", "--agents", "50", "--months", "1", "--out", str(tmp_path / "again")]) == 0  # a new command


def test_a_handled_ctrl_c_keeps_exit_status_130_under_python_m(tmp_path):
    """CPython 3.11 records a KeyboardInterrupt that passed through exec() of a string as unhandled, even when it
    was caught, and under ``python -m`` ends itself with SIGINT at exit; the CLI clears that record."""
    import signal
    import textwrap

    (tmp_path / "probe.py").write_text(textwrap.dedent("""
        import sys
        from egov_abm.scenarios.cli import _forget_handled_interrupt
        try:
            exec("raise KeyboardInterrupt")  # as a dataclass being made when Ctrl-C comes
        except KeyboardInterrupt:
            if sys.argv[1] == "clear":
                _forget_handled_interrupt()
        sys.exit(130)
    """))
    codes = {}
    for mode in ("keep", "clear"):
        proc = subprocess.run([sys.executable, "-m", "probe", mode], cwd=tmp_path, capture_output=True, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), timeout=120)
        codes[mode] = proc.returncode
    assert codes["clear"] == 130
    if sys.version_info < (3, 12):  # the interpreter's behaviour that the CLI works around
        assert codes["keep"] == -signal.SIGINT
