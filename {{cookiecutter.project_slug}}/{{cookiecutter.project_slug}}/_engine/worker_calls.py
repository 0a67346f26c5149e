"""What runs in the workers (processes or threads), behind pool.py.

    in_worker    wraps every call sent to a worker: runs setup() once in each
                 worker (a process, or a thread of a thread pool) first,
                 keeping its result for worker_resource (resources.py)
    call_batch   the loop body on each item of a batch; failures captured
(worker_start.py starts each worker process: signals, logs, parent watch.)

A per-item timeout is enforced inside worker processes: a watch thread sends
SIGALRM to an item that runs too long, which interrupts a sleep, a socket wait or
pure Python code. An item stuck where Python cannot interrupt it (a C call, which
may hold the GIL and so stop the watch thread too) gets STUCK_GRACE more:
then the main process, which reads each worker's item and its start in a slot
file here, leaves a note, ends that worker and replaces the pool.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from .recycling import may_run_another
from .resources import set_up

# A worker process's item (-1: none) and its monotonic start, in a file it maps
# (timed runs only): the main process reads it without this process's help.
SLOT = struct.Struct("qd")
slot: mmap.mmap | None = None

# thread id -> [index of the item that thread runs or None, its monotonic start
# (timed runs only)]: a list per thread, updated in place, which costs a few ns
# per item. Read by the log filter, the SIGALRM handler, the watch thread and, on
# a thread pool, by the main thread, which records items that run too long.
RUNNING: dict[int, list] = {}
WATCHED_RUN: int | None = None  # the run whose timeout this process's watch enforces


@dataclass
class Failure:
    """Stands in for the result of an item whose loop body raised."""

    item: str  # the item, described in a few words
    error: str  # "ValueError: bad input"
    traceback: str  # the worker's traceback, as text
    index: int | None = None  # position in the input, filled in by the caller
    retryable: bool = False  # its exception is one that Settings.retry_on names
    not_run: bool = False  # its worker was spent (_recycling): it is sent again

    def describe(self) -> str:
        return f"item #{self.index} ({self.item}) failed: {self.error}"


class ItemTimeout(TimeoutError):
    """An item ran longer than the timeout. A TimeoutError, so that the default
    RETRY_ON tries it again."""


@dataclass
class Settings:
    """How workers run the items of one run: sent along with every batch."""

    timeout: float | None = None
    retry_on: tuple[type[BaseException], ...] = ()
    setup: Callable[[], object] | None = None  # run once in each worker first
    teardown: Callable[[object], object] | None = None  # with what setup returned
    max_items: int | None = None  # per worker process: see recycling.py
    max_memory_mb: float | None = None
    notes: str = ""  # a folder for notes about stuck items
    run: int = field(default_factory=lambda: time.monotonic_ns())  # this run's id

    def limits(self) -> tuple | None:
        if self.max_items is None and self.max_memory_mb is None:
            return None
        return self.max_items, self.max_memory_mb


@dataclass
class SetupFailed:
    """What a worker returns instead of results when setup() raised."""

    error: str
    traceback: str


class Here(threading.local):
    """This worker thread's state: which run it has set up for."""

    run: int | None = None
    settings = Settings()


HERE = Here()


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


def failure_of(item, exc: BaseException, retry_on=()) -> Failure:
    return Failure(
        item=describe(item),
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback_of(exc),
        retryable=isinstance(exc, retry_on),
    )


def traceback_of(exc: BaseException) -> str:
    """The traceback as text, from the loop body on. The frames that call it (the
    engine's, and wrappers such as the command line's) say nothing to the user:
    each marks itself with a local __tracebackhide__, as pytest's frames do."""
    frames = exc.__traceback__
    while frames and frames.tb_frame.f_locals.get("__tracebackhide__"):
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(exc), exc, frames))


def in_worker(settings: Settings, fn, *args):
    """fn(*args) in a worker, once this worker is set up for the run."""
    if HERE.run != settings.run:
        HERE.settings = settings
        if threading.current_thread() is threading.main_thread():
            watch_the_time(settings)  # a worker process, maybe shared with a run before
        try:
            set_up(settings.setup, settings.teardown)
        except BaseException as exc:
            return SetupFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        HERE.run = settings.run
    return fn(*args)


