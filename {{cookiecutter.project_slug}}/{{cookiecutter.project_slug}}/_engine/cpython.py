"""What the engine reads of CPython's private insides, all in one place.

concurrent.futures has no public way to reach a process pool's worker processes
or its own thread (before Python 3.14's terminate_workers()), which stopping at
once and noticing a death need, nor to let a blocked thread go at exit;
multiprocessing has none to tell that a worker process still imports the main
script; and sys._is_gil_enabled (3.13+) tells a free-threaded Python running
without the GIL. missing() names what a Python lacks of these: the template's
tests run it on every Python they support.
"""

from __future__ import annotations

import concurrent.futures.thread
import inspect
import multiprocessing
import multiprocessing.spawn
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

# (what, attribute): the private names read below, for missing().
READ = [
    ("ProcessPoolExecutor", "_processes"),
    ("ProcessPoolExecutor", "_executor_manager_thread"),
    ("ProcessPoolExecutor", "_result_queue"),
    ("ProcessPoolExecutor", "_broken"),
    ("ProcessPoolExecutor", "_shutdown_thread"),
    ("ProcessPoolExecutor", "_max_workers"),
    ("ProcessPoolExecutor._result_queue", "_writer"),
    ("ProcessPoolExecutor", "_mp_context"),
    ("ThreadPoolExecutor", "_threads"),
    ("ThreadPoolExecutor", "_adjust_thread_count"),
    ("threading.Thread", "_daemonic"),
    ("concurrent.futures.thread", "_threads_queues"),
    ("sys", "_is_gil_enabled"),  # Python 3.13+ only: see SINCE
    ("multiprocessing.spawn", "_inheriting"),  # set as a worker starts: see missing()
]
# Names of READ that older Pythons lack by design: (what, attribute) -> version.
SINCE = {("sys", "_is_gil_enabled"): (3, 13)}


def worker_processes(executor: Executor) -> list:
    """A process pool's worker processes (none for other executors)."""
    return list((getattr(executor, "_processes", None) or {}).values())


def manager_thread(executor: Executor) -> threading.Thread | None:
    """The thread of a process pool that sends work and receives results."""
    return getattr(executor, "_executor_manager_thread", None)


def result_queue(executor: Executor):
    return getattr(executor, "_result_queue", None)


def close_result_pipe(results) -> None:
    """Closes this process's writing end of a pool's result pipe: the pool's thread
    then reads to its end, instead of waiting for the rest of a message cut short."""
    results._writer.close()


def known_broken(executor: Executor) -> bool:
    """The pool knows it is broken (a worker died) or shut down."""
    return bool(
        getattr(executor, "_broken", False) or getattr(executor, "_shutdown_thread", 0)
    )


class DaemonThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor of daemon threads: one that Ctrl-C left blocked (in a
    read with no timeout, which nothing can stop) does not hold the program's exit
    once let_threads_go let it go. Until then, Python waits for them at exit as
    for any pool's: a thread running past its timeout still finishes its item."""

    def _adjust_thread_count(self) -> None:
        maker = threading.current_thread()  # Thread() takes its daemon flag from it
        was, maker._daemonic = maker._daemonic, True  # type: ignore[attr-defined]
        try:
            super()._adjust_thread_count()  # type: ignore[misc]
        finally:
            maker._daemonic = was  # type: ignore[attr-defined]


def threads(executor: Executor) -> list[threading.Thread]:
    """A thread pool's threads (none for other executors)."""
    return list(getattr(executor, "_threads", ()))


def pool_threads_waited_for() -> list[threading.Thread]:
    """The threads of every thread pool, which concurrent.futures joins at exit."""
    return list(concurrent.futures.thread._threads_queues)


def let_threads_go(executor: Executor) -> None:
    """After Ctrl-C: Python no longer waits at exit for a DaemonThreadPool's
    threads still running (concurrent.futures joins those it lists at exit)."""
    for thread in threads(executor):
        if thread.daemon:
            concurrent.futures.thread._threads_queues.pop(thread, None)  # type: ignore[attr-defined]


def max_workers(executor: Executor) -> int | None:
    return getattr(executor, "_max_workers", None)


def forks(executor: Executor) -> bool:
    """Whether a process pool starts its workers with fork (a cluster does not)."""
    context = getattr(executor, "_mp_context", None)
    return context is not None and context.get_start_method() == "fork"


def forkserver_ignores_sys_path() -> bool:
    """Before Python 3.12.8 and 3.13.1 the forkserver imported the modules it
    preloads with a sys.path of its own, not this process's (gh-117378): it could
    preload another copy of this package, an installed one, whose code the
    workers would then run."""
    version = sys.version_info[:3]
    return version < (3, 12, 8) or (3, 13) <= version < (3, 13, 1)


def starting_a_worker() -> bool:
    """This process is a worker process of the spawn or forkserver start method
    that still imports the main script (multiprocessing.spawn sets the flag)."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def gil_enabled() -> bool:
    """False on a free-threaded Python (3.13t, 3.14t) running without the GIL."""
    is_enabled = getattr(sys, "_is_gil_enabled", None)  # Python 3.13+
    return True if is_enabled is None else is_enabled()


def missing() -> list[str]:
    """The names of READ that this Python does not have."""
    executor = ProcessPoolExecutor(1)  # no worker starts before the first submit
    threads = ThreadPoolExecutor(1)  # nor a thread
    try:
        where = {
            "ProcessPoolExecutor": executor,
            "ProcessPoolExecutor._result_queue": result_queue(executor),
            "ThreadPoolExecutor": threads,
            "threading.Thread": threading.current_thread(),
            "concurrent.futures.thread": concurrent.futures.thread,
            "sys": sys,
        }
        absent = []
        for what, name in READ:
            if sys.version_info < SINCE.get((what, name), (0,)):
                continue
            if what == "multiprocessing.spawn":  # an attribute only while starting
                found = name in inspect.getsource(multiprocessing.spawn)
            else:
                found = hasattr(where[what], name)
            if not found:
                absent.append(f"{what}.{name}")
        return absent
    finally:
        executor.shutdown()
        threads.shutdown()
