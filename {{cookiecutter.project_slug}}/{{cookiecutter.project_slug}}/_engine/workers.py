"""The workers of a Pool: the executor they belong to, watched, replaced and ended.

A Pool sends batches and settles them; its Workers hold the executor and answer
for the processes and threads behind it: what the loop bodies started (each
worker process leads a process group), the item of a worker that died, a worker
that died where its executor did not notice, one stuck in C code past its
timeout, threads held by items that run on past theirs, and the executor's
replacement (a worker died or was ended for a stuck item, its workers are spent,
or its threads are all held) and its end.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import signal
import time
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from pathlib import Path
from typing import NamedTuple

from . import cpython
from .ctrl_c import ctrl_c_held
from .errors import SetupError
from .resources import HOLDERS, tear_down_each_thread
from .stops import Stops
from .worker_calls import (
    RUNNING,
    THIS_WORKER,
    Settings,
    SetupFailed,
    in_worker,
    read_running_file,
    running_file_path,
)

# The longest a worker process's warm-up waits for the others (Workers.warm_up).
WARM_UP_SECONDS = 10.0
# An executor notices a dead worker within milliseconds; one it has not noticed
# after this many seconds never will (see end_workers).
DEAD_WORKER_GRACE = 2.0
# Seconds an item gets past its timeout, for SIGALRM to stop it, before this process
# ends its worker (see Workers.end_stuck).
STUCK_GRACE = 2.0


class Crash(NamedTuple):
    """An item whose worker process died under it, and how that worker ended."""

    item_index: int
    how: str


class Workers:
    """The executor a Pool runs on and the workers behind it. `renew` makes a new
    executor like it (None: an executor of yours, never replaced nor shut down)."""

    def __init__(
        self, executor: Executor, settings: Settings, renew=None, stops=None
    ) -> None:
        self.executor = executor
        self.settings = settings
        self.renew = renew
        self.stops: Stops = stops or Stops()  # this process's: see end_stuck
        self.groups: set[int] = set()  # worker processes' groups: see note_groups
        self.processes: dict[int, object] = {}  # pid -> worker process of executor
        self.ended_here: set[int] = set()  # pids ended for a stuck item
        self.death_seen_at: float | None = None  # of a worker the executor missed
        self.late_threads = False  # a thread runs on past its item's timeout

    # --- What they are --------------------------------------------------------

    def are_processes(self) -> bool:
        """Worker processes stop their own late items; elsewhere the Pool does."""
        return isinstance(self.executor, ProcessPoolExecutor)

    def are_threads(self) -> bool:
        return isinstance(self.executor, ThreadPoolExecutor)

    def fork(self) -> bool:
        return cpython.forks(self.executor)

    def submit(self, fn, *args) -> Future:
        """executor.submit, with Ctrl-C held: a worker process may start meanwhile."""
        with ctrl_c_held():
            future = self.executor.submit(fn, *args)
        self.note_groups()
        return future

    def warm_up(self, func, count: int, stops: Stops) -> None:
        """Before a paced run's first item, each of `count` worker processes
        starts, sets up and imports the loop body `func` (warm_up, below):
        items would otherwise wait for it, then start together. Raises
        SetupError if setup() failed."""
        if not self.are_processes():
            return
        settings = self.settings
        calls = [
            self.submit(in_worker, settings, warm_up, func, count, WARM_UP_SECONDS)
            for _ in range(count)
        ]
        while not all(call.done() for call in calls):
            stops.awake()
            wait(calls, 0.5)  # not for ever: Ctrl-C is seen (pool.LONGEST_WAIT)
        for call in calls:
            if isinstance(failed := call.result(), SetupFailed):
                raise SetupError(failed.error, failed.traceback)

    # --- Process groups: what the loop bodies started ---------------------------

    def note_groups(self) -> None:
        """Remembers the worker processes, whose process groups are ended after the
        run (end_groups), and whose deaths crashes() explains: shutdown forgets
        them, and a dead one is gone from the executor."""
        for process in cpython.worker_processes(self.executor):
            self.processes[process.pid] = process
            self.groups.add(process.pid)

    def end_groups(self) -> None:
        """After the executor: SIGKILL to what is left of its workers' process groups
        (what a loop body started and left, what a worker that died had started).
        Soon after its workers ended: a group id is a pid, and pids are reused, but
        not within seconds."""
        for group in self.groups if hasattr(os, "killpg") else ():  # Windows
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.groups.clear()

    # --- Workers that died or are stuck ------------------------------------------

    def look_for_an_unseen_death(self) -> None:
        """A worker that died while sending a result leaves its executor blind (see
        end_workers): if it has not noticed a death after DEAD_WORKER_GRACE, its
        workers are ended, and it breaks as it should have."""
        if not self.are_processes():
            return
        if not a_worker_died_unseen(self.executor):
            self.death_seen_at = None
        elif self.death_seen_at is None:
            self.death_seen_at = time.monotonic()
        elif time.monotonic() - self.death_seen_at > DEAD_WORKER_GRACE:
            results = cpython.result_queue(self.executor)
            end_workers(cpython.worker_processes(self.executor), results)

    def end_stuck(self) -> None:
        """A worker process whose item is STUCK_GRACE past its timeout is stuck
        where its SIGALRM cannot reach (a C call; one that holds the GIL stops its
        watch thread too): ended from here, with a note naming the item, so the
        executor breaks, and the Pool replaces it (Pool.recover)."""
        timeout, notes = self.settings.timeout, self.settings.notes
        if not (timeout and notes and self.are_processes()):
            return
        for process in cpython.worker_processes(self.executor):
            running = read_running_file(running_file_path(notes, process.pid))
            # Less the time this process stood stopped: its workers may have too.
            late = self.stops.ran_for(running.started) - timeout
            if running.item_index >= 0 and late > STUCK_GRACE:
                Path(notes, str(running.item_index)).touch()
                end_worker(process, getattr(signal, "SIGKILL", None))
                self.ended_here.add(process.pid)
                self.groups.discard(process.pid)  # ended: the run may go on long

    def take_stuck_notes(self) -> list[int]:
        """The indexes of the items whose workers end_stuck ended; the notes go."""
        if not self.settings.notes:
            return []
        notes = [n for n in Path(self.settings.notes).iterdir() if n.is_file()]
        for note in notes:
            note.unlink()
        return sorted(int(note.name) for note in notes)

    def crashes(self) -> list[Crash]:
        """The items whose worker processes died under them, once the executor
        broke: a worker that ended on its own or was killed, while its running
        file named an item. Not one that the executor or this process ended with
        SIGTERM as the executor broke (it was running an item of its own, and is
        innocent), nor one ended here for a stuck item."""
        if not self.settings.notes:
            return []
        # The executor's own thread ends and joins every worker of a broken pool.
        # An exit code is read once, from a pipe where forkserver is the start
        # method: a second reader at the same time would read nothing (and 255).
        manager = cpython.manager_thread(self.executor)
        if manager is not None:
            manager.join(timeout=10)
        innocent = (None, -getattr(signal, "SIGTERM", 15))
        found = []
        for pid, process in self.processes.items():
            code = process.exitcode  # type: ignore[attr-defined]
            if code in innocent or pid in self.ended_here:
                continue
            running = read_running_file(running_file_path(self.settings.notes, pid))
            if running.item_index >= 0:
                found.append(Crash(running.item_index, how_it_ended(code)))
        return found

    # --- Threads held by late items ----------------------------------------------

    def leave_late_threads(self) -> None:
        """An item timed out on a thread, which cannot be stopped: it runs on, and
        the end of the run does not wait for it."""
        self.late_threads = True

    def threads_running_items(self) -> int:
        """How many threads of a thread pool run an item now (once the run is
        over: those that run on past their timeout)."""
        threads = cpython.threads(self.executor)
        running = [RUNNING.get(thread.ident or 0) for thread in threads]
        return len([r for r in running if r is not None and r.index is not None])

    def swap_held_threads(self, count: int) -> bool:
        """On a thread pool of ours whose `count` threads all run on past their
        timeout, queued work would never start: a new executor takes over. The held
        threads run on until their calls return, let go: not waited for at exit."""
        if self.renew is None or not self.are_threads():
            return False
        if self.threads_running_items() < count:
            return False
        held, self.executor = self.executor, self.renew()
        held.shutdown(wait=False)
        cpython.let_threads_go(held)
        return True

    # --- Replacing and ending them -------------------------------------------------

    def renewable(self) -> bool:
        """Whether this is an executor the run made, which it can replace."""
        return self.renew is not None

    def replace(self) -> None:
        """A new executor for one that broke (a worker died, or was ended for a
        stuck item)."""
        self.note_groups()
        stop_now(self.executor)
        self.end_groups()  # what its workers started: the dead one's too
        self.forget_processes()
        self.executor = self.renew()

    def forget_processes(self) -> None:
        """The workers of an executor that is gone are no longer this run's."""
        self.processes.clear()
        self.ended_here.clear()

    def recycle(self) -> None:
        """A new executor for one whose workers are spent, once nothing is in
        flight: teardown() runs in the old workers, setup() in the new ones."""
        self.note_groups()
        self.executor.shutdown(wait=True)
        self.end_groups()
        self.forget_processes()
        self.executor = self.renew()

    def shut_down(self, count: int) -> None:
        """The end of a run that went well: teardown() in each worker (in each of
        our `count` threads not held by a late item), and the executor shut down,
        waiting for its workers unless a late thread would hold it."""
        if isinstance(self.executor, ThreadPoolExecutor) and HOLDERS:
            tear_down_each_thread(self.executor, count - self.threads_running_items())
        self.note_groups()
        self.executor.shutdown(wait=not self.late_threads)

    def stop_now(self) -> None:
        """On an error or Ctrl-C: queued work cancelled, worker processes ended at
        once instead of waiting for what is in flight."""
        self.note_groups()
        stop_now(self.executor)

    def let_go(self) -> None:
        """The run is over: the executor is let go. A traceback keeps the frames of
        the run, and they keep this object: holding the executor, it would keep its
        queues' locks for the garbage collector (see WorkerLogs)."""
        self.executor = Executor()  # runs nothing: submit() raises
        self.renew = None


