"""The SEM ensemble: members spread across the attitude/trust split, each meeting the published figures.

The bar is the one the ensemble file states (calibration/sem_ensemble.py
``BAR``): df exact; chi2 within 2.5 %; GFI, AGFI, RMSEA, TLI, CFI, IFI within
0.01 of Table 1 (full-model CFI: the consistent .945); alphas of attitude and
trust within 0.01 of .893 / .866, every other scale > .7; R2 of intention
within 0.01 of .718; H1a-H1c not significant, H2a-H4 significant and positive.
The published values are written out here, not read from the module, so a
wrong constant there fails.
"""

import json
import time

import numpy as np
import pandas as pd
import pytest

from egov_abm.calibration import reconstruct as R
from egov_abm.calibration import sem_ensemble as E
from egov_abm.model import InputError, SEMParams

TABLE1 = {
    "full": {"chi2": 418.264, "dof": 197, "gfi": 0.920, "agfi": 0.897, "rmsea": 0.052, "tli": 0.936,
             "cfi": 0.945, "ifi": 0.946},
    "final": {"chi2": 50.716, "dof": 31, "gfi": 0.977, "agfi": 0.959, "rmsea": 0.039, "tli": 0.986,
              "cfi": 0.991, "ifi": 0.991},
}
SUPPORTED = {"H1a": False, "H1b": False, "H1c": False, "H2a": True, "H2b": True, "H3a": True, "H3b": True,
             "H4": True, "H2a (final)": True, "H2b (final)": True, "H4 (final)": True}


