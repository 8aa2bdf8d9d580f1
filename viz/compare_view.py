"""What the Compare page runs and shows: scenarios against the baseline, validated form values.

The page's form is checked by :func:`check_form` (one plain message per bad
field, nothing is run); :func:`run_comparison` runs the scenarios and the
baseline on common random numbers through
:func:`egov_abm.scenarios.compare.compare_scenarios`, the same function as
``egov-abm compare`` (worker processes, progress and cancellation), and
returns the monthly runs and the cost-effectiveness table.

The app's comparisons share :data:`WORKERS`: at most
:func:`~egov_abm.scenarios.parallel.default_workers` worker processes run
for all browser sessions together; further comparisons wait their turn, first
come first served, and are told how many comparisons are ahead of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from egov_abm.scenarios.compare import compare_scenarios
from egov_abm.scenarios.parallel import Cancelled, default_workers
from egov_abm.scenarios.resources import check_memory, pool_workers
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz.controls import control

BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class CompareForm:
    """Checked values of the Compare page's form."""

    scenarios: tuple[str, ...]  # without the baseline, which always runs
    replicates: int
    n_agents: int
    seed: int
    ensemble: bool

    @property
    def n_runs(self) -> int:
        """Simulations the comparison needs (the baseline included)."""
        return (len(self.scenarios) + 1) * self.replicates


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """Monthly outcomes of every run, per-replicate metrics and the summary table."""

    form: CompareForm
    runs: pd.DataFrame
    per_replicate: pd.DataFrame
    table: pd.DataFrame


def _whole(value, name: str) -> tuple[int | None, str | None]:
    """``value`` as a whole number within the page's range of control ``name``, or None and a message."""
    c = control(name)
    lo, hi = c.allowed
    label = c.label
    try:
        number = float(str(value).strip().replace(",", ""))
    except (TypeError, ValueError):
        return None, f"{label}: {value!r} is not a whole number."
    if not np.isfinite(number) or number != int(number):
        return None, f"{label}: {value!r} is not a whole number."
    if not lo <= number <= hi:
        return None, f"{label}: {int(number):,} is outside {lo:,} to {hi:,}."
    return int(number), None


def check_form(scenarios, replicates, n_agents, seed, ensemble, available) -> tuple[CompareForm | None, list[str]]:
    """Validate the form; return the checked form, or None and one message per bad field."""
    errors = []
    chosen = tuple(dict.fromkeys(s for s in (scenarios or []) if s != BASELINE))
    unknown = [s for s in chosen if s not in available]
    if unknown:
        errors.append(f"Scenarios: {', '.join(unknown)} not shipped (choose from {', '.join(available)}).")
    if not chosen:
        errors.append("Scenarios: choose at least one policy scenario to compare with the baseline.")
    reps, e1 = _whole(replicates, "replicates")
    agents, e2 = _whole(n_agents, "compare_agents")
    seed_value, e3 = _whole(seed, "seed")
    errors += [e for e in (e1, e2, e3) if e]
    if errors:
        return None, errors
    return CompareForm(chosen, reps, agents, seed_value, bool(ensemble)), []


class WorkerGate:
    """At most ``total`` worker processes for all comparisons together; the others queue, first come first served.

    A comparison asks for some workers (at most ``total``) and gets them once
    every comparison queued before it has started and that many are free.
    """

    def __init__(self, total: int):
        self.total = max(1, int(total))
        self._cond = threading.Condition()
        self._queue: list[object] = []  # tickets of the comparisons waiting, in arrival order
        self._running = 0  # comparisons holding workers
        self._in_use = 0  # workers they hold

    @property
    def in_use(self) -> int:
        """Workers held now."""
        return self._in_use

    @contextlib.contextmanager
    def hold(self, wanted: int, *, on_wait: Callable[[int], object] | None = None,
             should_stop: Callable[[], bool] | None = None, poll: float = 0.25) -> Iterator[int]:
        """Wait for ``wanted`` workers (capped to ``total``) and hold them; yield how many were granted.

        ``on_wait(ahead)`` is called while waiting, each time the number of
        comparisons ahead (running or queued before this one) changes;
        ``should_stop()`` True while waiting raises :class:`Cancelled`.
        """
        wanted = max(1, min(int(wanted), self.total))
        ticket = object()
        told = None
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._queue[0] is ticket and self._in_use + wanted <= self.total:
                        self._queue.remove(ticket)
                        self._running += 1
                        self._in_use += wanted
                        break
                    ahead = self._running + self._queue.index(ticket)
                if ahead != told and on_wait is not None:
                    on_wait(ahead)
                told = ahead
                if should_stop is not None and should_stop():
                    raise Cancelled("the comparison was cancelled while it waited for workers")
                with self._cond:
                    self._cond.wait(poll)
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield wanted
        finally:
            with self._cond:
                self._running -= 1
                self._in_use -= wanted
                self._cond.notify_all()


#: The worker processes all the app's comparisons share (the CPUs this process may run on).
WORKERS = WorkerGate(default_workers())


def run_comparison(form: CompareForm, *, workers: int | None = None, progress=None, should_stop=None,
                   on_wait: Callable[[int], object] | None = None, gate: WorkerGate | None = None) -> CompareResult:
    """Run the baseline and the chosen scenarios (same seeds) and summarise them against the baseline.

    The runs take ``workers`` processes (default: all of the gate's) from
    ``gate`` (default :data:`WORKERS`), waiting for them if other comparisons
    hold them; ``on_wait(ahead)`` tells how many comparisons are ahead.
    """
    gate = gate or WORKERS
    baseline, *chosen = [load_scenario(name).with_overrides(n_agents=form.n_agents)
                         for name in (BASELINE, *form.scenarios)]
    wanted = min(workers or gate.total, form.n_runs)
    # the gate caps the workers of all sessions together, so one comparison's share is what to check
    check_memory("the comparison", [baseline, *chosen], workers=pool_workers(wanted, form.n_runs),
                 remedy="choose fewer citizens")
    with gate.hold(wanted, on_wait=on_wait, should_stop=should_stop) as granted:
        result = compare_scenarios(chosen, baseline, seed=form.seed, replicates=form.replicates,
                                   ensemble=form.ensemble, workers=granted, progress=progress,
                                   should_stop=should_stop)
    return CompareResult(form, result.runs, result.replicates, result.table)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The summary table with plain-language column names and rounded values."""

    def months(v):
        return "not reached" if np.isnan(v) else f"{v:.0f}"

    out = pd.DataFrame({
        "Scenario": table["scenario"],
        "Adoption at horizon (%)": (100 * table["adoption"]).round(1),
        "Extra adopters vs baseline": table["extra_adopters"].map("{:,.0f}".format),
        "Extra adopters, 90 % interval": [f"{lo:,.0f} to {hi:,.0f}" for lo, hi in
                                          zip(table["extra_q05"], table["extra_q95"], strict=True)],
        "Months to 50 % (from the start)": table["months_to_50"].map(months),
        "Months to 70 % (from the start)": table["months_to_70"].map(months),
        "Urban-rural gap (pp)": (100 * table["gap_urban_rural"]).round(1),
        "Young-old gap (pp)": (100 * table["gap_young_old"]).round(1),
        "Cost (bn KZT)": (table["cost_kzt"] / 1e9).round(2),
        "KZT per extra adopter": table["cost_per_extra_adopter_kzt"].map(
            lambda v: "-" if np.isnan(v) else f"{v:,.0f}"),
    })
    return out
