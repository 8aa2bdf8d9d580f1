"""The month's outcomes: named totals over all citizens, one row per month.

A row holds the measures official statistics use:

- ``adoption``: share of adults who used the portal in the last 12 months
  (the ITU / Eurostat indicator), the headline;
- ``share_active_month``: share who used it this month (monthly active);
- ``share_ever_used``: share who ever used it (registered);
- ``share_assisted``: share served at a public service centre in the last 12 months;

and the share of current users (the portal among their channels), lapsed,
aware, online and skilled; the constructs' means (latent SD) and the mean
implied item scores of attitude and trust on the survey's 1-5 scale
(:mod:`model.measurement`); the processes' counts
(:data:`model.processes.COUNTS`: uses, needs by channel, lapses ...); the
month's intervention costs; and 12-month adoption by urban/rural, age band and
region. Nothing copies the
population: the monthly kernel tallies each citizen as it updates it
(:mod:`model.kernel`), and :class:`Record` keeps the month's integer totals;
the means of readiness and intention follow from those of attitude and trust
(the structural equations are linear).
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from egov_abm.model import kernel
from egov_abm.model.build import group_codes
from egov_abm.model.calendar import month_dates
from egov_abm.model.population import AGE_BANDS, EDUCATION_LEVELS
from egov_abm.model.processes import COUNTS

#: The processes' counts, in the order of the outcome columns.
COUNT_COLUMNS = ("n_uses", "n_failures", "n_new_users", "n_lapses", "n_needs", "n_assisted", "n_proxy",
                 "n_unserved", "n_forced")
if sorted(COUNT_COLUMNS) != sorted(COUNTS):
    raise RuntimeError(f"outcome count columns {COUNT_COLUMNS} differ from the processes' counts {COUNTS}")

#: Shares of all citizens, by the flag they count.
SHARES = {"adoption": "active12", "share_active_month": "active", "share_assisted": "assisted12",
          "share_users": "user", "share_ever_used": "ever_user", "share_lapsed": "lapsed",
          "share_aware": "aware", "internet_access": "access", "digital_literacy": "skill"}
#: Population means of the constructs (latent SD units).
MEANS = {"mean_attitude": "attitude", "mean_trust": "trust", "mean_readiness": "readiness",
         "mean_intention": "intention"}


def slug(name: str) -> str:
    """Column-safe lowercase name: 'Almaty city' -> 'almaty_city', '18-29' -> '18_29', '60+' -> '60plus'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("+", "plus")).strip("_")


def _margins(totals: np.ndarray, shape: tuple[int, int, int, int]) -> tuple[np.ndarray, ...]:
    """(urban, rural), per age band, per region and per education level sums of a per-code count."""
    t = totals.reshape(*totals.shape[:-1], *shape)
    return (t.sum(axis=(-4, -3, -2))[..., ::-1], t.sum(axis=(-3, -2, -1)), t.sum(axis=(-4, -3, -1)),
            t.sum(axis=(-4, -2, -1)))


@functools.lru_cache(maxsize=8)
def _indicator(shape: tuple[int, int, int, int]) -> np.ndarray:
    """The 0/1 matrix of :func:`_margins`: row c holds the margins of code c alone (a 1 in each of its groups)."""
    out = np.concatenate(_margins(np.eye(math.prod(shape)), shape), axis=-1)
    out.setflags(write=False)
    return out


