"""map_runs / iter_runs: one interface over this process, a process pool and Dask."""

import math
import os

import pytest

from egov_abm.scenarios.parallel import Cancelled, default_workers, iter_runs, map_runs, process_pool


def pid_of(_task) -> int:
    return os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_results_come_back_in_task_order_in_process_and_in_a_pool():
    tasks = [1, 4, 9, 16, 25, 36]
    expected = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert map_runs(math.sqrt, tasks, workers=1) == expected
    assert map_runs(math.sqrt, tasks, workers=2) == expected
    seen = sorted(k for k, _ in iter_runs(math.sqrt, tasks, workers=2))
    assert seen == list(range(len(tasks)))


def test_an_open_pool_is_reused_across_batches():
    with process_pool(2) as pool:
        first = set(map_runs(pid_of, range(8), client=pool))
        second = set(map_runs(pid_of, range(8), client=pool))
    # two worker processes in all: a pool per batch would bring new ones
    assert os.getpid() not in first and len(first | second) <= 2


def test_progress_counts_and_should_stop_cancels():
    ticks = []
    map_runs(math.sqrt, range(5), workers=1, progress=ticks.append)
    assert ticks == [1] * 5
    with pytest.raises(Cancelled, match="stopped after 2 of 10 runs"):
        done = []
        map_runs(math.sqrt, range(10), workers=1, progress=done.append, should_stop=lambda: len(done) >= 2)


def test_a_failing_run_raises_its_exception():
    with pytest.raises(ValueError, match="three"):
        map_runs(fail_on_three, range(6), workers=2)


def test_dask_client_backend_gives_the_same_results():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert map_runs(math.sqrt, [1, 4, 9, 16], client=client) == [1.0, 2.0, 3.0, 4.0]


def test_default_workers_is_the_cpus_this_process_may_use():
    assert default_workers() == len(os.sched_getaffinity(0))


def die(_task) -> None:
    os._exit(9)  # as if the kernel killed the worker (out of memory)


def test_a_dead_worker_is_one_clear_error():
    from egov_abm.scenarios.parallel import WorkerLost

    with pytest.raises(WorkerLost, match="a worker process died \\(killed, or out of memory\\?\\) after 0 of 4 runs"):
        map_runs(die, range(4), workers=2)



def sleep_then_mark(folder, task) -> None:
    import pathlib
    import time

    time.sleep(30)
    (pathlib.Path(folder) / f"finished-{task}").touch()


def test_should_stop_ends_a_pool_without_waiting_for_its_runs(tmp_path):
    import functools

    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 3  # the third time it is asked, while every run is still under way

    with pytest.raises(Cancelled, match="stopped after 0 of 6 runs"):
        map_runs(functools.partial(sleep_then_mark, str(tmp_path)), range(6), workers=2, should_stop=stop)
    # asked while no run had finished; the runs under way were ended, not waited for
    assert len(asked) == 3 and list(tmp_path.iterdir()) == []


def test_should_stop_is_asked_while_dask_runs_are_under_way(tmp_path):
    import functools

    from distributed import Client, LocalCluster

    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 3  # asked while no run has finished: every run sleeps 30 s

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        with pytest.raises(Cancelled, match="stopped after 0 of 4 runs"):
            map_runs(functools.partial(sleep_then_mark, str(tmp_path)), range(4), client=client, should_stop=stop)
        assert len(asked) == 3 and list(tmp_path.iterdir()) == []


def model_in_worker(_task) -> tuple[bool, list[int], int]:
    """Whether the worker had the model imported before its task, its BLAS pools' threads, its frozen objects."""
    import gc
    import sys

    loaded = "egov_abm.scenarios.runner" in sys.modules
    from threadpoolctl import threadpool_info

    return (loaded, [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"],
            gc.get_freeze_count())


@pytest.mark.skipif("forkserver" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="workers are spawned where there is no fork server")
def test_pool_workers_start_with_the_model_imported_frozen_and_one_blas_thread():
    import os

    before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with process_pool(2) as pool:
        results = map_runs(model_in_worker, range(4), client=pool)
    assert all(loaded for loaded, _, _ in results)  # imported once by the fork server, not by each worker
    assert all(threads and set(threads) == {1} for _, threads, _ in results)
    # what the worker started with is out of the collector's sight (a collection after each run stays cheap)
    assert all(frozen > 100_000 for _, _, frozen in results), results
    # this process's environment is as it was
    assert {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")} == before


@pytest.mark.skipif("forkserver" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="workers are spawned where there is no fork server")
def test_warm_up_from_several_threads_at_once_leaves_the_environment_as_it_was(monkeypatch):
    import os
    import threading

    from egov_abm.scenarios.parallel import warm_up

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    threads = [threading.Thread(target=warm_up) for _ in range(8)]  # as the app's pages opened at once do
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "OMP_NUM_THREADS" not in os.environ and os.environ["OPENBLAS_NUM_THREADS"] == "3"
