"""The two patterns for running a loop body in parallel, with a progress bar.

    run_map     pattern 1, map-with-tqdm: executor.map wrapped in tqdm;
                calls func(item)
    run_submit  pattern 2, submit-with-callback: executor.submit, and a
                done-callback that advances tqdm; calls func(index, item)
    run_serial  the plain for loop, in this process: to compare, and to debug
    run_as_completed  run_map for inputs of any length: yields (index, result)
                as items finish, keeps none, reads the items a few ahead

pool="process" runs them on worker processes: for CPU-bound work, since each has
its own interpreter and its own GIL. pool="thread" runs them on threads: for
I/O-bound work (network, database, subprocesses), where threads overlap their
waiting. You may also pass an executor of your own (a cluster's, say).

Both return the results in input order. An item whose loop body raises stops the
run with ItemError naming it; with keep_going=True its result is a Failure instead
and the others run on. So does an item whose worker process dies under it (a
segfault, os._exit, the out-of-memory killer): it fails with WorkerCrashed, and the
rest of its batch runs again on new workers (on a pool the run makes: an executor
of yours cannot be replaced, and stops the run). help(run_map) lists every option.

open_pool() gives the engine's batch pool. It has an executor's map() and
submit(), and adds what a bare executor lacks: items travel in batches that adapt
to how long items take, failures name their item, retries, timeouts, and workers
ended at once on Ctrl-C. To copy a pattern into a file of your own, write
ProcessPoolExecutor(max_workers) (or ThreadPoolExecutor) in place of open_pool(...):
the rest runs unchanged. Each run starts its own workers and ends them; to share
workers between runs (processes take tens of milliseconds to start), see
reusable_pool.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from traceback import format_exc

from tqdm import tqdm

from ._engine import (
    RETRY_ON,
    THROTTLE_RETRIES,
    Failure,
    ItemError,
    ItemTimeout,
    Limiter,
    PoolError,
    SetupError,
    Throttled,
    WorkerCrashed,
    batches_of,
    call_each,
    default_max_workers,
    describe_rate,
    failure_of,
    open_pool,
    parse_rate,
    running_item,
    set_up,
    still_throttled,
    tear_down,
    worker_resource,
)

__all__ = [
    "RETRY_ON",
    "Failure",
    "ItemError",
    "ItemTimeout",
    "PoolError",
    "THROTTLE_RETRIES",
    "Throttled",
    "WorkerCrashed",
    "default_max_workers",
    "reusable_pool",
    "run_as_completed",
    "run_map",
    "run_serial",
    "run_submit",
    "worker_resource",
]

# The parameters of run_map and run_submit, for help(): indented as in a docstring.
PARAMETERS = """

    Parameters:
        func          the loop body: a module-level def, for worker processes to import
        items         any iterable of items
        pool          "process" (CPU-bound work), "thread" (I/O-bound), or an executor
        max_workers   items run at once (None: half the CPUs this process may use)
        progress      False: no progress bar (it goes to stderr)
        keep_going    True: a failed item's result is a Failure, and the others run on
        on_result     on_result(index, result) in this thread, as each item finishes
        timeout       seconds an item may run; a late one fails with ItemTimeout
        retries       tries more for an item that failed with one of retry_on
        retry_on      exceptions worth a retry (RETRY_ON: TimeoutError, ConnectionError)
        setup         setup() once in each worker first; worker_resource() returns it
        teardown      teardown(what setup returned), in the same worker, at its end
        max_items_per_worker  processes: new workers once one has run N items
        max_worker_memory_mb  processes: new workers once one's memory passed MB
        rate          items started a second at most, across the pool: 20, 0.5,
                      "600/min", "1000/h" (None: no limit); spread evenly
        throttle_retries  tries more for an item the service throttled (default
                      THROTTLE_RETRIES, 10)

    When the service says "too many requests" (the loop body raises Throttled,
    or urllib's HTTPError, or an error whose .response has status_code 429 or
    503, as requests' and httpx' have), no item starts anywhere in the pool for
    the delay of its Retry-After header, and the rate is halved, then added
    back while calls go well. The item is tried again, throttle_retries
    times at most: then it fails, saying it was still throttled.

    Raises:
        ItemError     an item failed (without keep_going): .failure says which, how
        PoolError     the pool itself failed: a loop body that cannot be pickled, a
                      run started outside the __main__ guard, setup() that raised
        ValueError    a parameter out of range (max_workers=0, timeout=-1, ...)
        KeyboardInterrupt  Ctrl-C: queued work cancelled, workers ended
