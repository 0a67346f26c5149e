"""What runs in the workers (processes or threads): each call the Pool sends there.

    in_worker    wraps every call sent to a worker: sets the worker up for the
                 run first, once per run (setup(), the timeout watch)
    call_batch   the loop body on each item of a batch, each failure captured;
                 returns a BatchDone
    call_each    what run_submit submits: func(index, item) for each item
(worker_start.py starts each worker process: signals, logs, its parent.)

Each worker process writes the item it runs, and when it started, in a small file
that it maps (its running file), which the main process reads without the
worker's help: to name the item of a worker that died, and to end a worker whose
item is stuck past its timeout. A per-item timeout is enforced inside worker
processes: a watch thread sends SIGALRM to an item that runs too long, which
interrupts a sleep, a socket wait or pure Python code. An item stuck where Python
cannot interrupt it (a C call, which may hold the GIL and so stop the watch thread
too) is ended from the main process.
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
from typing import NamedTuple

from .rate import PAUSED_UNTIL, Throttle, pause_here, paused, throttle_of
from .recycling import Limits, may_run_another
from .resources import set_up
from .stops import Stops


class Running:
    """The item one thread runs now: its index (None: none) and its monotonic
    start (timed runs only). Other threads read it: the log filter, the SIGALRM
    handler, the watch thread and, on a thread pool, the main thread. The start
    is written before the index and read after it, so whoever sees an index sees
    its start."""

    __slots__ = ("index", "started")

    def __init__(self) -> None:
        self.index: int | None = None
        self.started = 0.0

    def begin(self, index: int, started: float = 0.0) -> None:
        self.started = started
        self.index = index

    def end(self) -> None:
        self.index = None


RUNNING: dict[int, Running] = {}  # thread id -> what that thread runs
WATCHED_RUN: int | None = None  # the run whose timeout this process's watch enforces
# A worker process's stops (worker_start.py notes each SIGCONT), left out of the
# time its items ran.
WORKER_STOPS = Stops()


class RunningItem(NamedTuple):
    """An item a thread of this process runs now, and since when."""

    thread: int
    item_index: int
    started: float


# A worker process's running file: the index of its item (-1: none) and the item's
# monotonic start, in a file it maps (runs on a process pool of ours).
RUNNING_FILE = struct.Struct("qd")
running_file: mmap.mmap | None = None


class RunningInFile(NamedTuple):
    """A worker process's item as its running file says: item_index -1 for none."""

    item_index: int
    started: float


NOTHING_RUNNING = RunningInFile(-1, 0.0)


@dataclass
class Failure:
    """Stands in for the result of an item whose loop body raised."""

    item: str  # the item, described in a few words
    error: str  # "ValueError: bad input"
    traceback: str  # the worker's traceback, as text
    index: int | None = None  # position in the input: see put_at
    retryable: bool = False  # its exception is one that Settings.retry_on names
    not_run: bool = False  # its worker was spent (recycling.py): it is sent again
    held_back: bool = False  # an item before it was throttled: it is sent again
    throttle: Throttle | None = None  # the service said "too many requests" (rate.py)

    def put_at(self, index: int) -> Failure:
        """Records the item's position in the input, which its worker may not know."""
        self.index = index
        return self

    def describe(self) -> str:
        return f"item #{self.index} ({self.item}) failed: {self.error}"


class ItemTimeout(TimeoutError):
    """An item ran longer than the timeout. A TimeoutError, so that the default
    RETRY_ON tries it again."""


class WorkerCrashed(Exception):
    """The worker process that ran an item died under it: the loop body crashed
    the interpreter (a segfault in a C extension, os._exit), or something killed
    the worker (the out-of-memory killer's SIGKILL). Add it to RETRY_ON to try
    such an item again."""


@dataclass(frozen=True)
class Settings:
    """How workers run the items of one run: sent along with every batch."""

    timeout: float | None = None
    retry_on: tuple[type[BaseException], ...] = ()
    setup: Callable[[], object] | None = None  # run once in each worker first
    teardown: Callable[[object], object] | None = None  # with what setup returned
    limits: Limits | None = None  # per worker process: see recycling.py
    notes: str = ""  # a folder for the running files and notes of stuck items
    run: int = field(default_factory=lambda: time.monotonic_ns())  # this run's id


