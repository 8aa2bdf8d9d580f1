"""Results folders: written whole or not at all, checked before computing, refused when of another kind."""

import errno
import json
from pathlib import Path

import pandas as pd
import pytest

from egov_abm.scenarios.cli import main

FAST_RUN = ["--months", "3", "--agents", "200"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def comparison():
    from egov_abm.scenarios.compare import compare_scenarios
    from egov_abm.scenarios.scenario import load_scenario

    base = load_scenario("baseline").with_overrides(n_agents=200)
    policy = load_scenario("rural_infrastructure").with_overrides(n_agents=200)
    return compare_scenarios([policy], base, seed=1, replicates=1, workers=1)


@pytest.fixture
def no_model(monkeypatch):
    """Make any run fail loudly, to show that a refused command computed nothing."""
    from egov_abm.scenarios import compare, runner

    def refuse(*args, **kwargs):
        raise AssertionError("a model was run before the output was checked")

    monkeypatch.setattr(runner, "run_replicates", refuse)
    monkeypatch.setattr(compare, "compare_scenarios", refuse)


def _fail_after_first_parquet(monkeypatch, exc: BaseException) -> None:
    real = pd.DataFrame.to_parquet
    calls = []

    def flaky(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise exc
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("injected")], ids=["ctrl-c", "exception"])
def test_interrupted_compare_keeps_the_earlier_folder_whole(comparison, tmp_path, monkeypatch, exc):
    from egov_abm.scenarios.compare import write_comparison

    out = tmp_path / "cmp"
    write_comparison(comparison, out)
    before = _snapshot(out)
    assert json.loads(before["_egov_abm.json"])["kind"] == "compare" and "brief.html" in before
    _fail_after_first_parquet(monkeypatch, exc)
    with pytest.raises(type(exc)):
        write_comparison(comparison, out)
    assert _snapshot(out) == before  # byte-identical, nothing added
    assert [p.name for p in tmp_path.iterdir()] == ["cmp"]  # no temporary folder left beside it


