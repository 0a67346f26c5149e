"""Ending workers: at once, on an error or Ctrl-C; when one died and its pool did
not notice; when an item is stuck where its timeout cannot reach (a thread cannot
be ended: its item is abandoned); when they are spent (recycle_workers). And
Ctrl-C held while a pool is made, so that nothing is ever left half started.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from pathlib import Path

from . import cpython
from .cpython import known_broken, worker_processes
from .worker_calls import RUNNING, read_slot, slot_path

# A pool notices a dead worker within milliseconds; one it has not noticed after
# this many seconds never will (see end_workers).
DEAD_WORKER_GRACE = 2.0
# Seconds an item gets past its timeout, for SIGALRM to stop it, before this process
# ends its worker (see end_stuck_workers).
STUCK_GRACE = 2.0


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


def unblock_ctrl_c() -> None:
    """First in each thread of a thread pool, made while Ctrl-C was held: the
    commands its loop body runs would inherit SIGINT blocked, and live on."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def stop_now(executor: Executor) -> None:
    # shutdown() forgets the worker processes and the pool's own thread, so take
    # hold of them first.
    processes = worker_processes(executor)
    manager = cpython.manager_thread(executor)
    results = cpython.result_queue(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    cpython.let_threads_go(executor)  # a thread blocked for good: not waited for
    end_workers(processes, results)
    if manager is not None:
        manager.join(timeout=10)  # it closes the pool's queues: nothing leaks


def end_workers(processes: list, results) -> None:
    """Ends the worker processes. A worker killed while it sent a result leaves
    half a message in the pool's result pipe, and the pool's own thread waits
    for the rest of it forever, unable to see anything else; once no worker is
    left, closing this process's end of that pipe ends the wait."""
    for process in processes:
        end_worker(process, getattr(signal, "SIGTERM", None))
    for process in processes:
        process.join(timeout=5)
    if results is not None and all(p.exitcode is not None for p in processes):
        cpython.close_result_pipe(results)


def end_worker(process, signum) -> None:
    """Sends a worker process signum (None: terminate() on Windows) and, once it
    leads its own process group (start_process_worker), all it started too."""
    if own_group(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
    elif signum == getattr(signal, "SIGKILL", None):
        process.kill()
    else:
        process.terminate()


def own_group(pid: int) -> bool:
    """Whether a live process leads a process group of its own."""
    try:
        return hasattr(os, "getpgid") and os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def note_worker_groups(pool) -> None:
    """Remembers the pool's worker processes, whose process groups are ended after
    the run (end_worker_groups): shutdown forgets them, and a dead one is gone."""
    pool.worker_groups.update(p.pid for p in worker_processes(pool.executor))


def end_worker_groups(pool) -> None:
    """After the pool: SIGKILL to what is left of its workers' process groups (what
    a loop body started and left, what a worker that died had started). Soon after
    its workers ended (a dead one breaks the pool): a group id is a pid, and pids
    are reused, but not within seconds."""
    for group in pool.worker_groups if hasattr(os, "killpg") else ():  # Windows
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def a_worker_died_unseen(executor: Executor) -> bool:
    """A worker process has ended, but the pool has not noticed (see end_workers)."""
    if known_broken(executor):
        return False
    sentinels = [process.sentinel for process in worker_processes(executor)]
    return bool(multiprocessing.connection.wait(sentinels, 0))


def end_stuck_workers(pool) -> None:
    """A worker process whose item is STUCK_GRACE past its timeout is stuck
    where its SIGALRM cannot reach (a C call; one that holds the GIL stops its
    watch thread too): ended from here, with a note naming the item, so the
    pool breaks and is replaced (replace_stuck_worker)."""
    if not (pool.settings.timeout and pool.times_in_workers()):
        return
    limit = pool.settings.timeout + STUCK_GRACE
    for process in worker_processes(pool.executor):
        index, started = read_slot(slot_path(pool.settings.notes, process.pid))
        if index >= 0 and time.monotonic() - started > limit:
            Path(pool.settings.notes, str(index)).touch()
            end_worker(process, getattr(signal, "SIGKILL", None))
            pool.worker_groups.discard(process.pid)  # ended: the run may go on long


def look_for_an_unseen_death(pool) -> None:
    """A worker that died while sending a result leaves the pool blind (see
    end_workers): if the pool has not noticed a death after DEAD_WORKER_GRACE,
    its workers are ended, and the pool breaks as it should have."""
    if not isinstance(pool.executor, ProcessPoolExecutor):
        return
    if not a_worker_died_unseen(pool.executor):
        pool.death_seen_at = None
    elif pool.death_seen_at is None:
        pool.death_seen_at = time.monotonic()
    elif time.monotonic() - pool.death_seen_at > DEAD_WORKER_GRACE:
        results = cpython.result_queue(pool.executor)
        end_workers(worker_processes(pool.executor), results)


def pool_broke(futures) -> bool:
    return any(
        not future.cancelled() and isinstance(future.exception(), BrokenExecutor)
        for future in futures
    )


def replace_stuck_worker(pool, lost: list[int]) -> bool:
    """A worker process was ended for an item stuck past its timeout, and
    the pool broke with it: that item is recorded as timed out, a new pool
    starts, and the other items that were in flight are sent again."""
    if not pool.settings.notes or pool.renew is None:
        return False
    notes = [note for note in Path(pool.settings.notes).iterdir() if note.is_file()]
    stuck = sorted(int(note.name) for note in notes)
    if not stuck:
        return False
    for note in notes:
        note.unlink()
    stop_now(pool.executor)
    pool.executor = pool.renew()
    error = (
        f"timed out after {pool.settings.timeout:g} s (stuck where Python "
        "could not interrupt it: its worker process was replaced)"
    )
    for first in sorted(lost):
        items = pool.outcomes.unfinished.pop(first)
        start = first  # the first item of the batch not yet sent again
        for index in [i for i in stuck if first <= i < first + len(items)]:
            pool.send_again(start, items[start - first : index - first])
            pool.outcomes.unfinished[index] = [items[index - first]]
            pool.outcomes.time_out(index, error)
            start = index + 1
        pool.send_again(start, items[start - first :])
    return True


def recycle_workers(pool) -> None:
    """A worker ran its max_items_per_worker or passed max_worker_memory_mb (see
    recycling.py): once the batches in flight are back, the pool is replaced."""
    while pool.in_flight:  # as Pool.wait_a_little does, but sending nothing
        tick = 0.05 if pool.settings.timeout else 0.5  # short: sees Ctrl-C
        done = wait(pool.in_flight, tick, FIRST_COMPLETED).done
        if not done:
            look_for_an_unseen_death(pool)
        pool.handle(done)
        end_stuck_workers(pool)  # a late item is stopped meanwhile too
    pool.outcomes.workers_spent = False  # after: the batches back may say so too
    note_worker_groups(pool)
    pool.executor.shutdown(wait=True)  # teardown() runs in each worker
    end_worker_groups(pool)
    pool.worker_groups.clear()
    pool.executor = pool.renew()  # whose workers run setup() again


def threads_running_items(executor: Executor) -> int:
    """How many threads of a thread pool run an item now (once the run is over:
    those that run on past their timeout)."""
    running = [RUNNING.get(thread.ident or 0) for thread in cpython.threads(executor)]
    return len([slot for slot in running if slot is not None and slot[0] is not None])


def replace_held_threads(pool) -> None:
    """On a thread pool of ours whose every thread runs on past its timeout, the
    batches still queued would never start: a new pool runs them. The held
    threads run on until their calls return, let go: not waited for at exit."""
    if pool.renew is None or not isinstance(pool.executor, ThreadPoolExecutor):
        return
    if any(future.running() for future in pool.in_flight) or not pool.in_flight:
        return  # a thread runs a batch of ours: not all of them are held
    if threads_running_items(pool.executor) < pool.workers:
        return
    held, pool.executor = pool.executor, pool.renew()
    held.shutdown(wait=False)
    cpython.let_threads_go(held)
    for future, first in list(pool.in_flight.items()):
        if future.cancel():  # not started: sent to the new pool instead
            del pool.in_flight[future]
            pool.submitted_at.pop(future, None)
            pool.send_again(first, pool.outcomes.unfinished.pop(first))


def abandon_late_items(pool) -> None:
    """On a thread pool or a cluster: an item past its timeout is recorded as
    timed out, and the run goes on without it (a thread cannot be stopped)."""
    timeout = pool.settings.timeout
    if not timeout or pool.times_in_workers():
        return
    now = time.monotonic()
    if isinstance(pool.executor, ThreadPoolExecutor):  # from when it started
        running = [list(slot) for slot in list(RUNNING.values())]
        started = {index: at for index, at in running if index is not None}
        late = [f for f, first in pool.in_flight.items() if first in started]
        late = [f for f in late if now - started[pool.in_flight[f]] > timeout]
    else:  # on a cluster: from when it was sent
        late = [f for f, at in pool.submitted_at.items() if now - at > timeout]
    pool.let_go.extend(late)
    for future in late:
        first = pool.in_flight.pop(future)
        pool.submitted_at.pop(future, None)
        future.cancel()
        pool.abandoned = True
        pool.outcomes.time_out(first, f"timed out after {timeout:g} s")
    if late:
        replace_held_threads(pool)
