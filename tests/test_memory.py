"""The memory guard: the peak-memory estimate, the check before runs, and the sweep's size limit."""

import json
import re
import subprocess
import sys

import pytest

from egov_abm.model import Params
from egov_abm.model.memory import MIB, estimate_peak_bytes
from egov_abm.scenarios import resources
from egov_abm.scenarios.cli import main
from egov_abm.scenarios.cli.bench import format_table
from egov_abm.scenarios.experiments import spec as spec_module
from egov_abm.scenarios.experiments import sweep as sweep_module

MEASURE = """
import json, sys
from egov_abm.calibration.defaults import load_sem, population_spec
from egov_abm.model import AdoptionModel
from egov_abm.model.memory import peak_resident_bytes
model = AdoptionModel(create_agents=False, sem=load_sem(), population=population_spec(), seed=1,
                      n_agents=int(sys.argv[1]), network=sys.argv[2], share_access_initial=0.6,
                      share_aware_initial=0.5, share_adopters_initial=0.1)
model.run(2)
print(json.dumps(peak_resident_bytes()))
"""


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def fail(*args, **kwargs):
    raise AssertionError("must not be called")


@pytest.mark.parametrize(("n", "network"), [(50_000, "homophily"), (200_000, "homophily"),
                                            (5_000_000, "homophily"),  # beyond LARGE_FROM: the chunked build
                                            (1_000_000, "scale_free")])  # the direct Holme-Kim builder
