"""Tables the Calibration page shows, read from the calibration's output files.

:func:`parse_sem` checks the text of a SEM parameters file written by
``egov-abm calibrate sem`` (the ``sem`` block the model runs with, plus the
fit, estimates, R² and Cronbach's alphas) in memory; a bad file raises
:class:`~model.InputError` with one line naming the file and the field.
:func:`read_upload` takes an uploaded file (at most :data:`MAX_UPLOAD_BYTES`)
and :func:`read_sem_file` a file on disk; both go through :func:`parse_sem`.
The app opens no path a user gives: only shipped files and uploads.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE
from egov_abm.calibration.posterior import DEFAULT_POSTERIOR, load_posterior
from egov_abm.calibration.report import identification
from egov_abm.model import InputError
from egov_abm.model.sem import SEMParams

#: Largest SEM parameters file the page accepts (the shipped ones are about 10 kB).
MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_TEXT = "1 MB"

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
ESTIMATE_NUMBERS = ("estimate", "std_estimate", "se", "p_value")


@dataclasses.dataclass(frozen=True, eq=False)
class SemView:
    """What the page shows of one SEM parameters file (two views are equal only if they are the same object)."""

    source: str  # the file's name (an upload's name as the browser sent it, or a shipped file's name)
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


def read_shipped(name: str) -> SemView:
    """A shipped SEM parameters file by its name (messages name the file, not where it is installed)."""
    files = {p.name: p for p in shipped_sem_files()}
    if name not in files:
        raise InputError(f"{name}: not a shipped SEM parameters file (choose from {', '.join(files)})")
    return parse_sem(files[name].read_bytes(), name)


def read_sem_file(path: Path | str) -> SemView:
    """Read and check a SEM parameters file on disk (a regular file of at most :data:`MAX_UPLOAD_BYTES`)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise InputError(f"{path}: not a regular file")
        with path.open("rb") as fh:
            data = fh.read(MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{path}: larger than {MAX_UPLOAD_TEXT}; a SEM parameters file is a few kB")
    return parse_sem(data, str(path))


def read_upload(name: object, size: object, file_obj: BinaryIO) -> SemView:
    """Check an uploaded file: its declared size, then at most :data:`MAX_UPLOAD_BYTES` + 1 bytes read."""
    shown = _upload_name(name)
    if isinstance(size, int) and size > MAX_UPLOAD_BYTES:
        raise InputError(f"{shown}: {size:,} bytes, larger than {MAX_UPLOAD_TEXT}; "
                         "a SEM parameters file is a few kB")
    try:
        data = file_obj.read(MAX_UPLOAD_BYTES + 1)
    except Exception:  # the browser went away, timed out or sent something else: the upload did not arrive
        raise InputError(f"{shown}: the upload did not complete; try again") from None
    if not isinstance(data, bytes | bytearray):
        raise InputError(f"{shown}: the upload did not complete; try again")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{shown}: larger than {MAX_UPLOAD_TEXT}; a SEM parameters file is a few kB")
    return parse_sem(bytes(data), shown)


def _upload_name(name: object) -> str:
    """An upload's file name as safe, short display text (never a path)."""
    text = "".join(c for c in str(name or "") if c.isprintable()).replace("\\", "/").rsplit("/", 1)[-1].strip()
    text = text or "the uploaded file"
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: object, where: str, *, optional: bool = True) -> float | None:
    """``value`` as a float (a JSON number; null when ``optional``), else :class:`InputError` naming ``where``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {_short(value)}")
    return float(value)


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_sem(data: bytes | str, where: str) -> SemView:
    """Check the text of a SEM parameters file (bytes are UTF-8); ``where`` names it in messages.

    The ``sem`` block is checked as the model loads it
    (:func:`egov_abm.calibration.defaults.load_sem`); the fields the page
    shows (fit, estimates, R², alphas, n, note) must have their types too.
    """
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: not UTF-8 text (byte {exc.start}); expected a JSON file") from None
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{where}: not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sem"), dict):
        raise InputError(f"{where}: expected a JSON object with an object field 'sem'")
    try:
        sem = SEMParams.from_mapping(doc["sem"], where=f"{where}: sem")
        variance = sem.var_attitude * sem.var_trust
        correlation = sem.cov_attitude_trust / variance ** 0.5 if variance > 0 else None
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InputError(str(exc) if str(exc).startswith(where) else f"{where}: sem: {exc}") from None
    estimates = doc.get("estimates", [])
    if not isinstance(estimates, list) or not all(isinstance(e, dict) and {"lval", "op", "rval"} <= set(e)
                                                  for e in estimates):
        raise InputError(f"{where}: estimates: expected a list of objects with lval, op and rval")
    rows = []
    for i, e in enumerate(estimates):
        for key in ("lval", "op", "rval"):
            if not isinstance(e[key], str):
                raise InputError(f"{where}: estimates[{i}].{key}: expected text, got {_short(e[key])}")
        rows.append({"lval": e["lval"], "op": e["op"], "rval": e["rval"],
                     **{k: _number(e.get(k), f"{where}: estimates[{i}].{k}") for k in ESTIMATE_NUMBERS}})
    table = pd.DataFrame(rows, columns=["lval", "op", "rval", *ESTIMATE_NUMBERS]).astype(
        {k: float for k in ESTIMATE_NUMBERS})
    fit = doc.get("fit", {})
    if not isinstance(fit, dict):
        raise InputError(f"{where}: fit: expected an object of fit indices")
    published = _published_final()
    fit_rows = [{"index": name, "value": _number(fit.get(key), f"{where}: fit.{key}"),
                 "published (Amirova 2021, final model)": published.get(key), "guide": guide}
                for key, name, guide in FIT_INDICES]
    alpha = doc.get("alpha", {})
    if not isinstance(alpha, dict):
        raise InputError(f"{where}: alpha: expected an object of Cronbach's alphas")
    alpha = {k: _number(v, f"{where}: alpha.{k}") for k, v in alpha.items()}
    r2 = doc.get("r2", {})
    if not isinstance(r2, dict):
        raise InputError(f"{where}: r2: expected an object of R² values")
    r2 = {k: _number(v, f"{where}: r2.{k}", optional=False) for k, v in r2.items() if k in ("readiness", "intention")}
    r2 = {k: v for k, v in r2.items() if math.isfinite(v)}
    n = doc.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise InputError(f"{where}: n: expected a whole number of respondents, got {_short(n)}")
    note = doc.get("note", "")
    if not isinstance(note, str):
        raise InputError(f"{where}: note: expected text, got {_short(note)}")
    loadings = table[table["op"] == "=~"].rename(columns={"lval": "factor", "rval": "indicator"})
    loadings = loadings.assign(alpha=loadings["factor"].map(alpha))[["factor", "indicator", "std_estimate", "alpha"]]
    paths = table[table["op"] == "~"][["lval", "rval", "estimate", "std_estimate", "se", "p_value"]]
    if paths.empty:  # a file with no estimates: show the sem block the model runs with
        paths = pd.DataFrame([
            {"lval": "readiness", "rval": "attitude", "std_estimate": sem.readiness_on_attitude},
            {"lval": "readiness", "rval": "trust", "std_estimate": sem.readiness_on_trust},
            {"lval": "intention", "rval": "readiness", "std_estimate": sem.intention_on_readiness},
        ], columns=paths.columns).astype({k: float for k in ESTIMATE_NUMBERS})
    return SemView(source=Path(where).name if where.startswith("/") else where, note=note[:2000], n=n,
                   fit=pd.DataFrame(fit_rows), paths=paths.reset_index(drop=True),
                   loadings=loadings.reset_index(drop=True), r2=r2, correlation=correlation)


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
