"""The SEM calibration pipeline: `egov-abm calibrate sem` and calibration/sem_calibrate.py."""

import json

import numpy as np
import pandas as pd
import pytest

from egov_abm import model
from egov_abm.calibration import sem_calibrate
from egov_abm.calibration.defaults import load_sem
from egov_abm.calibration.sem_calibrate import calibrate_sem, read_spec, read_survey
from egov_abm.calibration.semfit import ESTIMATOR
from egov_abm.model import InputError
from egov_abm.scenarios.cli import main

HS_SPEC = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
HS_COLUMNS = [f"x{i}" for i in range(1, 10)]

# The final citizen-centric structure (calibration/specs/final.sem), written out here so the
# test does not depend on a file another change may edit.
FINAL_SPEC = """# attitude and trust drive readiness, which drives intention
attitude =~ PA1 + PA2 + PA3
trust =~ TR1 + TR2 + TR3
readiness =~ RE1 + RE2
intention =~ IN1 + IN2
readiness ~ attitude + trust
intention ~ readiness
"""
# True standardised values of the generating model.
TRUE_PATHS = {("readiness", "~", "attitude"): 0.45, ("readiness", "~", "trust"): 0.35,
              ("intention", "~", "readiness"): 0.85, ("attitude", "~~", "trust"): 0.50}
LOADINGS = {"PA1": ("attitude", 0.80), "PA2": ("attitude", 0.75), "PA3": ("attitude", 0.85),
            "TR1": ("trust", 0.70), "TR2": ("trust", 0.80), "TR3": ("trust", 0.90),
            "RE1": ("readiness", 0.85), "RE2": ("readiness", 0.80),
            "IN1": ("intention", 0.90), "IN2": ("intention", 0.80)}
N_RECOVERY = 5000


def simulate_survey(n, rng):
    """Responses from the standardised generating model: every latent and item has variance 1."""
    r = TRUE_PATHS[("attitude", "~~", "trust")]
    b_ra, b_rt = TRUE_PATHS[("readiness", "~", "attitude")], TRUE_PATHS[("readiness", "~", "trust")]
    b_ir = TRUE_PATHS[("intention", "~", "readiness")]
    z = rng.standard_normal((n, 2))
    attitude = z[:, 0]
    trust = r * z[:, 0] + np.sqrt(1 - r * r) * z[:, 1]
    r2_readiness = b_ra**2 + b_rt**2 + 2 * b_ra * b_rt * r
    readiness = b_ra * attitude + b_rt * trust + np.sqrt(1 - r2_readiness) * rng.standard_normal(n)
    intention = b_ir * readiness + np.sqrt(1 - b_ir**2) * rng.standard_normal(n)
    eta = {"attitude": attitude, "trust": trust, "readiness": readiness, "intention": intention}
    return pd.DataFrame({item: lam * eta[f] + np.sqrt(1 - lam * lam) * rng.standard_normal(n)
                         for item, (f, lam) in LOADINGS.items()})


def likert(frame):
    """Five-point responses (1..5) from continuous ones."""
    return frame.apply(lambda c: np.clip(np.round(3 + 1.2 * c), 1, 5)).astype(int)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def row(doc, lval, op, rval):
    for r in doc["estimates"]:
        if r["op"] == op and {r["lval"], r["rval"]} == {lval, rval} and (op == "~~" or r["lval"] == lval):
            return r
    raise KeyError((lval, op, rval))


@pytest.fixture(scope="module")
def hs_files(tmp_path_factory):
    from semopy.examples import holzinger39

    folder = tmp_path_factory.mktemp("hs")
    data = holzinger39.get_data()
    data[["id", *HS_COLUMNS]].to_csv(folder / "hs.csv", index=False)  # 'id' is an extra column, ignored
    (folder / "hs.sem").write_text(HS_SPEC)
    return folder / "hs.csv", folder / "hs.sem", data[HS_COLUMNS].reset_index(drop=True)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    """The pipeline run once on 5,000 responses from the known model; returns (json path, document)."""
    folder = tmp_path_factory.mktemp("recovery")
    simulate_survey(N_RECOVERY, np.random.default_rng(20240611)).to_csv(folder / "survey.csv", index=False)
    (folder / "final.sem").write_text(FINAL_SPEC)
    out = folder / "fit.json"
    code = main(["calibrate", "sem", "--survey", str(folder / "survey.csv"), "--spec", str(folder / "final.sem"),
                 "--out", str(out)])
    assert code == 0
    return out, json.loads(out.read_text())