def test_estimate_within_factor_of_measured_peak(n, network):
    out = subprocess.run([sys.executable, "-c", MEASURE, str(n), network], capture_output=True, text=True,
                         check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = estimate_peak_bytes(Params(n_agents=n, network=network)) / measured
    assert 0.8 <= ratio <= 1.5, (n, measured / MIB, ratio)


def test_estimate_grows_with_citizens_ties_and_builder():
    base = estimate_peak_bytes(Params(n_agents=1_000_000))
    assert estimate_peak_bytes(Params(n_agents=2_000_000)) > base
    assert estimate_peak_bytes(Params(n_agents=1_000_000, mean_degree=500)) > 8 * base
    assert estimate_peak_bytes(Params(n_agents=1_000_000, graph_builder="networkx")) > 3 * base
    assert estimate_peak_bytes(Params(n_agents=1_000_000), n_interventions=2) > base
    assert estimate_peak_bytes(Params().to_dict()) == estimate_peak_bytes(Params())  # a mapping works too


def test_run_too_large_is_refused_before_building(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(resources, "available_bytes", lambda: 4_000_000_000)
    monkeypatch.setattr("egov_abm.scenarios.runner.run_replicates", fail)
    code, out, err = run_cli(["run", "--agents", "50000000", "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert re.fullmatch(r"egov-abm: error: run: 50,000,000 citizens need about [\d.]+ GB, 4\.0 GB are available "
                        r"\(use --force to run anyway\)\n", err), err
    assert not (tmp_path / "r").exists()


def test_mean_degree_500_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(resources, "available_bytes", lambda: 15_000_000_000)
    monkeypatch.setattr("egov_abm.scenarios.runner.run_replicates", fail)
    code, _, err = run_cli(["run", "--agents", "5000000", "--set", "mean_degree=500", "--out", str(tmp_path)],
                           capsys)
    assert code == 2 and "5,000,000 citizens need about" in err and len(err.splitlines()) == 1


def test_force_lets_a_small_run_through(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(resources, "available_bytes", lambda: 1_000_000)
    args = ["run", "--agents", "300", "--months", "2", "--out", str(tmp_path / "r")]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "1 MB are available" in err
    code, out, err = run_cli([*args, "--force"], capsys)
    assert code == 0, err
    assert (tmp_path / "r" / "timeseries.parquet").exists()


def test_compare_counts_workers_and_suggests_fewer(monkeypatch, capsys, tmp_path):
    per_run = estimate_peak_bytes(Params(n_agents=2_000_000), n_interventions=2)
    monkeypatch.setattr(resources, "available_bytes", lambda: int(per_run * 1.5))
    monkeypatch.setattr("egov_abm.scenarios.compare.compare_scenarios", fail)
    code, _, err = run_cli(["compare", "citizen_centric", "--agents", "2000000", "--workers", "2",
                            "--out", str(tmp_path)], capsys)
    assert code == 2, err
    assert "compare: 2 workers x 2,000,000 citizens need about" in err
    assert "(use --workers 1, or --force to run anyway)" in err and len(err.splitlines()) == 1


def test_huge_sweep_grid_refused_by_dry_run_without_building(monkeypatch, capsys, tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text('name = "huge"\n[parameters]\n'
                    'p_success = { min = 0.1, max = 0.9, steps = 10000 }\n'
                    'p_rewire = { min = 0.0, max = 0.5, steps = 10000 }\n'
                    'p_triangle = { min = 0.0, max = 0.5, steps = 10000 }\n', encoding="utf-8")
    monkeypatch.setattr(spec_module, "make_design", fail)
    monkeypatch.setattr(sweep_module, "make_design", fail)
    code, out, err = run_cli(["sweep", str(path), "--dry-run"], capsys)
    assert code == 2, err
    assert "1,000,000,000,000 points x 1 replicate(s) = 1,000,000,000,000 runs, more than the 100,000" in err
    assert len(err.splitlines()) == 1


def test_sweep_dry_run_prints_memory_estimate_and_sweep_is_refused(monkeypatch, capsys, tmp_path):
    code, out, _ = run_cli(["sweep", "smoke", "--dry-run", "--workers", "2"], capsys)
    assert code == 0 and "estimated peak memory: about" in out and "2 worker(s)" in out
    monkeypatch.setattr(resources, "available_bytes", lambda: 100_000_000)
    monkeypatch.setattr(sweep_module, "run_sweep", fail)
    code, _, err = run_cli(["sweep", "smoke", "--workers", "2", "--out", str(tmp_path / "s")], capsys)
    assert code == 2 and "sweep: 2 workers x 1,000 citizens need about" in err


def test_available_respects_cgroup_limit(monkeypatch, tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 24000000 kB\nMemAvailable: 20000000 kB\n", encoding="ascii")
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    monkeypatch.setattr(resources, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(resources, "CGROUP_V1", tmp_path / "none")
    monkeypatch.setattr(resources, "CGROUP_V2", cgroup)
    assert resources.available_bytes() == 20_000_000 * 1024
    (cgroup / "memory.max").write_text("max\n", encoding="ascii")
    assert resources.available_bytes() == 20_000_000 * 1024
    (cgroup / "memory.max").write_text("4000000000\n", encoding="ascii")
    (cgroup / "memory.current").write_text("1000000000\n", encoding="ascii")
    assert resources.available_bytes() == 3_000_000_000


def test_bench_table_shows_estimate():
    row = {"agents": 100_000, "vec_build_s": 0.05, "vec_step_s": 0.0065, "vec_peak_rss_mb": 182.0,
           "vec_estimate_mb": 209.0}
    table = format_table([row])
    assert "est. MB" in table and " 209 " in table


def test_bench_table_shows_the_distance_to_the_limit():
    row = {"agents": 100_000, "vec_build_s": 0.05, "vec_first_step_s": 0.5, "vec_step_s": 0.0065,
           "vec_peak_rss_mb": 182.0, "vec_estimate_mb": 209.0, "month_gb": 0.0208, "limit_s": 0.0007,
           "times_limit": 9.3}
    table = format_table([row])
    assert all(title in table for title in ("1st month s", "GB/month", "limit s", "x limit"))
    assert " 0.021 " in table and " 9.3 " in table


def test_bench_cli_measures_bandwidth_and_bytes(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code, text, _ = run_cli(["bench", "--agents", "2000", "--reference-max", "0", "--months", "2",
                             "--json", str(out)], capsys)
    assert code == 0 and "x limit" in text
    (row,) = json.loads(out.read_text())
    assert row["bandwidth_gb_s"] > 0.5 and row["month_gb"] > 2000 * 100 / 1e9  # over 100 bytes per citizen
    assert row["limit_s"] == pytest.approx(row["month_gb"] / row["bandwidth_gb_s"])
    assert row["times_limit"] == pytest.approx(row["vec_step_s"] / row["limit_s"])
