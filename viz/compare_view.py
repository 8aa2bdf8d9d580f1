"""What the Compare page runs and shows: scenarios against the baseline, validated form values, formatted tables.

The page's form is checked by :func:`check_form` (one plain message per bad
field, nothing is run) and :func:`memory_message` (the memory guard, before
anything starts); :func:`run_comparison` runs the scenarios and the baseline
on common random numbers through
:func:`egov_abm.scenarios.compare.compare_scenarios`, the same function as
``egov-abm compare`` (worker processes, progress and cancellation, the
decision outputs), at the level of uncertainty the page chose (``full`` by
default, as the command line).

What the page shows is formatted here, as tables of text with their units
(:func:`decision_table`, :func:`pairwise_table`, :func:`equity_table`,
:func:`outcome_table`, :func:`information_table`) and plain sentences
(:func:`summary_lines`); :func:`brief_html` writes the comparison's
``brief.html`` as ``egov-abm compare`` does.

The app's comparisons share :data:`WORKERS`: at most
:func:`~egov_abm.scenarios.parallel.default_workers` worker processes run
for all browser sessions together; further comparisons wait their turn, first
come first served, and are told how many comparisons are ahead of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from egov_abm.model import InputError
from egov_abm.scenarios.compare import Comparison, compare_scenarios, write_comparison
from egov_abm.scenarios.decisions import EQUITY_GROUPS, MIN_DRAWS_VOI, UNCERTAINTY_LEVELS, UNCERTAINTY_TEXT
from egov_abm.scenarios.parallel import Cancelled, default_workers, process_pool
from egov_abm.scenarios.resources import check_bytes, run_bytes
from egov_abm.scenarios.scenario import load_scenario
from egov_abm.viz.controls import control

BASELINE = "baseline"
#: The level of uncertainty a comparison carries unless the page is told otherwise: the command line's default.
DEFAULT_UNCERTAINTY = "full"
#: Shown for a value that does not exist (the baseline against itself, a level never reached).
NONE = "–"


@dataclasses.dataclass(frozen=True)
class CompareForm:
    """Checked values of the Compare page's form."""

    scenarios: tuple[str, ...]  # without the baseline, which always runs
    replicates: int
    n_agents: int
    seed: int
    uncertainty: str = DEFAULT_UNCERTAINTY  # one of UNCERTAINTY_LEVELS

    @property
    def n_runs(self) -> int:
        """Simulations the comparison needs (the baseline included)."""
        return (len(self.scenarios) + 1) * self.replicates


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """A finished comparison of the page: its form and what ``compare_scenarios`` returned."""

    form: CompareForm
    comparison: Comparison

    @property
    def runs(self) -> pd.DataFrame:
        """Monthly outcomes of every run."""
        return self.comparison.runs

    @property
    def per_replicate(self) -> pd.DataFrame:
        """The horizon metrics of every (scenario, replicate)."""
        return self.comparison.replicates

    @property
    def table(self) -> pd.DataFrame:
        """One row per scenario: the summary and the decision outputs (``Comparison.table``)."""
        return self.comparison.table


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


def check_form(scenarios, replicates, n_agents, seed, uncertainty, available) -> tuple[CompareForm | None, list[str]]:
    """Validate the form; return the checked form, or None and one message per bad field."""
    errors = []
    chosen = tuple(dict.fromkeys(s for s in (scenarios or []) if s != BASELINE))
    unknown = [s for s in chosen if s not in available]
    if unknown:
        errors.append(f"Scenarios: {', '.join(unknown)} not shipped (choose from {', '.join(available)}).")
    if not chosen:
        errors.append("Scenarios: choose at least one policy scenario to compare with the baseline.")
    if uncertainty not in UNCERTAINTY_LEVELS:
        errors.append(f"Uncertainty: {uncertainty!r} is not one of {', '.join(UNCERTAINTY_LEVELS)}.")
    reps, e1 = _whole(replicates, "replicates")
    agents, e2 = _whole(n_agents, "compare_agents")
    seed_value, e3 = _whole(seed, "seed")
    errors += [e for e in (e1, e2, e3) if e]
    if errors:
        return None, errors
    return CompareForm(chosen, reps, agents, seed_value, uncertainty), []


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