def test_holzinger_swineford_reproduces_lavaan(hs_files, tmp_path, capsys):
    csv_path, spec_path, _ = hs_files
    out = tmp_path / "hs_fit.json"
    code, stdout, err = run_cli(["calibrate", "sem", "--survey", csv_path, "--spec", spec_path, "--out", out], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    fit = doc["fit"]
    # lavaan 0.6 cfa(HS.model, HolzingerSwineford1939), the lavaan tutorial's figures.
    assert fit["chi2"] == pytest.approx(85.306, abs=0.01)
    assert fit["dof"] == 24
    assert fit["cfi"] == pytest.approx(0.931, abs=0.001)
    assert fit["tli"] == pytest.approx(0.896, abs=0.001)
    assert fit["rmsea"] == pytest.approx(0.092, abs=0.001)
    # lavaan's fitMeasures gfi / agfi (Joreskog-Sorbom), not semopy's calc_stats "GFI" (an NFI, 0.907).
    assert fit["gfi"] == pytest.approx(0.943, abs=0.001)
    assert fit["agfi"] == pytest.approx(0.894, abs=0.001)
    assert fit["nfi"] == pytest.approx(0.907, abs=0.001)
    for key in ("chi2", "dof", "cfi", "tli", "gfi", "agfi", "rmsea", "ifi", "aic", "bic"):
        assert isinstance(fit[key], float)

    assert doc["n"] == 301 and doc["survey"] == str(csv_path) and doc["spec"] == str(spec_path)
    assert doc["estimator"] == ESTIMATOR
    assert doc["missing"]["rows_dropped"] == 0 and doc["missing"]["rows_used"] == 301
    assert "listwise" in doc["missing"]["method"]
    assert len(doc["estimates"]) == 24  # 9 loadings, 3 factor variances, 3 covariances, 9 residual variances
    for r in doc["estimates"]:
        assert set(r) >= {"lval", "op", "rval", "estimate", "std_estimate", "se", "p_value"}
    marker = row(doc, "visual", "=~", "x1")
    assert marker["estimate"] == 1.0 and marker["se"] is None and marker["p_value"] is None  # fixed: NaN -> null
    # lavaan's standardised solution: visual =~ x2 .424, visual ~~ textual .459, textual ~~ speed .283.
    assert row(doc, "visual", "=~", "x2")["std_estimate"] == pytest.approx(0.424, abs=0.002)
    assert row(doc, "visual", "~~", "textual")["std_estimate"] == pytest.approx(0.459, abs=0.002)
    assert row(doc, "textual", "~~", "speed")["std_estimate"] == pytest.approx(0.283, abs=0.002)
    assert set(doc["r2"]) == set(HS_COLUMNS)
    assert doc["r2"]["x1"] == pytest.approx(1 - row(doc, "x1", "~~", "x1")["std_estimate"])
    assert list(doc["alpha"]) == ["visual", "textual", "speed"]
    assert doc["alpha"]["textual"] == pytest.approx(0.883, abs=0.001)
    # No simulation constructs in a CFA of ability tests: no sem block, and a reason.
    assert "sem" not in doc and "attitude" in doc["sem_note"]
    assert "CFI" in stdout and "0.931" in stdout and "GFI" in stdout and ESTIMATOR in stdout
    assert "0 of 301 rows dropped" in stdout and f"wrote {out}" in stdout


def test_missing_values_listwise_deletion(hs_files, tmp_path, capsys):
    _, spec_path, data = hs_files
    text = data.astype(object)
    text.loc[3, "x2"] = ""
    text.loc[10, "x5"] = "NA"
    text.loc[10, "x6"] = "NA"  # same row: counted once
    text.loc[20, "x9"] = " n/a "
    path = tmp_path / "gaps.csv"
    text.to_csv(path, index=False)
    frame, info = read_survey(path, HS_COLUMNS)
    assert len(frame) == 298 and info["rows_read"] == 301 and info["rows_dropped"] == 3
    assert info["missing_cells"] == {"x2": 1, "x5": 1, "x6": 1, "x9": 1}
    assert frame.notna().all().all() and list(frame.columns) == HS_COLUMNS
    code, stdout, err = run_cli(["calibrate", "sem", "--survey", path, "--spec", spec_path,
                                 "--out", tmp_path / "out.json"], capsys)
    assert code == 0, err
    assert "3 of 301 rows dropped" in stdout
    assert json.loads((tmp_path / "out.json").read_text())["n"] == 298


def test_recovery_of_known_standardised_paths(recovery):
    """Standardised paths and the latent correlation within 4 delta-method SEs of the truth.

    The SEs (``std_se``) are checked against a Monte Carlo run of this very design
    (400 surveys of n = 5000): mean reported SE vs the spread of the estimates was
    0.0149 / 0.0146 (readiness ~ attitude), 0.0152 / 0.0150 (readiness ~ trust),
    0.0074 / 0.0075 (intention ~ readiness), 0.0130 / 0.0127 (attitude ~~ trust);
    the largest error in the 400 runs was 3.1 SE. As a fixed cross-check, 4 SE is
    below 0.065 for every one of them.
    """
    _, doc = recovery
    assert doc["n"] == N_RECOVERY and doc["fit"]["dof"] == 31  # 55 moments - 24 free parameters
    for (lval, op, rval), truth in TRUE_PATHS.items():
        r = row(doc, lval, op, rval)
        bound = 4 * r["std_se"]
        assert 0.003 < r["std_se"] < 0.02, (lval, op, rval, r["std_se"])
        assert abs(r["std_estimate"] - truth) < bound, (lval, op, rval, r["std_estimate"], truth, bound)
    for item, (factor, lam) in LOADINGS.items():
        r = row(doc, factor, "=~", item)
        assert abs(r["std_estimate"] - lam) < 4 * r["std_se"], (item, r["std_estimate"], lam)
    assert doc["fit"]["rmsea"] < 0.02 and doc["fit"]["cfi"] > 0.99  # the generating model fits


def test_recovery_writes_sem_block_that_load_sem_reads(recovery):
    path, doc = recovery
    assert doc["status"] == "fitted" and doc["note"] and "sem_note" not in doc
    sem = load_sem(path)
    block = doc["sem"]
    assert set(block) == set(model.SEMParams().to_dict())
    assert (sem.mean_attitude, sem.mean_trust, sem.var_attitude, sem.var_trust) == (0.0, 0.0, 1.0, 1.0)
    assert sem.readiness_intercept == 0.0 and sem.intention_intercept == 0.0
    assert sem.intention_on_attitude == 0.0 and sem.intention_on_trust == 0.0  # no direct paths in the spec
    assert sem.cov_attitude_trust == row(doc, "attitude", "~~", "trust")["std_estimate"]
    assert sem.readiness_on_attitude == row(doc, "readiness", "~", "attitude")["std_estimate"]
    assert sem.readiness_on_trust == row(doc, "readiness", "~", "trust")["std_estimate"]
    assert sem.intention_on_readiness == row(doc, "intention", "~", "readiness")["std_estimate"]
    assert sem.readiness_resid_var == pytest.approx(1 - doc["r2"]["readiness"])
    assert sem.intention_resid_var == pytest.approx(1 - doc["r2"]["intention"])
    # A standardised solution: every construct has model-implied variance 1.
    np.testing.assert_allclose(np.diag(sem.implied_cov()), 1.0, atol=1e-3)


def test_direct_paths_are_handed_over(tmp_path):
    """intention ~ attitude + trust, when in the spec, fill intention_on_attitude / _on_trust."""
    simulate_survey(2000, np.random.default_rng(7)).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "s.sem").write_text(FINAL_SPEC.replace("intention ~ readiness", "intention ~ readiness + attitude"
                                                                                 " + trust"))
    doc = calibrate_sem(tmp_path / "s.csv", tmp_path / "s.sem")
    sem = model.SEMParams.from_mapping(doc["sem"])
    assert sem.intention_on_attitude == row(doc, "intention", "~", "attitude")["std_estimate"]
    assert sem.intention_on_trust == row(doc, "intention", "~", "trust")["std_estimate"]
    # the true direct paths are 0
    assert abs(sem.intention_on_attitude) < 4 * row(doc, "intention", "~", "attitude")["std_se"]


