"""The first thing each worker process runs (start_process_worker): it leaves
Ctrl-C to the main process, sends its log records there, and ends when the main
process does, even if that is killed, together with what its loop body started.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading

from .worker_calls import WORKER_STOPS, current_index


def start_process_worker(log_queue, log_level: int, environment: dict) -> None:
    """Runs first in each worker process."""
    os.environ.update(environment)  # BLAS threads: see executors.BlasThreadsPerWorker
    # A process group of its own: the commands its loop body runs, and theirs, end
    # with it (workers.end_worker), and the terminal's Ctrl-C goes to the
    # main process only, which stops the workers. A SIGINT sent here anyway does
    # nothing; a handler rather than SIG_IGN, which the commands would inherit.
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, do_nothing)
    if hasattr(signal, "pthread_sigmask"):  # blocked while we started: ctrl_c.py
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # A forked worker inherits the main process's SIGTERM handler: just end.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Each stop of this process (SIGSTOP) is left out of its items' time.
    if hasattr(signal, "SIGCONT"):
        signal.signal(signal.SIGCONT, WORKER_STOPS.continued)
    # Log records go to the main process, which shows them (on every start method).
    handler = logging.handlers.QueueHandler(log_queue)
    handler.addFilter(add_item_index)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(log_level)
    # Exit when the main process dies (kill -9, out of memory): otherwise workers
    # would wait for work forever. The parent's sentinel becomes readable then.
    # A loop body stuck in C code that holds the GIL stops that thread too: on
    # Linux the kernel also ends this process then (end_with_parent).
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        end_with_parent(parent.sentinel)
        watch = threading.Thread(target=exit_with, args=(parent.sentinel,), daemon=True)
        watch.start()


def end_with_parent(sentinel: int) -> None:
    """On Linux, asks the kernel to send this process and its group SIGIO, whose
    default is to end them, when the parent's end of the sentinel pipe closes:
    unlike a thread of ours, that needs no GIL. Other systems keep to the thread."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    if not sys.platform.startswith("linux"):  # elsewhere SIGIO's default: ignored
        return
    own_group = os.getpgrp() == os.getpid()  # to all it started too: negative
    fcntl.fcntl(sentinel, fcntl.F_SETOWN, -os.getpid() if own_group else os.getpid())
    flags = fcntl.fcntl(sentinel, fcntl.F_GETFL)
    fcntl.fcntl(sentinel, fcntl.F_SETFL, flags | os.O_ASYNC)


def do_nothing(signum, frame) -> None:
    pass


def add_item_index(record: logging.LogRecord) -> bool:
    """A log filter: the record says which item it came from."""
    if getattr(record, "item_index", None) is None:
        record.item_index = current_index()
    return True


def exit_with(parent_sentinel) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)
