"""Run a sweep on Dask distributed and keep its results as Parquet: the *evaluate* step of an experiment.

Runs are submitted through :func:`egov_abm.scenarios.parallel.iter_runs`
with a Dask client (results as they finish, retried on a lost worker, a
bounded window of tasks in flight). Each run is one (design point, replicate); small runs travel in
batches, several runs per Dask task (:func:`batch_size`), so Dask's cost per task is shared. A run is keyed by
``run_id``, a hash of everything that decides its result: the full model
parameters, the dose multiplier, the interventions, the SEM and horizon, the
outcomes recorded, the seed and the replicate. Replicate ``r`` of every design
point runs on the same random streams (``SeedSequence(seed, spawn_key=(r,))``),
so design points are compared on common random numbers.

The client process writes results as they arrive, in batches, to
``DIR/part-*.parquet`` (each file written under a temporary name and moved
into place, so a file is whole or absent). A re-run of the same sweep reads
the ``run_id`` of every stored run and submits only the others; an
interrupted sweep therefore loses at most the runs in flight. Workers need
no shared disk with the client, so ``--scheduler`` can point at any cluster
whose workers have egov-abm installed.

Layout of ``DIR`` (files starting with ``_`` are ignored by Parquet readers,
so ``pandas.read_parquet(DIR)`` returns exactly one row per stored run):

- ``part-*.parquet``: the runs (schema in README.md).
- ``_sweep.json``: the sweep file as read, its digest, the base scenario,
  the parameters, the seed scheme, version and time.
- ``_egov_abm.json``: the manifest (kind ``sweep``), written once the
  three description files are complete (:mod:`egov_abm.scenarios.output`).
- ``_design.parquet``: one row per design point (values and, for sampled
  designs, the raw sample SALib needs); ``_runs.parquet``: point, replicate
  and run_id of every run of the design.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from egov_abm.model import InputError, Params
from egov_abm.scenarios import outcomes
from egov_abm.scenarios.experiments.spec import DOSE_SCALE, Design, SweepSpec, check_outcomes, make_design
from egov_abm.scenarios.output import (
    SWEEP_FILES,
    atomic_file,
    check_out_dir,
    read_manifest,
    require_complete,
    write_manifest,
)
from egov_abm.scenarios.parallel import default_workers, iter_runs

ID_FIELDS = [("run_id", pa.string()), ("point", pa.int64()), ("replicate", pa.int64()), ("seed", pa.int64()),
             ("status", pa.string()), ("error", pa.string()), ("seconds", pa.float64()), ("worker", pa.string())]
ARROW_KIND = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


#: Fields of ``_sweep.json`` that reading and analysis rely on.
META_FIELDS = ("name", "method", "seed", "replicates", "months", "start_month", "parameters", "problem",
               "summary", "series", "second_order", "levels", "scenario")


class SweepInterrupted(RuntimeError):
    """The sweep stopped early (Ctrl-C, SIGTERM, its cluster failed); what finished is on disk.

    ``exit_code`` is what the command line exits with: 130 after Ctrl-C,
    143 after SIGTERM, 1 when the cluster failed.
    """

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it takes the path of Ctrl-C (finished runs are written)."""


