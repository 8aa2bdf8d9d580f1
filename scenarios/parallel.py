"""One way to run many: every multi-run in egov-abm goes through :func:`map_runs`.

Comparisons, the calibration sampler and report, and sweeps all hand a
picklable function and a list of tasks to :func:`iter_runs` (results as they
finish) or :func:`map_runs` (results in task order). Two backends:

- **processes** (default): a local pool of ``workers`` processes, each held
  to one numerical thread, since the runs themselves are the parallel work.
  On Linux they are forked from multiprocessing's fork server, which imports
  the model (:data:`PRELOAD`) once for the life of the process that asked:
  the first pool waits for that import (about 2 s), later pools start at
  once (:func:`warm_up` starts it ahead, as the app's comparison page does).
  Elsewhere they are started with ``spawn``, each importing the model;
- **Dask**: pass a ``distributed.Client`` (a local cluster or a remote
  scheduler); tasks are submitted with ``pure=False`` and retried on a lost
  worker.

A caller that maps many batches (the calibration sampler: one batch of
candidates after another) opens the pool once with :func:`process_pool` and
passes it as ``client``: its worker processes, and whatever they cache, live
for all the batches.

``workers=1`` without a client runs in this process, which keeps tracebacks
and profilers simple. ``progress(1)`` is called as each run finishes;
``should_stop()`` is asked between finished runs (and, on a process pool,
every :data:`POLL_SECONDS` while runs are under way, worker start-up
included), and when it returns True the runs not yet started are cancelled
and :class:`Cancelled` is raised. A pool this module opened (here or with
:func:`process_pool`) is stopped at once when a caller leaves it with an
exception (a cancel, a failed run): its queued runs are dropped and its
worker processes ended, without waiting for the runs under way.

Starsim routes multi-runs through one function in the same way
(``starsim/run.py``); the pool and Dask do the scheduling, this module only
gives them one interface.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: How often, in seconds, ``should_stop()`` is asked while a process pool's runs are under way.
POLL_SECONDS = 0.2


class Cancelled(RuntimeError):
    """Runs stopped on request (``should_stop``) before all had finished."""


class WorkerLost(RuntimeError):
    """A worker process of the local pool died (killed, or out of memory) and took its runs with it."""


def default_workers() -> int:
    """Worker processes to use by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: What the fork server imports once, before it forks the workers: the runner, and through it the model,
#: mesa, numba, numpy and pandas (about 2 s of the 2.5 s a spawned worker spends starting).
PRELOAD = ("egov_abm.scenarios.runner",)


def _single_thread() -> None:
    """Worker start-up: one numerical thread per process (the processes are the parallelism).

    What the worker holds when it starts (a forked worker: the model, mesa,
    numba and pandas, millions of objects) is moved out of the garbage
    collector's sight (``gc.freeze``): a full collection after each run then
    takes a few milliseconds instead of about 80.
    """
    import gc

    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    gc.freeze()


def _context():
    """How workers start: forked from the fork server where there is one (Linux), else spawned."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


#: Held while :func:`warm_up` changes the environment and starts the server.
_WARM_UP = threading.Lock()


def warm_up() -> None:
    """Start the fork server now, so that the first pool need not wait for it to import the model.

    The server is started with one numerical thread per process in its
    environment (its workers inherit that, as spawned ones get it from
    :func:`_single_thread`); this process's own environment is put back.
    Nothing to do where workers are spawned, or once the server runs. Safe
    to call from several threads at once (the app's pages each call it when
    they open): one sets the environment and starts the server, the others wait.
    """
    context = _context()
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    with _WARM_UP:
        saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
        try:
            for name in _THREAD_VARIABLES:
                os.environ.setdefault(name, "1")
            forkserver.ensure_running()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value



@contextlib.contextmanager
def process_pool(workers: int | None = None) -> Iterator[cf.ProcessPoolExecutor]:
    """A pool of ``workers`` processes (one numerical thread each) to pass as ``client``, reused.

    Left normally, the pool waits for its runs; left with an exception (a cancel, a failed run, an
    interrupt), it is stopped at once (:func:`stop_pool`).
    """
    workers = default_workers() if workers is None else workers
    warm_up()
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_single_thread)
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def stop_pool(pool: cf.ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Stop ``pool`` now: drop its queued runs and end its worker processes, without waiting for running runs.

    ``ProcessPoolExecutor.shutdown`` waits for the runs under way, and a run
    handed to a worker cannot be cancelled, so a cancel would wait for every
    worker's current run (and, at start-up, for the workers to load the model).
    """
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout)


