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
    assert (out / "report.md").exists() and (out / "adoption.png").exists()
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "rural_infrastructure" in page
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