def stop_now(executor: Executor) -> None:
    # shutdown() forgets the worker processes and the executor's own thread, so
    # take hold of them first.
    processes = cpython.worker_processes(executor)
    manager = cpython.manager_thread(executor)
    results = cpython.result_queue(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    cpython.let_threads_go(executor)  # a thread blocked for good: not waited for
    end_workers(processes, results)
    if manager is not None:
        manager.join(timeout=10)  # it closes the executor's queues: nothing leaks


def end_workers(processes: list, results) -> None:
    """Ends the worker processes. A worker killed while it sent a result leaves
    half a message in the executor's result pipe, and the executor's own thread
    waits for the rest of it forever, unable to see anything else; once no worker
    is left, closing this process's end of that pipe ends the wait."""
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


def how_it_ended(code: int) -> str:
    """How a worker process ended, from its exit code, for WorkerCrashed."""
    if code >= 0:
        return f"its worker process exited with code {code} while running it"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    why = ""
    if -code == getattr(signal, "SIGKILL", 9):
        why = " (possibly out of memory: the kernel's OOM killer sends SIGKILL)"
    return f"its worker process was killed by {name} while running it{why}"


def a_worker_died_unseen(executor: Executor) -> bool:
    """A worker process has ended, but its executor has not noticed (end_workers)."""
    if cpython.known_broken(executor):
        return False
    sentinels = [process.sentinel for process in cpython.worker_processes(executor)]
    return bool(multiprocessing.connection.wait(sentinels, 0))


def warm_up(func, count: int, seconds: float) -> None:
    """A paced run's first call in each worker process (Workers.warm_up), with the
    loop body, whose module it thus imports: returns once `count` worker
    processes set up for the run (each has its running file), or after
    `seconds`. Each holds its worker meanwhile, so each call gets one."""
    del func  # unpickled, so imported: what the first item would wait for
    notes = THIS_WORKER.settings.notes
    if not notes:
        return
    folder = Path(notes, "running")
    deadline = time.monotonic() + seconds
    while len(os.listdir(folder)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
