"""Ctrl-C (and SIGTERM, SIGHUP) held while a pool or a worker process is being
made, so that nothing is ever left half started; and let through again in the
threads of a thread pool, whose loop bodies may start commands.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

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