class _SafePoints:
    """Ctrl-C and SIGTERM during a sweep, raised only where the sweep's own code can take them.

    Raised at an arbitrary point, the interrupt lands inside distributed's
    code as often as not, and distributed then prints tracebacks of its own
    (``sync()`` schedules a cancel that reads a variable not yet set). So a
    first signal is noted and raised at the next :meth:`check` (the sweep
    asks while it waits, every :data:`~egov_abm.scenarios.parallel.POLL_SECONDS`);
    a second one (of either kind) is raised at once, wherever the program is.
    SIGTERM raises :class:`_Terminated`; Ctrl-C goes to the handler that was
    installed before (the command line's), which raises KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def on_signal(self, signum: int, frame) -> None:
        if self.pending is None:
            self.pending = signum
            return
        self._raise(signum, frame)

    def check(self) -> bool:
        """Raise the signal noted since the sweep began, if any (False otherwise, for ``should_stop``)."""
        if self.pending is not None:
            self._raise(self.pending, None)
        return False

    def _raise(self, signum: int, frame) -> None:
        import signal

        self.pending = None
        if signum == signal.SIGTERM:
            raise _Terminated()
        previous = self.previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt()


@contextlib.contextmanager
def _signals_at_safe_points():
    """While the block runs, Ctrl-C and SIGTERM are raised at :meth:`_SafePoints.check` (main thread only).

    Off the main thread signals cannot be handled; the guard's checks then never raise.
    """
    import signal
    import threading

    guard = _SafePoints()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signum == signal.SIGINT and not callable(signal.getsignal(signum)):
            continue  # Ctrl-C ignored (a background job) or left to the OS: keep it that way
        guard.previous[signum] = signal.signal(signum, guard.on_signal)
    try:
        yield guard
    finally:
        for signum, previous in guard.previous.items():
            signal.signal(signum, previous)


@dataclasses.dataclass(frozen=True)
class RunTask:
    """Everything one run needs; small and picklable (sent to a worker)."""

    run_id: str
    point: int
    replicate: int
    seed: int
    params: dict[str, Any]
    dose_scale: float
    months: int
    values: dict[str, Any]  # the varied parameters' values, recorded with the result
    summary: tuple[str, ...]
    series: tuple[str, ...]
    every: int
    base: Any  # scenarios.scenario.Scenario: policies, SEM file, name
    sem_member: int | None = None  # SEM ensemble member (ensemble sweeps), else the SEM file

    def id_row(self) -> dict[str, Any]:
        """The columns that identify this run in the results."""
        return {"run_id": self.run_id, "point": self.point, "replicate": self.replicate, "seed": self.seed,
                **self.values}

    def scenario(self):
        """The base scenario with this run's full parameters."""
        return dataclasses.replace(self.base, params=Params(**self.params), sem_member=self.sem_member)


@dataclasses.dataclass
class SweepStats:
    """What a call of :func:`run_sweep` did."""

    runs: int = 0  # runs in the design
    skipped: int = 0  # already stored
    computed: int = 0  # finished in this call
    failed: int = 0  # of those, failed
    seconds: float = 0.0  # wall time of the whole call
    compute_seconds: float = 0.0  # from the first submission to the last result
    workers: int = 0
    files: list[str] = dataclasses.field(default_factory=list)


# ------------------------------------------------------------------ the plan
@dataclasses.dataclass(frozen=True)
class Plan:
    """A sweep resolved against its base scenario: design, tasks and the output schema."""

    spec: SweepSpec
    design: Design
    tasks: list[RunTask]
    schema: pa.Schema
    start_month: str
    months: int

    def runs_table(self) -> pd.DataFrame:
        """point, replicate and run_id of every run of the design."""
        return pd.DataFrame({"point": [t.point for t in self.tasks], "replicate": [t.replicate for t in self.tasks],
                             "run_id": [t.run_id for t in self.tasks]})


