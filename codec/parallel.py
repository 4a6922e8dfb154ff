"""Both cores: batch work split into chunks and run in worker processes, results in order.

The networks run in LiteRT on one thread each (its XNNPACK kernels give bit-identical outputs
whatever the batch size), so a second process is how a second core helps. Workers are started
with "spawn": each imports nic afresh and creates its own LiteRT interpreters, none inherited
from a parent that may already hold some. The pool is kept for the next call, so a CLI batch or
an archive read in parts starts it once. Small batches never start one: below MIN_PARALLEL
items, starting the workers costs more than the work.
"""

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence

from .errors import NicError, NicUsageError

__all__ = ["CHUNK", "MIN_PARALLEL", "cpu_count", "resolve_jobs", "workers_for", "map_chunks", "shutdown"]

CHUNK = 256  # items per task: one network call each, large enough to hide the process hop
MIN_PARALLEL = 1024  # fewer items run in this process (a worker takes ~1 s to start)
_ENVIRONMENT = ("NIC_WEIGHTS", "NIC_MODELS", "NIC_DATA")  # what workers must see as we do
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_pool = {"key": None, "executor": None}


def cpu_count() -> int:
    """The cores this process may use (its affinity mask, not the machine's total)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """jobs as given (a positive int), or all cores for None."""
    if jobs is None:
        return cpu_count()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise NicUsageError(f"jobs must be a positive number of processes, got {jobs!r}")
    return jobs


def workers_for(items: int, jobs: int | None) -> int:
    """How many processes `items` items get: 1 (this process) unless the batch is large enough,
    and never from inside a worker (daemon processes cannot start their own)."""
    jobs = resolve_jobs(jobs)
    if jobs == 1 or items < MIN_PARALLEL or multiprocessing.current_process().daemon:
        return 1
    return min(jobs, math.ceil(items / CHUNK))


def map_chunks(function: Callable[[list], list], items: Sequence, jobs: int | None) -> list:
    """function over items, in chunks of CHUNK run by worker processes; the concatenated
    results, in order, exactly as function(items) in this process would give them.

    function must be picklable (a module-level function, or a functools.partial of one) and
    return one result per item. An exception in a chunk is raised here, first chunk first.
    """
    items = list(items)
    workers = workers_for(len(items), jobs)
    if workers == 1:
        return function(items)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    from concurrent.futures.process import BrokenProcessPool

    results = []
    try:
        for part in _executor(workers).map(function, chunks):
            results += part
    except BrokenProcessPool:
        shutdown()  # the next call starts a fresh pool
        raise NicError("a worker process stopped unexpectedly (out of memory?); "
                       "with one process (jobs=1, --jobs 1) nothing is shared") from None
    return results


def _executor(workers: int):
    """The kept pool, replaced when the size or the model folders changed since it started."""
    key = (workers, tuple(os.environ.get(name) for name in _ENVIRONMENT))
    if _pool["key"] != key:
        shutdown()
        _pool["executor"], _pool["key"] = _start(workers), key
    return _pool["executor"]


def shutdown() -> None:
    """Stop the kept pool's workers (also at exit, before the interpreter tears down the
    modules the pool's manager thread still needs)."""
    executor, _pool["executor"], _pool["key"] = _pool["executor"], None, None
    if executor is not None:
        executor.shutdown(wait=True)


def _start(workers: int):
    """A spawn pool with all its workers running.

    A spawned worker normally re-runs the parent's main script, which fails for a script
    without an `if __name__ == "__main__":` guard (most scripts that call nic). The work
    needs nothing from the main module, so the workers are started while a bare one stands
    in for it; starting them all now means none is started later, outside this window.
    """
    import atexit
    import sys
    import types
    from concurrent.futures import ProcessPoolExecutor

    atexit.register(shutdown)  # registering twice runs it twice: harmless
    executor = ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"))
    main, saved = sys.modules["__main__"], dict(os.environ)
    sys.modules["__main__"] = types.ModuleType("__main__")
    # One BLAS thread per worker: the workers are the parallelism; more would oversubscribe.
    os.environ.update({name: "1" for name in _ONE_THREAD})
    try:
        started = [executor.submit(os.getpid) for _ in range(workers)]
    finally:
        sys.modules["__main__"] = main
        for name in _ONE_THREAD:
            os.environ.pop(name, None)
            if name in saved:
                os.environ[name] = saved[name]
    for future in started:
        future.result()
    return executor
