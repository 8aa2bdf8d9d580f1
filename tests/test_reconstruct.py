"""The reconstructed survey reproduces Amirova (2021), and the simulation uses its fit.

Tolerances are those of the SEM issue: every fit index within 0.01 of Table 1
(full-model CFI: the consistent .945), chi2 within 5 %, alphas within 0.02,
R-squared within 0.02; hypotheses H1a-H1c not significant at 5 %, H2a-H4
significant and positive.
"""

import json

import numpy as np
import pandas as pd
import pytest

from egov_abm.calibration import reconstruct as R
from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, load_sem
from egov_abm.model import AdoptionModel, PopulationSpec
from egov_abm.model.population import construct_shift
from egov_abm.scenarios.cli import main

SURVEY = R.OUT_CSV
TABLE1 = {
    "full": {"chi2": 418.264, "dof": 197, "gfi": 0.920, "agfi": 0.897, "rmsea": 0.052, "tli": 0.936,
             "cfi": 0.945, "ifi": 0.946},
    "final": {"chi2": 50.716, "dof": 31, "gfi": 0.977, "agfi": 0.959, "rmsea": 0.039, "tli": 0.986,
              "cfi": 0.991, "ifi": 0.991},
}


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    out = {}
    for name in ("full", "final"):
        path = tmp_path_factory.mktemp(name) / "fit.json"
        code = main(["calibrate", "sem", "--survey", str(SURVEY), "--spec", str(R.SPEC_DIR / f"{name}.sem"),
                     "--scale", "1,5", "--out", str(path)])
        assert code == 0
        out[name] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize("model", ["full", "final"])
def test_table1_reproduced(fits, model):
    fit = fits[model]["fit"]
    target = TABLE1[model]
    assert fit["dof"] == target["dof"]
    assert abs(fit["chi2"] / target["chi2"] - 1) <= 0.05
    for key in ("gfi", "agfi", "rmsea", "tli", "cfi", "ifi"):
        assert abs(fit[key] - target[key]) <= 0.01, (key, fit[key])
    assert fits[model]["n"] == 422


def test_alphas_and_r2(fits):
    alpha = fits["full"]["alpha"]
    assert abs(alpha["attitude"] - 0.893) <= 0.02 and abs(alpha["trust"] - 0.866) <= 0.02
    assert min(alpha.values()) > 0.7 and len(alpha) == 7
    assert abs(fits["final"]["r2"]["intention"] - 0.718) <= 0.02


def _path(doc, lval, rval):
    rows = [r for r in doc["estimates"] if (r["lval"], r["op"], r["rval"]) == (lval, "~", rval)]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("rval", ["availability", "quality", "benefits"])
def test_h1_not_supported(fits, rval):
    assert _path(fits["full"], "intention", rval)["p_value"] >= 0.05


@pytest.mark.parametrize(("model", "lval", "rval"), [
    ("full", "readiness", "attitude"), ("full", "readiness", "trust"), ("full", "intention", "attitude"),
    ("full", "intention", "trust"), ("full", "intention", "readiness"),
    ("final", "readiness", "attitude"), ("final", "readiness", "trust"), ("final", "intention", "readiness"),
])
def test_h2_to_h4_supported(fits, model, lval, rval):
    row = _path(fits[model], lval, rval)
    assert row["p_value"] < 0.05 and row["std_estimate"] > 0


def test_shipped_survey_is_labelled_likert():
    data = pd.read_csv(SURVEY)
    assert data.shape == (422, 23) and list(data.columns[1:]) == list(R.COLUMNS)
    items = data[list(R.COLUMNS)].to_numpy()
    assert items.min() >= 1 and items.max() <= 5 and np.issubdtype(items.dtype, np.integer)
    assert "RECONSTRUCTED" in SURVEY.with_suffix(".md").read_text()


@pytest.mark.slow
def test_data_stage_rebuilds_the_shipped_file_exactly():
    population = json.loads(R.POPULATION_FILE.read_text())
    theta = [population["parameters"][name] for name in R.layout().names]
    rebuilt = R.data_from_population(theta, population["seed"])
    shipped = pd.read_csv(SURVEY)
    assert rebuilt.equals(shipped)


def test_target_table_is_shipped_and_current(fits):
    table = pd.read_csv(R.OUT_TABLE)
    chi2 = table[(table.model == "final") & (table.statistic == "chi2")]["achieved"].iloc[0]
    assert chi2 == pytest.approx(fits["final"]["fit"]["chi2"], abs=0.01)
    assert set(table.statistic) >= {"chi2", "gfi", "agfi", "rmsea", "tli", "cfi", "ifi", "r2_intention"}


def test_full_model_cfi_arithmetic():
    # TLI and IFI of the full model each fix the baseline chi2 (df0 = 231); both give about 4,290.
    chi2, df, df0 = 418.264, 197, 231
    c0_tli = df0 * (chi2 / df - 0.936) / (1 - 0.936)
    c0_ifi = (chi2 - 0.946 * df) / (1 - 0.946)
    assert 4280 < c0_tli < 4290 and 4290 < c0_ifi < 4300
    cfi = 1 - (chi2 - df) / ((c0_tli + c0_ifi) / 2 - df0)
    assert cfi == pytest.approx(0.945, abs=0.001)
    # A CFI of .920 would need a baseline chi2 near 3,000, which neither TLI nor IFI allows.
    assert (chi2 - df) / (1 - 0.920) + df0 == pytest.approx(2997, abs=1)


def test_default_sem_file_is_the_fit_of_the_reconstructed_survey(fits):
    shipped = json.loads(DEFAULT_SEM_FILE.read_text())
    assert shipped["status"] == "fitted"
    for key, value in fits["final"]["sem"].items():
        assert shipped["sem"][key] == pytest.approx(value, abs=1e-4), key


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize("population", ["uniform", "default"])
def test_agents_reproduce_fitted_latent_correlations(spec, population):
    """Bound 4/sqrt(n) = 0.028 at n = 20,000 (the SE of a sample correlation is at most 1/sqrt(n)).

    With the default population the group shifts of attitude and trust are
    taken out first: within a demographic cell the draw is the fitted SEM.
    """
    sem = load_sem()
    n = 20_000
    pop = PopulationSpec.uniform() if population == "uniform" else spec
    m = AdoptionModel(sem=sem, population=pop, n_agents=n, seed=5, create_agents=False)
    shift_att, shift_trust = construct_shift(pop, m.pop)
    att, trust = m.attitude - shift_att, m.trust - shift_trust
    ready = sem.readiness(att, trust, m.zeta_r)
    intent = sem.intention(ready, att, trust, m.zeta_i)
    cov = sem.implied_cov()
    sd = np.sqrt(np.diag(cov))
    implied = cov / np.outer(sd, sd)
    got = np.corrcoef(np.vstack([att, trust, ready, intent]))
    assert np.all(np.abs(got - implied) <= 4 / np.sqrt(n))
    # and the fitted correlations are those of the survey's final model
    assert implied[0, 1] == pytest.approx(sem.cov_attitude_trust, abs=1e-9)