def _scenarios(form: CompareForm):
    return [load_scenario(name).with_overrides(n_agents=form.n_agents) for name in (BASELINE, *form.scenarios)]


def _check_memory(form: CompareForm, wanted: int, scenarios=None, available: int | None = None,
                  spawned: bool = True) -> None:
    # the gate caps the workers of all sessions together, so one comparison's share is what to check
    largest = max(scenarios or _scenarios(form), key=run_bytes)
    check_bytes("The comparison", run_bytes(largest), largest.params.n_agents, workers=wanted, spawned=spawned,
                available=available, remedy="choose fewer citizens per run")


def memory_message(form: CompareForm, *, workers: int | None = None, gate: WorkerGate | None = None,
                   available: int | None = None) -> str | None:
    """The memory guard's one line if ``form``'s runs would not fit in the memory available, else None.

    ``available`` is the memory in bytes (default: what this machine has now, :mod:`.resources`).
    """
    gate = gate or WORKERS
    try:
        _check_memory(form, min(workers or gate.total, form.n_runs), available=available)
    except InputError as exc:
        return str(exc) + "."
    return None


def run_comparison(form: CompareForm, *, workers: int | None = None, progress=None, should_stop=None,
                   on_wait: Callable[[int], object] | None = None, on_start: Callable[[int], object] | None = None,
                   gate: WorkerGate | None = None) -> CompareResult:
    """Run the baseline and the chosen scenarios (same seeds) and summarise them against the baseline.

    The runs take ``workers`` processes (default: all of the gate's, at most
    one per run) from ``gate`` (default :data:`WORKERS`), waiting for them if
    other comparisons hold them; ``on_wait(ahead)`` tells how many comparisons
    are ahead, and ``on_start(workers)`` how many worker processes start once
    the wait is over. By default the runs go to worker processes even when
    one is all there is, so that ``should_stop()`` ends the run under way
    rather than wait for it; ``workers=1`` runs them in this process
    (``should_stop()`` is then asked between runs) and calls ``on_start(0)``.

    Raises:
        MemoryGuardError: the runs would not fit in the memory available.
        Cancelled: ``should_stop()`` returned True.
    """
    gate = gate or WORKERS
    baseline, *chosen = _scenarios(form)
    wanted = min(workers or gate.total, form.n_runs)
    in_process = workers == 1
    _check_memory(form, wanted, [baseline, *chosen], spawned=not in_process)
    with gate.hold(wanted, on_wait=on_wait, should_stop=should_stop) as granted:
        if on_start is not None:
            on_start(0 if in_process else granted)
        with contextlib.ExitStack() as stack:
            pool = None if in_process else stack.enter_context(process_pool(granted))
            comparison = compare_scenarios(chosen, baseline, seed=form.seed, replicates=form.replicates,
                                           ensemble=form.uncertainty, workers=granted, client=pool,
                                           progress=progress, should_stop=should_stop)
    return CompareResult(form, comparison)


# ------------------------------------------------------------------------------------ formatted values
def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and np.isfinite(float(value))


def users(value) -> str:
    """A number of adults: ``496,600``."""
    return f"{value:,.0f}" if _finite(value) else NONE


def signed_users(value) -> str:
    """A change in adults: ``+496,600``, ``-1,200``, ``0``."""
    return f"{value:+,.0f}" if _finite(value) and round(value) != 0 else ("0" if _finite(value) else NONE)


def percent(share) -> str:
    """A share as a whole percentage: ``80 %``."""
    return f"{100 * share:.0f} %" if _finite(share) else NONE


def billion_kzt(value) -> str:
    """A national cost with one decimal in billions: ``48.0 bn KZT``."""
    return f"{value / 1e9:,.1f} bn KZT" if _finite(value) else NONE


def kzt(value) -> str:
    """Tenge, whole: ``96,657 KZT``."""
    return f"{value:,.0f} KZT" if _finite(value) else NONE


def points(share) -> str:
    """A difference of shares in percentage points, one decimal: ``6.5 pp``."""
    return f"{100 * share:.1f} pp" if _finite(share) else NONE


