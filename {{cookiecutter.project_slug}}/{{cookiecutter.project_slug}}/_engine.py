"""How the two patterns of parallel.py run. You need not read this to use them.

    open_pool     a process or thread pool (or an executor of yours) as a Pool,
                  closed fast on an error or Ctrl-C: no worker is left behind
    Pool.batches  cuts the items into batches whose size follows how long items
                  take, keeping a bounded number of batches in flight
    Pool.map      executor.map's promise (results in input order) on those batches
    Pool.handle   hands each finished item to on_result as it comes, retries
                  what failed with a transient error, records timeouts
    _worker.py    what runs in the workers: the loop body on each item of a
                  batch, failures captured; setup(); timeouts; logs

Sending work to a worker process costs about 0.1 ms, so items travel in batches.
A batch should take about TARGET_BATCH_SECONDS: batches start at one item and
double while items are fast, and shrink toward the end of the input so that no
worker is left with a long batch while the others sit idle.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import logging
import logging.handlers
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from . import _cpython
from ._cpython import known_broken, worker_processes
from ._worker import (
    RUNNING,
    Failure,
    Settings,
    SetupFailed,
    call_batch,
    describe,
    failure_of,
    in_worker,
    read_slot,
    slot_path,
    start_process_worker,
)

POOLS = ("process", "thread")
# What a pool raises when a worker died under it (a cluster's module adds its own).
DEAD_WORKER_ERRORS: tuple[type[BaseException], ...] = (BrokenExecutor,)

# A batch should take about this long in a worker: ~200 times what sending it costs,
# and short enough that the end of the run stays balanced.
TARGET_BATCH_SECONDS = 0.02
# Batches in flight per worker: one running, one waiting, so no worker idles.
BATCHES_IN_FLIGHT_PER_WORKER = 2
# Near the end of the input, a batch holds at most this share of what each worker
# has left to do, so the last batches are small and finish together.
END_SHARE = 4
# Items that fail with these exceptions are tried again by default (retries=N):
# they are usually transient. A missing file or a bad value is not.
RETRY_ON = (TimeoutError, ConnectionError)
# The first retry waits about this long; each next one twice as long, up to
# RETRY_MAX_DELAY; each delay is jittered (x0.5 to x1.5) so retries spread out.
RETRY_DELAY = 0.5
RETRY_MAX_DELAY = 30.0
# A pool notices a dead worker within milliseconds; one it has not noticed after
# this many seconds never will (see end_workers).
DEAD_WORKER_GRACE = 2.0
# Seconds an item gets past its timeout, for SIGALRM to stop it, before this process
# ends its worker (see Pool.end_stuck_workers).
STUCK_GRACE = 2.0
# The longest this thread waits at once. A wait with no end can miss a Ctrl-C on
# free-threaded Python: its locks spin before they sleep, and a signal that comes
# during the spin does not wake them (seen on 3.14t).
LONGEST_WAIT = 0.5
# How worker processes start: None picks forkserver, or spawn (see process_context).
# "fork" starts faster and shares the main process's memory, at fork's risks.
START_METHOD: str | None = None


# --- How many workers ---------------------------------------------------------


def default_max_workers() -> int:
    """os.cpu_count() // 2, made safe: never 0, and only the CPUs we may use."""
    return max(1, usable_cpus() // 2)


def usable_cpus() -> int:
    """The CPUs this process may use: those its affinity allows (taskset, cpusets;
    os.process_cpu_count() on Python 3.13+, which PYTHON_CPU_COUNT overrides), and
    no more than a container's CPU quota (the cgroup limit that docker --cpus and
    Kubernetes CPU limits set, which os.cpu_count() does not see)."""
    if hasattr(os, "process_cpu_count"):
        if os.environ.get("PYTHON_CPU_COUNT"):  # the user's own word: final
            return os.process_cpu_count() or 1
        count = os.process_cpu_count() or 1
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # macOS and Windows have no affinity call
        count = os.cpu_count() or 1  # cpu_count() may return None
    quota = cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """How many CPUs' worth of time the cgroup may use, if it is limited: cgroup v2
    cpu.max ("150000 100000" is 1.5 CPUs; "max 100000" is no limit), else cgroup
    v1 cpu.cfs_quota_us / cpu.cfs_period_us (-1: no limit). None elsewhere."""
    try:
        words = Path(root, "cpu.max").read_text().split()[:2]
    except OSError:
        try:
            words = [
                Path(root, "cpu", "cpu.cfs_quota_us").read_text(),
                Path(root, "cpu", "cpu.cfs_period_us").read_text(),
            ]
        except OSError:
            return None
    try:
        quota, period = int(words[0]), int(words[1])
    except (ValueError, IndexError):  # "max": no limit
        return None
    return quota / period if quota > 0 and period > 0 else None


def check_max_workers(max_workers) -> int:
    if max_workers is None:
        return default_max_workers()
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise TypeError(f"max_workers must be a whole number, not {max_workers!r}")
    if max_workers < 1:
        raise ValueError(f"max_workers must be 1 or more, not {max_workers}")
    return max_workers


# --- Failures -----------------------------------------------------------------


__all__ = ["Failure", "describe", "failure_of"]  # from _worker, for the others


class ItemError(Exception):
    """An item's loop body raised (fail-fast mode)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.describe())
        self.failure = failure


class PoolError(Exception):
    """The pool itself failed: a worker died, or work could not be sent to it."""


class SetupError(PoolError):
    """setup() raised in a worker."""


HOW_TO_PICKLE = (
    "A process pool sends the loop body, each item and each result to another "
    "process by pickling them. Define the loop body with def at module level (as in "
    "tasks.py), pass file paths rather than open files, return plain data; or use "
    "the thread pool (--pool thread), which needs no pickling."
)


def check_not_starting_a_worker() -> None:
    """A worker process started by spawn or forkserver first imports the script
    that started the run. Without the __main__ guard, that import runs the run
    again, which would start workers of its own."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise PoolError(
            "a worker process, importing your script as it started, reached the "
            "code that starts the run: put that code under "
            '`if __name__ == "__main__":` (see docs/pitfalls.md, "The __main__ '
            'guard")'
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


HELD_SIGNALS = [
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP")
    if hasattr(signal, name)
]


@contextmanager
def ctrl_c_held():
    """Holds Ctrl-C (and SIGTERM, SIGHUP where Python handles them) back while a
    pool or a worker process is being made, and delivers them after. An exception
    in the middle would leave a process half started, or a semaphore registered
    and never cleaned up (Python even drops a KeyboardInterrupt raised inside its
    at-fork handlers): so this thread notes the signal, and raises it at the end.
    Blocking SIGINT meanwhile means that processes started now inherit it blocked,
    whatever their start method, until they ignore it (start_process_worker)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread handles signals
        return
    caught: list[int] = []
    previous = {}
    for signum in HELD_SIGNALS:
        if callable(signal.getsignal(signum)):  # handled in Python: hold it
            previous[signum] = signal.signal(signum, lambda n, f: caught.append(n))
    blocking = hasattr(signal, "pthread_sigmask")  # not on Windows
    if blocking:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if blocking:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held one arrives
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            previous[signum](signum, None)  # raises, as the signal would have


# --- The pool ---------------------------------------------------------------------


def process_context():
    """How worker processes start: START_METHOD if set, else forkserver where the
    system has it (Linux, macOS; Python 3.14's default on Linux), else spawn
    (Windows). Not fork: it copies a process with its threads' locks held (tqdm's,
    a thread pool's), which can deadlock a worker, and Python 3.12 warns about it.
    (multiprocessing's own default cannot be trusted here: creating any tqdm bar
    fixes it to fork on Linux before Python 3.14.)"""
    methods = multiprocessing.get_all_start_methods()
    default = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(START_METHOD or default)
    if context.get_start_method() == "forkserver":
        # The server imports these once; each worker forked from it then starts
        # with them loaded, instead of importing them again (tens of ms each).
        modules = ["__main__", "concurrent.futures.process", f"{__package__}._worker"]
        context.set_forkserver_preload(modules)
    return context


class WorkerLogs:
    """Log records of worker processes travel on a queue to this process, where
    they go through its own logging (the command line shows them on stderr)."""

    def __init__(self, context):
        self.queue = context.Queue()
        self.listener = logging.handlers.QueueListener(self.queue, self)
        self.listener.start()

    def handle(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)

    def close(self) -> None:
        self.listener.stop()
        self.queue.close()


def make_executor(pool: str, max_workers: int, logs: WorkerLogs | None) -> Executor:
    if pool == "process" and logs is not None:
        level = logging.getLogger().getEffectiveLevel()
        environment = {name: os.environ[name] for name in BlasThreadsPerWorker.NAMES}
        return ProcessPoolExecutor(
            max_workers,
            mp_context=process_context(),
            initializer=start_process_worker,  # type: ignore[arg-type]
            initargs=(logs.queue, level, environment),  # typeshed wants no arguments
        )
    if pool == "thread":
        return ThreadPoolExecutor(max_workers)
    raise ValueError(
        f'pool must be "process", "thread" or a concurrent.futures executor, '
        f"not {pool!r}"
    )


@contextmanager
def open_pool(
    pool="process",
    max_workers=None,
    keep_going=False,
    on_result=None,
    *,
    timeout=None,
    retries=0,
    retry_on=RETRY_ON,
    setup=None,
):
    """A Pool on a new executor, shut down at the end; or on `pool` itself when it
    is an executor (a cluster's, or one of yours), which is left running.

    timeout: seconds an item may run; retries: how many more times an item that
    failed with one of retry_on is tried; setup: run once in each worker first.
    On an error or Ctrl-C, queued work is cancelled and worker processes are
    ended at once, instead of waiting for what is in flight."""
    check_long_run(timeout, retries)
    settings = Settings(timeout=timeout, retry_on=tuple(retry_on), setup=setup)
    options = {"keep_going": keep_going, "on_result": on_result, "retries": retries}
    if isinstance(pool, Executor):
        refuse_interpreter_pools(pool)
        workers = max_workers or _cpython.max_workers(pool)
        if workers is None:
            raise ValueError(
                "pass max_workers with an executor of yours: how many items it "
                "runs at once (for a cluster, its number of worker threads)"
            )
        yield Pool(pool, check_max_workers(workers), settings, **options)
        return
    workers = check_max_workers(max_workers)
    if pool == "process":
        check_not_starting_a_worker()
    if timeout and pool == "process":
        settings.notes = tempfile.mkdtemp(prefix="timeouts-")
    logs = one_blas_thread = pool_of_batches = None
    try:
        with ctrl_c_held():  # queues hold semaphores: no half-made pool
            if pool == "process":  # first: the workers get its settings
                one_blas_thread = BlasThreadsPerWorker()
                logs = WorkerLogs(process_context())

            def new_executor():
                with ctrl_c_held():
                    return make_executor(pool, workers, logs)

            executor = new_executor()
            pool_of_batches = Pool(executor, workers, settings, new_executor, **options)
        yield pool_of_batches
    except BaseException:
        if pool_of_batches is not None:
            stop_now(pool_of_batches.executor)  # the one in use: it may be a new one
        raise
    else:  # a thread that runs on past its timeout is not waited for
        pool_of_batches.executor.shutdown(wait=not pool_of_batches.abandoned)
    finally:
        if logs is not None:
            logs.close()
        if one_blas_thread is not None:
            one_blas_thread.restore()
        if settings.notes:
            shutil.rmtree(settings.notes, ignore_errors=True)


def refuse_interpreter_pools(executor: Executor) -> None:
    """Python 3.14's InterpreterPoolExecutor is a ThreadPoolExecutor by class, but
    pickles every call into another interpreter, where setup() and the timeout
    watch of a thread pool cannot reach: refused, rather than run half-right."""
    interpreters = getattr(concurrent.futures, "InterpreterPoolExecutor", ())
    if isinstance(executor, interpreters):
        raise ValueError(
            "InterpreterPoolExecutor is not supported: its calls run in other "
            "interpreters, where timeouts and setup() cannot reach. Use "
            'pool="process" for CPU-bound work (each worker has its own GIL too), '
            'or pool="thread" for I/O-bound work'
        )


class BlasThreadsPerWorker:
    """Worker processes compute one item each, on one CPU: numpy (OpenBLAS, MKL),
    OpenMP or numexpr in each would otherwise start a thread per CPU, and N workers
    x N threads oversubscribe the machine. So while a process pool runs, these
    variables say 1, unless you set them yourself: in this process (which starts
    the forkserver, whose children inherit them), and in each worker as it starts.
    (A numpy that this process imports meanwhile gets 1 thread too.)"""

    NAMES = (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )

    def __init__(self):
        self.set_here = [name for name in self.NAMES if name not in os.environ]
        for name in self.set_here:
            os.environ[name] = "1"

    def restore(self) -> None:
        for name in self.set_here:
            os.environ.pop(name, None)


def check_long_run(timeout, retries) -> None:
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds above 0: {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number from 0 up, not {retries!r}")


def stop_now(executor: Executor) -> None:
    # shutdown() forgets the worker processes and the pool's own thread, so take
    # hold of them first.
    processes = worker_processes(executor)
    manager = _cpython.manager_thread(executor)
    results = _cpython.result_queue(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    end_workers(processes, results)
    if manager is not None:
        manager.join(timeout=10)  # it closes the pool's queues: nothing leaks


def end_workers(processes: list, results) -> None:
    """Ends the worker processes. A worker killed while it sent a result leaves
    half a message in the pool's result pipe, and the pool's own thread waits
    for the rest of it forever, unable to see anything else; once no worker is
    left, closing this process's end of that pipe ends the wait."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)
    if results is not None and all(p.exitcode is not None for p in processes):
        _cpython.close_result_pipe(results)


def a_worker_died_unseen(executor: Executor) -> bool:
    """A worker process has ended, but the pool has not noticed (see end_workers)."""
    if known_broken(executor):
        return False
    sentinels = [process.sentinel for process in worker_processes(executor)]
    return bool(multiprocessing.connection.wait(sentinels, 0))


class BatchSizes:
    """How many items the next batch holds: it starts at 1, doubles while a batch
    takes less than TARGET_BATCH_SECONDS, drops at once when items get slow, and
    near the end of the input shrinks to a small share of what is left."""

    def __init__(self, workers: int):
        self.workers = workers
        self.size = 1
        self.seconds_per_item: float | None = None

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
    outcomes are handled in this thread as batches finish (on_result, fail-fast,
    retries, timeouts), and kept until they can be handed out in input order."""

    def __init__(
        self,
        executor: Executor,
        workers: int,
        settings: Settings,
        new_executor=None,
        *,
        keep_going=False,
        on_result=None,
        retries=0,
    ):
        self.executor = executor
        self.new_executor = new_executor  # to replace a pool a stuck item broke
        self.workers = workers
        self.settings = settings
        self.keep_going = keep_going
        self.on_result = on_result
        self.retries = retries
        self.keep_results = True
        self.sizes = BatchSizes(workers)
        self.in_flight: dict[Future, int] = {}  # -> index of the batch's first item
        self.submitted_at: dict[Future, float] = {}  # when (timeouts on a cluster)
        self.unfinished: dict[int, list] = {}  # first index -> items, not handled yet
        self.finished: dict[int, list] = {}  # first index -> outcomes, to hand out
        self.handed_out = 0  # results() and map() hand out items below this index
        self.call: tuple = (None, False)  # (func, numbered): to send items again
        self.attempts: dict[int, int] = {}  # index -> attempts, of items tried again
        self.retry_at: list[tuple[float, int, object]] = []  # heap: (when, index, item)
        self.waiting: dict[int, list] = {}  # first -> [outcomes, retries to come]
        self.home: dict[int, tuple[int, int]] = {}  # retried index -> (first, offset)
        self.abandoned = False  # an item timed out on a thread that runs on
        self.death_seen_at: float | None = None  # of a worker the pool missed
        self.not_read: int | None = None  # the first item not yet read, if any
        self.let_go: list[Future] = []  # finished futures, dropped in let_go_of()

    def submit(self, fn, *args):
        """executor.submit(fn, *args), tracked, with the pool's errors explained."""
        if fn is call_batch:
            self.call = (args[0], args[3])  # remembered, to retry an item
            if self.call[0] is not None and not self.in_flight:
                if not isinstance(self.executor, ThreadPoolExecutor):
                    check_picklable(self.call[0])  # say early what is wrong
        with pool_errors(self.describe_unfinished), ctrl_c_held():
            future = self.executor.submit(in_worker, self.settings, fn, *args)
        self.in_flight[future] = args[1] if fn is call_batch else None
        if self.settings.timeout:
            self.submitted_at[future] = time.monotonic()
        return future

    def batches(self, items, total: int | None = None):
        """Yields (index of its first item, batch) while at most
        BATCHES_IN_FLIGHT_PER_WORKER batches per worker are in flight: items are
        read lazily, and finished batches are handled while waiting."""
        iterator = iter(items)
        first = 0
        while True:
            while len(self.in_flight) >= BATCHES_IN_FLIGHT_PER_WORKER * self.workers:
                self.wait_a_little()
            remaining = None if total is None else total - first
            batch = list(islice(iterator, self.next_batch_size(remaining)))
            if not batch:
                self.not_read = None
                return
            self.not_read = first + len(batch)
            self.unfinished[first] = batch
            yield first, batch
            first += len(batch)

    def next_batch_size(self, remaining):
        timed_elsewhere = self.settings.timeout and not self.times_in_workers()
        return 1 if timed_elsewhere else self.sizes.next(remaining)

    def times_in_workers(self) -> bool:
        """Worker processes stop their own late items; a thread or a cluster
        cannot, so this thread watches items one by one."""
        return isinstance(self.executor, ProcessPoolExecutor)

    def wait_a_little(self) -> None:
        """Waits until a batch finishes (or a retry or a timeout is due), and
        handles what finished."""
        self.let_go_of_finished_futures()
        timeout: float | None = None
        if self.settings.timeout:  # late items to see, here or in worker processes
            timeout = min(0.05, self.settings.timeout / 4)
        if self.retry_at:
            due = max(0.0, self.retry_at[0][0] - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        if self.in_flight:
            timeout = LONGEST_WAIT if timeout is None else min(timeout, LONGEST_WAIT)
            done = wait(self.in_flight, timeout, FIRST_COMPLETED).done
            if not done:
                self.look_for_an_unseen_death()
            self.handle(done)
        else:  # only retries to wait for
            time.sleep(timeout or 0.0)
        self.time_out_late_items()
        self.end_stuck_workers()
        self.retry_due_items()

    def let_go_of_finished_futures(self) -> None:
        """Python drops a KeyboardInterrupt raised inside a __del__ method, and a
        cluster's futures have one, which runs in this thread as the last of them
        goes: so finished futures are let go here, with Ctrl-C held meanwhile."""
        if self.let_go:
            with ctrl_c_held():
                self.let_go.clear()

    def end_stuck_workers(self) -> None:
        """A worker process whose item is STUCK_GRACE past its timeout is stuck
        where its SIGALRM cannot reach (a C call; one that holds the GIL stops its
        watch thread too): ended from here, with a note naming the item, so the
        pool breaks and is replaced (replace_stuck_worker)."""
        if not (self.settings.timeout and self.times_in_workers()):
            return
        limit = self.settings.timeout + STUCK_GRACE
        for process in worker_processes(self.executor):
            index, started = read_slot(slot_path(self.settings.notes, process.pid))
            if index >= 0 and time.monotonic() - started > limit:
                Path(self.settings.notes, str(index)).touch()
                process.kill()

    def look_for_an_unseen_death(self) -> None:
        """A worker that died while sending a result leaves the pool blind (see
        end_workers): if the pool has not noticed a death after DEAD_WORKER_GRACE,
        its workers are ended, and the pool breaks as it should have."""
        if not isinstance(self.executor, ProcessPoolExecutor):
            return
        if not a_worker_died_unseen(self.executor):
            self.death_seen_at = None
        elif self.death_seen_at is None:
            self.death_seen_at = time.monotonic()
        elif time.monotonic() - self.death_seen_at > DEAD_WORKER_GRACE:
            results = _cpython.result_queue(self.executor)
            end_workers(worker_processes(self.executor), results)

    def handle(self, futures) -> None:
        """Hands the outcomes of finished batches to on_result, in this thread,
        before raising what stops the run: nothing that finished is lost."""
        futures = set(futures)
        if futures and self.settings.notes and self.pool_broke(futures):
            futures |= wait(self.in_flight).done  # all of them fail with it
        self.let_go.extend(futures)
        done, broken, lost = [], None, []
        for future in futures:
            first = self.in_flight.pop(future)
            self.submitted_at.pop(future, None)
            try:
                done.append(future.result())
            except Exception as exc:  # the pool's problem: items' are outcomes
                broken = broken or exc
                lost.append(first)
        for result in done:
            if isinstance(result, SetupFailed):
                raise SetupError(
                    f"setup() failed in a worker: {result.error}. It runs once in "
                    "each worker before the first item: fix it in tasks.py. The "
                    f"worker's traceback:\n{result.traceback.rstrip()}"
                )
        first_failure = None
        for first, outcomes, seconds, failed in sorted(done, key=lambda b: b[0]):
            self.sizes.record(len(outcomes), seconds)
            failure = self.settle(first, outcomes, failed)  # first: it must run
            first_failure = first_failure or failure
        if first_failure is not None and not self.keep_going:
            raise ItemError(first_failure)
        if broken is not None and not self.replace_stuck_worker(lost):
            with pool_errors(self.describe_unfinished):
                raise broken

    def settle(self, first: int, outcomes: list, failed: list) -> Failure | None:
        """Records the outcomes of a finished batch, or of an item tried again,
        and hands the final ones to on_result. `failed`: the positions of the
        Failures, which the worker lists, so that this thread need not look at
        every outcome. A batch is done, and can be handed out in input order, once
        its items tried again are final too. Returns the first final failure."""
        if first in self.home:  # an item tried again: its batch waits for it
            home, offset = self.home.pop(first)
            self.waiting[home][1] -= 1
        else:
            home, offset = first, 0
            self.waiting[home] = [outcomes, 0]  # outcomes, retries still to come
        slots = self.waiting[home]
        items = self.unfinished.pop(first)
        first_failure, tried_again = None, set()
        for position in failed:
            failure, index = outcomes[position], first + position
            failure.index = index
            if failure.retryable and self.try_again(index, items[position]):
                self.home[index] = (home, offset + position)
                slots[1] += 1
                tried_again.add(position)
            else:
                first_failure = first_failure or failure
        if slots[0] is outcomes and self.on_result is None:
            pass  # nothing to do item by item: the way a million small items go
        else:
            for position, outcome in enumerate(outcomes):
                if position in tried_again:
                    continue
                if slots[0] is not outcomes:  # an item tried again, back home
                    slots[0][offset + position] = outcome
                if self.on_result is not None:
                    self.on_result(first + position, outcome)
        if slots[1] == 0:
            del self.waiting[home]
            if self.keep_results:
                self.finished[home] = slots[0]
        return first_failure

    def try_again(self, index: int, item) -> bool:
        """Schedules another attempt of an item, after a backoff, if any is left."""
        attempts = self.attempts.get(index, 1)
        if attempts > self.retries:
            return False
        self.attempts[index] = attempts + 1
        delay = min(RETRY_MAX_DELAY, RETRY_DELAY * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.5)
        heapq.heappush(self.retry_at, (time.monotonic() + delay, index, item))
        return True

    def retry_due_items(self) -> None:
        while self.retry_at and self.retry_at[0][0] <= time.monotonic():
            _, index, item = heapq.heappop(self.retry_at)
            self.send_again(index, [item])

    def time_out_late_items(self) -> None:
        """On a thread pool or a cluster: an item past its timeout is recorded as
        timed out, and the run goes on without it (a thread cannot be stopped)."""
        timeout = self.settings.timeout
        if not timeout or self.times_in_workers():
            return
        now = time.monotonic()
        if isinstance(self.executor, ThreadPoolExecutor):  # from when it started
            running = [list(slot) for slot in list(RUNNING.values())]
            started = {index: at for index, at in running if index is not None}
            late = [f for f, first in self.in_flight.items() if first in started]
            late = [f for f in late if now - started[self.in_flight[f]] > timeout]
        else:  # on a cluster: from when it was sent
            late = [f for f, at in self.submitted_at.items() if now - at > timeout]
        self.let_go.extend(late)
        for future in late:
            first = self.in_flight.pop(future)
            self.submitted_at.pop(future, None)
            future.cancel()
            self.abandoned = True
            self.time_out(first, f"timed out after {timeout:g} s")

    def time_out(self, index: int, error: str) -> None:
        item = self.unfinished[index][0]
        failure = Failure(describe(item), f"ItemTimeout: {error}", "")
        if self.settle(index, [failure], [0]) is not None and not self.keep_going:
            raise ItemError(failure)

    def pool_broke(self, futures) -> bool:
        return any(
            not future.cancelled() and isinstance(future.exception(), BrokenExecutor)
            for future in futures
        )

    def replace_stuck_worker(self, lost: list[int]) -> bool:
        """A worker process ended itself for an item stuck past its timeout, and
        the pool broke with it: that item is recorded as timed out, a new pool
        starts, and the other items that were in flight are sent again."""
        if not self.settings.notes or self.new_executor is None:
            return False
        notes = [note for note in Path(self.settings.notes).iterdir() if note.is_file()]
        stuck = sorted(int(note.name) for note in notes)
        if not stuck:
            return False
        for note in notes:
            note.unlink()
        stop_now(self.executor)
        self.executor = self.new_executor()
        error = (
            f"timed out after {self.settings.timeout:g} s (stuck where Python "
            "could not interrupt it: its worker process was replaced)"
        )
        for first in sorted(lost):
            items = self.unfinished.pop(first)
            start = first  # the first item of the batch not yet sent again
            for index in [i for i in stuck if first <= i < first + len(items)]:
                self.send_again(start, items[start - first : index - first])
                self.unfinished[index] = [items[index - first]]
                self.time_out(index, error)
                start = index + 1
            self.send_again(start, items[start - first :])
        return True

    def send_again(self, first: int, items: list) -> None:
        if items:
            func, numbered = self.call
            self.unfinished[first] = items
            self.submit(call_batch, func, first, items, numbered)

    def ready(self):
        """Yields the batches of outcomes that can be handed out in input order."""
        while self.handed_out in self.finished:
            outcomes = self.finished.pop(self.handed_out)
            self.handed_out += len(outcomes)
            yield outcomes

    def wait_for_all(self):
        """Yields the remaining batches of outcomes in input order, as they finish."""
        yield from self.ready()
        while self.in_flight or self.retry_at:
            self.wait_a_little()
            yield from self.ready()

    def results(self) -> list:
        """Every outcome, in input order, once all batches are done."""
        return [outcome for batch in self.wait_for_all() for outcome in batch]

    def map(self, func, items: list):
        """Like executor.map(func, items): yields func(item) for each item, in input
        order, as soon as it and every item before it are done."""
        for first, batch in self.batches(items, total=len(items)):
            self.submit(call_batch, func, first, batch, False)
            for outcomes in self.ready():
                yield from outcomes
        for outcomes in self.wait_for_all():
            yield from outcomes

    def stream(self, func, items: list, numbered: bool) -> None:
        """Runs every item and hands each outcome only to on_result, as it
        finishes: nothing is kept (the command line writes results as they come)."""
        self.keep_results = False
        for first, batch in self.batches(items, total=len(items)):
            self.submit(call_batch, func, first, batch, numbered)
        for _ in self.wait_for_all():
            pass

    def describe_unfinished(self) -> str:
        ranges = [
            f"#{first}-{first + len(items) - 1}" if len(items) > 1 else f"#{first}"
            for first, items in sorted(self.unfinished.items())
        ]
        if self.not_read is not None:
            ranges.append(f"#{self.not_read} onwards")
        return "items " + ", ".join(ranges) if ranges else "none"


def bar_options(progress: bool) -> dict:
    """tqdm writes to stderr. Leaving `disable` unset lets TQDM_DISABLE=1 work."""
    options = {"unit": "item", "dynamic_ncols": True, "file": sys.stderr}
    if not progress:
        options["disable"] = True
    elif not sys.stderr.isatty():
        options["mininterval"] = 5  # in a CI log, each refresh is a new line
    return options
