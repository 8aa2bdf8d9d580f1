"""Synthetic population: demographics of N adult citizens drawn from national margins.

The margins and group effects arrive as a :class:`PopulationSpec`; ``model``
does not read files. ``calibration.defaults.population_spec()`` builds the
default spec from ``calibration/data/*.csv``, where each figure has a source.
"""

from __future__ import annotations

import dataclasses

import numpy as np

AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
EDUCATION_LEVELS = ("secondary", "vocational", "tertiary")


@dataclasses.dataclass(frozen=True)
class PopulationSpec:
    """National margins and group effects for the synthetic population.

    Attributes:
        region_names: regions and cities of republican significance.
        region_shares: share of the adult population in each region (sums to 1).
        region_urban_share: share urban within each region, in [0, 1].
        age_shares: share of adults in each band of :data:`AGE_BANDS`.
        female_share: share of adults who are women.
        education_shares: share of adults at each level of :data:`EDUCATION_LEVELS`.
        divide_rural: log-odds shift of access and skill for rural citizens.
        divide_age: log-odds shift of access and skill per age band.
        divide_education: log-odds shift of access and skill per education level.
        attitude_shift_age, attitude_shift_education, attitude_shift_rural:
            shift of the attitude latent mean (latent SD units) by group,
            moving the survey's users toward the whole adult population.
        trust_shift_age, trust_shift_education, trust_shift_rural: the same for trust.
    """

    region_names: tuple[str, ...]
    region_shares: tuple[float, ...]
    region_urban_share: tuple[float, ...]
    age_shares: tuple[float, ...]
    female_share: float
    education_shares: tuple[float, ...]
    divide_rural: float = 0.0
    divide_age: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    divide_education: tuple[float, ...] = (0.0, 0.0, 0.0)
    attitude_shift_age: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    attitude_shift_education: tuple[float, ...] = (0.0, 0.0, 0.0)
    attitude_shift_rural: float = 0.0
    trust_shift_age: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    trust_shift_education: tuple[float, ...] = (0.0, 0.0, 0.0)
    trust_shift_rural: float = 0.0

    def __post_init__(self) -> None:
        n_regions = len(self.region_names)
        checks = [
            (len(self.region_shares) == n_regions, "region_shares must have one value per region"),
            (len(self.region_urban_share) == n_regions, "region_urban_share must have one value per region"),
            (len(self.age_shares) == len(AGE_BANDS), f"age_shares needs {len(AGE_BANDS)} values"),
            (len(self.education_shares) == len(EDUCATION_LEVELS),
             f"education_shares needs {len(EDUCATION_LEVELS)} values"),
            (len(self.divide_age) == len(AGE_BANDS), "divide_age needs one value per age band"),
            (len(self.divide_education) == len(EDUCATION_LEVELS), "divide_education needs one value per level"),
            (0.0 <= self.female_share <= 1.0, "female_share must be in [0, 1]"),
            (all(0.0 <= u <= 1.0 for u in self.region_urban_share), "region_urban_share must be in [0, 1]"),
        ]
        for name in ("region_shares", "age_shares", "education_shares"):
            shares = np.asarray(getattr(self, name), dtype=float)
            checks.append((bool(np.all(shares >= 0)) and abs(shares.sum() - 1.0) < 1e-6,
                           f"{name} must be non-negative and sum to 1 (sum {shares.sum():.6f})"))
        for ok, message in checks:
            if not ok:
                raise ValueError(f"population spec: {message}")

    @classmethod
    def uniform(cls) -> PopulationSpec:
        """One urban region and even margins: a neutral population for validation runs."""
        return cls(region_names=("all",), region_shares=(1.0,), region_urban_share=(1.0,),
                   age_shares=(0.25,) * 4, female_share=0.5, education_shares=(1 / 3,) * 3)


