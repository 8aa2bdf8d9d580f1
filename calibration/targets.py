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

``internet_gap_urban_rural``
    share of simulated urban adults online in July less that of rural adults,
    against the Bureau of National Statistics household ICT survey (SDG
    17.8.1, used the internet in the last 3 months; urban less rural,
    2011-2021; ``adoption_evidence.csv``). A pattern: it fits how access
    spreads between places, not the national level (the ITU series does
    that). The survey changed in 2015, so the noise is wider before.

**Blocks.** Each figure belongs to a block (:data:`BLOCKS`: internet,
literacy, portal use, patterns). The distance of a run from the data
(:func:`block_distance`) is the root mean square of the residuals in units of
each figure's noise, averaged within each block first, so that every block
weighs the same whatever its number of figures; a distance of 1 means
"within the stated noise on average".

**Noise** (:func:`noisy`), for predictive checks: a share is drawn from a
beta distribution with the run's value as its mean and the figure's noise as
its SD (the continuous form of the beta-binomial), so a noisy share is never
below 0 or above 1; a count is log-normal; a gap between two shares is
normal, clipped to [-1, 1].

**Only the record up to 2021 is fitted.** A figure dated after
:data:`FIT_END` in the targets file is refused; later figures live apart, in
``validation_2022plus.csv``, for validation only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
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
#: The last month a fitted figure may describe.
FIT_END = END_MONTH
#: Target -> block of the distance.
BLOCKS = {"internet_access": "internet", "digital_literacy": "literacy", "registered_users": "portal use",
          "households_using": "portal use", "internet_gap_urban_rural": "patterns"}
#: Targets that are counts (log-normal noise) and differences of shares (normal noise); the rest are shares.
COUNTS = frozenset({"registered_users"})
GAPS = frozenset({"internet_gap_urban_rural"})


@dataclasses.dataclass(frozen=True)
class Observation:
    """One published figure and how a model run is turned into it."""

    target: str
    month: int  # months after START_MONTH
    date: str
    value: float
    sd: float
    source: str

    @property
    def block(self) -> str:
        """The block of the distance this figure belongs to."""
        return BLOCKS[self.target]

    @property
    def year(self) -> int:
        """The figure's year."""
        return int(self.date[:4])


def observation_key(o: Observation) -> str:
    """A figure's name in pyabc's statistics: ``target@date``."""
    return f"{o.target}@{o.date}"


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
        if not (sd > 0 and math.isfinite(sd)):
            raise InputError(f"{path}: line {i}, sd: expected a positive number, got {sd}")
        if not math.isfinite(value) or (r["target"] not in COUNTS | GAPS and not 0.0 <= value <= 1.0):
            raise InputError(f"{path}: line {i}, value: expected a share in [0, 1], got {value}")
        try:
            month = month_index(r["date"], START_MONTH)
        except (InputError, ValueError, TypeError):
            raise InputError(f"{path}: line {i}, date: expected YYYY-MM, got {r.get('date')!r}") from None
        if month < 0 or month > month_index(FIT_END, START_MONTH):
            raise InputError(f"{path}: line {i}, date: a fitted figure must lie in {START_MONTH}..{FIT_END} "
                             f"(later figures are for validation only), got {r['date']}")
        out.append(Observation(r["target"], month, r["date"], value, sd, r["source"]))
    if not out:
        raise InputError(f"{path}: no figures")
    return out


def split_holdout(observations: list[Observation], year: int, *, min_fit: int = 5,
                  flag: str = "--holdout-from") -> tuple[list[Observation], list[Observation]]:
    """The figures before ``year`` (to fit) and from ``year`` on (held out).

    Raises:
        InputError: ``year`` holds out nothing, or leaves fewer than ``min_fit`` figures to fit.
    """
    fit = [o for o in observations if o.year < year]
    held = [o for o in observations if o.year >= year]
    first, last = min(o.year for o in observations), max(o.year for o in observations)
    if not held:
        raise InputError(f"{flag} {year}: no figure is that late (the fitted record ends in {last}); "
                         f"expected a year in {first + 1}..{last}")
    if len(fit) < min_fit:
        raise InputError(f"{flag} {year}: leaves {len(fit)} figure(s) to fit, expected at least {min_fit}; "
                         f"choose a later year (the record runs {first}..{last})")
    return fit, held


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
    "internet_gap_urban_rural": lambda row, c: row["internet_access_urban"] - row["internet_access_rural"],
}


def observe(outcomes: list[dict], observations: list[Observation], constants: dict[str, float]) -> np.ndarray:
    """Simulated value of every observation from a run's monthly outcome rows."""
    return np.array([OBSERVERS[o.target](outcomes[o.month], constants) for o in observations], dtype=float)


def residuals(simulated: np.ndarray, observations: list[Observation], data: np.ndarray | None = None) -> np.ndarray:
    """Residuals in units of each figure's noise (log scale for counts), against ``data`` (default: the figures)."""
    data = np.array([o.value for o in observations], dtype=float) if data is None else np.asarray(data, dtype=float)
    out = np.empty(len(observations))
    for k, o in enumerate(observations):
        if o.target in COUNTS:
            out[k] = (np.log(max(simulated[k], 1.0)) - np.log(max(data[k], 1.0))) / o.sd
        else:
            out[k] = (simulated[k] - data[k]) / o.sd
    return out


def block_distance(simulated: np.ndarray, observations: list[Observation], data: np.ndarray | None = None) -> float:
    """Root mean square of the scaled residuals, each block's mean square weighted equally."""
    r2 = residuals(simulated, observations, data) ** 2
    blocks = [o.block for o in observations]
    means = [float(np.mean([x for x, b in zip(r2, blocks, strict=True) if b == block]))
             for block in dict.fromkeys(blocks)]
    return float(np.sqrt(np.mean(means)))


#: The distance of a run from the data.
distance = block_distance


def noisy(simulated: np.ndarray, observations: list[Observation], rng: np.random.Generator) -> np.ndarray:
    """One draw of every figure as a survey would report it, given the run's values (see the module's Noise)."""
    out = np.empty(len(observations))
    for k, o in enumerate(observations):
        x = float(simulated[k])
        if o.target in COUNTS:
            out[k] = max(x, 1.0) * math.exp(o.sd * rng.standard_normal())
        elif o.target in GAPS:
            out[k] = min(1.0, max(-1.0, x + o.sd * rng.standard_normal()))
        elif x <= 0.0 or x >= 1.0:
            out[k] = min(max(x, 0.0), 1.0)
        else:
            sd2 = min(o.sd ** 2, 0.99 * x * (1.0 - x))  # a beta's variance is below mean (1 - mean)
            kappa = x * (1.0 - x) / sd2 - 1.0
            out[k] = rng.beta(x * kappa, (1.0 - x) * kappa)
    return out