class Groups:
    """12-month adoption by urban/rural, age band, education and region, from one code per citizen.

    The code is (age band, education, region, urban) in one integer; the kernel counts 12-month users per code,
    and the margins are sums over the other axes.
    """

    def __init__(self, model) -> None:
        pop = model.pop
        n_regions = len(model.region_names)
        self.shape = (len(AGE_BANDS), len(EDUCATION_LEVELS), n_regions, 2)
        self.size = math.prod(self.shape)
        threads = kernel.threads_for(model.n)
        self.code, counts = group_codes(pop.age_band, pop.education, pop.region, pop.urban, len(EDUCATION_LEVELS),
                                        n_regions, self.size, kernel.mapper(threads), threads)
        self.counts = self.margins(counts)
        self._count = None  # self.counts in one vector (made when first needed, by share_columns)
        self.columns = (["adoption_urban", "adoption_rural"], [f"adoption_age_{slug(b)}" for b in AGE_BANDS],
                        [f"adoption_region_{slug(r)}" for r in model.region_names],
                        [f"adoption_education_{slug(e)}" for e in EDUCATION_LEVELS])

    def margins(self, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(urban, rural), per age band, per region and per education level sums of a per-code count."""
        return _margins(totals, self.shape)

    def share_columns(self, active_by_code: np.ndarray) -> dict[str, np.ndarray]:
        """Adoption within each group (NaN for an empty group), one column per group; one row per month.

        The margins of all months are one product with a 0/1 matrix (code by group column): sums of counts,
        exact in float64, and much faster than summing over the axes of the array month by month.
        """
        if self._count is None:
            self._count = np.concatenate(self.counts)
            self._names = [name for names in self.columns for name in names]
        total = np.asarray(active_by_code, dtype=np.float64) @ _indicator(self.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(self._count > 0, total / np.maximum(self._count, 1), np.nan)
        return dict(zip(self._names, share.T, strict=True))


#: Mean implied item scores (1-5) of the constructs.
SCORES = {"attitude_score": "attitude", "trust_score": "trust"}


class Record:
    """The months' totals, one row appended per month (a copy of two short vectors); rows and frames on demand.

    ``totals`` holds the kernel's integer totals (:data:`model.kernel.TOTALS`,
    real values in fixed point), ``groups`` 12-month use per group code, and
    ``costs`` the month's cost, its per-person part and the cumulative cost.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.size = 0
        self._totals = np.zeros((64, len(kernel.TOTALS)), dtype=np.int64)
        self._groups = np.zeros((64, model.groups.size), dtype=np.int64)
        self._costs = np.zeros((64, 3))
        self._rows: list[dict] = []
        self._zeta_means = (model.zeta_r.mean(dtype=np.float64), model.zeta_i.mean(dtype=np.float64))

    def reserve(self, months: int) -> None:
        """Make room for ``months`` more months at once (rows are zero until written)."""
        need = self.size + months + 1
        if need > len(self._totals):
            extra = max(need, 2 * len(self._totals)) - len(self._totals)
            self._totals = np.concatenate([self._totals, np.zeros((extra, self._totals.shape[1]), np.int64)])
            self._groups = np.concatenate([self._groups, np.zeros((extra, self._groups.shape[1]), np.int64)])
            self._costs = np.concatenate([self._costs, np.zeros((extra, 3))])

    def next_row(self) -> tuple[np.ndarray, np.ndarray]:
        """The totals and 12-month use by group of the month to be appended next, as writable zero rows."""
        self.reserve(0)
        return self._totals[self.size], self._groups[self.size]

    def last_totals(self) -> np.ndarray:
        """The totals of the last month appended."""
        return self._totals[self.size - 1]

    def append(self, total: np.ndarray, groups: np.ndarray, costs: tuple[float, float, float]) -> None:
        """Add one month (``total`` and ``groups`` may be the rows :meth:`next_row` gave)."""
        self.reserve(0)
        row = self.size
        self._totals[row] = total  # (a row from next_row() is copied onto itself: numpy allows it)
        self._groups[row] = groups
        self._costs[row] = costs
        self.size += 1

    def commit(self, costs: tuple[float, float, float]) -> None:
        """Add the month whose totals and groups were written into the rows :meth:`next_row` gave."""
        self._costs[self.size] = costs
        self.size += 1

    def columns(self, start: int = 0) -> dict[str, np.ndarray | list]:
        """Every outcome column of months ``start ..`` (the monthly table's columns, in order)."""
        model, n = self.model, self.model.n
        tot, groups, costs = self._totals[start:self.size], self._groups[start:self.size], self._costs[start:self.size]
        months = np.arange(start, self.size)
        out: dict = {"month": months, "date": month_dates(model.params.start_month, months)}

        def total(name):
            value = tot[:, kernel.TOTALS.index(name)]
            return value / kernel.FIXED_SCALE if name in kernel.REAL_TOTALS else value

        out.update({column: total(flag) / n for column, flag in SHARES.items()})
        att, trust = total("attitude") / n, total("trust") / n
        # readiness and intention are not summed: the structural equations are linear in attitude and trust
        sem, (zeta_r, zeta_i) = model.sem, self._zeta_means
        ready = sem.readiness_intercept + sem.readiness_on_attitude * att + sem.readiness_on_trust * trust + zeta_r
        intent = (sem.intention_intercept + sem.intention_on_readiness * ready + sem.intention_on_attitude * att
                  + sem.intention_on_trust * trust + zeta_i)
        out.update(zip(MEANS, (att, trust, ready, intent), strict=True))
        out.update({column: total(column) / n for column in SCORES})
        out.update({name: total(name) for name in COUNT_COLUMNS})
        out.update(zip(("cost_kzt", "cost_per_person_part_kzt", "cumulative_cost_kzt"), costs.T, strict=True))
        out.update(model.groups.share_columns(groups))
        return out

    def rows(self) -> list[dict]:
        """One dictionary per month (Python numbers), made once per month and kept."""
        if len(self._rows) < self.size:
            columns = self.columns(len(self._rows))
            values = [v.tolist() if isinstance(v, np.ndarray) else v for v in columns.values()]
            self._rows.extend(dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True))
        return self._rows
