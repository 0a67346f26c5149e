"""Each contender runs func over items with a progress bar and returns the results
in input order. Bars write to a null stream, so drawing costs what it costs on a
terminal that nobody watches."""

import atexit
import contextlib
import os
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from tqdm import tqdm
from workloads import INDEXED

NULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
POOLS = {"process": ProcessPoolExecutor, "thread": ThreadPoolExecutor}


def serial(func, items, pool, workers):
    return [func(item) for item in tqdm(items, file=NULL)]


def naive_submit(func, items, pool, workers):
    """As typically copied: one future per item, a callback per item."""
    indexed = INDEXED[func]
    with POOLS[pool](workers) as executor, tqdm(total=len(items), file=NULL) as bar:
        futures = [executor.submit(indexed, i, item) for i, item in enumerate(items)]
        for future in futures:
            future.add_done_callback(lambda _: bar.update())
        return [future.result() for future in futures]


def naive_map(func, items, pool, workers):
    """As typically copied: executor.map with its default chunksize of 1."""
    with POOLS[pool](workers) as executor:
        return list(tqdm(executor.map(func, items), total=len(items), file=NULL))


def tqdm_contrib(func, items, pool, workers):
    """process_map / thread_map with their defaults (chunksize=1)."""
    from tqdm import TqdmWarning
    from tqdm.contrib.concurrent import process_map, thread_map

    run = process_map if pool == "process" else thread_map
    with warnings.catch_warnings():  # "set chunksize": we measure the defaults
        warnings.simplefilter("ignore", TqdmWarning)
        return run(func, items, max_workers=workers, file=NULL)


def joblib_generator(func, items, pool, workers):
    from joblib import Parallel, delayed

    prefer = "processes" if pool == "process" else "threads"
    parallel = Parallel(n_jobs=workers, prefer=prefer, return_as="generator")
    outcomes = parallel(delayed(func)(item) for item in items)
    return list(tqdm(outcomes, total=len(items), file=NULL))


def mpire_map(func, items, pool, workers):
    from mpire import WorkerPool

    start_method = "fork" if pool == "process" else "threading"
    with WorkerPool(n_jobs=workers, start_method=start_method) as workers_pool:
        options = {"progress_bar": True, "progress_bar_options": {"file": NULL}}
        return workers_pool.map(func, items, **options)


SHARED = contextlib.ExitStack()  # the workers that runs share, ended at exit
atexit.register(SHARED.close)
SHARED_POOLS: dict = {}


def shared_workers(parallel, pool, workers):
    """One reusable_pool per kind and size, started by the first run that needs it:
    the way a program that makes many runs shares its workers (joblib keeps its
    own likewise). A fresh process pays the start once, as the scaling rows do."""
    if (pool, workers) not in SHARED_POOLS:
        opened = parallel.reusable_pool(pool, max_workers=workers)
        SHARED_POOLS[pool, workers] = SHARED.enter_context(opened)
    return SHARED_POOLS[pool, workers]


def ours(pattern, parallel, **options):
    """run_map or run_submit of the rendered project, on workers the runs share;
    their bar goes to stderr, which the benchmark points at the null stream while
    it runs. options: the long-run ones (timeout=...), named in the contender's
    name."""

    def run(func, items, pool, workers):
        shared = shared_workers(parallel, pool, workers)
        with contextlib.redirect_stderr(NULL):
            if pattern == "map":
                return parallel.run_map(
                    func, items, pool=shared, max_workers=workers, **options
                )
            indexed = INDEXED[func]
            return parallel.run_submit(
                indexed, items, pool=shared, max_workers=workers, **options
            )

    run.__name__ = f"ours_{pattern}" + "".join(f"_{name}" for name in options)
    return run


def ours_on_dask(parallel, addresses):
    """run_map on an already running local Dask cluster's executor (its start-up
    is measured apart): one of 2 processes for process work, 16 threads for
    waiting. Each run connects to the scheduler, as the command line does."""
    from dask.distributed import Client

    def run(func, items, pool, workers):
        with Client(addresses[pool]) as client, contextlib.redirect_stderr(NULL):
            executor = client.get_executor(pure=False)
            return parallel.run_map(func, items, pool=executor, max_workers=workers)

    run.__name__ = "ours_map_dask"
    return run
