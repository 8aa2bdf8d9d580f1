"""Tables the Calibration page shows, read from the calibration's output files.

:func:`parse_sem` checks the text of a SEM parameters file written by
``egov-abm calibrate sem`` (the ``sem`` block the model runs with, plus the
fit, estimates, R² and Cronbach's alphas) in memory; a bad file raises
:class:`~model.InputError` with one line naming the file and the field.
:func:`read_upload` takes an uploaded file (at most :data:`MAX_UPLOAD_BYTES`)
and :func:`read_sem_file` a file on disk; both go through :func:`parse_sem`.
The app opens no path a user gives: only shipped files and uploads.

The page shows tables as :class:`Table` (plain column names, every value
written out in full, as HTML): :func:`fit_table`, :func:`paths_table` (with
the SEM ensemble's range of each path) and :func:`loadings_table` of a SEM
file, and :func:`shipped_calibration`: the SEM ensemble, the dynamics
posterior (identification and synthetic check) and the hold-out check, read
once from the shipped files in ``calibration/params``.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE
from egov_abm.calibration.posterior import DEFAULT_HOLDOUT, DEFAULT_POSTERIOR, DEFAULT_SYNTHETIC, load_posterior
from egov_abm.calibration.priors import PRIORS
from egov_abm.calibration.report import identification
from egov_abm.calibration.sem_ensemble import DEFAULT_SEM_ENSEMBLE_FILE
from egov_abm.model import InputError
from egov_abm.model.sem import SEMParams

#: Largest SEM parameters file the page accepts (the shipped ones are about 10 kB).
MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_TEXT = "1 MB"

#: Fit indices in display order: key, plain name, what a good fit looks like.
FIT_INDICES = (
    ("chi2", "Chi-square (χ²)", "smaller is better"),
    ("dof", "Degrees of freedom", ""),
    ("cfi", "Comparative fit index (CFI)", "≥ 0.95 good"),
    ("tli", "Tucker-Lewis index (TLI)", "≥ 0.95 good"),
    ("ifi", "Incremental fit index (IFI)", "≥ 0.95 good"),
    ("gfi", "Goodness of fit index (GFI)", "≥ 0.90 acceptable"),
    ("agfi", "Adjusted GFI (AGFI)", "≥ 0.90 acceptable"),
    ("rmsea", "Root mean square error of approximation (RMSEA)", "≤ 0.06 good"),
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
    """SEM parameters files shipped with the package (the SEM ensemble file is not one: it holds several)."""
    return sorted(p for p in Path(DEFAULT_SEM_FILE).parent.glob("sem*.json")
                  if p.name != DEFAULT_SEM_ENSEMBLE_FILE.name)


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


# ------------------------------------------------------------------------------ tables as the page shows them
#: Plain names of the survey's latent variables (as in the path diagram).
FACTOR_NAMES = {"attitude": "Personal attitude", "trust": "Trust", "readiness": "E-government readiness",
                "intention": "Intention to use", "availability": "Portal availability", "quality": "Portal quality",
                "benefits": "Perceived benefits"}
#: The structural paths a SEM block carries, by (outcome, cause): the field of :class:`~model.SEMParams`.
PATH_FIELDS = {("readiness", "attitude"): "readiness_on_attitude", ("readiness", "trust"): "readiness_on_trust",
               ("intention", "readiness"): "intention_on_readiness", ("intention", "attitude"): "intention_on_attitude",
               ("intention", "trust"): "intention_on_trust"}
#: Plain names of the calibration targets (the unit comes from dynamics_targets.csv).
TARGET_NAMES = {"internet_access": "Internet access", "digital_literacy": "Digital literacy",
                "registered_users": "Registered portal users", "households_using": "Households using e-government",
                "internet_gap_urban_rural": "Internet access, urban less rural"}
DYNAMICS_TARGETS_FILE = Path(DEFAULT_SEM_FILE).parents[1] / "data" / "dynamics_targets.csv"
DASH = "–"
SEM_ENSEMBLE_NAME = DEFAULT_SEM_ENSEMBLE_FILE.name


@dataclasses.dataclass(frozen=True)
class Table:
    """A table as the page shows it: plain column names and every cell already written out in full.

    ``numeric`` columns are right-aligned and their cells never wrap; ``keep`` cells never wrap either (names,
    dates); column names wrap where they must.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str | tuple[str, str], ...], ...]  # a cell is its text, or (text, a note on a line below)
    numeric: frozenset[int] = frozenset()
    keep: frozenset[int] = frozenset()
    caption: str = ""

    def html(self) -> str:
        """The table as HTML, every text escaped (an uploaded file's names too)."""
        def cls(j: int) -> str:
            return ' class="num"' if j in self.numeric else ' class="keep"' if j in self.keep else ""

        def cell(value: str | tuple[str, str]) -> str:
            if isinstance(value, tuple):
                return f'{html.escape(value[0])}<br><span class="note">{html.escape(value[1])}</span>'
            return html.escape(value)

        head = "".join(f"<th{cls(j)}>{html.escape(c)}</th>" for j, c in enumerate(self.columns))
        body = "".join("<tr>" + "".join(f"<td{cls(j)}>{cell(v)}</td>" for j, v in enumerate(row)) + "</tr>"
                       for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="egov-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


#: How the page's tables look (one CSS rule set for every table of the app that uses :class:`Table`).
TABLE_CSS = """
.egov-table { border-collapse: collapse; font-size: 0.875rem; margin: 2px 0 14px 0; max-width: 100%; }
.egov-table th, .egov-table td { padding: 3px 10px; border-bottom: 1px solid #E0E0E0; text-align: left;
  vertical-align: top; }
.egov-table th { font-weight: 600; color: #333333; border-bottom: 2px solid #BDBDBD; vertical-align: bottom; }
.egov-table .num { text-align: right; font-variant-numeric: tabular-nums; }
.egov-table td.num, .egov-table td.keep { white-space: nowrap; }
.egov-table .note { font-size: 0.8rem; color: #555555; white-space: normal; }
.egov-table caption { caption-side: bottom; text-align: left; font-size: 0.8rem; color: #555555; padding-top: 4px; }
"""


def factor_name(name: str) -> str:
    """A latent variable's plain name (an unknown one as it is)."""
    return FACTOR_NAMES.get(name, name)


def number(value: object, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or a dash when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def p_value(value: object) -> str:
    """A p-value as a reader expects it: three decimals, '< 0.001' below that."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"  # type: ignore[arg-type]


def fit_table(view: SemView) -> Table:
    """The fit indices of a SEM file beside the published ones."""
    rows = []
    for (key, _, _), row in zip(FIT_INDICES, view.fit.itertuples(index=False), strict=True):
        digits = 0 if key == "dof" else 2 if key == "chi2" else 3
        rows.append((row[0], number(row[1], digits), number(row[2], digits), row[3]))
    return Table(("Fit index", "This file", "Published (Amirova 2021, final model)", "Good fit"), tuple(rows),
                 numeric=frozenset({1, 2}), caption="Published values: Amirova (2021), Table 1 "
                 "(calibration/reconstruction_targets.csv).")


@dataclasses.dataclass(frozen=True)
class EnsembleMember:
    """One member of the SEM ensemble as the page shows it."""

    name: str
    t: float | None
    paths: dict[str, float]  # PATH_FIELDS values -> standardised coefficient
    correlation: float  # attitude-trust
    r2_readiness: float | None


def ensemble_ranges(members: list[EnsembleMember]) -> dict[tuple[str, str], tuple[float, float]]:
    """Lowest and highest standardised coefficient of each path across the members (attitude-trust included)."""
    out = {key: (min(m.paths[f] for m in members), max(m.paths[f] for m in members))
           for key, f in PATH_FIELDS.items()}
    out[("attitude", "trust")] = (min(m.correlation for m in members), max(m.correlation for m in members))
    return out


def paths_table(view: SemView, ranges: dict[tuple[str, str], tuple[float, float]] | None) -> Table:
    """The structural paths of a SEM file with plain names, and the SEM ensemble's range of each."""
    def span(key: tuple[str, str]) -> str:
        if not ranges or key not in ranges:
            return DASH
        low, high = ranges[key]
        return f"{low:.3f} – {high:.3f}"

    rows = [(f"{factor_name(r.rval)} → {factor_name(r.lval)}", number(r.estimate), number(r.std_estimate),
             number(r.se), p_value(r.p_value), span((r.lval, r.rval)))
            for r in view.paths.itertuples(index=False)]
    if view.correlation is not None:
        rows.append((f"{factor_name('attitude')} ↔ {factor_name('trust')} (correlation)", DASH,
                     number(view.correlation), DASH, DASH, span(("attitude", "trust"))))
    caption = ("Estimate: unstandardised coefficient; standardised: in standard deviations of both ends. "
               "SEM ensemble range: lowest to highest standardised value across the members of "
               f"{SEM_ENSEMBLE_NAME}." if ranges else f"{SEM_ENSEMBLE_NAME} could not be read: no ensemble range.")
    return Table(("Path", "Estimate", "Standardised", "Standard error", "p-value", "SEM ensemble range"),
                 tuple(rows), numeric=frozenset({1, 2, 3, 4, 5}), keep=frozenset({0}), caption=caption)


def loadings_table(view: SemView) -> Table:
    """Standardised loadings of the survey items on their factors, with each factor's Cronbach's alpha."""
    rows = [(factor_name(r.factor), r.indicator, number(r.std_estimate), number(r.alpha))
            for r in view.loadings.itertuples(index=False)]
    return Table(("Factor", "Survey item", "Standardised loading", "Cronbach's α of the factor"), tuple(rows),
                 numeric=frozenset({2, 3}), keep=frozenset({0}))


# ------------------------------------------------------------------- the shipped calibration (read once)
@dataclasses.dataclass(frozen=True)
class Section:
    """A part of the shipped calibration: a summary line, a table, or the one-line reason it is missing."""

    summary: str = ""
    table: Table | None = None
    error: str = ""
    figures: dict = dataclasses.field(default_factory=dict)  # its key numbers, for other pages to quote


@dataclasses.dataclass(frozen=True)
class ShippedCalibration:
    """What the page shows of the shipped calibration files, read once per server."""

    members: list[EnsembleMember]
    ranges: dict[tuple[str, str], tuple[float, float]] | None
    ensemble: Section
    posterior: Section
    holdout: Section
    synthetic: Section


def _file_error(exc: Exception, path: Path) -> str:
    """One line about a shipped file that cannot be read, naming the file (not where it is installed)."""
    return str(exc).replace(str(path), path.name).replace(str(path.parent) + "/", "")


def read_ensemble(path: Path = DEFAULT_SEM_ENSEMBLE_FILE) -> list[EnsembleMember]:
    """The SEM ensemble's members (checked by :func:`~calibration.sem_ensemble.load_sem_ensemble`)."""
    from egov_abm.calibration import userfiles
    from egov_abm.calibration.sem_ensemble import load_sem_ensemble

    sems = load_sem_ensemble(path)
    doc = userfiles.read_json(path, "the SEM ensemble file")
    out = []
    for sem, member in zip(sems, doc["members"], strict=True):  # type: ignore[index]
        variance = sem.var_attitude * sem.var_trust
        r2 = member.get("r2", {}).get("readiness") if isinstance(member.get("r2"), dict) else None
        t = member.get("t")
        out.append(EnsembleMember(
            name=str(member.get("name", "")), t=float(t) if isinstance(t, int | float) else None,
            paths={f: float(getattr(sem, f)) for f in PATH_FIELDS.values()},
            correlation=sem.cov_attitude_trust / variance ** 0.5 if variance > 0 else float("nan"),
            r2_readiness=float(r2) if isinstance(r2, int | float) else None))
    return out


def _percent(share: float, digits: int = 0) -> str:
    return f"{share * 100:.{digits}f} %"


def ensemble_section(members: list[EnsembleMember], weights: dict[int, float] | None) -> Section:
    """The members of the SEM ensemble and the posterior's weight on each."""
    rows = tuple((m.name, number(m.t, 2), number(m.paths["readiness_on_attitude"]),
                  number(m.paths["readiness_on_trust"]), number(m.paths["intention_on_readiness"]),
                  number(m.correlation), number(m.r2_readiness),
                  number(weights.get(i, 0.0), 2) if weights is not None else DASH)
                 for i, m in enumerate(members))
    summary = (f"Amirova (2021) publishes fit indices, alphas, the R² of intention and which hypotheses hold, but no "
               f"path coefficients. These do not fix how readiness splits between attitude and trust: {len(members)} "
               "reconstructions spread along that split each meet the published figures. Replicate r of a run takes "
               f"member r mod {len(members)}; the dynamics posterior weighs them (last column).")
    return Section(summary, Table(
        ("Member", "Position on the split (t)", "Attitude → readiness", "Trust → readiness",
         "Readiness → intention", "Attitude ↔ trust", "R² of readiness", "Posterior weight"), rows,
        numeric=frozenset(range(1, 8)), keep=frozenset({0}),
        caption=f"Standardised coefficients. Members: {SEM_ENSEMBLE_NAME}; weights: {DEFAULT_POSTERIOR.name} "
                "(equal before calibration). t = 0 is the shipped reconstruction, t = 1 a refit with attitude .21 "
                "and trust .57."))


def posterior_section(posterior, synthetic: dict | None) -> Section:
    """The posterior per parameter: median, 90 % interval, width against the prior, verdict and synthetic check."""
    ident = identification(posterior)
    coverage = {c["parameter"]: c for c in (synthetic or {}).get("coverage", []) if isinstance(c, dict)}

    def inside(name: str) -> str:
        c = coverage.get(name)
        if not c or c.get("in50") is None:
            return DASH
        return f"{_percent(c['in50'])} / {_percent(c['in90'])}"

    def prior(name: str, text: str) -> str | tuple[str, str]:
        p = priors.get(name)
        return (f"{p.low:g} – {p.high:g}", "log-uniform" if p.log else "uniform") if p else text

    priors = {p.name: p for p in PRIORS}
    rows = tuple(((r.parameter, r.meaning), f"{r.q50:.4g}", f"{r.q05:.4g} – {r.q95:.4g}", prior(r.parameter, r.prior),
                  f"{r.width_vs_prior:.2f}", r.verdict, inside(r.parameter)) for r in ident.itertuples(index=False))
    counts = ident["verdict"].value_counts()
    meta = posterior.meta
    last = posterior.generations[-1] if posterior.generations else {}
    target = meta.get("min_tolerance")
    stopped = ("the budget ended before the target tolerance "
               + (f"{target:g}" if isinstance(target, int | float) else DASH)
               if meta.get("stopped") == "budget" else "the target tolerance was reached")
    summary = (f"{counts.get('identified', 0)} of {len(ident)} parameters identified, "
               f"{counts.get('weakly identified', 0)} weakly identified (identified: the 90 % interval is under half "
               "the prior's width; weakly: under 80 %). ABC-SMC over "
               f"{meta.get('simulations', 0):,} runs of {meta.get('n_agents', 0):,} citizens, "
               f"{len(posterior.generations)} generations, last tolerance {last.get('tolerance', float('nan')):.2f} "
               f"({stopped}).")
    caption = (f"From {DEFAULT_POSTERIOR.name}. Synthetic check ({DEFAULT_SYNTHETIC.name}): share of data sets "
               "simulated from known values whose true value fell inside the 50 % / 90 % posterior interval "
               "(nominal 50 % / 90 %).")
    figures = {"parameters": len(ident), "identified": int(counts.get("identified", 0)),
               "weakly_identified": int(counts.get("weakly identified", 0))}
    return Section(summary, figures=figures, table=Table(
        ("Parameter", "Median", "90 % interval", "Prior", "Width / prior width", "Verdict",
         "Synthetic check: inside 50 % / 90 %"), rows,
        numeric=frozenset({1, 2, 3, 4, 6}), keep=frozenset({0, 5}), caption=caption))


def _target_units() -> dict[str, str]:
    try:
        targets = pd.read_csv(DYNAMICS_TARGETS_FILE)
    except (OSError, ValueError):
        return {}
    return dict(zip(targets["target"], targets["unit"], strict=True))


def _share_text(value: float, unit: str, *, suffix: bool = True) -> str:
    if unit.startswith("share"):
        return f"{value * 100:.1f}" + ((" pts" if "less" in unit else " %") if suffix else "")
    return f"{value:,.0f}"


def _band_text(low: float, high: float, unit: str) -> str:
    return f"{_share_text(low, unit, suffix=False)} – {_share_text(high, unit)}"


def holdout_section(holdout) -> Section:
    """The hold-out check: a posterior fitted before a year predicts the figures from that year on."""
    h = holdout.meta.get("holdout")
    if not isinstance(h, dict) or "summary" not in h:
        return Section(error=f"{DEFAULT_HOLDOUT.name}: no hold-out check in the file")
    s = h["summary"]
    units = _target_units()
    start = holdout.meta.get("holdout_from")

    def yes(flag) -> str:
        return "yes" if flag else "no"

    rows = []
    for f in h["figures"]:
        unit = units.get(f["target"], "")
        name = TARGET_NAMES.get(f["target"], f["target"])
        rows.append((name, f["date"], _share_text(f["observed"], unit), _share_text(f["model_q50"], unit),
                     _band_text(f["model_q05"], f["model_q95"], unit), _band_text(f["pred_q05"], f["pred_q95"], unit),
                     f"{yes(f['model_covered_50'])} / {yes(f['model_covered_90'])}",
                     f"{yes(f['covered_50'])} / {yes(f['covered_90'])}"))
    summary = (f"Fitted on the record before {start}; {len(rows)} figures from {start} on were not fitted and are "
               f"predicted by {h.get('draws', DASH)} posterior draws of {h.get('agents', 0):,} citizens. Inside the "
               f"model's 50 % / 90 % band: {_percent(s['model_covered_50'])} / {_percent(s['model_covered_90'])}; "
               f"with observation noise: {_percent(s['covered_50'])} / {_percent(s['covered_90'])} "
               "(nominal 50 % / 90 %).")
    figures = {"from": start, "figures": len(rows), **{k: float(v) for k, v in s.items()}}
    return Section(summary, figures=figures, table=Table(
        ("Figure", "Date", "Published", "Model median", "Model 90 % band", "With noise: 90 % band",
         "Model: in 50 / 90 % band", "With noise: in 50 / 90 % band"), tuple(rows),
        numeric=frozenset({2, 3, 4, 5}), keep=frozenset({0, 1, 6, 7}),
        caption=f"From {DEFAULT_HOLDOUT.name}. Model: the simulated figure; with noise: plus the figure's observation "
                f"noise. Published figures and their units: {DYNAMICS_TARGETS_FILE.name}; pts: percentage points."))


def synthetic_section(doc: dict, n_members: int) -> Section:
    """The synthetic check in one line (its per-parameter coverage is a column of the posterior table)."""
    stopped = pd.Series([d.get("stopped") for d in doc.get("sets_detail", [])]).value_counts().to_dict()
    member = next((c for c in doc["coverage"] if isinstance(c, dict) and c.get("in50") is None
                   and "mean_mass_on_true" in c), None)
    member_text = (f" The posterior put on average {member['mean_mass_on_true']:.2f} of its mass on the SEM member "
                   f"the data came from (equal weights: {1 / n_members:.2f}).") if member and n_members else ""
    return Section(
        f"{doc['sets']} data sets simulated from parameter values drawn from the prior (with observation noise), each "
        f"calibrated like the real record at a reduced budget of {doc['budget']:,} runs"
        + (f" ({', '.join(f'{v} stopped by the {k}' for k, v in stopped.items())})" if stopped else "")
        + f". True values inside their 50 % / 90 % intervals: {_percent(doc['overall_in50'])} / "
        f"{_percent(doc['overall_in90'])} (nominal 50 % / 90 %; fewer means overconfident, more means wide "
        f"posteriors).{member_text}")


@functools.cache
def shipped_calibration() -> ShippedCalibration:
    """The shipped ensemble, posterior, hold-out and synthetic check as tables, read from their files once.

    A file that cannot be read gives its section a one-line error naming the file; the rest still shows.
    """
    from egov_abm.calibration.posterior import load_synthetic

    errors = (InputError, ValueError, KeyError, TypeError, OSError)
    ensemble_error = ""
    try:
        members = read_ensemble()
        ranges = ensemble_ranges(members)
    except errors as exc:
        members, ranges = [], None
        ensemble_error = _file_error(exc, DEFAULT_SEM_ENSEMBLE_FILE)
    try:
        synthetic = load_synthetic(DEFAULT_SYNTHETIC)
    except errors as exc:
        synthetic, synthetic_sec = None, Section(error=_file_error(exc, DEFAULT_SYNTHETIC))
    else:
        synthetic_sec = synthetic_section(synthetic, len(members))
    try:
        posterior = load_posterior(DEFAULT_POSTERIOR)
        posterior_sec = posterior_section(posterior, synthetic)
        weights = None
        if posterior.members is not None:
            weights = {int(k): float(v) for k, v in enumerate(np.bincount(posterior.members, posterior.weights))}
    except errors as exc:
        posterior_sec, weights = Section(error=_file_error(exc, DEFAULT_POSTERIOR)), None
    ensemble = ensemble_section(members, weights) if members else Section(error=ensemble_error)
    try:
        holdout = holdout_section(load_posterior(DEFAULT_HOLDOUT))
    except errors as exc:
        holdout = Section(error=_file_error(exc, DEFAULT_HOLDOUT))
    return ShippedCalibration(members, ranges, ensemble, posterior_sec, holdout, synthetic_sec)