@pytest.fixture(scope="module")
def doc():
    return json.loads(E.DEFAULT_SEM_ENSEMBLE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def members():
    return E.load_sem_ensemble()


def test_shipped_file_loads_with_enough_members(doc, members):
    assert len(members) >= 5
    assert len(members) == len(doc["members"])
    assert all(isinstance(m, SEMParams) for m in members)
    assert [m["name"] for m in doc["members"]].count("default") == 1


def test_members_span_the_split(doc, members):
    trust = [m.readiness_on_trust for m in members]
    attitude = [m.readiness_on_attitude for m in members]
    assert max(trust) - min(trust) >= 0.30
    assert max(attitude) - min(attitude) >= 0.15
    # the reviewer's refit (.21 / .57) lies inside the identified range
    assert min(attitude) <= 0.21 <= max(attitude) and min(trust) <= 0.57 <= max(trust)
    # the stated range is the members' range
    for key in ("readiness_on_attitude", "readiness_on_trust", "intention_on_readiness", "cov_attitude_trust"):
        vals = [getattr(m, key) for m in members]
        assert doc["identified_range"][key] == pytest.approx([min(vals), max(vals)], abs=1e-12)
    r2 = [m["r2"]["readiness"] for m in doc["members"]]
    assert doc["identified_range"]["r2_readiness"] == pytest.approx([min(r2), max(r2)], abs=1e-12)


def test_default_member_is_the_shipped_reconstruction(doc):
    default = next(m for m in doc["members"] if m["name"] == "default")
    shipped = json.loads((E.PARAMS_DIR / "sem_default.json").read_text(encoding="utf-8"))["sem"]
    # population stage vs the Likert data's fit: paths within 0.002, the attitude-trust correlation within 0.003
    for key, tol in (("readiness_on_attitude", 0.002), ("readiness_on_trust", 0.002),
                     ("intention_on_readiness", 0.002), ("cov_attitude_trust", 0.003)):
        assert default["sem"][key] == pytest.approx(shipped[key], abs=tol), key


N_MEMBERS = len(json.loads(E.DEFAULT_SEM_ENSEMBLE_FILE.read_text(encoding="utf-8"))["members"])


@pytest.mark.parametrize("index", range(N_MEMBERS))
def test_every_member_meets_the_bar(doc, index):
    m = doc["members"][index]
    for model, target in TABLE1.items():
        fit = m["fit"][model]
        assert fit["dof"] == target["dof"]
        assert abs(fit["chi2"] / target["chi2"] - 1) <= 0.025, (model, fit["chi2"])
        for key in ("gfi", "agfi", "rmsea", "tli", "cfi", "ifi"):
            assert abs(fit[key] - target[key]) <= 0.01, (model, key, fit[key])
    assert abs(m["alpha"]["attitude"] - 0.893) <= 0.01 and abs(m["alpha"]["trust"] - 0.866) <= 0.01
    assert min(m["alpha"].values()) > 0.7 and len(m["alpha"]) == 7
    assert abs(m["r2"]["intention"] - 0.718) <= 0.01
    assert set(m["hypotheses"]) == set(SUPPORTED)
    for h, supported in SUPPORTED.items():
        row = m["hypotheses"][h]
        if supported:
            assert row["p_value"] < 0.05 and row["std_estimate"] > 0, h
        else:
            assert row["p_value"] >= 0.05, h
    assert E.bar_failures(m) == []


def test_members_are_valid_standardised_sems(members):
    for m in members:
        cov = m.implied_cov()
        assert np.allclose(np.diag(cov), 1.0, atol=1e-3)  # standardised: unit construct variances
        assert np.linalg.eigvalsh(cov).min() > 0
        assert m.intention_on_attitude == 0 and m.intention_on_trust == 0  # the final spec has no direct paths


def test_cheapest_member_refits_to_its_stored_solution(doc):
    """Refit one member with semopy at its stored population correlation matrix (both specs)."""
    m = doc["members"][0]
    lay = R.layout()
    theta = np.array([m["population"][name] for name in lay.names])
    began = time.perf_counter()
    sigma, penalty = R.implied_correlation(theta, lay)
    stats = R.statistics(cov=pd.DataFrame(sigma, index=R.COLUMNS, columns=R.COLUMNS))
    assert time.perf_counter() - began < 10
    assert penalty == 0
    for model in ("full", "final"):
        for key in ("chi2", "gfi", "rmsea", "cfi"):
            assert stats[(model, key)] == pytest.approx(m["fit"][model][key], abs=1e-3), (model, key)
    assert stats[("paths", "H2a (final) std")] == pytest.approx(m["sem"]["readiness_on_attitude"], abs=1e-3)
    assert stats[("paths", "H2b (final) std")] == pytest.approx(m["sem"]["readiness_on_trust"], abs=1e-3)
    assert stats[("final", "r2_intention")] == pytest.approx(m["r2"]["intention"], abs=1e-3)


def test_loading_does_not_import_semopy():
    import subprocess
    import sys

    code = ("import sys; from egov_abm.calibration.sem_ensemble import load_sem_ensemble; "
            "load_sem_ensemble(); print('semopy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------- bad files
def _write(tmp_path, text):
    path = tmp_path / "sem_ensemble.json"
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(path, *needles):
    with pytest.raises(InputError) as err:
        E.load_sem_ensemble(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def _good(doc):
    return json.loads(json.dumps({"members": doc["members"][:2]}))


def test_missing_file(tmp_path):
    _one_line_error(tmp_path / "absent.json", "cannot read")


def test_not_json(tmp_path):
    _one_line_error(_write(tmp_path, "{members: ["), "not valid JSON", "line 1")


def test_no_members(tmp_path):
    _one_line_error(_write(tmp_path, json.dumps({"source": "x"})), "members")


def test_missing_field(tmp_path, doc):
    bad = _good(doc)
    del bad["members"][1]["sem"]["readiness_on_trust"]
    _one_line_error(_write(tmp_path, json.dumps(bad)), "members[1].sem.readiness_on_trust", "missing")


def test_non_number(tmp_path, doc):
    bad = _good(doc)
    bad["members"][1]["sem"]["readiness_on_trust"] = "x"
    msg = _one_line_error(_write(tmp_path, json.dumps(bad)), "members[1].sem.readiness_on_trust")
    assert msg.endswith("expected a number, got 'x'")


def test_invalid_covariance(tmp_path, doc):
    bad = _good(doc)
    bad["members"][0]["sem"]["cov_attitude_trust"] = 1.5
    _one_line_error(_write(tmp_path, json.dumps(bad)), "members[0].sem", "cov_attitude_trust")


def test_good_copy_loads(tmp_path, doc):
    assert len(E.load_sem_ensemble(_write(tmp_path, json.dumps(_good(doc))))) == 2