def test_spec_the_simulation_cannot_use_gets_a_note(tmp_path):
    data = simulate_survey(1000, np.random.default_rng(3))
    data["AV1"], data["AV2"], data["AV3"] = (data["IN1"] + np.random.default_rng(k).standard_normal(1000)
                                             for k in (4, 5, 6))
    data.to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "s.sem").write_text(FINAL_SPEC.replace("intention ~ readiness", "intention ~ readiness + availability")
                                    + "availability =~ AV1 + AV2 + AV3\n")
    doc = calibrate_sem(tmp_path / "s.csv", tmp_path / "s.sem")
    assert "sem" not in doc and "intention ~ availability" in doc["sem_note"]


def test_handover_agents_reproduce_fitted_correlations(recovery):
    """Citizens drawn from the fitted SEM show its implied latent correlations.

    The sampling SE of a correlation r over n draws is (1 - r^2)/sqrt(n) <= 1/sqrt(n);
    the bound 4/sqrt(n) = 0.028 at n = 20,000 is at least 4 SE.
    """
    path, _ = recovery
    sem = load_sem(path)
    n = 20_000
    m = model.AdoptionModel(sem=sem, population=model.PopulationSpec.uniform(), n_agents=n, seed=1,
                            create_agents=False, share_adopters_initial=0.0)
    cov = sem.implied_cov()
    implied = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    sample = np.corrcoef([m.attitude, m.trust, m.readiness, m.intention])
    bound = 4 / np.sqrt(n)
    att, tru, rea, inten = 0, 1, 2, 3
    for i, j in ((att, tru), (rea, att), (inten, rea)):
        assert abs(sample[i, j] - implied[i, j]) < bound, (i, j, sample[i, j], implied[i, j])
    # and the implied correlations are the fitted ones
    assert implied[att, tru] == pytest.approx(sem.cov_attitude_trust)


