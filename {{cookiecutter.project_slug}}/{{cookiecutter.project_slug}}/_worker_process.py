"""The first thing each worker process runs (start_process_worker): it leaves
Ctrl-C to the main process, sends its log records there, and ends when the main
process does, even if that is killed.
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

from ._worker import current_index


def start_process_worker(log_queue, log_level: int, environment: dict) -> None:
    """Runs first in each worker process."""
    os.environ.update(environment)  # BLAS threads: see _pools.BlasThreadsPerWorker
    # Ctrl-C reaches every process of the terminal. The main process handles it and
    # stops the workers; without this, each would print a KeyboardInterrupt too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked while we started: _ending_workers
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # A forked worker inherits the main process's SIGTERM handler: just end.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
    """On Linux, asks the kernel to send this process SIGIO, whose default is to end
    it, when the parent's end of the sentinel pipe closes (when the parent ends):
    unlike a thread of ours, that needs no GIL. Other systems keep to the thread."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    if not sys.platform.startswith("linux"):  # elsewhere SIGIO's default: ignored
        return
    fcntl.fcntl(sentinel, fcntl.F_SETOWN, os.getpid())
    flags = fcntl.fcntl(sentinel, fcntl.F_GETFL)
    fcntl.fcntl(sentinel, fcntl.F_SETFL, flags | os.O_ASYNC)


def add_item_index(record: logging.LogRecord) -> bool:
    """A log filter: the record says which item it came from."""
    if getattr(record, "item_index", None) is None:
        record.item_index = current_index()
    return True


def exit_with(parent_sentinel) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)