@dataclass
class SetupFailed:
    """What a worker returns instead of results when setup() raised."""

    error: str
    traceback: str


class BatchDone(NamedTuple):
    """What a worker returns for a batch: the index of its first item, the
    outcomes (results and Failures, in order), how long it took (to size the next
    batches), and the positions of the Failures among the outcomes."""

    first: int
    outcomes: list
    seconds: float
    failed: list[int]


class WorkerRun(threading.local):
    """Which run this worker (a process, or a thread of a thread pool) is set up
    for, and that run's settings."""

    run: int | None = None
    settings = Settings()

    def set_up_for(self, settings: Settings) -> SetupFailed | None:
        """setup() here, and in a worker process the timeout watch, for a new run."""
        self.settings = settings
        if threading.current_thread() is threading.main_thread():
            open_running_file(settings)  # a worker process, maybe shared with a run
            watch_the_time(settings)
        try:
            set_up(settings.setup, settings.teardown)
        except BaseException as exc:
            return SetupFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        self.run = settings.run
        return None


THIS_WORKER = WorkerRun()


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
        retryable=wraps_one_of(exc, retry_on),
        throttle=throttle_of(exc),
    )


# How many errors deep wraps_one_of looks.
WRAPPED_DEPTH = 4


def wraps_one_of(exc: BaseException, kinds: tuple) -> bool:
    """Whether exc, or an error it wraps, is one of `kinds`: urllib's URLError
    keeps the OSError it wraps in `reason` (a refused connection is a
    ConnectionError there), and other libraries chain theirs in __cause__ or
    __context__ (not once `raise ... from None` hid it). WRAPPED_DEPTH levels
    deep, each error looked at once."""
    seen: set[int] = set()
    todo: list[tuple[BaseException, int]] = [(exc, 0)]
    while todo:
        error, depth = todo.pop()
        if id(error) in seen or depth > WRAPPED_DEPTH:
            continue
        seen.add(id(error))
        if isinstance(error, kinds):
            return True
        context = None if error.__suppress_context__ else error.__context__
        wrapped = getattr(error, "reason", None), error.__cause__, context
        for inner in wrapped:
            if isinstance(inner, BaseException):
                todo.append((inner, depth + 1))
    return False


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
    if THIS_WORKER.run != settings.run:
        failed = THIS_WORKER.set_up_for(settings)
        if failed is not None:
            return failed
    return fn(*args)


def running_here() -> Running:
    """This thread's Running, made on first use."""
    return RUNNING.setdefault(threading.get_ident(), Running())


def call_batch(func, first: int, items: list, numbered: bool) -> BatchDone:
    """In a worker: func(item), or func(index, item), for each item of a batch.

    An item that raises, even SystemExit or KeyboardInterrupt, becomes a Failure:
    one bad item neither stops its batch nor takes its worker down. After an
    item the service throttled, and while it asked this process to wait, the
    items go back unrun, to start when the pool's Limiter says.
    """
    __tracebackhide__ = True  # not in an item's traceback: traceback_of
    settings = THIS_WORKER.settings
    retry_on, limits, timed = settings.retry_on, settings.limits, settings.timeout
    running = running_here()
    started = time.perf_counter()
    outcomes: list = []
    failed = []
    throttled = False  # the service said "too many requests": call it no more
    for index, item in enumerate(items, first):
        if throttled or (PAUSED_UNTIL and paused(settings.run)):
            failed.append(len(outcomes))
            outcomes.append(Failure(describe(item), "", "", index, held_back=True))
            continue
        if limits and not may_run_another(limits):
            failed.append(len(outcomes))
            outcomes.append(Failure(describe(item), "", "", index, not_run=True))
            continue
        try:
            try:
                if timed or running_file is not None:
                    now = time.monotonic()
                    if running_file is not None:
                        RUNNING_FILE.pack_into(running_file, 0, index, now)
                    running.begin(index, now)
                else:
                    running.begin(index)
                outcome = func(index, item) if numbered else func(item)
            finally:
                running.end()  # a timeout raised before here is this item's
                if running_file is not None:
                    RUNNING_FILE.pack_into(running_file, 0, -1, 0.0)
        except BaseException as exc:
            if isinstance(exc, ItemTimeout):
                end_what_this_worker_started()
            outcome = failure_of(item, exc, retry_on)
            if outcome.throttle is not None:
                throttled = True
                pause_here(settings.run, outcome.throttle.retry_after)
            failed.append(len(outcomes))
        outcomes.append(outcome)
    return BatchDone(first, outcomes, time.perf_counter() - started, failed)