def test_compare_into_an_empty_place_leaves_nothing_when_interrupted(comparison, tmp_path, monkeypatch):
    from egov_abm.scenarios.compare import write_comparison

    _fail_after_first_parquet(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_comparison(comparison, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_names_the_file_and_keeps_the_earlier_results(comparison, tmp_path, monkeypatch, capsys):
    from egov_abm.scenarios import compare

    out = tmp_path / "cmp"
    compare.write_comparison(comparison, out)
    before = _snapshot(out)
    monkeypatch.setattr(compare, "compare_scenarios", lambda *a, **k: comparison)
    _fail_after_first_parquet(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))  # no file name
    code = main(["compare", "rural_infrastructure", "--agents", "200", "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert code == 1 and line == f"egov-abm: error: {out / 'replicates.parquet'}: No space left on device"
    assert _snapshot(out) == before and [p.name for p in tmp_path.iterdir()] == ["cmp"]


def test_run_replaces_its_folder_and_writes_a_manifest(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", *FAST_RUN, "--out", str(out)]) == 0
    first = _snapshot(out)
    assert main(["run", *FAST_RUN, "--seed", "2", "--out", str(out)]) == 0
    second = _snapshot(out)
    assert set(first) == set(second) == {"_egov_abm.json", "run.json", "timeseries.parquet"}
    assert first["timeseries.parquet"] != second["timeseries.parquet"]
    manifest = json.loads(second["_egov_abm.json"])
    assert manifest["kind"] == "run" and manifest["files"] == ["run.json", "timeseries.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


@pytest.mark.parametrize("name", ["../../x", "", "a b", "x/y"])
def test_scenario_and_sweep_names_must_be_simple(name, tmp_path, capsys, no_model):
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'name = "{name}"\ninclude = "baseline"\n')
    assert main(["run", "--scenario", str(scenario)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{scenario}: name: expected a simple name" in line
    sweep = tmp_path / "w.toml"
    sweep.write_text(f'name = "{name}"\n[parameters]\np_success = {{ min = 0.5, max = 0.9, steps = 2 }}\n')
    assert main(["sweep", str(sweep), "--dry-run"]) == 2
    assert f"{sweep}: name: expected a simple name" in _one_line(capsys.readouterr().err)
    assert not (tmp_path.parent / "x").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s.toml", "w.toml"]


def _sweep_folder(path: Path) -> Path:
    from egov_abm.scenarios.experiments.spec import load_sweep
    from egov_abm.scenarios.experiments.sweep import plan_sweep, prepare_dir

    prepare_dir(plan_sweep(load_sweep("smoke")), path)
    return path


def test_run_and_compare_refuse_a_sweep_folder_before_computing(tmp_path, capsys, no_model):
    sweep = _sweep_folder(tmp_path / "sw")
    before = _snapshot(sweep)
    assert main(["run", "--out", str(sweep)]) == 2
    assert _one_line(capsys.readouterr().err) == (f"egov-abm: error: --out {sweep}: holds a sweep, not a run's "
                                                  "results; choose another folder")
    assert main(["compare", "rural_infrastructure", "--out", str(sweep)]) == 2
    assert "holds a sweep, not a comparison" in _one_line(capsys.readouterr().err)
    assert _snapshot(sweep) == before


def test_sweep_refuses_a_run_folder(tmp_path, capsys, monkeypatch):
    from egov_abm.scenarios.experiments import sweep

    out = tmp_path / "r"
    assert main(["run", *FAST_RUN, "--out", str(out)]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    monkeypatch.setattr(sweep, "plan_sweep", lambda *a: pytest.fail("planned before checking --out"))
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", "smoke", "--out", str(out), *extra]) == 2
        assert "holds a run's results, not a sweep" in _one_line(capsys.readouterr().err)
    assert _snapshot(out) == before


@pytest.mark.parametrize("where", ["file", "under_a_file", "foreign_folder", "extra_file"])
def test_bad_out_is_refused_before_anything_runs(where, tmp_path, capsys, no_model):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    out = {"file": a_file, "under_a_file": a_file / "sub", "foreign_folder": tmp_path}[where] \
        if where != "extra_file" else tmp_path / "r"
    if where == "extra_file":  # a run folder the user added a note to: replacing it would delete the note
        out.mkdir()
        (out / "_egov_abm.json").write_text(json.dumps({"kind": "run", "files": ["run.json"]}))
        (out / "notes.txt").write_text("mine")
    for command in (["run", "--out", str(out)], ["compare", "rural_infrastructure", "--out", str(out)],
                    ["calibrate", "report", "--out", str(out)]):
        assert main(command) == 2, command
        line = _one_line(capsys.readouterr().err)
        assert f"{out}" in line, line
    assert a_file.read_text() == "mine"


def test_unwritable_out_is_refused_before_computing(tmp_path, capsys, no_model):
    code = main(["run", "--out", "/proc/egov-abm-test/x"])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and line.startswith("egov-abm: error: --out /proc/egov-abm-test/x: cannot write in /proc")


def test_calibrate_sem_and_dynamics_check_out_first(tmp_path, capsys, monkeypatch):
    from egov_abm.calibration import abc, sem_calibrate

    monkeypatch.setattr(sem_calibrate, "calibrate_sem", lambda *a, **k: pytest.fail("fitted before checking"))
    monkeypatch.setattr(abc, "calibrate_dynamics", lambda *a, **k: pytest.fail("ran before checking"))
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert main(["calibrate", "sem", "--survey", str(a_file), "--spec", str(a_file),
                 "--out", str(a_file / "fit.json")]) == 2
    assert "is not a folder" in _one_line(capsys.readouterr().err)
    assert main(["calibrate", "dynamics", "--out", "/proc/egov-abm-test/p.json"]) == 2
    assert "cannot write in /proc" in _one_line(capsys.readouterr().err)


def test_readers_refuse_an_incomplete_or_foreign_folder(tmp_path, capsys):
    from egov_abm.model import InputError
    from egov_abm.scenarios.experiments.sweep import load_results, load_series
    from egov_abm.scenarios.output import require_complete

    sweep = _sweep_folder(tmp_path / "sw")
    (sweep / "_design.parquet").unlink()
    assert main(["analyze", str(sweep)]) == 2
    assert "incomplete: _design.parquet is missing" in _one_line(capsys.readouterr().err)
    for reader in (load_results, load_series):
        with pytest.raises(InputError, match="incomplete"):
            reader(sweep)
    run = tmp_path / "r"
    assert main(["run", *FAST_RUN, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(run)]) == 2
    assert "holds a run's results, not a sweep" in _one_line(capsys.readouterr().err)
    (run / "run.json").unlink()
    with pytest.raises(InputError, match="incomplete: run.json is missing"):
        require_complete(run, "run")
    (run / "_egov_abm.json").unlink()
    with pytest.raises(InputError, match="not a run results folder, or an incomplete one"):
        require_complete(run, "run")


def test_a_killed_writers_temporary_folder_is_cleared_and_the_current_folder_refused(tmp_path, capsys,
                                                                                     monkeypatch):
    stale = tmp_path / ".r.tmp-999999999"  # no such process: left by a writer killed with -9
    stale.mkdir()
    (stale / "timeseries.parquet").write_bytes(b"half")
    assert main(["run", *FAST_RUN, "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["run", *FAST_RUN, "--out", "."]) == 2
    assert "is the current folder or holds it" in _one_line(capsys.readouterr().err)


def test_a_sweep_may_be_resumed_from_inside_its_folder(tmp_path, monkeypatch):
    from egov_abm.scenarios.output import check_out_dir

    sweep = _sweep_folder(tmp_path / "sw")
    monkeypatch.chdir(sweep)
    assert check_out_dir(".", "sweep") == Path(".")
