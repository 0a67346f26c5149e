"""Opening a pool, and closing it fast when a run stops early."""

from __future__ import annotations

import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager

POOLS = ("process", "thread")


def set_worker_signals() -> None:
    """Runs first in each worker process."""
    # Ctrl-C reaches every process of the terminal. The main process handles it;
    # without this, each worker would also print its own KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the main process's SIGTERM handler; it should just
    # end when the main process terminates it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def make_executor(pool: str, max_workers: int) -> Executor:
    if pool == "process":
        return ProcessPoolExecutor(max_workers, initializer=set_worker_signals)
    if pool == "thread":
        return ThreadPoolExecutor(max_workers)
    raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")


@contextmanager
def open_pool(pool: str, max_workers: int):
    """Like `with make_executor(...)`, but an error or Ctrl-C does not wait for the
    queued work: it is cancelled, and worker processes are ended at once."""
    executor = make_executor(pool, max_workers)
    try:
        yield executor
    except BaseException:
        # shutdown() forgets the worker processes, so take hold of them first.
        # (Python 3.14 has terminate_workers(); 3.10 to 3.13 only this private dict.)
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=2)
        raise
    executor.shutdown(wait=True)
