"""The two patterns for running a loop body in parallel, with a progress bar.

    run_map     executor.map over batches of items, wrapped in tqdm: calls func(item)
    run_submit  executor.submit per batch, a done-callback advancing tqdm: calls
                func(index, item), for loop bodies that need more than the item

pool="process" runs them on a ProcessPoolExecutor: for CPU-bound work, since each
worker process has its own interpreter and its own GIL. pool="thread" runs them on a
ThreadPoolExecutor: for I/O-bound work (network, disk, subprocesses), where threads
overlap their waiting. Both patterns return the results in input order.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, wait
from functools import partial
from itertools import islice

from tqdm import tqdm

from .executors import open_pool
from .failures import (
    Failure,
    ItemError,
    call_safely,
    check_picklable,
    pool_errors,
)

# Sending work to a process costs about 100 µs, so process pools get items in
# chunks. 32 chunks per worker amortize that cost, keep the bar moving, and leave
# a worker at most 1/32 of its share to finish alone at the end.
CHUNKS_PER_WORKER = 32


def default_max_workers() -> int:
    """os.cpu_count() // 2, made safe: never 0, and only the CPUs we may use."""
    return max(1, usable_cpus() // 2)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset and cpusets (Linux)
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1  # cpu_count() may return None


def chunk_size(total: int, max_workers: int, pool: str) -> int:
    if pool == "thread":
        return 1  # handing an item to a thread is cheap
    return max(1, total // (max_workers * CHUNKS_PER_WORKER))


def run_map(
    func, items, *, pool, max_workers, progress=True, keep_going=False, on_result=None
) -> list:
    """Pattern 1, map-with-tqdm: results = [func(item) for item in items], in parallel."""
    items = list(items)  # executor.map reads every item up front anyway
    if pool == "process":
        check_picklable(func)
    size = chunk_size(len(items), max_workers, pool)
    batches = [items[start : start + size] for start in range(0, len(items), size)]
    results = []
    with (
        open_pool(pool, max_workers) as executor,
        tqdm(total=len(items), **bar_options(progress)) as bar,
    ):
        # executor.map runs map_batch(func, batch) in the workers and yields the
        # outcomes batch by batch, in input order. (Its chunksize= argument batches
        # too, but costs a tuple and a generator step per item: a lot, for a
        # million small items.)
        outcomes_per_batch = executor.map(partial(map_batch, func), batches)
        for outcomes in explain_pool_errors(outcomes_per_batch, results):
            for outcome in outcomes:
                results.append(settle(len(results), outcome, keep_going, on_result))
            bar.update(len(outcomes))
    return results


def explain_pool_errors(outcomes, results):
    """Yields the outcomes; a dead worker or a pickling problem becomes a PoolError."""
    with pool_errors(lambda: f"items #{len(results)} and after"):
        yield from outcomes


def run_submit(
    func, items, *, pool, max_workers, progress=True, keep_going=False, on_result=None
) -> list:
    """Pattern 2, submit-with-callback: results = [func(index, item) for index, item
    in enumerate(items)], in parallel. Reads items lazily: a generator works."""
    if pool == "process":
        check_picklable(func)
    total = len(items) if hasattr(items, "__len__") else None
    results = []
    in_flight = {}  # future -> index of the first item of its batch

    def collect(futures):
        for future in sorted(futures, key=in_flight.get):  # in input order
            first = in_flight.pop(future)
            unfinished = partial(describe_batches, [first, *in_flight.values()])
            with pool_errors(unfinished):
                outcomes = future.result()
            for offset, outcome in enumerate(outcomes):
                results[first + offset] = settle(
                    first + offset, outcome, keep_going, on_result
                )

    with (
        open_pool(pool, max_workers) as executor,
        tqdm(total=total, **bar_options(progress)) as bar,
    ):
        bar_lock = threading.Lock()  # done-callbacks run in the pool's threads

        def advance_bar(batch_size, future):
            if not future.cancelled() and future.exception() is None:
                with bar_lock:
                    bar.update(batch_size)

        for first, batch in numbered_batches(items, total, max_workers, pool):
            # A bounded number of batches in flight: memory stays flat however
            # many items there are, and results are collected while we submit.
            if len(in_flight) >= 2 * max_workers:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                collect(done)
            future = executor.submit(submit_batch, func, first, batch)
            future.add_done_callback(partial(advance_bar, len(batch)))
            in_flight[future] = first
            results.extend([None] * len(batch))  # slots, filled as batches finish
        collect(list(in_flight))
    return results


def map_batch(func, items: list) -> list:
    """In a worker: func(item) for each item of a batch. call_safely turns an
    exception into a Failure, so one bad item does not stop the others."""
    return [call_safely(func, item) for item in items]


def submit_batch(func, first_index: int, items: list) -> list:
    """In a worker: func(index, item) for each item of a batch."""
    return [
        call_safely(func, first_index + offset, item)
        for offset, item in enumerate(items)
    ]


def settle(index: int, outcome, keep_going: bool, on_result):
    """Records one item's outcome; in fail-fast mode, a Failure stops the run."""
    if isinstance(outcome, Failure):
        outcome.index = index
    if on_result is not None:
        on_result(index, outcome)
    if isinstance(outcome, Failure) and not keep_going:
        raise ItemError(outcome)
    return outcome


def numbered_batches(items, total, max_workers, pool):
    """Yields (index of first item, list of items). Without a known total, batches
    grow with the count so far, so the first results still come back quickly."""
    iterator = iter(items)
    first = 0
    while True:
        size = chunk_size(total or first, max_workers, pool)
        batch = list(islice(iterator, size))
        if not batch:
            return
        yield first, batch
        first += len(batch)


def describe_batches(firsts: list) -> str:
    return "the batches starting at items " + ", ".join(f"#{i}" for i in sorted(firsts))


def bar_options(progress: bool) -> dict:
    """tqdm writes to stderr. Leaving `disable` unset lets TQDM_DISABLE=1 work."""
    options = {"unit": "item", "dynamic_ncols": True}
    if not progress:
        options["disable"] = True
    elif not sys.stderr.isatty():
        options["mininterval"] = 5  # in a CI log, each refresh is a new line
    return options


def run_serial(
    func, items, *, numbered=False, progress=True, keep_going=False, on_result=None
) -> list:
    """The plain for loop, in this process: to compare with, and to debug (breakpoints
    and pdb work here). numbered=True calls func(index, item) like run_submit."""
    results = []
    for index, item in enumerate(tqdm(items, **bar_options(progress))):
        args = (index, item) if numbered else (item,)
        results.append(settle(index, call_safely(func, *args), keep_going, on_result))
    return results
