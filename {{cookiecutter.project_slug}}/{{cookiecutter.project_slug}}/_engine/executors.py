"""Making executors, and opening the engine's Pool on them: how worker processes
start (and what they inherit: logs, one BLAS thread each), and open_pool, which
puts a Pool on a new executor, shut down after the run, or on one of yours.
"""

from __future__ import annotations

import concurrent.futures
import logging
import logging.handlers
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from . import cpython
from .ctrl_c import ctrl_c_held, unblock_ctrl_c
from .errors import check_main_is_guarded, check_not_starting_a_worker
from .outcomes import RETRY_ON, Outcomes
from .pool import Pool
from .rate import THROTTLE_RETRIES, Limiter, parse_rate
from .recycling import check_limits, limits_of
from .stops import stops_noted
from .worker_calls import Settings
from .worker_count import check_max_workers
from .worker_start import start_process_worker
from .workers import Workers

POOLS = ("process", "thread")
# How worker processes start: None picks forkserver, or spawn (see process_context).
# "fork" starts faster and shares the main process's memory, at fork's risks.
START_METHOD: str | None = None


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
        preload = ["__main__", "concurrent.futures.process"]
        if not cpython.forkserver_ignores_sys_path():
            preload += [f"{__package__}.worker_calls", f"{__package__}.worker_start"]
        context.set_forkserver_preload(preload)
    return context


class WorkerLogs:
    """Log records of worker processes travel on a queue to this process, where
    they go through its own logging (the command line shows them on stderr)."""

    def __init__(self, context):
        self.queue = context.Queue()
        # Its handler is not self: a cycle would keep the queue's locks for the
        # garbage collector, whose finalizer may then run inside the resource
        # tracker and warn of a leak (CPython before 3.13.7: gh-131788).
        self.listener = logging.handlers.QueueListener(self.queue, ThisProcessLogging)
        self.listener.start()

    def close(self) -> None:
        self.listener.stop()
        self.queue.close()
        self.queue.join_thread()


class ThisProcessLogging:
    """The listener's handler: a worker's record goes to the logger of its name."""

    @staticmethod
    def handle(record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


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
        return cpython.DaemonThreadPool(max_workers, initializer=unblock_ctrl_c)
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
    teardown=None,
    max_items_per_worker=None,
    max_worker_memory_mb=None,
    rate=None,
    throttle_retries=THROTTLE_RETRIES,
):
    """A Pool on a new executor, shut down at the end; or on `pool` itself when it
    is an executor (a cluster's, or one of yours), which is left running.

    The options are run_map's (its docstring says what each does). On an error
    or Ctrl-C, queued work is cancelled and worker processes are ended at once,
    instead of waiting for what is in flight."""
    check_long_run(timeout, retries)
    check_limits(pool, max_items_per_worker, max_worker_memory_mb)
    limits = limits_of(max_items_per_worker, max_worker_memory_mb)
    check_count("throttle_retries", throttle_retries)
    limiter = Limiter(parse_rate(rate))
    outcomes = Outcomes(
        keep_going, on_result, retries, tuple(retry_on), throttle_retries
    )
    with run_notes(pool) as notes, stops_noted(bool(timeout)) as stops:
        settings = Settings(timeout, tuple(retry_on), setup, teardown, limits, notes)
        if isinstance(pool, Executor):
            count = workers_of(pool, max_workers)
            workers = Workers(pool, settings, stops=stops)
            try:
                yield Pool(workers, count, outcomes, stops, limiter)
            finally:
                workers.let_go()
        else:
            count = check_max_workers(max_workers)
            with new_workers(pool, count, settings, stops) as workers:
                yield Pool(workers, count, outcomes, stops, limiter)


@contextmanager
def new_workers(pool: str, count: int, settings: Settings, stops=None):
    """Workers on a new executor, shut down as the block ends, or ended at once on
    an error or Ctrl-C."""
    if pool == "process":
        check_not_starting_a_worker()
        check_main_is_guarded(process_context().get_start_method())
    logs = one_blas_thread = workers = None
    try:
        with ctrl_c_held():  # queues hold semaphores: no half-made pool
            if pool == "process":  # first: the workers get its settings
                one_blas_thread = BlasThreadsPerWorker()
                logs = WorkerLogs(process_context())

            def new_executor():
                with ctrl_c_held():
                    return make_executor(pool, count, logs)

            workers = Workers(new_executor(), settings, new_executor, stops)
        yield workers
    except BaseException:
        if workers is not None:
            workers.stop_now()  # the executor in use: it may be a new one
        raise
    else:
        workers.shut_down(count)
    finally:
        if workers is not None:
            workers.end_groups()  # what the loop bodies started and left
            workers.let_go()
        if logs is not None:
            logs.close()
            logs = None  # a traceback keeps this frame: not its queue (WorkerLogs)
        if one_blas_thread is not None:
            one_blas_thread.restore()


@contextmanager
def run_notes(pool):
    """A run on processes gets a folder (its path is yielded; "" for other runs)
    for the running file of each worker process (which names the item of a worker
    that dies) and the notes of stuck items (Workers.end_stuck); removed after the
    run."""
    on_processes = pool == "process" or isinstance(pool, ProcessPoolExecutor)
    notes = tempfile.mkdtemp(prefix="pfor-run-") if on_processes else ""
    try:
        yield notes
    finally:
        if notes:
            shutil.rmtree(notes, ignore_errors=True)


def workers_of(executor: Executor, max_workers) -> int:
    """How many items an executor of yours runs at once."""
    refuse_interpreter_pools(executor)
    workers = max_workers or cpython.max_workers(executor)
    if workers is None:
        raise ValueError(
            "pass max_workers with an executor of yours: how many items it "
            "runs at once (for a cluster, its number of worker threads)"
        )
    return check_max_workers(workers)


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
    check_count("retries", retries)


def check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number from 0 up, not {value!r}")
