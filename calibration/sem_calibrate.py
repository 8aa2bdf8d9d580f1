"""Fit the survey's structural equation model and hand its coefficients to the simulation.

The pipeline behind ``egov-abm calibrate sem``::

    read_spec(spec)                      semopy model description, checked
    read_survey(csv, observed, scale)    numeric table, listwise deletion
    calibrate_sem(csv, spec, scale)      fit_sem + identification checks -> JSON document
    write_json(doc, out)                 atomic write
    format_report(doc)                   fit table and key paths for the terminal

Every error a user can cause (file, spec, data, model) raises
:class:`model.InputError` with one line naming the file, the field and what
was expected.

The estimator is semopy's maximum likelihood on the complete cases
(:data:`calibration.semfit.ESTIMATOR`). Standard errors of the standardised
estimates (``std_se``) are computed here by the delta method: the numerical
Jacobian of the standardised solution with respect to the free parameters,
times the inverse expected information, as lavaan's ``standardizedSolution``
does (Rosseel 2012, J. Stat. Softw. 48(2)).

When the spec contains the simulation's four constructs (latent factors named
``attitude``, ``trust``, ``readiness``, ``intention`` with
``readiness ~ attitude + trust`` and ``intention ~ readiness``; direct paths
``intention ~ attitude`` / ``trust`` optional), the document carries a ``sem``
block of :class:`model.SEMParams` taken from the standardised solution, which
:func:`calibration.defaults.load_sem` reads directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.calibration import userfiles
from egov_abm.calibration.semfit import ESTIMATOR, SEMFit, fit_sem, one_blas_thread
from egov_abm.model import InputError, SEMParams

#: Cell texts read as a missing value (compared after stripping blanks, case-insensitive).
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", ".")
#: Latent factors the simulation's SEM is made of (model/sem.py).
CONSTRUCTS = ("attitude", "trust", "readiness", "intention")
#: The information matrix (scaled to unit diagonal) counts as singular below this ratio of its smallest to
#: largest eigenvalue; an unidentified model gives about 1e-16, the identified examples in the tests 0.04.
SINGULAR_RATIO = 1e-9
#: Largest departure of a model-implied standardised construct variance from 1 accepted in the ``sem`` block.
STD_VARIANCE_TOLERANCE = 1e-3
FIT_TABLE = (("cfi", "CFI"), ("tli", "TLI"), ("rmsea", "RMSEA"), ("gfi", "GFI (Joreskog-Sorbom)"),
             ("agfi", "AGFI"), ("ifi", "IFI"), ("nfi", "NFI"))


def _one_line(exc: BaseException | str, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _quiet() -> Iterator[list[str]]:
    """Collect semopy's log warnings and numpy's runtime warnings instead of printing them.

    Importing semopy attaches a stderr handler to the root logger, and semopy
    logs with ``logging.warning`` on the root logger; a filter on the root
    logger stops those records before any handler. The collected messages are
    yielded as a list (filled when the block ends).
    """
    notes: list[str] = []

    class _Collect(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            notes.append(_one_line(record.getMessage()))
            return False

    root = logging.getLogger()
    collect = _Collect()
    root.addFilter(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
    finally:
        root.removeFilter(collect)
    for w in caught:  # numerical trouble only; deprecation notices of semopy's own code are not the user's
        if issubclass(w.category, RuntimeWarning | UserWarning):
            notes.append(_one_line(f"{w.category.__name__}: {w.message}"))


def _read_text(path: Path, what: str, hint: str) -> str:
    """UTF-8 text of ``path``; one-line InputError naming ``what`` otherwise."""
    return userfiles.read_text(path, what, hint=hint)


# --------------------------------------------------------------------------- spec


def _semopy_model(text: str, where: Path):
    import semopy

    with _quiet():
        try:
            return semopy.Model(text)
        except Exception as exc:  # semopy raises SyntaxError, ValueError, NotImplementedError, KeyError...
            detail = _one_line(exc) or type(exc).__name__
            raise InputError(f"{where}: not a valid semopy model description ({detail})") from None


def read_spec(path: Path | str) -> str:
    """Read a semopy model description (lavaan-like syntax) and check that semopy parses it.

    Args:
        path: text file with lines such as ``f =~ x1 + x2 + x3`` and ``y ~ f``;
            ``#`` starts a comment.

    Returns:
        The text of the file.

    Raises:
        InputError: the file cannot be read, is empty, has no measurement
            (``=~``) or regression (``~``) line, or semopy cannot parse it.
    """
    path = Path(path)
    text = _read_text(path, "the model description", "")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise InputError(f"{path}: the model description is empty (expected lines such as 'f =~ x1 + x2 + x3')")
    if not any("=~" in line or re.search(r"(?<![~=])~(?![~])", line) for line in lines):
        raise InputError(f"{path}: the model description has no measurement ('=~') or regression ('~') line")
    _semopy_model(text, path)
    return text


# --------------------------------------------------------------------------- survey


def _read_records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, fields)`` of every data row; blank lines are skipped."""
    text = _read_text(path, "the survey", "; save it as UTF-8 CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields:
                continue
            if header is None:
                header = [f.strip() for f in fields]
            else:
                rows.append((line, fields))
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({_one_line(exc)})") from None
    if header is None:
        raise InputError(f"{path}: the survey file is empty (expected a header row of column names, then data rows)")
    return header, rows


def read_survey(path: Path | str, columns: Sequence[str],
                scale: tuple[float, float] | None = None) -> tuple[pd.DataFrame, dict]:
    """Read survey responses from a CSV file: one row per respondent, one column per item.

    Only ``columns`` (the spec's observed variables) are read; other columns
    are ignored. Empty cells and the texts ``NA``, ``N/A``, ``NaN``, ``null``
    and ``.`` are missing values; rows with a missing value in any of
    ``columns`` are dropped (listwise deletion) and counted. Data rows are
    numbered from 1 (the first row after the header); ``line`` is the line of
    the file.

    Args:
        path: CSV file, comma-separated, UTF-8, header row of column names.
        columns: names of the columns to read.
        scale: ``(lo, hi)``: every value must lie in ``[lo, hi]`` (e.g. ``(1, 5)``
            for a five-point Likert scale); ``None`` checks no range.

    Returns:
        ``(data, missing)``: the complete rows as float columns (index 0..n-1),
        and a dict saying how missing values were handled (``method``,
        ``rows_read``, ``rows_dropped``, ``rows_used``, ``missing_cells`` per column).

    Raises:
        InputError: unreadable or empty file, missing or duplicate columns,
            rows with the wrong number of fields, non-numeric cells, values
            outside ``scale``, too few complete rows, or columns whose sample
            covariance matrix is singular.
    """
    path = Path(path)
    columns = list(columns)
    if scale is not None and not (len(scale) == 2 and math.isfinite(scale[0]) and math.isfinite(scale[1])
                                  and scale[0] < scale[1]):
        raise InputError(f"scale {scale!r}: expected (MIN, MAX) with finite MIN < MAX, such as (1, 5)")
    header, rows = _read_records(path)
    if not rows:
        raise InputError(f"{path}: no data rows (only the header row); expected one row per respondent")
    dupes = sorted({c for c in columns if header.count(c) > 1})
    if dupes:
        raise InputError(f"{path}: column(s) {', '.join(dupes)} appear more than once in the header")
    absent = [c for c in columns if c not in header]
    if absent:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        hint = " (the file seems to use ';' between fields: save it comma-separated)" if (
            len(header) == 1 and ";" in header[0]) else ""
        raise InputError(f"{path}: column(s) {', '.join(absent)} named in the spec are missing from the header "
                         f"(found: {shown}){hint}")
    width = len(header)
    for line, fields in rows:
        if len(fields) != width:
            raise InputError(f"{path}: line {line}: expected {width} fields as in the header, got {len(fields)}")

    lines = np.array([line for line, _ in rows])
    index = [header.index(c) for c in columns]
    cells = pd.DataFrame([[fields[i] for i in index] for _, fields in rows], columns=columns, dtype=object)
    data = pd.DataFrame(index=cells.index)
    first_bad: list[tuple[int, int, str, str, int]] = []  # (row position, column order, column, text, count)
    for k, col in enumerate(columns):
        text = cells[col].astype(str).str.strip()
        missing = text.str.lower().isin(MISSING_TOKENS).to_numpy()
        values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~missing & ~np.isfinite(values)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            first_bad.append((pos, k, col, str(cells[col].iloc[pos]), int(bad.sum())))
        data[col] = values
    if first_bad:
        pos, _, col, text, count = min(first_bad)
        more = f" ({count - 1} more non-numeric cell(s) in this column)" if count > 1 else ""
        raise InputError(f"{path}: column '{col}', data row {pos + 1} (line {lines[pos]}): "
                         f"expected a number, got {text!r}{more}")
    if scale is not None:
        lo, hi = scale
        out = []
        for k, col in enumerate(columns):
            v = data[col].to_numpy()
            outside = ~np.isnan(v) & ((v < lo) | (v > hi))
            if outside.any():
                pos = int(np.flatnonzero(outside)[0])
                out.append((pos, k, col, float(v[pos]), int(outside.sum())))
        if out:
            pos, _, col, value, count = min(out)
            more = f" ({count - 1} more in this column)" if count > 1 else ""
            raise InputError(f"{path}: column '{col}', data row {pos + 1} (line {lines[pos]}): value {value:g} is "
                             f"outside the declared scale {lo:g} to {hi:g}{more}")

    complete = data.notna().all(axis=1)
    n_read, n_used = len(data), int(complete.sum())
    info = {
        "method": "listwise deletion: rows with a missing value in any of the spec's observed columns are dropped",
        "missing_values": "empty cells and NA, N/A, NaN, null, '.'",
        "rows_read": n_read,
        "rows_dropped": n_read - n_used,
        "rows_used": n_used,
        "missing_cells": {c: int(data[c].isna().sum()) for c in columns if data[c].isna().any()},
    }
    data = data[complete].reset_index(drop=True)
    p = len(columns)
    if n_used < p + 1:
        raise InputError(f"{path}: only {n_used} complete row(s) of {n_read} (after dropping rows with missing "
                         f"values); fitting {p} observed columns needs at least {p + 1}")
    sd = data.std(ddof=0)
    constant = [c for c in columns if not sd[c] > 0]
    if constant:
        raise InputError(f"{path}: column(s) {', '.join(constant)} have the same value in every complete row; "
                         "a constant item has no covariance to fit")
    corr = np.corrcoef(data.to_numpy(), rowvar=False)
    if p > 1 and np.linalg.eigvalsh(corr).min() < 1e-10:
        raise InputError(f"{path}: the sample covariance matrix of the spec's columns is singular (some columns are "
                         "exact linear combinations of others); maximum likelihood needs it positive definite")
    return data, info


# --------------------------------------------------------------------------- fit


def _param_labels(model) -> list[str]:
    """``'lval op rval'`` of each free parameter, in the order of ``model.param_vals``."""
    from semopy.inspector import inspect_list

    table = inspect_list(model, information=None, index_names=True)
    latents = set(model.vars["latent"])
    labels: dict[str, list[str]] = {}
    for name, r in table.iterrows():
        lval, op, rval = r["lval"], r["op"], r["rval"]
        if op == "~" and rval in latents and lval not in latents:
            lval, op, rval = rval, "=~", lval
        labels.setdefault(name, []).append(f"{lval} {op} {rval}")
    active = [k for k, p in model.parameters.items() if p.active]
    return [" = ".join(labels.get(k, [k])) for k in active]


def _scale_note(data: pd.DataFrame) -> str:
    """A note when observed variances differ by more than 1000 times (lavaan warns at the same ratio).

    semopy's optimiser then often stops at a degenerate point that looks unidentified.
    """
    var = data.var(ddof=0)
    if var.max() <= 1000 * var.min():
        return ""
    return (f"observed variances differ by a factor of {var.max() / var.min():.3g} ({var.idxmax()} vs "
            f"{var.idxmin()}); rescale the items to comparable units")


def _check_identified(fit: SEMFit, spec_path: Path, note: str = "") -> None:
    """Raise if the expected information matrix is singular or a standard error is not finite."""
    from semopy.stats import calc_se

    model = fit.model
    note = f"; {note}" if note else ""
    try:
        fim = np.asarray(model.calc_fim(), dtype=float)
        se = np.asarray(calc_se(model), dtype=float)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
        raise InputError(f"{spec_path}: the model is not identified or the solution is improper "
                         f"(information matrix: {_one_line(exc)}){note}") from None
    if fim.size == 0:
        raise InputError(f"{spec_path}: the model has no free parameters to estimate")
    # Scale-free test: D^-1/2 F D^-1/2 (D = diag F) does not change when an item is measured in other units.
    diag = np.diag(fim)
    if np.isfinite(fim).all() and (diag > 0).all():
        eig, vec = np.linalg.eigh(fim / np.sqrt(np.outer(diag, diag)))
    else:
        eig, vec = np.array([0.0 if np.isfinite(fim).all() else np.nan]), None
    if not np.isfinite(eig).all() or eig.min() <= SINGULAR_RATIO * abs(eig.max()):
        involved = ""
        if vec is not None:
            v = np.abs(vec[:, int(np.argmin(eig))])
            labels = _param_labels(model)
            top = [labels[i] for i in np.argsort(-v) if v[i] > 0.1 * v.max()][:4]
            involved = f"; these free parameters cannot be told apart: {', '.join(top)}" if top else ""
        raise InputError(f"{spec_path}: the model is not identified: its information matrix is singular{involved} "
                         f"(fix a loading or a variance, or give each factor more indicators){note}")
    if not np.isfinite(se).all():
        labels = _param_labels(model)
        bad = [labels[i] for i in np.flatnonzero(~np.isfinite(se))][:4]
        raise InputError(f"{spec_path}: the model is not identified: standard errors of {', '.join(bad)} "
                         f"are not finite{note}")


def _std_se(model) -> np.ndarray:
    """Delta-method standard errors of every row of ``model.inspect(std_est=True)``.

    The Jacobian of the standardised estimates with respect to the free
    parameters is taken by central differences (step 1e-5 relative) and
    combined with the inverse expected information (the covariance of the
    free parameters). The model's parameters are restored afterwards.
    """
    vals = np.array(model.param_vals, dtype=float)
    _, fim_inv = model.calc_fim(inverse=True)

    def standardised(x: np.ndarray) -> np.ndarray:
        model.param_vals = x
        model.update_matrices(x)
        return pd.to_numeric(model.inspect(std_est=True, information=None)["Est. Std"], errors="coerce").to_numpy(
            dtype=float)

    try:
        jac = []
        for k in range(len(vals)):
            step = np.zeros_like(vals)
            step[k] = 1e-5 * max(1.0, abs(vals[k]))
            jac.append((standardised(vals + step) - standardised(vals - step)) / (2 * step[k]))
    finally:
        model.param_vals = vals
        model.update_matrices(vals)
    j = np.array(jac).T
    var = np.einsum("ij,jk,ik->i", j, np.asarray(fim_inv, dtype=float), j)
    return np.sqrt(np.clip(var, 0.0, None))


def _canonical(est: pd.DataFrame, spec_text: str, latents: set[str]) -> pd.DataFrame:
    """Estimates in a fixed order, whatever Python's hash seed.

    semopy keeps variables in sets, so the order of its rows and the
    orientation of covariances (``a ~~ b`` or ``b ~~ a``) change from one
    process to the next. Rows are put in lavaan's order (``=~``, ``~``, ``~~``
    with latent (co)variances before residual variances) and variables in
    their order of first appearance in the spec.
    """
    rank: dict[str, int] = {}
    code = "\n".join(line.split("#", 1)[0] for line in spec_text.splitlines())
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", code):
        rank.setdefault(name, len(rank))
    est = est.copy()
    swap = (est["op"] == "~~") & (est["lval"].map(lambda v: rank.get(v, 1 << 30))
                                  > est["rval"].map(lambda v: rank.get(v, 1 << 30)))
    est.loc[swap, ["lval", "rval"]] = est.loc[swap, ["rval", "lval"]].to_numpy()
    op_rank = {"=~": 0, "~": 1, "~~": 2}
    key = pd.DataFrame({
        "op": est["op"].map(lambda o: op_rank.get(o, 3)),
        "observed": ((est["op"] == "~~") & ~est["lval"].isin(latents)).astype(int),
        "lval": est["lval"].map(lambda v: rank.get(v, 1 << 30)),
        "rval": est["rval"].map(lambda v: rank.get(v, 1 << 30)),
    })
    order = key.sort_values(["op", "observed", "lval", "rval"], kind="stable").index
    return est.loc[order].reset_index(drop=True)


def _indicator_r2(est: pd.DataFrame, factors: dict[str, list[str]]) -> dict[str, float]:
    """R2 of each indicator: 1 - its standardised residual variance."""
    out = {}
    for items in factors.values():
        for item in items:
            row = est[(est["lval"] == item) & (est["op"] == "~~") & (est["rval"] == item)]
            if not row.empty:
                out[item] = 1.0 - float(row["std_estimate"].iloc[0])
    return out


def _improper(est: pd.DataFrame) -> list[str]:
    """Notes on improper estimates: variances at or below 0, standardised loadings beyond 1."""
    notes = []
    var = est[(est["op"] == "~~") & (est["lval"] == est["rval"])]
    for _, r in var[var["estimate"] <= 1e-8].iterrows():
        notes.append(f"improper solution: variance of {r['lval']} is {r['estimate']:.3g} (at or below 0)")
    load = est[(est["op"] == "=~") & (est["std_estimate"].abs() > 1.0)]
    for _, r in load.iterrows():
        notes.append(f"improper solution: standardised loading {r['lval']} =~ {r['rval']} is "
                     f"{r['std_estimate']:.3f} (beyond 1)")
    return notes


def sem_parameters(est: pd.DataFrame, latents: set[str]) -> tuple[dict[str, float] | None, str]:
    """The simulation's :class:`model.SEMParams` from the standardised solution, or ``None`` and why not.

    Latent means and intercepts are 0 and exogenous variances 1 (standardised
    solution); the attitude-trust covariance is their correlation; paths are
    standardised coefficients; residual variances are standardised
    disturbance variances (1 - R2).
    """
    missing = [c for c in CONSTRUCTS if c not in latents]
    if missing:
        return None, (f"no sem block: the simulation's SEM needs latent factors named {', '.join(CONSTRUCTS)}; "
                      f"this spec lacks {', '.join(missing)}")
    reg = est[est["op"] == "~"]
    preds = {v: set(reg.loc[reg["lval"] == v, "rval"]) for v in CONSTRUCTS}
    needed = [("readiness", "attitude"), ("readiness", "trust"), ("intention", "readiness")]
    lacking = [f"{a} ~ {b}" for a, b in needed if b not in preds[a]]
    if lacking:
        return None, f"no sem block: the simulation's SEM needs the path(s) {', '.join(lacking)}"
    for v in ("attitude", "trust"):
        if preds[v]:
            return None, (f"no sem block: {v} is regressed on {', '.join(sorted(preds[v]))}; "
                          "the simulation takes attitude and trust as exogenous")
    extra_r = preds["readiness"] - {"attitude", "trust"}
    extra_i = preds["intention"] - {"readiness", "attitude", "trust"}
    if extra_r or extra_i:
        what = [f"readiness ~ {x}" for x in sorted(extra_r)] + [f"intention ~ {x}" for x in sorted(extra_i)]
        return None, (f"no sem block: the simulation has no counterpart for the path(s) {', '.join(what)} "
                      "(its SEM is readiness ~ attitude + trust, intention ~ readiness [+ attitude + trust])")
    cov = est[(est["op"] == "~~") & (est["lval"] != est["rval"])]
    for v in ("readiness", "intention"):
        rows = cov[(cov["lval"] == v) | (cov["rval"] == v)]
        if not rows.empty:
            r = rows.iloc[0]
            return None, (f"no sem block: the spec lets the disturbance of {v} covary ({r['lval']} ~~ {r['rval']}); "
                          "the simulation draws independent disturbances")

    def std(lval: str, op: str, rval: str, default: float | None = None) -> float:
        rows = est[(est["op"] == op) & (((est["lval"] == lval) & (est["rval"] == rval))
                                        | ((op == "~~") & (est["lval"] == rval) & (est["rval"] == lval)))]
        if rows.empty:
            if default is None:
                raise KeyError(f"{lval} {op} {rval}")
            return default
        return float(rows["std_estimate"].iloc[0])

    values = {
        "mean_attitude": 0.0, "mean_trust": 0.0, "var_attitude": 1.0, "var_trust": 1.0,
        "cov_attitude_trust": std("attitude", "~~", "trust", 0.0),
        "readiness_intercept": 0.0,
        "readiness_on_attitude": std("readiness", "~", "attitude"),
        "readiness_on_trust": std("readiness", "~", "trust"),
        "readiness_resid_var": std("readiness", "~~", "readiness"),
        "intention_intercept": 0.0,
        "intention_on_readiness": std("intention", "~", "readiness"),
        "intention_on_attitude": std("intention", "~", "attitude", 0.0),
        "intention_on_trust": std("intention", "~", "trust", 0.0),
        "intention_resid_var": std("intention", "~~", "intention"),
    }
    try:
        params = SEMParams(**values)
    except ValueError as exc:
        return None, f"no sem block: the standardised solution is not a valid simulation SEM ({_one_line(exc)})"
    diag = np.diag(params.implied_cov())
    if not np.allclose(diag, 1.0, atol=STD_VARIANCE_TOLERANCE):
        return None, ("no sem block: the standardised solution does not give unit construct variances "
                      f"(implied variances {', '.join(f'{d:.4f}' for d in diag)})")
    return values, ""


def _clean(value):
    """JSON-safe copy: NaN and infinities become ``None``, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def calibrate_sem(survey_path: Path | str, spec_path: Path | str,
                  scale: tuple[float, float] | None = None) -> dict:
    """Fit the spec to the survey and return the JSON document (see the module docstring).

    Args:
        survey_path: CSV of responses (see :func:`read_survey`).
        spec_path: semopy model description (see :func:`read_spec`).
        scale: declared response scale ``(lo, hi)``, or ``None``.

    Returns:
        A JSON-ready dict: ``n``, ``survey``, ``spec``, ``estimator``,
        ``missing``, ``fit``, ``estimates`` (rows with lval, op, rval, estimate,
        std_estimate, se, std_se, p_value), ``r2``, ``alpha``, ``factors``,
        ``warnings``, ``status`` and ``note``, and either ``sem`` (for
        :func:`calibration.defaults.load_sem`) or ``sem_note``. NaN is ``None``.

    Raises:
        InputError: bad files (see :func:`read_spec`, :func:`read_survey`), a
            model with more free parameters than moments or a singular
            information matrix (not identified), no convergence, or any
            semopy/numpy failure while fitting; always one line naming the file.
    """
    survey_path, spec_path = Path(survey_path), Path(spec_path)
    text = read_spec(spec_path)
    spec_model = _semopy_model(text, spec_path)
    observed = list(spec_model.vars["observed"])
    latents = set(spec_model.vars["latent"])
    n_free = sum(1 for p in spec_model.parameters.values() if p.active)
    data, missing = read_survey(survey_path, observed, scale)

    p = len(observed)
    moments = p * (p + 1) // 2
    if n_free > moments:
        raise InputError(f"{spec_path}: the model is not identified: {n_free} free parameters but only {moments} "
                         f"variances and covariances of its {p} observed variables (df = {moments - n_free})")
    scale_note = _scale_note(data)
    hint = f"; {scale_note}" if scale_note else ""
    with _quiet() as notes, one_blas_thread():
        try:
            fit = fit_sem(text, data)
        except RuntimeError as exc:
            raise InputError(f"{spec_path}: the model did not converge on {survey_path} "
                             f"({_one_line(exc)}){hint}") from None
        except Exception as exc:  # semopy and numpy raise many types (LinAlgError, ValueError, KeyError...)
            raise InputError(f"{spec_path}: fitting failed on {survey_path} "
                             f"({type(exc).__name__}: {_one_line(exc)}){hint}") from None
        _check_identified(fit, spec_path, scale_note)
        est = fit.estimates.copy()
        try:
            std_se = _std_se(fit.model)
            est["std_se"] = std_se if len(std_se) == len(est) else np.nan
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            est["std_se"] = np.nan
    est = _canonical(est, text, latents)
    warn = list(dict.fromkeys(notes)) + _improper(est) + ([scale_note] if scale_note else [])
    factors = {f: list(est.loc[(est["op"] == "=~") & (est["lval"] == f), "rval"])
               for f in dict.fromkeys(est.loc[est["op"] == "=~", "lval"])}
    endogenous = list(dict.fromkeys(est.loc[est["op"] == "~", "lval"]))

    fit_doc = {k: fit.fit[k] for k in ("chi2", "dof", "cfi", "tli", "gfi", "agfi", "rmsea", "ifi", "aic", "bic")}
    fit_doc.update({k: v for k, v in fit.fit.items() if k not in fit_doc})
    cols = ["lval", "op", "rval", "estimate", "std_estimate", "se", "std_se", "p_value"]
    doc = {
        "status": "fitted",
        "note": "",
        "n": fit.n,
        "survey": str(survey_path),
        "spec": str(spec_path),
        "estimator": ESTIMATOR,
        "missing": missing,
        "fit": fit_doc,
        "estimates": est[cols].to_dict(orient="records"),
        "r2": {**{v: fit.r2[v] for v in endogenous if v in fit.r2}, **_indicator_r2(est, factors)},
        "alpha": {f: fit.alpha[f] for f in factors},
        "factors": factors,
        "warnings": warn,
        "software": {"egov-abm": _version("egov-abm"), "semopy": _version("semopy")},
    }
    summary = (f"Fitted by {ESTIMATOR} to {fit.n} complete responses of {survey_path} with spec {spec_path}: "
               f"chi2 = {fit.fit['chi2']:.2f} on {fit.fit['dof']:.0f} df, CFI = {fit.fit['cfi']:.3f}, "
               f"RMSEA = {fit.fit['rmsea']:.3f}.")
    sem, why = sem_parameters(est, latents)
    if sem is None:
        doc["note"] = summary
        doc["sem_note"] = why
    else:
        doc["note"] = (summary + " The sem block is the standardised solution: attitude and trust have mean 0 "
                       "and variance 1, cov_attitude_trust is their correlation, paths are standardised "
                       "coefficients, residual variances are 1 - R2, intercepts are 0.")
        doc["sem"] = sem
    return _clean(doc)


# --------------------------------------------------------------------------- output


def write_json(doc: dict, path: Path | str) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (temporary file, then ``os.replace``).

    An earlier file at ``path`` is replaced only by a complete new one; if
    anything fails it is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path}: is a folder; expected a file name such as {path / 'sem_fit.json'}")
    from egov_abm.scenarios.output import atomic_file

    text = json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n"
    try:
        with atomic_file(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {path}: cannot write ({exc.strerror})") from None
    return path


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def _p(value) -> str:
    if value is None:
        return "-"
    return "<.001" if value < 0.001 else f"{value:.3f}"


def format_report(doc: dict) -> str:
    """The fit table, key paths, reliabilities and the hand-over status, as printable text."""
    fit, miss = doc["fit"], doc["missing"]
    lines = [
        f"SEM fit of {doc['spec']} to {doc['survey']}",
        f"cases: {doc['n']} used; {miss['rows_dropped']} of {miss['rows_read']} rows dropped "
        f"(listwise deletion of rows with a missing value in the spec's columns)",
        f"estimator: {doc['estimator']}",
        "",
        f"{'fit index':<24}{'value':>10}",
        f"{'chi2':<24}{_fmt(fit['chi2']):>10}   df {_fmt(fit['dof'], '.0f')}, p {_p(fit.get('p_value'))}",
    ]
    lines += [f"{label:<24}{_fmt(fit.get(key)):>10}" for key, label in FIT_TABLE]
    lines.append(f"{'AIC / BIC':<24}{_fmt(fit['aic'], '.1f'):>10} / {_fmt(fit['bic'], '.1f')}")

    est = doc["estimates"]
    factors = set(doc["factors"])
    paths = [r for r in est if r["op"] == "~"]
    corrs = [r for r in est if r["op"] == "~~" and r["lval"] != r["rval"] and r["lval"] in factors
             and r["rval"] in factors]
    for title, rows in (("paths (standardised)", paths), ("factor correlations", corrs)):
        if rows:
            labels = [f"{r['lval']} {r['op']} {r['rval']}" for r in rows]
            width = max(len(title), *map(len, labels)) + 2
            lines += ["", f"{title:<{width}}{'estimate':>9}{'se':>8}{'p':>8}"]
            lines += [f"{label:<{width}}{_fmt(r['std_estimate']):>9}{_fmt(r['std_se']):>8}{_p(r['p_value']):>8}"
                      for label, r in zip(labels, rows, strict=True)]
    if doc["alpha"]:
        lines += ["", "Cronbach's alpha: " + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in doc["alpha"].items())]
    latent_r2 = {k: v for k, v in doc["r2"].items() if k in factors}
    if latent_r2:
        lines.append("R2: " + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in latent_r2.items()))
    lines += [f"warning: {w}" for w in doc["warnings"]]
    lines.append("")
    if "sem" in doc:
        lines.append("simulation SEM: written as the 'sem' block (standardised solution); "
                     "egov_abm.calibration.defaults.load_sem reads it")
    else:
        lines.append(f"simulation SEM: {doc['sem_note']}")
    return "\n".join(lines)
