"""The two patterns for running a loop body in parallel, with a progress bar.

    run_map     pattern 1, map-with-tqdm: executor.map wrapped in tqdm;
                calls func(item)
    run_submit  pattern 2, submit-with-callback: executor.submit, and a
                done-callback that advances tqdm; calls func(index, item)
    run_serial  the plain for loop, in this process: to compare, and to debug

pool="process" runs them on a ProcessPoolExecutor: for CPU-bound work, since each
worker process has its own interpreter and its own GIL. pool="thread" runs them on
a ThreadPoolExecutor: for I/O-bound work (network, disk, subprocesses), where
threads overlap their waiting. You may also pass an executor of your own.

Both return the results in input order. An item whose loop body raises stops the
run with ItemError naming it; with keep_going=True its result is a Failure instead
and the others run on. on_result(index, result) is called, in this thread, as each
item finishes. What the engine adds to the executor (batches sized from how
long items take, failures that name their item, retries, timeouts, workers
ended at once on Ctrl-C): _engine.py, which maps its rooms.
Each run starts its own workers and ends them; to share workers between runs
(processes take tens of milliseconds to start), see reusable_pool.

For long runs, both also take (see docs/long-runs.md):
    timeout=SECONDS   an item that runs longer fails with ItemTimeout, a
                      TimeoutError (so retries=N tries it again)
    retries=N         an item that fails with one of retry_on (default:
                      TimeoutError, ConnectionError) is tried up to N more times
    setup=FUNCTION    runs once in each worker before its first item; what it
                      returns, worker_resource() gives the loop body there
    teardown=FUNCTION teardown(that) runs in the same worker as it ends
    max_items_per_worker=N, max_worker_memory_mb=MB
                      for a leaky loop body, on processes: a worker process is
                      replaced once it ran N items, or its memory passed MB
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from traceback import format_exc

from tqdm import tqdm

from ._engine import worker_calls
from ._engine.errors import ItemError, PoolError, SetupError
from ._engine.executors import default_max_workers, open_pool
from ._engine.pool import batches_of
from ._engine.resources import set_up, tear_down, worker_resource
from ._engine.worker_calls import Failure, call_each, failure_of

__all__ = [
    "Failure",
    "ItemError",
    "PoolError",
    "default_max_workers",
    "reusable_pool",
    "run_map",
    "run_serial",
    "run_submit",
    "worker_resource",
]


def run_map(
    func,
    items,
    *,
    pool="process",
    max_workers=None,
    progress=True,
    keep_going=False,
    on_result=None,
    **long_run,
) -> list:
    """Pattern 1, map-with-tqdm: [func(item) for item in items], in parallel."""
    items = list(items)  # executor.map needs them all, and tqdm their number
    options = {"keep_going": keep_going, "on_result": on_result, **long_run}
    # To copy this into a file of your own: ProcessPoolExecutor(max_workers) here.
    with open_pool(pool, max_workers, **options) as executor:
        # chunksize: items per trip to a worker process (a trip costs ~0.1 ms).
        # The engine grows batches up to it while items are fast: _batches.py.
        chunksize = max(1, len(items) // 32)
        results = executor.map(func, items, chunksize=chunksize)  # in input order
        return list(tqdm(results, total=len(items), **bar_options(progress)))


def run_submit(
    func,
    items,
    *,
    pool="process",
    max_workers=None,
    progress=True,
    keep_going=False,
    on_result=None,
    **long_run,
) -> list:
    """Pattern 2, submit-with-callback: [func(index, item) for index, item in
    enumerate(items)], in parallel. Reads items lazily: a generator works."""
    total = len(items) if hasattr(items, "__len__") else None
    bar = tqdm(total=total, **bar_options(progress))
    bar_lock = threading.Lock()  # done-callbacks may run in the pool's threads

    def advance_bar(future):
        with bar_lock:
            bar.update(len(future.result()))

    options = {"keep_going": keep_going, "on_result": on_result, **long_run}
    # To copy this into a file of your own: ProcessPoolExecutor(max_workers) here.
    with bar, open_pool(pool, max_workers, **options) as executor:
        futures = []
        # A few items per call, which saves trips to the workers: each future
        # holds call_each's [func(index, item) for each item of its batch].
        for first, batch in batches_of(items, executor):
            future = executor.submit(call_each, func, first, batch)
            future.add_done_callback(advance_bar)
            futures.append(future)
        return [result for future in futures for result in future.result()]


@contextmanager
def reusable_pool(pool="process", max_workers=None):
    """Workers that several runs share: pass what this yields as pool= to run_map
    or run_submit. setup() runs again at the start of each run. The workers keep
    the code they imported: after you edit or reload the loop body, open a new one.

        with reusable_pool(max_workers=4) as workers:
            squares = run_map(square, numbers, pool=workers)
            cubes = run_map(cube, numbers, pool=workers)
    """
    with open_pool(pool, max_workers) as opened:
        yield opened.executor


def run_serial(
    func,
    items,
    *,
    numbered=False,
    progress=True,
    keep_going=False,
    on_result=None,
    setup=None,
    teardown=None,
) -> list:
    """The plain for loop, in this process, where breakpoints and pdb work.
    numbered=True calls func(index, item), like run_submit. Here Ctrl-C cannot be
    told from the loop body raising KeyboardInterrupt: both stop the run."""
    try:
        set_up(setup, teardown)  # this process is the one worker: worker_resource()
    except Exception as exc:
        raise SetupError(f"{type(exc).__name__}: {exc}", format_exc()) from None
    results = []
    for index, item in enumerate(tqdm(items, **bar_options(progress))):
        try:
            with worker_calls.running_item(index):  # its log records say item #index
                result = func(index, item) if numbered else func(item)
        except (Exception, SystemExit) as exc:  # sys.exit() fails the item too
            result = failure_of(item, exc)
            result.index = index
        if on_result is not None:
            on_result(index, result)
        if isinstance(result, Failure) and not keep_going:
            raise ItemError(result)
        results.append(result)
    tear_down()
    return results


def bar_options(progress: bool) -> dict:
    """tqdm writes to stderr. Leaving `disable` unset lets TQDM_DISABLE=1 work."""
    options = {"unit": "item", "dynamic_ncols": True, "file": sys.stderr}
    if not progress:
        options["disable"] = True
    elif not sys.stderr.isatty():
        options["mininterval"] = 5  # in a CI log, each refresh is a new line
    return options
