"""What setup() made in each worker, for worker_resource(), and its teardown().

Each worker keeps its own: a worker process one, each thread of a thread pool
(or of a cluster's workers) one, so that objects which are not thread-safe, such
as most database connections, are never shared. teardown(resource) runs in the
worker that made it, when that worker is done with it:

    a worker process      as it exits at the end of the pool (multiprocessing
                          runs its exit finalizers then)
    a thread of our pool  at the end of the pool: tear_down_each_thread
    any worker            when it sets up for another run (shared workers)

Not after a crash, kill -9, Ctrl-C, or on a thread left running past its timeout.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

NOTHING = object()  # no setup() ran in this worker


class Counted(logging.Filter):
    """Counts the records that pass it."""

    count = 0

    def since(self, earlier: int) -> int:
        """How many passed since the count was `earlier`."""
        return self.count - earlier

    def filter(self, record: logging.LogRecord) -> bool:
        self.count += 1
        return True


# Where teardown failures are logged, here and (sent here) in worker processes;
# the command line exits 1 after any.
TEARDOWN_LOG = logging.getLogger(f"{__package__}.teardown")
TEARDOWN_FAILURES = Counted()
TEARDOWN_LOG.addFilter(TEARDOWN_FAILURES)


class HeldResource(threading.local):
    """What setup() returned in this worker, and the teardown() that closes it."""

    resource: object = NOTHING
    teardown: Callable[[object], object] | None = None

    def hold(self, resource, teardown) -> None:
        self.resource, self.teardown = resource, teardown
        if teardown is not None:
            HOLDERS.add(threading.get_ident())

    def let_go(self) -> tuple[object, Callable[[object], object] | None]:
        """(resource, teardown) held until now; nothing is held after."""
        held = self.resource, self.teardown
        self.resource, self.teardown = NOTHING, None
        HOLDERS.discard(threading.get_ident())
        return held


HELD = HeldResource()
HOLDERS: set[int] = set()  # threads of this process holding a resource to tear down
finalizer_registered = False  # in this worker process


def worker_resource():
    """What setup() returned in this worker (this thread, on a thread pool): call
    it in the loop body, for example `connection = worker_resource()`."""
    if HELD.resource is NOTHING:
        raise RuntimeError(
            "worker_resource() gives what setup() returned in this worker, and no "
            "setup() ran here: pass setup= to run_map or run_submit (the command "
            "line uses tasks.setup), and call worker_resource() in the loop body"
        )
    return HELD.resource


def set_up(setup, teardown) -> None:
    """setup() in this worker, its result kept for worker_resource(), after what
    an earlier run set up here was torn down. What setup() raises propagates."""
    global finalizer_registered
    tear_down()
    if setup is not None:
        HELD.hold(setup(), teardown)
    in_process = threading.current_thread() is threading.main_thread()
    in_process = in_process and multiprocessing.parent_process() is not None
    if teardown and in_process and not finalizer_registered:
        # Runs as this worker process exits normally (after its last item).
        multiprocessing.util.Finalize(None, tear_down, exitpriority=10)
        finalizer_registered = True


def tear_down() -> None:
    """teardown(resource) of this worker, if it has one; a failure is logged."""
    resource, teardown = HELD.let_go()
    if teardown is None or resource is NOTHING:
        return
    try:
        teardown(resource)
    except Exception as exc:
        where = f"process {os.getpid()}, thread {threading.current_thread().name}"
        TEARDOWN_LOG.error(
            "teardown() failed in a worker (%s): %s: %s",
            *(where, type(exc).__name__, exc),
            exc_info=True,
        )


def tear_down_each_thread(executor: ThreadPoolExecutor, threads: int) -> None:
    """tear_down() in each thread of a thread pool as it ends: the executor has no
    hook for that, so it gets one call per thread, and each call waits at a
    barrier until all have started, so that no thread takes two."""
    if threads < 1:
        return
    barrier = threading.Barrier(threads)

    def in_this_thread():
        tear_down()
        barrier.wait(timeout=60)  # all threads hold one call: never that long

    wait([executor.submit(in_this_thread) for _ in range(threads)])