def _hs_csv(folder, data, edit=None, drop=None):
    frame = data.astype(object)
    if edit is not None:
        frame.loc[edit[0], edit[1]] = edit[2]
    if drop is not None:
        frame = frame.drop(columns=drop)
    path = folder / "survey.csv"
    frame.to_csv(path, index=False)
    return path


def _likert_csv(folder, edit):
    frame = likert(simulate_survey(400, np.random.default_rng(11))).astype(object)
    frame.loc[edit[0], edit[1]] = edit[2]
    path = folder / "survey.csv"
    frame.to_csv(path, index=False)
    return path


def _spec(folder, text):
    path = folder / "model.sem"
    path.write_text(text)
    return path


# Each case: (survey, spec, extra args) built in a folder, and fragments the one-line message must hold.
# "{survey}" / "{spec}" stand for the file paths.
BAD_INPUTS = {
    "empty_file": (lambda f, d: (f / "s.csv", _spec(f, HS_SPEC), []), "", ["{survey}", "survey file is empty"]),
    "header_only": (lambda f, d: (f / "s.csv", _spec(f, HS_SPEC), []), ",".join(HS_COLUMNS) + "\n",
                    ["{survey}", "no data rows"]),
    "non_numeric": (lambda f, d: (_hs_csv(f, d, edit=(2, "x5", "abc")), _spec(f, HS_SPEC), []), None,
                    ["{survey}", "column 'x5', data row 3 (line 4): expected a number, got 'abc'"]),
    "outside_scale": (lambda f, d: (_likert_csv(f, (4, "PA2", 7)), _spec(f, FINAL_SPEC), ["--scale", "1,5"]), None,
                      ["{survey}", "column 'PA2', data row 5 (line 6): value 7 is outside the declared scale 1 to 5"]),
    "missing_column": (lambda f, d: (_hs_csv(f, d, drop=["x9", "x4"]), _spec(f, HS_SPEC), []), None,
                       ["{survey}", "column(s) x4, x9 named in the spec are missing from the header"]),
    "ragged_row": (lambda f, d: (f / "s.csv", _spec(f, HS_SPEC), []),
                   ",".join(HS_COLUMNS) + "\n" + ",".join(["1"] * 9) + "\n1,2,3\n",
                   ["{survey}", "line 3: expected 9 fields as in the header, got 3"]),
    "too_few_rows": (lambda f, d: (_hs_csv(f, d.head(8)), _spec(f, HS_SPEC), []), None,
                     ["{survey}", "only 8 complete row(s)", "needs at least 10"]),
    "missing_survey": (lambda f, d: (f / "nope.csv", _spec(f, HS_SPEC), []), None,
                       ["{survey}", "cannot read the survey (No such file or directory)"]),
    "missing_spec": (lambda f, d: (_hs_csv(f, d), f / "nope.sem", []), None,
                     ["{spec}", "cannot read the model description"]),
    "spec_does_not_parse": (lambda f, d: (_hs_csv(f, d), _spec(f, "visual =~ x1 + x2 +\n"), []), None,
                            ["{spec}", "not a valid semopy model description", "visual =~ x1 + x2 +"]),
    "spec_unknown_operator": (lambda f, d: (_hs_csv(f, d), _spec(f, "visual =~ x1 + x2 + x3\nx1 ~~~ x2\n"), []),
                              None, ["{spec}", "not a valid semopy model description", "~~~"]),
    "spec_empty": (lambda f, d: (_hs_csv(f, d), _spec(f, "# nothing yet\n\n"), []), None,
                   ["{spec}", "model description is empty"]),
    "spec_no_structure": (lambda f, d: (_hs_csv(f, d), _spec(f, "x1 ~~ x2\n"), []), None,
                          ["{spec}", "no measurement ('=~') or regression ('~') line"]),
    "single_indicator_factor": (lambda f, d: (_hs_csv(f, d), _spec(f, "visual =~ x1 + x2 + x3\nlone =~ x4\n"), []),
                                None, ["{spec}", "not identified", "information matrix is singular",
                                       "lone ~~ lone", "x4 ~~ x4"]),
    "more_parameters_than_moments": (lambda f, d: (_hs_csv(f, d), _spec(f, "pair =~ x1 + x2\n"), []), None,
                                     ["{spec}", "not identified", "4 free parameters but only 3", "df = -1"]),
    "badly_scaled_items": (lambda f, d: (_hs_csv(f, d.assign(x1=d["x1"] * 1e6, x5=d["x5"] / 1e4)), _spec(f, HS_SPEC),
                                         []), None,
                           ["{spec}", "observed variances differ by a factor of", "rescale the items"]),
    "bad_scale_one_number": (lambda f, d: (_hs_csv(f, d), _spec(f, HS_SPEC), ["--scale", "5"]), None,
                             ["--scale", "expected MIN,MAX such as 1,5, got '5'"]),
    "bad_scale_words": (lambda f, d: (_hs_csv(f, d), _spec(f, HS_SPEC), ["--scale", "one,five"]), None,
                        ["--scale", "expected MIN,MAX"]),
    "bad_scale_reversed": (lambda f, d: (_hs_csv(f, d), _spec(f, HS_SPEC), ["--scale", "5,1"]), None,
                           ["--scale", "MIN < MAX"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_one_line_and_out_file_kept(case, hs_files, tmp_path, capsys):
    build, raw, fragments = BAD_INPUTS[case]
    survey, spec, extra = build(tmp_path, hs_files[2])
    if raw is not None:
        survey.write_text(raw)
    out = tmp_path / "sem_fit.json"
    out.write_text('{"earlier": true}\n')
    code, stdout, err = run_cli(["calibrate", "sem", "--survey", survey, "--spec", spec, *extra, "--out", out], capsys)
    assert code == 2, (stdout, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment.format(survey=survey, spec=spec) in err, err
    assert out.read_text() == '{"earlier": true}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sem_fit.json")] == []  # no temp file left


@pytest.mark.parametrize(("error", "fragment"), [
    (RuntimeError("the optimiser did not converge (Iteration limit reached)"), "did not converge"),
    (np.linalg.LinAlgError("Singular matrix"), "fitting failed on"),
])
def test_fit_failures_are_one_line_naming_the_spec(error, fragment, hs_files, monkeypatch, tmp_path):
    csv_path, spec_path, _ = hs_files

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(sem_calibrate, "fit_sem", failing)
    with pytest.raises(InputError) as info:
        calibrate_sem(csv_path, spec_path)
    message = str(info.value)
    assert str(spec_path) in message and fragment in message and "\n" not in message


def test_read_spec_returns_text_and_out_folder_is_refused(hs_files, tmp_path, capsys):
    csv_path, spec_path, _ = hs_files
    assert read_spec(spec_path) == HS_SPEC
    code, _, err = run_cli(["calibrate", "sem", "--survey", csv_path, "--spec", spec_path, "--out", tmp_path],
                           capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--out" in err


def test_semopy_warnings_do_not_reach_stderr(hs_files, tmp_path):
    """semopy logs to a root-logger handler on the real stderr; an unidentified model still gives one line."""
    import subprocess
    import sys

    csv_path, _, _ = hs_files
    spec = _spec(tmp_path, "visual =~ x1 + x2 + x3\nlone =~ x4\n")
    proc = subprocess.run([sys.executable, "-m", "egov_abm.scenarios.cli", "calibrate", "sem",
                           "--survey", str(csv_path), "--spec", str(spec), "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "WARNING" not in proc.stderr, proc.stderr
    assert "not identified" in proc.stderr


def test_cfi_is_bounded_when_chi2_is_below_df(tmp_path):
    """Bentler's CFI is 1 when chi2 < df (semopy's own formula gives more than 1); TLI may exceed 1."""
    frame = likert(simulate_survey(800, np.random.default_rng(5)))
    frame.to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "s.sem").write_text(FINAL_SPEC)
    doc = calibrate_sem(tmp_path / "s.csv", tmp_path / "s.sem", scale=(1, 5))
    assert doc["fit"]["chi2"] < doc["fit"]["dof"]
    assert doc["fit"]["cfi"] == 1.0 and doc["fit"]["tli"] > 1.0