def call_each(func, first: int, batch: list) -> list:
    """func(index, item) for each item of a batch, first the index of its first
    item. The engine's pool runs it as call_batch, which captures each failure."""
    return [func(index, item) for index, item in enumerate(batch, first)]


@contextmanager
def running_item(index: int):
    """Marks this thread as running item #index meanwhile (run_serial's items)."""
    running = running_here()
    running.begin(index)
    try:
        yield
    finally:
        running.end()


def current_index() -> int | None:
    """The index of the item this thread runs, if any: for log records."""
    running = RUNNING.get(threading.get_ident())
    return None if running is None else running.index


def running_items() -> list[RunningItem]:
    """The items this process's threads run now."""
    found = []
    for thread, running in list(RUNNING.items()):
        index, started = running.index, running.started  # index first: see Running
        if index is not None:
            found.append(RunningItem(thread, index, started))
    return found


# --- Timeouts in worker processes ------------------------------------------------


def open_running_file(settings: Settings) -> None:
    """Opens this worker process's running file, in the folder the main process
    gave the run (never elsewhere: the working directory stays clean)."""
    global running_file
    running_file = None
    if not settings.notes:
        return
    path = running_file_path(settings.notes, os.getpid())
    path.parent.mkdir(exist_ok=True)
    with path.open("w+b") as file:
        file.write(RUNNING_FILE.pack(-1, 0.0))
        file.flush()
        running_file = mmap.mmap(file.fileno(), RUNNING_FILE.size)


def watch_the_time(settings: Settings) -> None:
    """Starts the thread that stops items that run too long in this process."""
    global WATCHED_RUN
    WATCHED_RUN = settings.run  # a watch thread of an earlier run stops
    if not settings.timeout:
        return
    if not hasattr(signal, "SIGALRM"):  # Windows: the main process ends late items
        return
    signal.signal(signal.SIGALRM, raise_timeout)
    main = threading.get_ident()
    threading.Thread(target=watch, args=(main, settings), daemon=True).start()


def raise_timeout(signum, frame):
    """SIGALRM handler: the item running now is over its time, unless it just
    ended (then the signal is late, and ignored)."""
    running = RUNNING.get(threading.get_ident())
    timeout = THIS_WORKER.settings.timeout
    if running is None or running.index is None or not timeout:
        return
    if WORKER_STOPS.ran_for(running.started) >= timeout:
        raise ItemTimeout(f"timed out after {timeout:g} s")


def watch(main: int, settings: Settings) -> None:
    timeout = settings.timeout or 0.0  # set: the watch starts only with a timeout
    tick = min(0.05, timeout / 4)
    running = RUNNING.setdefault(main, Running())
    signalled = None
    WORKER_STOPS.awake()
    while True:
        time.sleep(tick)
        WORKER_STOPS.awake(slept=tick)  # a stop of this process is no item's time
        index, started = running.index, running.started  # index first: see Running
        if WATCHED_RUN != settings.run:  # set before a later run's items start
            return
        if index is None:
            continue
        late = WORKER_STOPS.ran_for(started) - timeout
        if late < 0:
            continue
        if (index, started) != signalled:
            signal.pthread_kill(main, signal.SIGALRM)
            signalled = (index, started)


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


def running_file_path(notes: str, pid: int) -> Path:
    return Path(notes, "running", str(pid))


def read_running_file(path: Path) -> RunningInFile:
    """The item a worker process runs, as its running file says. A write can be
    caught halfway, even twice in a row (its process paused between the two
    fields): with the new index and the start of none, 0.0. That is none."""
    try:
        first, second = path.read_bytes(), path.read_bytes()
    except OSError:
        return NOTHING_RUNNING
    if first != second or len(first) != RUNNING_FILE.size:
        return NOTHING_RUNNING
    found = RunningInFile(*RUNNING_FILE.unpack(first))
    return found if found.started > 0 else NOTHING_RUNNING