"""


def run_map(
    func,
    items,
    *,
    pool="process",
    max_workers=None,
    progress=True,
    keep_going=False,
    on_result=None,
    timeout=None,
    retries=0,
    retry_on=RETRY_ON,
    setup=None,
    teardown=None,
    max_items_per_worker=None,
    max_worker_memory_mb=None,
    rate=None,
    throttle_retries=THROTTLE_RETRIES,
) -> list:
    """Pattern 1, map-with-tqdm: [func(item) for item in items], in parallel; the
    results in input order. The items are read into a list first."""
    items = list(items)  # executor.map needs them all, and tqdm their number
    options = {
        "keep_going": keep_going,
        "on_result": on_result,
        "timeout": timeout,
        "retries": retries,
        "retry_on": retry_on,
        "setup": setup,
        "teardown": teardown,
        "max_items_per_worker": max_items_per_worker,
        "max_worker_memory_mb": max_worker_memory_mb,
        "rate": rate,
        "throttle_retries": throttle_retries,
    }
    # The engine's batch pool; to copy: ProcessPoolExecutor(max_workers) instead.
    with open_pool(pool, max_workers, **options) as batch_pool:
        # Items travel in batches, sized from how long items take: chunksize
        # (a trip to a worker process costs ~0.1 ms) is only their cap.
        chunksize = max(1, len(items) // 32)
        results = batch_pool.map(func, items, chunksize=chunksize)  # in input order
        bar = tqdm(results, total=len(items), **bar_options(progress, rate))
        return list(bar)


def run_submit(
    func,
    items,
    *,
    pool="process",
    max_workers=None,
    progress=True,
    keep_going=False,
    on_result=None,
    timeout=None,
    retries=0,
    retry_on=RETRY_ON,
    setup=None,
    teardown=None,
    max_items_per_worker=None,
    max_worker_memory_mb=None,
    rate=None,
    throttle_retries=THROTTLE_RETRIES,
) -> list:
    """Pattern 2, submit-with-callback: [func(index, item) for index, item in
    enumerate(items)], in parallel; the results in input order. Reads the items
    lazily: a generator works."""
    total = len(items) if hasattr(items, "__len__") else None
    bar = tqdm(total=total, **bar_options(progress, rate))
    bar_lock = threading.Lock()  # done-callbacks may run in the pool's threads

    def advance_bar(future):
        with bar_lock:
            bar.update(len(future.result()))

    options = {
        "keep_going": keep_going,
        "on_result": on_result,
        "timeout": timeout,
        "retries": retries,
        "retry_on": retry_on,
        "setup": setup,
        "teardown": teardown,
        "max_items_per_worker": max_items_per_worker,
        "max_worker_memory_mb": max_worker_memory_mb,
        "rate": rate,
        "throttle_retries": throttle_retries,
    }
    # The engine's batch pool; to copy: ProcessPoolExecutor(max_workers) instead.
    with bar, open_pool(pool, max_workers, **options) as batch_pool:
        futures = []
        # A few items per call, which saves trips to the workers: each future
        # holds call_each's [func(index, item) for each item of its batch].
        for first, batch in batches_of(items, batch_pool):
            future = batch_pool.submit(call_each, func, first, batch)
            future.add_done_callback(advance_bar)
            futures.append(future)
        return [result for future in futures for result in future.result()]


def run_as_completed(
    func,
    items,
    *,
    pool="process",
    max_workers=None,
    progress=True,
    keep_going=False,
    on_result=None,
    timeout=None,
    retries=0,
    retry_on=RETRY_ON,
    setup=None,
    teardown=None,
    max_items_per_worker=None,
    max_worker_memory_mb=None,
    rate=None,
    throttle_retries=THROTTLE_RETRIES,
):
    """Like run_map, for an input too long for a list of every result: yields
    (index, func(item)) as each item finishes, in the order they finish, as
    concurrent.futures.as_completed and multiprocessing's imap_unordered do.
    Reads the items lazily, a bounded number ahead, and keeps no result: memory
    stays flat whatever the input's length. Leaving the loop early ends the run;
    an item that fails (without keep_going) raises ItemError once the results
    that finished before it were yielded.

        for index, result in run_as_completed(process_item, huge_generator()):
            save(index, result)"""
    total = len(items) if hasattr(items, "__len__") else None  # else no total
    options = {
        "keep_going": keep_going,
        "on_result": on_result,
        "timeout": timeout,
        "retries": retries,
        "retry_on": retry_on,
        "setup": setup,
        "teardown": teardown,
        "max_items_per_worker": max_items_per_worker,
        "max_worker_memory_mb": max_worker_memory_mb,
        "rate": rate,
        "throttle_retries": throttle_retries,
    }
    with (
        tqdm(total=total, **bar_options(progress, rate)) as bar,
        open_pool(pool, max_workers, **options) as batch_pool,
    ):
        for index, result in batch_pool.as_completed(func, items):
            bar.update()
            yield index, result


# help() of each lists their parameters too.
run_map.__doc__ = f"{run_map.__doc__}{PARAMETERS}"
run_submit.__doc__ = f"{run_submit.__doc__}{PARAMETERS}"
run_as_completed.__doc__ = f"{run_as_completed.__doc__}{PARAMETERS}"


@contextmanager
def reusable_pool(pool="process", max_workers=None):
    """Workers that several runs share: pass what this yields as pool= to run_map
    or run_submit. setup() runs again at the start of each run. The workers keep
    the code they imported: after you edit or reload the loop body, open a new one.

        with reusable_pool(max_workers=4) as workers:
            squares = run_map(square, numbers, pool=workers)
            cubes = run_map(cube, numbers, pool=workers)
    """
    with open_pool(pool, max_workers) as batch_pool:
        yield batch_pool.workers.executor


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
    rate=None,
    throttle_retries=THROTTLE_RETRIES,
) -> list:
    """The plain for loop, in this process, where breakpoints and pdb work.
    numbered=True calls func(index, item), like run_submit. Here Ctrl-C cannot be
    told from the loop body raising KeyboardInterrupt: both stop the run. rate and
    throttle_retries work as in run_map."""
    try:
        set_up(setup, teardown)  # this process is the one worker: worker_resource()
    except Exception as exc:
        raise SetupError(f"{type(exc).__name__}: {exc}", format_exc()) from None
    limiter = Limiter(parse_rate(rate))
    results = []
    for index, item in enumerate(tqdm(items, **bar_options(progress, rate))):
        result = call_paced(func, index, item, numbered, limiter, throttle_retries)
        if on_result is not None:
            on_result(index, result)
        if isinstance(result, Failure) and not keep_going:
            raise ItemError(result)
        results.append(result)
    tear_down()
    return results


def call_paced(func, index: int, item, numbered: bool, limiter, throttle_retries):
    """run_serial's call of one item, when the Limiter lets it start; tried again
    while the service throttles it, throttle_retries times at most."""
    attempts = 0
    while True:
        attempts += 1
        time.sleep(limiter.wait())
        sent_at = time.monotonic()
        limiter.started()
        try:
            with running_item(index):  # its log records say item #index
                return func(index, item) if numbered else func(item)
        except (Exception, SystemExit) as exc:  # sys.exit() fails the item too
            failure = failure_of(item, exc).put_at(index)
        if failure.throttle is None:
            return failure
        limiter.heard(failure.throttle, sent_at)
        if attempts > throttle_retries:
            failure.error += still_throttled(attempts)
            return failure


def bar_options(progress: bool, rate=None) -> dict:
    """tqdm writes to stderr. Leaving `disable` unset lets TQDM_DISABLE=1 work.
    A rate shows after the bar."""
    options = {"unit": "item", "dynamic_ncols": True, "file": sys.stderr}
    if (per_second := parse_rate(rate)) is not None:
        options["postfix"] = f"rate {describe_rate(per_second)}"
    if not progress:
        options["disable"] = True
    elif not sys.stderr.isatty():
        options["mininterval"] = 5  # in a CI log, each refresh is a new line
    return options