def call_batch(func, first: int, items: list, numbered: bool):
    """In a worker: func(item), or func(index, item), for each item of a batch.

    An item that raises, even SystemExit or KeyboardInterrupt, becomes a Failure:
    one bad item neither stops its batch nor takes its worker down. Returns
    (first, outcomes, seconds, positions of the failures): the seconds let the
    pool size the next batches.
    """
    __tracebackhide__ = True  # not in an item's traceback: traceback_of
    retry_on, limits = HERE.settings.retry_on, HERE.settings.limits()
    timed = HERE.settings.timeout is not None
    running = RUNNING.setdefault(threading.get_ident(), [None, 0.0])
    started = time.perf_counter()
    outcomes: list = []
    failed = []
    for index, item in enumerate(items, first):
        if limits and not may_run_another(*limits):
            failed.append(len(outcomes))
            outcomes.append(Failure(describe(item), "", "", index, not_run=True))
            continue
        try:
            try:
                if timed:
                    running[1] = time.monotonic()  # before the index: see watch()
                    if slot is not None:
                        SLOT.pack_into(slot, 0, index, running[1])
                running[0] = index
                outcome = func(index, item) if numbered else func(item)
            finally:
                running[0] = None  # a timeout raised before here is this item's
                if slot is not None:
                    SLOT.pack_into(slot, 0, -1, 0.0)
        except BaseException as exc:
            if isinstance(exc, ItemTimeout):
                end_what_this_worker_started()
            outcome = failure_of(item, exc, retry_on)
            failed.append(len(outcomes))
        outcomes.append(outcome)
    return first, outcomes, time.perf_counter() - started, failed


def call_each(func, first: int, batch: list) -> list:
    """func(index, item) for each item of a batch, first the index of its first
    item. The engine's pool runs it as call_batch, which captures each failure."""
    return [func(index, item) for index, item in enumerate(batch, first)]


@contextmanager
def running_item(index: int):
    """Marks this thread as running item #index meanwhile (run_serial's items)."""
    running = RUNNING.setdefault(threading.get_ident(), [None, 0.0])
    running[0] = index
    try:
        yield
    finally:
        running[0] = None


def current_index() -> int | None:
    """The index of the item this thread runs, if any: for log records."""
    running = RUNNING.get(threading.get_ident())
    return None if running is None else running[0]


# --- Timeouts in worker processes ------------------------------------------------


def watch_the_time(settings: Settings) -> None:
    """Starts the thread that stops items that run too long in this process, and
    opens its slot (see SLOT) for the main process."""
    global WATCHED_RUN, slot
    WATCHED_RUN = settings.run  # a watch thread of an earlier run stops
    slot = None
    if not settings.timeout:
        return
    path = slot_path(settings.notes, os.getpid())
    path.parent.mkdir(exist_ok=True)
    with path.open("w+b") as file:
        file.write(SLOT.pack(-1, 0.0))
        file.flush()
        slot = mmap.mmap(file.fileno(), SLOT.size)
    if not hasattr(signal, "SIGALRM"):  # Windows: the main process ends late items
        return
    signal.signal(signal.SIGALRM, raise_timeout)
    main = threading.get_ident()
    threading.Thread(target=watch, args=(main, settings), daemon=True).start()


def raise_timeout(signum, frame):
    """SIGALRM handler: the item running now is over its time, unless it just
    ended (then the signal is late, and ignored)."""
    running = RUNNING.get(threading.get_ident(), [None, 0.0])
    timeout = HERE.settings.timeout
    if running[0] is not None and timeout and time.monotonic() - running[1] >= timeout:
        raise ItemTimeout(f"timed out after {timeout:g} s")


def watch(main: int, settings: Settings) -> None:
    timeout = settings.timeout or 0.0  # set: the watch starts only with a timeout
    tick = min(0.05, timeout / 4)
    signalled = None
    while True:
        time.sleep(tick)
        index, started = RUNNING.get(main, [None, 0.0])  # index read first
        if WATCHED_RUN != settings.run:  # set before a later run's items start
            return
        if index is None:
            continue
        running = (index, started)
        late = time.monotonic() - started - timeout
        if late < 0:
            continue
        if running != signalled:
            signal.pthread_kill(main, signal.SIGALRM)
            signalled = running


def end_what_this_worker_started() -> None:
    """After an item timed out in a worker process, which leads its own process
    group: SIGTERM to the commands it started (ignored here meanwhile)."""
    if not hasattr(os, "killpg") or os.getpgrp() != os.getpid():
        return
    if threading.current_thread() is not threading.main_thread():
        return  # not a worker process of ours
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


def slot_path(notes: str, pid: int) -> Path:
    return Path(notes, "slots", str(pid))


def read_slot(path: Path) -> tuple[int, float]:
    """(index, start) of the item a worker process runs, (-1, 0.0) for none. A
    write can be caught halfway, even twice in a row (its process paused between
    the two fields): with the new index and the start of none, 0.0. That is none."""
    try:
        first, second = path.read_bytes(), path.read_bytes()
    except OSError:
        return -1, 0.0
    if first != second or len(first) != SLOT.size:
        return -1, 0.0
    index, started = SLOT.unpack(first)
    return (index, started) if started > 0 else (-1, 0.0)
