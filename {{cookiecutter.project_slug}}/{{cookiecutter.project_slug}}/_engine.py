"""How the two patterns of parallel.py run. You need not read this to use them.

    open_pool     a process or thread pool (or an executor of yours) as a Pool,
                  closed fast on an error or Ctrl-C: no worker is left behind
    Pool.batches  cuts the items into batches whose size follows how long items
                  take, keeping a bounded number of batches in flight
    Pool.map      executor.map's promise (results in input order) on those batches
    call_batch    runs in a worker: the loop body on each item of a batch
    Failure       stands in for the result of an item whose loop body raised

Sending work to a worker process costs about 0.1 ms, so items travel in batches.
A batch should take about TARGET_BATCH_SECONDS: batches start at one item and
double while items are fast, and shrink toward the end of the input so that no
worker is left with a long batch while the others sit idle.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import PurePath

POOLS = ("process", "thread")
# What a pool raises when a worker died under it (dask_pool, if any, adds its own).
DEAD_WORKER_ERRORS: tuple[type[BaseException], ...] = (BrokenExecutor,)

# A batch should take about this long in a worker: ~200 times what sending it costs,
# and short enough that the end of the run stays balanced.
TARGET_BATCH_SECONDS = 0.02
# Batches in flight per worker: one running, one waiting, so no worker idles.
BATCHES_IN_FLIGHT_PER_WORKER = 2
# Near the end of the input, a batch holds at most this share of what each worker
# has left to do, so the last batches are small and finish together.
END_SHARE = 4


# --- How many workers ---------------------------------------------------------


def default_max_workers() -> int:
    """os.cpu_count() // 2, made safe: never 0, and only the CPUs we may use."""
    return max(1, usable_cpus() // 2)


def usable_cpus() -> int:
    """The CPUs this process may use: affinity (taskset, cpusets) where the system
    has it, else all of them (os.cpu_count() may return None)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+: PYTHON_CPU_COUNT, affinity
        return os.process_cpu_count() or 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def check_max_workers(max_workers) -> int:
    if max_workers is None:
        return default_max_workers()
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise TypeError(f"max_workers must be a whole number, not {max_workers!r}")
    if max_workers < 1:
        raise ValueError(f"max_workers must be 1 or more, not {max_workers}")
    return max_workers


# --- Failures -----------------------------------------------------------------


@dataclass
class Failure:
    """Stands in for the result of an item whose loop body raised."""

    item: str  # the item, described in a few words
    error: str  # "ValueError: bad input"
    traceback: str  # the worker's traceback, as text
    index: int | None = None  # position in the input, filled in by the caller

    def describe(self) -> str:
        return f"item #{self.index} ({self.item}) failed: {self.error}"


class ItemError(Exception):
    """An item's loop body raised (fail-fast mode)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.describe())
        self.failure = failure


class PoolError(Exception):
    """The pool itself failed: a worker died, or work could not be sent to it."""


def describe(item, limit: int = 80) -> str:
    """An item in a few words: a path or a string as it is, anything else as its
    repr; cut to `limit` characters in the middle, so both ends show."""
    if isinstance(item, (str, PurePath)):
        text = str(item)
    elif isinstance(item, (bytes, bytearray)):
        text = f"{type(item).__name__} of {len(item)} bytes"
    else:
        text = repr(item)
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return text[:half] + "..." + text[-half:]


def failure_of(item, exc: BaseException) -> Failure:
    return Failure(
        item=describe(item),
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
    )


HOW_TO_PICKLE = (
    "A process pool sends the loop body, each item and each result to another "
    "process by pickling them. Define the loop body with def at module level (as in "
    "tasks.py), pass file paths rather than open files, return plain data; or use "
    "the thread pool (--pool thread), which needs no pickling."
)


def check_picklable(func) -> None:
    """Fails early, with advice, when func cannot be sent to a worker process."""
    try:
        pickle.dumps(func)
    except Exception as exc:
        name = getattr(func, "__qualname__", repr(func))
        raise PoolError(
            f"the loop body {name} cannot be sent to a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc


@contextmanager
def pool_errors(unfinished):
    """Turns the errors of the pool itself into PoolErrors that say what to do.

    Items' own exceptions never get here (call_batch catches them in the worker),
    so what does is a dead worker, or work that failed on its way to or from a
    worker process: almost always pickling. unfinished() names the items affected.
    """
    try:
        yield
    except DEAD_WORKER_ERRORS:
        raise PoolError(
            "a worker process died (killed, out of memory, or the loop body "
            f"called os._exit or crashed the interpreter); unfinished: "
            f"{unfinished()}. Results finished so far are kept. Try fewer "
            "workers (--workers 1) if memory ran out, --serial to see the "
            "problem in this process, and --resume with --output to continue "
            "where the run stopped."
        ) from None
    except Exception as exc:
        raise PoolError(
            "could not send work to or from a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc


# --- In the workers -------------------------------------------------------------


def call_batch(func, first: int, items: list, numbered: bool):
    """In a worker: func(item), or func(index, item), for each item of a batch.

    An item that raises, even SystemExit or KeyboardInterrupt, becomes a Failure:
    one bad item neither stops its batch nor takes its worker down. Returns
    (first, outcomes, seconds): the seconds let the pool size the next batches.
    """
    started = time.perf_counter()
    outcomes = []
    for index, item in enumerate(items, first):
        try:
            outcomes.append(func(index, item) if numbered else func(item))
        except BaseException as exc:
            outcomes.append(failure_of(item, exc))
    return first, outcomes, time.perf_counter() - started


def start_worker() -> None:
    """Runs first in each worker process."""
    # Ctrl-C reaches every process of the terminal. The main process handles it and
    # stops the workers; without this, each would print a KeyboardInterrupt too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked while we started (see Pool.submit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # A forked worker inherits the main process's SIGTERM handler: just end.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Exit when the main process dies (kill -9, out of memory): otherwise workers
    # would wait for work forever. The parent's sentinel becomes readable then.
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        watch = threading.Thread(target=exit_with, args=(parent.sentinel,), daemon=True)
        watch.start()


def exit_with(parent_sentinel) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


@contextmanager
def ctrl_c_held():
    """Holds Ctrl-C back while a worker process may be starting, and delivers it
    after: a process forked at that moment would not ignore it yet, and Python
    drops a KeyboardInterrupt raised inside its at-fork handlers."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no fork, nothing to hold
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# --- The pool ---------------------------------------------------------------------


def process_context():
    """How worker processes start: as the program chose with
    multiprocessing.set_start_method(), else forkserver where the system has it
    (Linux, macOS; Python 3.14's default on Linux), else spawn (Windows). Not fork:
    it copies a process with its threads' locks held (tqdm's, a thread pool's),
    which can deadlock a worker, and Python 3.12 warns about it."""
    if multiprocessing.get_start_method(allow_none=True) is not None:
        return multiprocessing.get_context()
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def make_executor(pool: str, max_workers: int) -> Executor:
    if pool == "process":
        return ProcessPoolExecutor(
            max_workers, mp_context=process_context(), initializer=start_worker
        )
    if pool == "thread":
        return ThreadPoolExecutor(max_workers)
    raise ValueError(
        f'pool must be "process", "thread" or a concurrent.futures executor, '
        f"not {pool!r}"
    )


@contextmanager
def open_pool(pool="process", max_workers=None, keep_going=False, on_result=None):
    """A Pool on a new executor, shut down at the end; or on `pool` itself when it
    is an executor (Dask's, or one of yours), which is left running.

    On an error or Ctrl-C, queued work is cancelled and worker processes are
    ended at once, instead of waiting for what is in flight."""
    if isinstance(pool, Executor):
        workers = max_workers or getattr(pool, "_max_workers", None)
        yield Pool(pool, check_max_workers(workers), keep_going, on_result)
        return
    workers = check_max_workers(max_workers)
    executor = make_executor(pool, workers)
    try:
        yield Pool(executor, workers, keep_going, on_result)
    except BaseException:
        stop_now(executor)
        raise
    executor.shutdown(wait=True)


def stop_now(executor: Executor) -> None:
    # shutdown() forgets the worker processes, so take hold of them first.
    # (Python 3.14 has terminate_workers(); 3.10 to 3.13 only this private dict.)
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


class BatchSizes:
    """How many items the next batch holds: it starts at 1, doubles while a batch
    takes less than TARGET_BATCH_SECONDS, drops at once when items get slow, and
    near the end of the input shrinks to a small share of what is left."""

    def __init__(self, workers: int):
        self.workers = workers
        self.size = 1
        self.seconds_per_item = None

    def record(self, count: int, seconds: float) -> None:
        latest = seconds / count
        previous = self.seconds_per_item
        self.seconds_per_item = latest if previous is None else (previous + latest) / 2
        ideal = TARGET_BATCH_SECONDS / max(self.seconds_per_item, 1e-9)
        self.size = max(1, min(2 * self.size, int(ideal)))

    def next(self, remaining: int | None) -> int:
        if remaining is None:  # a generator: its end cannot be seen coming
            return self.size
        return max(1, min(self.size, remaining // (END_SHARE * self.workers)))


class Pool:
    """An executor that runs items in batches. submit() is the executor's own;
    batches(), results() and map() add the bookkeeping both patterns share:
    outcomes are handled in this thread as batches finish (on_result, fail-fast),
    and kept until they can be handed out in input order."""

    def __init__(self, executor: Executor, workers: int, keep_going, on_result):
        self.executor = executor
        self.workers = workers
        self.keep_going = keep_going
        self.on_result = on_result
        self.keep_results = True
        self.sizes = BatchSizes(workers)
        self.in_flight = set()  # futures of batches not yet handled
        self.unfinished = {}  # first index -> size, of batches not yet handled
        self.finished = {}  # first index -> outcomes, not yet handed out
        self.handed_out = 0  # results() and map() hand out items below this index

    def submit(self, fn, *args):
        """executor.submit(fn, *args), tracked, with the pool's errors explained."""
        if not self.in_flight and not isinstance(self.executor, ThreadPoolExecutor):
            for arg in (fn, *args):
                if callable(arg):
                    check_picklable(arg)  # the loop body: say early what is wrong
        with pool_errors(self.describe_unfinished), ctrl_c_held():
            future = self.executor.submit(fn, *args)
        self.in_flight.add(future)
        return future

    def batches(self, items, total: int | None = None):
        """Yields (index of its first item, batch) while at most
        BATCHES_IN_FLIGHT_PER_WORKER batches per worker are in flight: items are
        read lazily, and finished batches are handled while waiting."""
        iterator = iter(items)
        first = 0
        while True:
            while len(self.in_flight) >= BATCHES_IN_FLIGHT_PER_WORKER * self.workers:
                self.handle(wait(self.in_flight, return_when=FIRST_COMPLETED).done)
            remaining = None if total is None else total - first
            batch = list(islice(iterator, self.sizes.next(remaining)))
            if not batch:
                return
            self.unfinished[first] = len(batch)
            yield first, batch
            first += len(batch)

    def handle(self, futures) -> None:
        """Hands the outcomes of finished batches to on_result, in this thread,
        before raising what stops the run: nothing that finished is lost."""
        done, broken = [], None
        for future in futures:
            self.in_flight.discard(future)
            try:
                done.append(future.result())
            except Exception as exc:  # the pool's problem: items' are outcomes
                broken = broken or exc
        first_failure = None
        for first, outcomes, seconds in sorted(done, key=lambda batch: batch[0]):
            del self.unfinished[first]
            self.sizes.record(len(outcomes), seconds)
            for index, outcome in enumerate(outcomes, first):
                if isinstance(outcome, Failure):
                    outcome.index = index
                    first_failure = first_failure or outcome
                if self.on_result is not None:
                    self.on_result(index, outcome)
            if self.keep_results:
                self.finished[first] = outcomes
        if first_failure is not None and not self.keep_going:
            raise ItemError(first_failure)
        if broken is not None:
            with pool_errors(self.describe_unfinished):
                raise broken

    def ready(self):
        """Yields the outcomes that can be handed out in input order so far."""
        while self.handed_out in self.finished:
            outcomes = self.finished.pop(self.handed_out)
            self.handed_out += len(outcomes)
            yield from outcomes

    def wait_for_all(self):
        """Yields the remaining outcomes in input order, as their batches finish."""
        yield from self.ready()
        while self.in_flight:
            self.handle(wait(self.in_flight, return_when=FIRST_COMPLETED).done)
            yield from self.ready()

    def results(self) -> list:
        """Every outcome, in input order, once all batches are done."""
        return list(self.wait_for_all())

    def map(self, func, items: list):
        """Like executor.map(func, items): yields func(item) for each item, in input
        order, as soon as it and every item before it are done."""
        for first, batch in self.batches(items, total=len(items)):
            self.submit(call_batch, func, first, batch, False)
            yield from self.ready()
        yield from self.wait_for_all()

    def stream(self, func, items: list, numbered: bool) -> None:
        """Runs every item and hands each outcome only to on_result, as it
        finishes: nothing is kept (the command line writes results as they come)."""
        self.keep_results = False
        for first, batch in self.batches(items, total=len(items)):
            self.submit(call_batch, func, first, batch, numbered)
        for _ in self.wait_for_all():
            pass

    def describe_unfinished(self) -> str:
        if not self.unfinished:
            return "none"
        return "items #" + ", #".join(
            f"{first}-{first + size - 1}" if size > 1 else str(first)
            for first, size in sorted(self.unfinished.items())
        )


def bar_options(progress: bool) -> dict:
    """tqdm writes to stderr. Leaving `disable` unset lets TQDM_DISABLE=1 work."""
    options = {"unit": "item", "dynamic_ncols": True, "file": sys.stderr}
    if not progress:
        options["disable"] = True
    elif not sys.stderr.isatty():
        options["mininterval"] = 5  # in a CI log, each refresh is a new line
    return options
