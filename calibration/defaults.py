"""Load the shipped population margins and SEM parameters into model objects.

Every loader validates its file and raises :class:`model.InputError` with one
line naming the file, the field and what was expected.
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources
from pathlib import Path

from egov_abm.calibration import userfiles
from egov_abm.model import AGE_BANDS, EDUCATION_LEVELS, InputError, PopulationSpec, SEMParams

DATA_DIR = Path(str(resources.files("egov_abm.calibration") / "data"))
PARAMS_DIR = Path(str(resources.files("egov_abm.calibration") / "params"))
DEFAULT_SEM_FILE = PARAMS_DIR / "sem_default.json"


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    text = userfiles.read_text(path, "the table")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV ({' '.join(str(exc).split())})") from None
    if not rows:
        raise InputError(f"{path}: no data rows")
    missing = [c for c in required if c not in rows[0]]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def _number(path: Path, row: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}: row {row}, column '{column}': expected a number, got {text!r}") from None


def population_spec(data_dir: Path = DATA_DIR) -> PopulationSpec:
    """Build the :class:`PopulationSpec` from ``regions_2023.csv``, ``demographics.csv``, ``group_effects.csv``.

    Region shares are shares of the whole population on 1 Jan 2023; using them
    for adults assumes the adult share is the same in every region (assumption).
    """
    path = data_dir / "regions_2023.csv"
    regions = _read_csv(path, ("region", "total", "urban", "source"))
    totals = [_number(path, i + 2, "total", r["total"]) for i, r in enumerate(regions)]
    urban = [_number(path, i + 2, "urban", r["urban"]) for i, r in enumerate(regions)]
    grand = sum(totals)

    path = data_dir / "demographics.csv"
    demo = _read_csv(path, ("variable", "category", "value", "source"))
    values: dict[tuple[str, str], float] = {}
    for i, r in enumerate(demo):
        values[(r["variable"], r["category"])] = _number(path, i + 2, "value", r["value"])

    def pick(variable: str, categories: tuple[str, ...], where: Path) -> tuple[float, ...]:
        out = []
        for c in categories:
            if (variable, c) not in values:
                raise InputError(f"{where}: no row for {variable} / {c}")
            out.append(values[(variable, c)])
        return tuple(out)

    age = pick("age_share", AGE_BANDS, path)
    edu = pick("education_share", EDUCATION_LEVELS, path)
    female = pick("female_share", ("all",), path)[0]

    path = data_dir / "group_effects.csv"
    eff = _read_csv(path, ("effect", "group", "value", "source"))
    values = {}
    for i, r in enumerate(eff):
        values[(r["effect"], r["group"])] = _number(path, i + 2, "value", r["value"])
    spec = {}
    for effect, name in (("divide", "divide"), ("attitude_shift", "attitude_shift"), ("trust_shift", "trust_shift")):
        spec[f"{name}_age"] = pick(effect, AGE_BANDS, path)
        spec[f"{name}_education"] = pick(effect, EDUCATION_LEVELS, path)
        spec[f"{name}_rural"] = pick(effect, ("rural",), path)[0]
    try:
        return PopulationSpec(
            region_names=tuple(r["region"] for r in regions),
            region_shares=tuple(t / grand for t in totals),
            region_urban_share=tuple(u / t for u, t in zip(urban, totals, strict=True)),
            age_shares=age, female_share=female, education_shares=edu, **spec,
        )
    except ValueError as exc:
        raise InputError(f"{data_dir}: {exc}") from None


@functools.lru_cache(maxsize=4)
def demographic_constants(path: Path = DATA_DIR / "demographics.csv") -> dict[str, float]:
    """Adult population 2012 and 2021, adults per household and their use correlation (demographics.csv).

    The simulated citizens stand for the adults of 2021: capacities and costs
    are scaled with ``adult_population_2021``.
    """
    rows = _read_csv(path, ("variable", "category", "value", "source"))
    values = {(r["variable"], r["category"]): _number(path, i + 2, "value", r["value"]) for i, r in enumerate(rows)}
    out = {}
    for key, (variable, category) in (("adult_population_2012", ("adult_population", "2012")),
                                      ("adult_population_2021", ("adult_population", "2021")),
                                      ("adults_per_household", ("adults_per_household", "2018-2020")),
                                      ("household_icc", ("household_icc", "2018-2020"))):
        if (variable, category) not in values:
            raise InputError(f"{path}: no row for {variable} / {category}")
        out[key] = values[(variable, category)]
    return out


def load_sem(path: Path | str = DEFAULT_SEM_FILE) -> SEMParams:
    """Read the ``sem`` block of a parameters file written by calibration."""
    path = Path(path)
    doc = userfiles.read_json(path, "the SEM parameters file")
    if not isinstance(doc, dict) or not isinstance(doc.get("sem"), dict):
        raise InputError(f"{path}: expected a JSON object with an object field 'sem'")
    try:
        return SEMParams.from_mapping(doc["sem"], where=f"{path}: sem")
    except ValueError as exc:
        raise InputError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
