"""What the dynamics are calibrated to: Kazakhstan's record 2006-2021 and its noise.

Observation model (``calibration/data/dynamics_targets.csv``, one row per
figure, with its source and noise):

``internet_access``
    share of simulated adults online in July of the year, against the ITU /
    World Bank share of individuals using the internet (noise 3 points; 6 in
    2007-2011, when the survey method changed).
``digital_literacy``
    share of simulated adults with basic digital skill in July, against the
    Bureau of National Statistics series for ages 6-74 (2018, 2019, 2021;
    noise 3 points). Base 6-74 rather than 6+ because it is one consistent
    series from one source; adults are taken to stand for ages 6-74
    (assumption).
``registered_users``
    share of simulated adults who ever used the portal (``share_ever_used``)
    in May 2012, times the adult population of 2012 (assumption in
    ``demographics.csv``), against the 154,120 registered users reported then;
    noise on the log scale (SD 0.35), since registering and using differ.
``households_using``
    share of households with at least one adult who used the portal in the
    last 12 months, from ``u`` = ``adoption`` (the 12-month measure) in July:
    the members' use is exchangeable with intra-class correlation ``rho``
    (beta-binomial), so ``P(no member) = B(a, b + h) / B(a, b)``, ``a = u (1 -
    rho) / rho``, ``b = (1 - u)(1 - rho) / rho``, with ``h`` adults per
    household; ``rho = 0`` gives independent members, ``1 - (1 - u)^h``. ``h``
    and ``rho`` are assumptions in ``demographics.csv``. Against the share of
    households that used e-government services 2018-2020 (secondary source,
    noise 5 points).

The distance of a run from the data is the root mean square of the residuals
in units of each figure's noise, so a distance of 1 means "within the stated
noise on average".
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln

from egov_abm.calibration import userfiles
from egov_abm.model import InputError, month_index

DATA_DIR = Path(str(resources.files("egov_abm.calibration") / "data"))
TARGETS_FILE = DATA_DIR / "dynamics_targets.csv"
START_MONTH = "2006-04"
END_MONTH = "2021-12"


@dataclasses.dataclass(frozen=True)
class Observation:
    """One published figure and how a model run is turned into it."""

    target: str
    month: int  # months after START_MONTH
    date: str
    value: float
    sd: float
    source: str


def load_observations(path: Path = TARGETS_FILE) -> list[Observation]:
    """The calibration targets, validated.

    Raises:
        InputError: the file cannot be read, or a row names an unknown target or has a bad value or noise.
    """
    text = userfiles.read_text(path, "the targets table")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV ({' '.join(str(exc).split())})") from None
    out = []
    for i, r in enumerate(rows, start=2):
        if r.get("target") not in OBSERVERS:
            raise InputError(f"{path}: line {i}, target: expected one of {', '.join(OBSERVERS)}, "
                             f"got {r.get('target')!r}")
        try:
            value, sd = float(r["value"]), float(r["sd"])
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {i}: value and sd must be numbers") from None
        if sd <= 0:
            raise InputError(f"{path}: line {i}, sd: expected a positive number, got {sd}")
        out.append(Observation(r["target"], month_index(r["date"], START_MONTH), r["date"], value, sd, r["source"]))
    return out


def household_share(u, h: float, rho: float):
    """Share of households of ``h`` adults with at least one user, members' use correlated ``rho``.

    ``u`` may be a number or an array (or Series) of shares; the result has its shape.
    """
    u_arr = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    independent = 1.0 - (1.0 - u_arr) ** h
    if rho <= 0.0:
        out = independent
    else:
        inner = (u_arr > 0.0) & (u_arr < 1.0)
        uu = np.where(inner, u_arr, 0.5)
        a, b = uu * (1.0 - rho) / rho, (1.0 - uu) * (1.0 - rho) / rho
        out = np.where(inner, 1.0 - np.exp(betaln(a, b + h) - betaln(a, b)), independent)
    if isinstance(u, pd.Series):
        return pd.Series(out, index=u.index)
    return float(out) if np.ndim(out) == 0 else out


def _households(frame_row, constants):
    return household_share(frame_row["adoption"], constants["adults_per_household"], constants["household_icc"])


#: Target name -> function of (a month's outcome row, demographic constants) giving the simulated figure.
OBSERVERS: dict[str, Callable] = {
    "internet_access": lambda row, c: row["internet_access"],
    "digital_literacy": lambda row, c: row["digital_literacy"],
    "registered_users": lambda row, c: row["share_ever_used"] * c["adult_population_2012"],
    "households_using": _households,
}


def observe(outcomes: list[dict], observations: list[Observation], constants: dict[str, float]) -> np.ndarray:
    """Simulated value of every observation from a run's monthly outcome rows."""
    return np.array([OBSERVERS[o.target](outcomes[o.month], constants) for o in observations], dtype=float)


def residuals(simulated: np.ndarray, observations: list[Observation]) -> np.ndarray:
    """Residuals in units of each figure's noise (log scale for counts)."""
    out = np.empty(len(observations))
    for k, o in enumerate(observations):
        if o.target == "registered_users":
            out[k] = (np.log(max(simulated[k], 1.0)) - np.log(o.value)) / o.sd
        else:
            out[k] = (simulated[k] - o.value) / o.sd
    return out


def distance(simulated: np.ndarray, observations: list[Observation]) -> float:
    """Root mean square of the scaled residuals."""
    return float(np.sqrt(np.mean(residuals(simulated, observations) ** 2)))