def _interval(row, prefix: str, fmt: Callable[[float], str], unit: str = "") -> str:
    """Median and 90 % interval of ``prefix``'s quantile columns, on two lines (``unit``: once per line)."""
    mid, lo, hi = (row.get(f"{prefix}_q{q}") for q in ("50", "05", "95"))
    if not _finite(mid):
        return NONE
    return f"{fmt(mid)}\n{fmt(lo).removesuffix(unit)} to {fmt(hi)}"


def _rows(result: CompareResult) -> tuple[str, list[str], pd.DataFrame]:
    """Baseline name, policy names (in the form's order) and the table indexed by scenario."""
    return BASELINE, list(result.form.scenarios), result.table.set_index("scenario")


def draws_text(result: CompareResult) -> str:
    """How many paired draws and what they carry: ``40 paired draws, uncertainty full (...)``."""
    level = result.form.uncertainty
    n = result.form.replicates
    return f"{n} paired draw{'s' if n != 1 else ''}, uncertainty '{level}' ({UNCERTAINTY_TEXT[level]})"


def decision_table(result: CompareResult) -> pd.DataFrame:
    """How sure we are: extra users, P(beats baseline), regret, cost, cost per extra user, months gained."""
    baseline, policies, t = _rows(result)
    target = result.comparison.meta.get("target_share", 0.5)
    columns = ["Scenario", "Extra users at the horizon (median; 90 % interval)", "P(beats baseline)",
               "Expected regret (users)", "Cost (median)", "KZT per extra user (median; 90 % interval)",
               f"Months gained to {100 * target:.0f} % of adults"]
    rows = []
    for name in policies:
        r = t.loc[name].to_dict()
        gained = r.get("months_gained_median")
        months = ("not reached" if not _finite(gained) else "0 months" if round(gained) == 0
                  else f"{gained:+.0f} month{'' if abs(round(gained)) == 1 else 's'}")
        rows.append([name, _interval(r, "extra_horizon", signed_users), percent(r["p_beats_baseline"]),
                     users(r["regret_mean"]), billion_kzt(r["cost_kzt_median"]),
                     _interval(r, "cost_per_extra_user", kzt, " KZT"),
                     months])
    rows.append([baseline, NONE, NONE, users(t.loc[baseline, "regret_mean"]), billion_kzt(0.0), NONE, NONE])
    return pd.DataFrame(rows, columns=columns)


def pairwise_table(result: CompareResult) -> pd.DataFrame:
    """P(row beats column) at the horizon, in whole percentages; the diagonal is empty."""
    pairwise = result.comparison.pairwise
    names = [BASELINE, *result.form.scenarios]
    rows = [[a, *[NONE if a == b else percent(pairwise.loc[a, b]) for b in names]] for a in names]
    return pd.DataFrame(rows, columns=["P(row beats column)", *names])


def equity_table(result: CompareResult) -> pd.DataFrame:
    """Per scenario, in each group of :data:`EQUITY_GROUPS`: extra users and adults left behind (medians)."""
    eq = result.comparison.equity
    first = [g for g, _ in EQUITY_GROUPS]
    columns = ["Scenario", *[f"{label.capitalize()}: extra users, left behind" for _, label in EQUITY_GROUPS]]
    rows = []
    for name in [*result.form.scenarios, BASELINE]:
        g = eq[eq["scenario"] == name].set_index("group")
        cells = []
        for k in first:
            if k not in g.index:
                cells.append(NONE)
                continue
            extra = NONE if name == BASELINE else signed_users(g.loc[k, "extra_users_q50"])
            cells.append(f"{extra}\n{users(g.loc[k, 'left_behind_q50'])} left behind")
        rows.append([name, *cells])
    return pd.DataFrame(rows, columns=columns)


def outcome_table(result: CompareResult) -> pd.DataFrame:
    """Adoption at the horizon, when 50 % and 70 % of adults are reached, and the gaps (means over replicates)."""
    t = result.table.set_index("scenario")
    dates = pd.to_datetime(result.runs.groupby("month")["date"].first())
    horizon = dates.iloc[-1]

    def reached(months) -> str:
        if not _finite(months):
            return f"not by {horizon:%b %Y}"
        return f"{dates.loc[int(np.ceil(months))]:%b %Y}"

    rows = []
    for name in [*result.form.scenarios, BASELINE]:
        r = t.loc[name]
        rows.append([name, f"{100 * r['adoption']:.1f} %", reached(r["months_to_50"]), reached(r["months_to_70"]),
                     points(r["gap_urban_rural"]), points(r["gap_young_old"])])
    return pd.DataFrame(rows, columns=["Scenario", f"Adoption, {horizon:%b %Y}", "50 % of adults reached",
                                       "70 % of adults reached", "Urban–rural gap", "Young–old gap"])


