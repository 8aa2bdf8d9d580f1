"""Tables the Calibration page shows, read from the calibration's output files.

:func:`read_sem_file` reads a SEM parameters file written by
``egov-abm calibrate sem`` (the ``sem`` block the model runs with, plus the
fit, estimates, R² and Cronbach's alphas) and checks it; a bad file raises
:class:`~model.InputError` with one line naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE, load_sem
from egov_abm.calibration.posterior import DEFAULT_POSTERIOR, load_posterior
from egov_abm.calibration.report import identification
from egov_abm.model import InputError

#: Fit indices in display order: key, plain name, what a good fit looks like.
FIT_INDICES = (
    ("chi2", "Chi-square (χ²)", "smaller is better"),
    ("dof", "Degrees of freedom", ""),
    ("cfi", "Comparative fit index (CFI)", "≥ .95 good"),
    ("tli", "Tucker-Lewis index (TLI)", "≥ .95 good"),
    ("ifi", "Incremental fit index (IFI)", "≥ .95 good"),
    ("gfi", "Goodness of fit index (GFI)", "≥ .90 acceptable"),
    ("agfi", "Adjusted GFI (AGFI)", "≥ .90 acceptable"),
    ("rmsea", "Root mean square error of approximation (RMSEA)", "≤ .06 good"),
)
TARGETS_FILE = Path(DEFAULT_SEM_FILE).parents[1] / "reconstruction_targets.csv"


@dataclasses.dataclass(frozen=True)
class SemView:
    """What the page shows of one SEM parameters file."""

    path: Path
    note: str
    n: int | None
    fit: pd.DataFrame  # index, value, published (final model), guide
    paths: pd.DataFrame  # lval, rval, estimate, std_estimate, se, p_value
    loadings: pd.DataFrame  # factor, indicator, std_estimate, alpha
    r2: dict[str, float]
    correlation: float | None


def shipped_sem_files() -> list[Path]:
    """SEM parameters files shipped with the package."""
    return sorted(p for p in Path(DEFAULT_SEM_FILE).parent.glob("sem*.json"))


def read_sem_file(path: Path | str) -> SemView:
    """Read and check a SEM parameters file (see module docstring)."""
    path = Path(path)
    sem = load_sem(path)  # checks the file exists, is JSON and has a usable 'sem' block
    doc = json.loads(path.read_text(encoding="utf-8"))
    estimates = doc.get("estimates", [])
    if not isinstance(estimates, list) or not all(isinstance(e, dict) and {"lval", "op", "rval"} <= set(e)
                                                  for e in estimates):
        raise InputError(f"{path}: estimates: expected a list of objects with lval, op and rval")
    table = pd.DataFrame(estimates, columns=["lval", "op", "rval", "estimate", "std_estimate", "se", "p_value"])
    fit = doc.get("fit", {})
    if not isinstance(fit, dict):
        raise InputError(f"{path}: fit: expected an object of fit indices")
    published = _published_final()
    fit_rows = [{"index": name, "value": fit.get(key), "published (Amirova 2021, final model)": published.get(key),
                 "guide": guide} for key, name, guide in FIT_INDICES]
    alpha = doc.get("alpha", {}) if isinstance(doc.get("alpha"), dict) else {}
    loadings = table[table["op"] == "=~"].rename(columns={"lval": "factor", "rval": "indicator"})
    loadings = loadings.assign(alpha=loadings["factor"].map(alpha))[["factor", "indicator", "std_estimate", "alpha"]]
    paths = table[table["op"] == "~"][["lval", "rval", "estimate", "std_estimate", "se", "p_value"]]
    if paths.empty:  # a file with no estimates: show the sem block the model runs with
        paths = pd.DataFrame([
            {"lval": "readiness", "rval": "attitude", "std_estimate": sem.readiness_on_attitude},
            {"lval": "readiness", "rval": "trust", "std_estimate": sem.readiness_on_trust},
            {"lval": "intention", "rval": "readiness", "std_estimate": sem.intention_on_readiness},
        ], columns=paths.columns)
    r2 = {k: float(v) for k, v in doc.get("r2", {}).items() if k in ("readiness", "intention")} \
        if isinstance(doc.get("r2"), dict) else {}
    return SemView(path=path, note=str(doc.get("note", "")), n=doc.get("n"), fit=pd.DataFrame(fit_rows),
                   paths=paths.reset_index(drop=True), loadings=loadings.reset_index(drop=True), r2=r2,
                   correlation=sem.cov_attitude_trust / (sem.var_attitude * sem.var_trust) ** 0.5)


def _published_final() -> dict[str, float]:
    try:
        targets = pd.read_csv(TARGETS_FILE)
    except OSError:
        return {}
    final = targets[targets["model"] == "final"]
    return dict(zip(final["statistic"], pd.to_numeric(final["target"], errors="coerce"), strict=True))


def posterior_table(path: Path | str = DEFAULT_POSTERIOR) -> pd.DataFrame:
    """The dynamics posterior: median, 90 % interval, width against the prior, and verdict per parameter."""
    table = identification(load_posterior(path))
    return table[["parameter", "q50", "q05", "q95", "width_vs_prior", "verdict", "meaning"]].rename(columns={
        "q50": "median", "q05": "5 %", "q95": "95 %", "width_vs_prior": "90 % width / prior width"})