@dataclasses.dataclass
class Population:
    """Demographic arrays, one entry per citizen (structure of arrays)."""

    region: np.ndarray  # int16 index into spec.region_names
    urban: np.ndarray  # bool
    age_band: np.ndarray  # uint8 index into AGE_BANDS
    female: np.ndarray  # bool
    education: np.ndarray  # uint8 index into EDUCATION_LEVELS
    divide: np.ndarray  # float32: log-odds shift of access and skill for the citizen's group

    @property
    def n(self) -> int:
        """Number of citizens."""
        return int(self.region.shape[0])

    def sorted_by(self, keys: np.ndarray, n_keys: int, each=map, parts: int = 1) -> Population:
        """The same citizens renumbered in the stable order of ``keys`` (integers in ``[0, n_keys)``).

        Each column is as gathered through ``numpy.argsort(keys, kind="stable")``, by a counting sort
        (:func:`model.build.sort_by_key`): each column is read once in order,
        not once per key; ``parts`` slices run by ``each``.
        """
        from egov_abm.model.build import sort_by_key

        names = [f.name for f in dataclasses.fields(self)]
        columns = sort_by_key(keys, n_keys, [getattr(self, name) for name in names], each, parts)
        return Population(**dict(zip(names, columns, strict=True)))


def synth_population(spec: PopulationSpec, n: int, rng: np.random.Generator | None = None,
                     chunks=None) -> Population:
    """Draw ``n`` citizens independently from the margins of ``spec``.

    Region is drawn from ``region_shares``, urban/rural from the region's urban
    share; age band, sex and education independently of each other and of
    region (an assumption: the public margins give no joint table).

    Draws from ``rng``, or, with ``chunks(work)`` (the model's
    :meth:`~model.adoption.AdoptionModel.each_chunk` of a stream), calls
    ``work(generator, lo, hi)`` for each chunk of citizens, in parallel.
    """
    pop = Population(region=np.empty(n, dtype=np.int16), urban=np.empty(n, dtype=bool),
                     age_band=np.empty(n, dtype=np.uint8), female=np.empty(n, dtype=bool),
                     education=np.empty(n, dtype=np.uint8), divide=np.empty(n, dtype=np.float32))
    region_p, age_p, edu_p = _norm(spec.region_shares), _norm(spec.age_shares), _norm(spec.education_shares)
    urban_share = np.asarray(spec.region_urban_share)
    divide_age, divide_edu = np.asarray(spec.divide_age), np.asarray(spec.divide_education)

    def work(g: np.random.Generator, lo: int, hi: int) -> None:
        m = hi - lo
        region = pop.region[lo:hi]
        region[:] = g.choice(len(region_p), size=m, p=region_p)
        urban = pop.urban[lo:hi]
        urban[:] = g.random(m) < urban_share[region]
        age = pop.age_band[lo:hi]
        age[:] = g.choice(len(age_p), size=m, p=age_p)
        pop.female[lo:hi] = g.random(m) < spec.female_share
        edu = pop.education[lo:hi]
        edu[:] = g.choice(len(edu_p), size=m, p=edu_p)
        pop.divide[lo:hi] = np.where(urban, 0.0, spec.divide_rural) + divide_age[age] + divide_edu[edu]

    if chunks is None:
        work(rng, 0, n)
    else:
        chunks(work)
    return pop


def construct_shift(spec: PopulationSpec, pop: Population, sl: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Group shifts of the attitude and trust latent means for each citizen (or the citizens ``sl``)."""
    rural = ~pop.urban[sl]
    age, edu = pop.age_band[sl], pop.education[sl]
    att = (np.asarray(spec.attitude_shift_age)[age] + np.asarray(spec.attitude_shift_education)[edu]
           + np.where(rural, spec.attitude_shift_rural, 0.0))
    trust = (np.asarray(spec.trust_shift_age)[age] + np.asarray(spec.trust_shift_education)[edu]
             + np.where(rural, spec.trust_shift_rural, 0.0))
    return att, trust


def _norm(shares) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return p / p.sum()