def information_table(result: CompareResult, top: int = 5) -> tuple[pd.DataFrame, list[str]]:
    """What would change the answer: the ``top`` inputs by value of information, and sentences around them."""
    decision = result.comparison.meta.get("decision", {})
    voi = pd.DataFrame(decision.get("value_of_information") or [])
    lines = []
    if voi.empty:
        if result.form.uncertainty == "chance":
            lines.append("Nothing uncertain varies at the 'chance' level: choose 'calibration' or 'full' to see "
                         "which input would change the answer.")
        else:
            lines.append(f"Too few paired draws ({result.form.replicates}) to tell which input would change the "
                         f"answer: that needs at least {MIN_DRAWS_VOI} replicates.")
        return pd.DataFrame(columns=["Uncertain input", "What it is", "Regret removed if known (users)",
                                     "Share of the regret"]), lines
    evpi = decision.get("evpi_users")
    lines.append(f"Expected regret of choosing now: {users(evpi)} users (the users lost, on average, against the "
                 "policy that turns out best in each draw). Knowing one input would remove:")
    frame = pd.DataFrame({"Uncertain input": voi["input"], "What it is": voi["meaning"],
                          "Regret removed if known (users)": voi["evppi_users"].map(users),
                          "Share of the regret": voi["share_of_evpi"].map(percent)}).head(top)
    for f in decision.get("flip_points") or []:
        if not _finite(f.get("flips_at")):
            lines.append(f"{f['a']} against {f['b']}: the ranking does not change over {f['input']} "
                         f"{f['low']:.3g} to {f['high']:.3g}.")
        else:
            first, second = (f["a"], f["b"]) if f["a_ahead_below"] else (f["b"], f["a"])
            lines.append(f"{f['a']} against {f['b']}: the ranking changes at {f['input']} = {f['flips_at']:.3g} "
                         f"({first} ahead below, {second} above; the draws span {f['low']:.3g} to {f['high']:.3g}).")
    return frame, lines


def summary_lines(result: CompareResult) -> list[str]:
    """The answer in plain words: the best bet (least expected regret), how sure, and each policy's gain."""
    baseline, policies, t = _rows(result)
    n = result.form.replicates
    ranked = sorted(policies, key=lambda name: t.loc[name, "regret_mean"])
    best = ranked[0]
    r = t.loc[best]
    lines = [f"{best} is the best bet for the number of adults using the portal at the horizon: across the "
             f"{n} draw{'s' if n != 1 else ''} it loses the fewest users against whichever option turns out best "
             f"(expected regret {users(r['regret_mean'])}). It adds a median {users(r['extra_horizon_q50'])} users "
             f"over the baseline (90 % interval {users(r['extra_horizon_q05'])} to {users(r['extra_horizon_q95'])}) "
             f"and beats it in {percent(r['p_beats_baseline'])} of the draws."]
    if len(ranked) > 1:
        pairwise = result.comparison.pairwise
        lines.append(f"{best} has more users than " + ", ".join(
            f"{other} in {percent(pairwise.loc[best, other])}" for other in ranked[1:]) + " of the paired draws.")
    if n < 10:
        lines.append(f"With {n} draw{'s' if n != 1 else ''}, a probability moves in steps of {100 / n:.0f} "
                     "points: use more replicates before relying on it.")
    return lines


#: One brief at a time: ``write_comparison`` draws its charts with pyplot, whose state is shared by threads.
_BRIEF_LOCK = threading.Lock()


def brief_html(result: CompareResult) -> bytes:
    """The comparison's ``brief.html`` (self-contained: its charts are inlined), as ``egov-abm compare`` writes it."""
    with _BRIEF_LOCK, tempfile.TemporaryDirectory(prefix="egov-brief-") as tmp:
        write_comparison(result.comparison, Path(tmp) / "compare")
        return (Path(tmp) / "compare" / "brief.html").read_bytes()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV (UTF-8, no index)."""
    return frame.to_csv(index=False).encode("utf-8")