def plan_sweep(spec: SweepSpec) -> Plan:
    """Resolve the base scenario, the design and one task per (point, replicate)."""
    from egov_abm.scenarios.runner import run_one
    from egov_abm.scenarios.scenario import load_scenario

    base = load_scenario(spec.scenario)
    base = base.with_overrides(**spec.fixed) if spec.fixed else base
    months = base.months if spec.months is None else spec.months
    probe = run_one(base.with_overrides(n_agents=50, mean_degree=4), spec.seed, 0, months=1)
    check_outcomes(spec, outcomes.numeric_columns(probe))
    design = make_design(spec)
    draws = ([draw for _, draw in base.ensemble(spec.replicates, spec.seed)] if spec.ensemble
             else [{}] * spec.replicates)
    # an ensemble sweep: each replicate's posterior draw and its member; else the scenario's own member (the
    # baseline's best particle's), or None for its SEM file
    members = base.sem_members(spec.replicates, spec.seed) if spec.ensemble else [base.sem_member] * spec.replicates
    members_key = _ensemble_key() if any(m is not None for m in members) else None
    scenario_key = _scenario_key(base)
    outcomes_key = [list(spec.summary), list(spec.series), spec.every]
    names = spec.names
    varied = [f.name for f in spec.factors if not f.lever]
    tasks = []
    for row in design.points.itertuples(index=False):
        values = {n: _plain(getattr(row, n)) for n in names}
        point_params = {n: values[n] for n in varied}
        dose = spec.lever_value(DOSE_SCALE, values)
        for r, draw in enumerate(draws):
            kept = {k: v for k, v in draw.items() if k not in point_params and k not in base.overrides}
            params = Params.from_mapping({**kept, **point_params}, base=base.params,
                                         where=f"{spec.path}: design point {row.point}")
            full = params.to_dict()
            key = {"params": full, "dose_scale": dose, "months": months, "seed": spec.seed, "replicate": r,
                   "scenario": scenario_key, "outcomes": outcomes_key}
            if members[r] is not None:
                key["sem_member"] = [members[r], members_key]
            run_id = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
            tasks.append(RunTask(run_id=run_id, point=int(row.point), replicate=r, seed=spec.seed, params=full,
                                 dose_scale=dose, months=months, values=values, summary=spec.summary,
                                 series=spec.series, every=spec.every, base=base, sem_member=members[r]))
    fields = [pa.field(*f) for f in ID_FIELDS]
    fields += [pa.field(f.name, ARROW_KIND[f.kind]) for f in spec.factors]
    fields += [pa.field(n, pa.float64()) for n in spec.summary]
    if spec.series:
        fields.append(pa.field("series_month", pa.list_(pa.int64())))
        fields += [pa.field(f"series_{n}", pa.list_(pa.float64())) for n in spec.series]
    return Plan(spec=spec, design=design, tasks=tasks, schema=pa.schema(fields), start_month=base.params.start_month,
                months=months)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _scenario_key(base) -> str:
    """Hash of what the base scenario adds beyond its parameters: interventions and SEM file contents."""
    from egov_abm.calibration import userfiles
    from egov_abm.calibration.defaults import DEFAULT_SEM_FILE

    sem_path = Path(base.sem_file or DEFAULT_SEM_FILE)
    policies = [dataclasses.asdict(p.intervention) for p in base.policies]
    sem_bytes = userfiles.read_bytes(sem_path, "the SEM parameters file")
    blob = json.dumps({"policies": policies, "sem": hashlib.sha256(sem_bytes).hexdigest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ensemble_key() -> str:
    """Hash of the SEM ensemble file's contents (a run of member r depends on them)."""
    from egov_abm.calibration import userfiles
    from egov_abm.calibration.sem_ensemble import DEFAULT_SEM_ENSEMBLE_FILE

    data = userfiles.read_bytes(Path(DEFAULT_SEM_ENSEMBLE_FILE), "the SEM ensemble file")
    return hashlib.sha256(data).hexdigest()[:16]


# ------------------------------------------------------------- on the worker
@functools.lru_cache(maxsize=8)
def _sem(path: str):
    from egov_abm.calibration.defaults import load_sem

    return load_sem(path)


@functools.lru_cache(maxsize=64)
def _sem_member(member: int):
    from egov_abm.calibration.sem_ensemble import load_sem_ensemble

    return load_sem_ensemble()[member]


@functools.lru_cache(maxsize=1)
def _population():
    from egov_abm.calibration.defaults import population_spec

    return population_spec()


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task; never raises: a failure comes back as a row with status 'failed' and the error."""
    from egov_abm.calibration.defaults import DEFAULT_SEM_FILE
    from egov_abm.scenarios.runner import run_one

    start = time.perf_counter()
    row = task.id_row()
    try:
        sem = (_sem_member(task.sem_member) if task.sem_member is not None
               else _sem(str(task.base.sem_file or DEFAULT_SEM_FILE)))
        frame = run_one(task.scenario(), task.seed, task.replicate, months=task.months, sem=sem,
                        population=_population(), dose_scale=task.dose_scale)
        row.update(outcome_row(frame, task.summary, task.series, task.every))
        row.update(status="ok", error=None)
    except Exception as exc:  # recorded, not raised: one bad run must not stop a sweep
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row["seconds"] = time.perf_counter() - start
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def execute_batch(tasks: list[RunTask]) -> list[dict[str, Any]]:
    """Run several tasks in turn (one Dask task); one row each, in order, as :func:`execute` gives it."""
    return [execute(task) for task in tasks]


#: Work per Dask task, in citizen-months (citizens x months of each run): small runs are grouped into
#: batches of about this much work (a quarter of a second or so), so Dask's cost per task (scheduling,
#: messages, serialisation, the worker's event loop: milliseconds, paid on the same cores as the runs)
#: is shared by the runs of a batch. A run this large or larger is a batch alone.
BATCH_CITIZEN_MONTHS = 500_000
#: Most runs in one batch, and fewest batches per worker (so work stays spread and progress flows).
MAX_BATCH = 64
MIN_BATCHES_PER_WORKER = 4


def batch_size(tasks: list[RunTask], workers: int) -> int:
    """Runs per Dask task for ``tasks`` on ``workers`` workers (1 for large runs; see BATCH_CITIZEN_MONTHS)."""
    if not tasks:
        return 1
    cost = sum(max(1, int(t.params.get("n_agents", 1)) * max(1, t.months)) for t in tasks) / len(tasks)
    spread = -(-len(tasks) // (MIN_BATCHES_PER_WORKER * max(1, workers)))  # ceil
    return max(1, min(int(BATCH_CITIZEN_MONTHS // cost), MAX_BATCH, spread))


def outcome_row(frame: pd.DataFrame, summary: tuple[str, ...], series: tuple[str, ...], every: int) -> dict:
    """Summary values (from :mod:`egov_abm.scenarios.outcomes`; None if empty) and series (lists) of one run."""
    out: dict[str, Any] = {}
    for name, value in outcomes.values(frame, summary).items():
        out[name] = None if np.isnan(value) else value
    if series:
        keep = np.zeros(len(frame), dtype=bool)
        keep[::every] = True
        keep[-1] = True
        out["series_month"] = frame["month"].to_numpy()[keep].astype(np.int64).tolist()
        for name in series:
            out[f"series_{name}"] = frame[name].to_numpy(dtype=float)[keep].tolist()
    return out


def dask_setup(worker) -> None:
    """Dask preload, run by each local worker process at start: ignore Ctrl-C.

    Ctrl-C is for the client, which stops the cluster itself; without this
    every worker would print a traceback.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_version() -> str:
    """egov-abm version where this runs (asked of every worker before a sweep)."""
    from egov_abm.scenarios.runner import package_version

    return package_version()


# ---------------------------------------------------------------- the store
class ResultStore:
    """The sweep folder: writes batches of runs, reads back which runs are done."""

    def __init__(self, out_dir: Path, schema: pa.Schema) -> None:
        self.dir = Path(out_dir)
        self.schema = schema
        self.pending: list[dict] = []
        self.session = f"{_dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"  # unique per call
        self.seq = 0
        self.written: list[str] = []

    def parts(self) -> list[Path]:
        """The stored batch files."""
        return sorted(self.dir.glob("part-*.parquet"))

    def status(self) -> dict[str, str]:
        """run_id → status of every stored run."""
        out: dict[str, str] = {}
        for part in self.parts():
            try:
                table = pq.read_table(part, columns=["run_id", "status"])
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{part}: not a readable results file ({exc}); move it away and re-run") from None
            out.update(zip(table.column("run_id").to_pylist(), table.column("status").to_pylist(), strict=True))
        return out

    def add(self, row: dict) -> None:
        """Queue one finished run for the next :meth:`flush`."""
        self.pending.append(row)

    def flush(self) -> Path | None:
        """Write the queued runs as one new batch file (atomically)."""
        if not self.pending:
            return None
        table = pa.Table.from_pylist(self.pending, schema=self.schema)
        self.seq += 1
        path = self.dir / f"part-{self.session}-{self.seq:05d}.parquet"
        if path.exists():  # never overwrite a stored batch
            raise FileExistsError(f"{path}: already exists")
        _write_atomic(table, path)
        self.pending = []
        self.written.append(path.name)
        return path

    def drop(self, run_ids: set[str]) -> int:
        """Remove stored runs (used to retry failed runs); each file is rewritten atomically."""
        removed = 0
        for part in self.parts():
            table = pq.read_table(part)
            mask = pc.is_in(table.column("run_id"), value_set=pa.array(sorted(run_ids), pa.string()))
            hit = int(pc.sum(mask).as_py() or 0)
            if not hit:
                continue
            kept = table.filter(pc.invert(mask))
            if kept.num_rows:
                _write_atomic(kept, part)
            else:
                part.unlink()
            removed += hit
        return removed


def _write_atomic(table: pa.Table, path: Path) -> None:
    with atomic_file(path) as tmp:  # whole or absent; a full disk names ``path``
        pq.write_table(table, tmp)


def prepare_dir(plan: Plan, out_dir: Path) -> None:
    """Create ``out_dir`` with the sweep's description, or check that it holds this same sweep."""
    from egov_abm.scenarios.runner import package_version

    out_dir = Path(out_dir)
    meta_path = out_dir / "_sweep.json"
    spec = plan.spec
    as_json = json.loads(json.dumps(spec.raw, default=str))  # the sweep file as _sweep.json stores it
    check_out_dir(out_dir, "sweep")
    if meta_path.exists():
        try:
            stored = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{meta_path}: cannot read ({exc}); is this a sweep folder?") from None
        if stored.get("digest") != spec.digest():
            before = stored.get("spec", {})
            changed = sorted(k for k in set(before) | set(as_json)
                             if k not in ("name", "description") and before.get(k) != as_json.get(k))
            what = f"changed: {', '.join(changed)}" if changed else "the base scenario resolves to another file"
            raise InputError(f"--out {out_dir}: holds a different sweep ({what}); use a new folder to keep both")
        if read_manifest(out_dir) is None:  # written by an earlier version: check it, then mark it
            require_complete(out_dir, "sweep")
            write_manifest(out_dir, "sweep", SWEEP_FILES)
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"--out {out_dir}: folder is not empty and holds no sweep (_sweep.json); choose another")
    meta = {
        "name": spec.name,
        "description": spec.description,
        "digest": spec.digest(),
        "sweep_file": str(spec.path),
        "scenario": spec.scenario,
        "start_month": plan.start_month,
        "months": plan.months,
        "seed": spec.seed,
        "replicates": spec.replicates,
        "ensemble": spec.ensemble,
        "method": spec.method,
        "samples": spec.samples,
        "second_order": spec.second_order,
        "levels": spec.levels,
        "parameters": [dataclasses.asdict(f) for f in spec.factors],
        "problem": spec.problem() if spec.method != "grid" else None,
        "fixed": spec.fixed,
        "levers": {"fixed": spec.fixed_levers, "varied": [f.name for f in spec.factors if f.lever]},
        "summary": list(spec.summary),
        "series": list(spec.series),
        "every": spec.every,
        "points": len(plan.design.points),
        "runs": len(plan.tasks),
        "seed_scheme": "replicate r of every design point: numpy SeedSequence(seed, spawn_key=(r,)); "
                       "design sampling: SeedSequence(seed, spawn_key=(0x5EED, 0))",
        "version": package_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "spec": as_json,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    design = plan.design.points.copy()
    if plan.design.raw is not None:
        for k, name in enumerate(spec.names):
            design[f"raw_{name}"] = plan.design.raw[:, k]
    _write_atomic(pa.Table.from_pandas(design, preserve_index=False), out_dir / "_design.parquet")
    _write_atomic(pa.Table.from_pandas(plan.runs_table(), preserve_index=False), out_dir / "_runs.parquet")
    with atomic_file(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    write_manifest(out_dir, "sweep", SWEEP_FILES)


# --------------------------------------------------------------- the runner
#: The address every listener of a local cluster binds: this machine only.
LOCAL_HOST = "127.0.0.1"


#: Dask configuration of a local cluster's workers without the dashboard: no statistical profiler. Each worker's
#: nanny adds it to its copy of the configuration (a shallow merge: hence a dotted key, not a nested dictionary) and
#: sets it in the worker process it starts, a restarted one too.
NO_PROFILER = {"distributed.worker.profile.enabled": False}


def local_cluster(workers: int, *, dashboard: bool = False):
    """A local Dask cluster of ``workers`` processes with one thread each; no dashboard unless ``dashboard``.

    Everything it opens listens on this machine only (``LOCAL_HOST``): the
    scheduler, each worker and its nanny, the scheduler's dashboard (with
    ``dashboard``, on a free port: ``cluster.dashboard_link``) or else its
    small HTTP server (health checks), which takes port 8787, or any free
    port if another cluster has it; that change is not worth a warning.
    Workers serve no dashboard of their own.

    Without the dashboard, the workers' statistical profiler is off
    (:data:`NO_PROFILER`): it samples the running task's stack every 10 ms
    under the GIL, and only the dashboard shows what it gathers. It cost
    3.6-5.3 ms of processor time per run of 2,000 citizens (``egov-abm bench
    --sweep overhead``: the warm overhead per run went from 4.3 to 0.7 ms with
    one worker and from 8.4 to 3.1 ms with two when it was switched off).
    """
    import warnings

    from distributed import Client, LocalCluster

    if dashboard:
        check_dashboard()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOCAL_HOST,
                               dashboard_address=f"{LOCAL_HOST}:0" if dashboard else None,
                               worker_dashboard_address=None,
                               silence_logs=logging.ERROR, preload=["egov_abm.scenarios.experiments.sweep"],
                               config={} if dashboard else NO_PROFILER)
    return Client(cluster), cluster


def check_dashboard() -> None:
    """Raise :class:`InputError` unless Dask's dashboard can be served (it needs the bokeh package)."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        raise InputError("--dashboard: Dask's dashboard needs the bokeh package "
                         "(pip install 'egov-abm[dashboard]'); run without --dashboard") from None


def _start_local_cluster(workers: int, *, dashboard: bool = False):
    """:func:`local_cluster`, with a failed start (a worker killed while starting) as one line.

    Ctrl-C is held back while the cluster starts: the worker processes it
    starts inherit that, so Ctrl-C never reaches them half-started (with a
    traceback each); it takes effect as soon as the start is over.

    Raises:
        SweepInterrupted: the cluster did not start (exit code 1); nothing was run.
        KeyboardInterrupt: Ctrl-C (or SIGTERM) while it started; what had started is closed.
    """
    import signal
    import threading

    from distributed.deploy.spec import SpecCluster

    before = set(SpecCluster._instances)
    hold = threading.current_thread() is threading.main_thread()
    started = None
    try:
        if hold:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            started = local_cluster(workers, dashboard=dashboard)
        finally:
            if hold:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a Ctrl-C meanwhile is raised here
        return started
    except KeyboardInterrupt:
        if started is not None:
            _close_quietly(*started)
        _abandon_clusters(SpecCluster, before)
        raise
    except Exception as exc:  # distributed raises RuntimeError ("Nanny failed to start"), OSError, TimeoutError
        _abandon_clusters(SpecCluster, before)
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise SweepInterrupted(f"the local Dask cluster failed to start ({detail}); nothing was run; "
                               "run the same command again", 1) from None


def _abandon_clusters(spec_cluster: type, before: set) -> None:
    """Close the clusters started since ``before`` as far as they go, and forget them.

    A cluster interrupted half-way through its start cannot close cleanly;
    left registered, distributed's exit hook would print a traceback.
    """
    _quiet_distributed()
    for cluster in set(spec_cluster._instances) - before:
        try:
            cluster.close(timeout=5)
        except (Exception, KeyboardInterrupt):  # noqa: BLE001 - half-started: close what can be closed
            pass
        spec_cluster._instances.discard(cluster)


def _quiet_distributed() -> None:
    """Silence distributed's loggers: after a failed start or an interrupt they would print tracebacks."""
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _close_quietly(client, cluster) -> None:
    """Close a client and its local cluster; an interrupt or error while closing is not the user's concern."""
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    except (Exception, KeyboardInterrupt):  # noqa: BLE001 - the sweep's own outcome is already decided
        _quiet_distributed()


#: How long to try to reach a scheduler given with ``--scheduler``.
CONNECT_TIMEOUT = "10s"


def connect(address: str):
    """A client of an existing Dask scheduler, or :class:`InputError` if it cannot be reached."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"--scheduler {address}: cannot connect ({exc})") from None


def check_workers(client) -> int:
    """Number of workers; raise :class:`InputError` if none, or if one runs another egov-abm version."""
    from egov_abm.scenarios.runner import package_version

    versions = client.run(worker_version)
    if not versions:
        raise InputError("--scheduler: the cluster has no workers")
    mine = package_version()
    other = sorted({v for v in versions.values() if v != mine})
    if other:
        raise InputError(f"--scheduler: workers run egov-abm {', '.join(other)}, this client {mine}; "
                         "install the same version everywhere")
    return len(versions)


def run_sweep(plan: Plan, out_dir: Path, *, client=None, workers: int | None = None, scheduler: str | None = None,
              retry_failed: bool = False, progress: Callable[[dict], object] | None = None,
              on_start: Callable[[int, int], object] | None = None, flush_runs: int | None = None,
              flush_seconds: float = 30.0, dashboard: Callable[[str], object] | None = None,
              batch: int | None = None) -> SweepStats:
    """Run every run of ``plan`` not yet stored in ``out_dir``.

    ``client``: an existing :class:`distributed.Client` (kept open); otherwise
    one is made for ``scheduler`` or a local cluster of ``workers`` processes
    (closed at the end). ``progress(row)`` is called for each finished run;
    ``on_start(total, already_done)`` once before the first. Results are
    written every ``flush_runs`` runs or ``flush_seconds`` seconds, and
    whatever has finished is written before an interrupt propagates
    (as :class:`SweepInterrupted`). A folder is written by one sweep at a
    time (``DIR/.lock``). With ``dashboard``, a local cluster serves Dask's
    dashboard on 127.0.0.1 and ``dashboard(address)`` is called once it is up.
    Runs go to the workers in batches of ``batch`` runs per Dask task (default
    :func:`batch_size`: small runs grouped, large runs alone); a batch's rows are
    stored as it returns, and an interrupt loses at most the batches in flight.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    prepare_dir(plan, out_dir)
    with _signals_at_safe_points() as guard, folder_lock(out_dir):
        return _run_locked(plan, out_dir, t0, guard, client=client, workers=workers, scheduler=scheduler,
                           retry_failed=retry_failed, progress=progress, on_start=on_start, flush_runs=flush_runs,
                           flush_seconds=flush_seconds, dashboard=dashboard, batch=batch)


@contextlib.contextmanager
def folder_lock(out_dir: Path):
    """Hold ``DIR/.lock`` exclusively, so two sweeps never write one folder at once."""
    import fcntl

    path = Path(out_dir) / ".lock"
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise InputError(f"--out {out_dir}: another sweep is writing to this folder ({holder}); "
                             "wait for it to finish or use another folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_locked(plan: Plan, out_dir: Path, t0: float, guard: _SafePoints, *, client, workers, scheduler,
                retry_failed, progress, on_start, flush_runs, flush_seconds, dashboard=None,
                batch=None) -> SweepStats:
    store = ResultStore(out_dir, plan.schema)
    stats = SweepStats(runs=len(plan.tasks))
    stored = store.status()
    if retry_failed:
        failed_ids = {k for k, v in stored.items() if v != "ok"}
        if failed_ids:
            store.drop(failed_ids)
            stored = {k: v for k, v in stored.items() if k not in failed_ids}
    todo, seen = [], set()
    for task in plan.tasks:
        if task.run_id not in stored and task.run_id not in seen:
            seen.add(task.run_id)
            todo.append(task)
    stats.skipped = len(plan.tasks) - len(todo)
    if on_start is not None:
        on_start(len(plan.tasks), stats.skipped)
    if not todo:
        stats.seconds = time.perf_counter() - t0
        return stats

    def stopped(exc: BaseException) -> SweepInterrupted:
        how, code = ("terminated", 143) if isinstance(exc, _Terminated) else ("interrupted", 130)
        return SweepInterrupted(f"{how}: {stats.skipped + stats.computed} of {stats.runs} runs are stored in "
                                f"{out_dir}; run the same command again to finish", code)

    own = None
    if client is None:
        if scheduler is not None:
            client = connect(scheduler)
            own = (client, None)
        else:
            try:
                client, cluster = _start_local_cluster(workers or default_workers(), dashboard=dashboard is not None)
            except KeyboardInterrupt as exc:
                raise stopped(exc) from None
            own = (client, cluster)
            if dashboard is not None:
                dashboard(cluster.dashboard_link)
    try:
        try:
            guard.check()
            stats.workers = check_workers(client)
            guard.check()
        except KeyboardInterrupt as exc:
            raise stopped(exc) from None
        flush_runs = flush_runs or max(500, 50 * stats.workers)
        size = batch or batch_size(todo, stats.workers)
        batches = [todo[k:k + size] for k in range(0, len(todo), size)]
        c0 = time.perf_counter()
        last_flush = time.perf_counter()
        runs = iter_runs(execute_batch, batches, client=client, retries=2,
                         window=max(64 // size, 4) * stats.workers, on_error=_failed_rows, should_stop=guard.check)
        with contextlib.closing(runs):
            try:
                for _, rows in runs:
                    for row in rows:  # a row is stored before progress sees it
                        store.add(row)
                        stats.computed += 1
                        stats.failed += row["status"] != "ok"
                        if progress is not None:
                            progress(row)
                    if len(store.pending) >= flush_runs or time.perf_counter() - last_flush >= flush_seconds:
                        store.flush()
                        last_flush = time.perf_counter()
            except KeyboardInterrupt as exc:  # the runs in flight are cancelled; what finished is written below
                runs.close()
                raise stopped(exc) from None
        store.flush()
        stats.compute_seconds = time.perf_counter() - c0
    finally:
        store.flush()
        if own is not None:
            _close_quietly(*own)
    stats.files = store.written
    stats.seconds = time.perf_counter() - t0
    return stats


def _failed_row(task: RunTask, exc: BaseException) -> dict[str, Any]:
    """The row of a run whose task could not be computed (its worker kept dying, or the cluster failed)."""
    return {**task.id_row(), "status": "failed", "error": f"{type(exc).__name__}: {exc}", "seconds": None,
            "worker": None}


def _failed_rows(tasks: list[RunTask], exc: BaseException) -> list[dict[str, Any]]:
    """The rows of the runs of a batch that could not be computed (:func:`_failed_row` each)."""
    return [_failed_row(task, exc) for task in tasks]


# ---------------------------------------------------------------- reading
def read_meta(out_dir: Path) -> dict:
    """``_sweep.json`` of a complete sweep folder (:func:`output.require_complete`), or :class:`InputError`."""
    require_complete(out_dir, "sweep")
    path = Path(out_dir) / "_sweep.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise InputError(f"{out_dir}: not a sweep folder (no readable _sweep.json)") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    missing = [k for k in META_FIELDS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise InputError(f"{path}: {missing[0]}: required field is missing (written by another program?)")
    return meta


def load_results(out_dir: Path) -> pd.DataFrame:
    """Every stored run, one row each (the same as ``pandas.read_parquet(out_dir)``)."""
    out_dir = Path(out_dir)
    require_complete(out_dir, "sweep")
    if not any(out_dir.glob("part-*.parquet")):
        raise InputError(f"{out_dir}: no results yet (no part-*.parquet); run the sweep first")
    try:
        return pd.read_parquet(out_dir)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{out_dir}: cannot read the results ({' '.join(str(exc).split())}); "
                         "move the damaged part-*.parquet away and re-run the sweep") from None


def load_series(out_dir: Path) -> pd.DataFrame:
    """The recorded series in long form: one row per (run, recorded month), with ``date``."""
    meta = read_meta(out_dir)
    runs = load_results(out_dir)
    series = [c for c in runs.columns if c.startswith("series_")]
    if not series:
        raise InputError(f"{out_dir}: the sweep recorded no series (outcomes.series is empty)")
    runs = runs[runs["status"] == "ok"]
    keep = ["run_id", "point", "replicate", *[p["name"] for p in meta["parameters"]]]
    long = runs[keep + series].explode(series, ignore_index=True)
    long = long.rename(columns={c: c.removeprefix("series_") for c in series})
    long["month"] = long["month"].astype("int64")
    for name in meta["series"]:
        long[name] = long[name].astype("float64")
    start = pd.Period(meta["start_month"], freq="M")
    long["date"] = [(start + int(m)).to_timestamp() for m in long["month"]]
    return long