def iter_runs(fn: Callable[[Any], Any], tasks: Iterable[Any], *, workers: int | None = None, client=None,
              progress: Callable[[int], object] | None = None, should_stop: Callable[[], bool] | None = None,
              retries: int = 2, window: int | None = None,
              on_error: Callable[[Any, BaseException], Any] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(tasks[index]))`` as runs finish (any order).

    Args:
        fn: a picklable function of one task (defined at module level).
        tasks: the tasks; each is sent to a worker, so keep them small.
        workers: processes of the local pool (default :func:`default_workers`);
            ignored with ``client``.
        client: a ``distributed.Client`` (run on its cluster) or a pool from
            :func:`process_pool` (run on it, and leave it open).
        progress: called with 1 after each finished run.
        should_stop: asked after each finished run (and, on Dask, every :data:`POLL_SECONDS`
            while none finishes); True cancels the rest.
        retries: Dask only: times a task is retried when its worker is lost.
        window: Dask only: most tasks submitted and not yet finished (default: all at once); the
            next is submitted as one finishes, and finished results are released on the cluster.
        on_error: Dask only: ``on_error(task, exc)`` gives the result of a task that could not be
            computed (its workers kept dying, the cluster failed) instead of raising.

    Raises:
        Cancelled: ``should_stop()`` returned True.
        Exception: the first exception a run raised (the others are cancelled).
    """
    tasks = list(tasks)
    total = len(tasks)
    if isinstance(client, cf.Executor):
        yield from _iter_pool(fn, tasks, client, progress, should_stop)
        return
    if client is not None:
        yield from _iter_dask(fn, tasks, client, progress, should_stop, retries, window, on_error)
        return
    workers = default_workers() if workers is None else workers
    if workers <= 1 or total <= 1:
        for k, task in enumerate(tasks):
            if should_stop is not None and should_stop():
                raise Cancelled(f"stopped after {k} of {total} runs")
            yield k, fn(task)
            if progress is not None:
                progress(1)
        return
    with process_pool(min(workers, total)) as pool:
        yield from _iter_pool(fn, tasks, pool, progress, should_stop)


def _iter_pool(fn, tasks, pool, progress, should_stop) -> Iterator[tuple[int, Any]]:
    total = len(tasks)
    futures = {pool.submit(fn, task): k for k, task in enumerate(tasks)}
    pending = set(futures)
    done = 0
    try:
        while pending:
            finished, pending = cf.wait(pending, timeout=None if should_stop is None else POLL_SECONDS,
                                        return_when=cf.FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                except cf.process.BrokenProcessPool:
                    raise WorkerLost(f"a worker process died (killed, or out of memory?) after {done} of {total} "
                                     "runs; nothing of the unfinished runs is kept: try fewer --workers or citizens"
                                     ) from None
                done += 1
                yield futures[future], result
                if progress is not None:
                    progress(1)
            if should_stop is not None and pending and should_stop():
                raise Cancelled(f"stopped after {done} of {total} runs")
    finally:
        for future in futures:
            future.cancel()


def _iter_dask(fn, tasks, client, progress, should_stop, retries, window, on_error) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    total = len(tasks)
    window = total if window is None else max(1, window)
    index: dict = {}  # future -> task index, for the futures not yet finished

    def submit(k: int):
        future = client.submit(fn, tasks[k], pure=False, retries=retries)
        index[future] = k
        return future

    pending = as_completed([submit(k) for k in range(min(window, total))])
    following = iter(range(min(window, total), total))
    done = 0
    try:
        while True:
            future = _next_finished(pending, should_stop, done, total)
            if future is None:
                break
            k = index.pop(future)
            try:
                result = future.result()
            except Exception as exc:
                if on_error is None:
                    raise
                result = on_error(tasks[k], exc)
            future.release()
            done += 1
            nxt = next(following, None)
            if nxt is not None:
                pending.add(submit(nxt))
            yield k, result
            if progress is not None:
                progress(1)
            if should_stop is not None and done < total and should_stop():
                raise Cancelled(f"stopped after {done} of {total} runs")
    finally:
        if index:
            client.cancel(list(index))


def _next_finished(pending, should_stop, done: int, total: int):
    """The next finished future of ``pending`` (None when none is left); ``should_stop()`` is asked while waiting.

    ``should_stop`` is asked every :data:`POLL_SECONDS` while no run finishes, so a
    stop does not wait for the slowest run in flight.
    """
    if should_stop is None:
        return next(pending, None)
    while not pending.has_ready():
        if pending.is_empty():
            return None
        if should_stop():
            raise Cancelled(f"stopped after {done} of {total} runs")
        with pending.thread_condition:  # notified by as_completed after each finished future is queued
            if not pending.has_ready():
                pending.thread_condition.wait(timeout=POLL_SECONDS)
    return next(pending)


def map_runs(fn: Callable[[Any], Any], tasks: Iterable[Any], *, workers: int | None = None, client=None,
             progress: Callable[[int], object] | None = None, should_stop: Callable[[], bool] | None = None,
             retries: int = 2, window: int | None = None,
             on_error: Callable[[Any, BaseException], Any] | None = None) -> list:
    """``[fn(t) for t in tasks]``, computed in parallel (see :func:`iter_runs` for the arguments)."""
    tasks = list(tasks)
    results: list = [None] * len(tasks)
    for k, result in iter_runs(fn, tasks, workers=workers, client=client, progress=progress,
                               should_stop=should_stop, retries=retries, window=window, on_error=on_error):
        results[k] = result
    return results
