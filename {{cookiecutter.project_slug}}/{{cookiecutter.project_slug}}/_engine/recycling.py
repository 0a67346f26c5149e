"""Recycling worker processes: max_items_per_worker and max_worker_memory_mb, for a
loop body that leaks memory (a C library, a cache that grows).

    may_run_another   in a worker, before each item: a worker that has run its
                      items, or whose resident memory passed the cap, runs no more
                      (its items come back as not run, and are sent again)
    Pool.recycle_workers  in the main process: once the batches in flight are
                      back, the executor shuts down (teardown() runs in each
                      worker) and a new one starts (setup() runs again)

CPython's max_tasks_per_child counts batches, not items, refuses fork, and is
missing on Python 3.10; this works with batches and every start method. It costs a
pool's start each time the first worker is spent, since the whole pool is
replaced: about 55 ms a time on 2 cores, in the template's recycling benchmark.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

ITEMS_RUN = 0  # items this worker process has started
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Limits(NamedTuple):
    """When a worker process is spent: after max_items items, or once its resident
    memory passed max_memory_mb (None: no such limit)."""

    max_items: int | None
    max_memory_mb: float | None


def limits_of(max_items, max_memory_mb) -> Limits | None:
    """The Limits, checked (check_limits); None when there are none."""
    if max_items is None and max_memory_mb is None:
        return None
    return Limits(max_items, max_memory_mb)


def check_limits(pool, max_items, max_memory_mb) -> None:
    """The limits are whole numbers (MB: any number) above 0, for pool="process"."""
    if max_items is None and max_memory_mb is None:
        return
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
    ):
        raise ValueError(f"max_items_per_worker must be 1 or more, not {max_items!r}")
    if max_memory_mb is not None and not (
        isinstance(max_memory_mb, (int, float)) and 0 < max_memory_mb < float("inf")
    ):
        raise ValueError(f"max_worker_memory_mb must be above 0, not {max_memory_mb!r}")
    if pool != "process":
        raise ValueError(
            "max_items_per_worker and max_worker_memory_mb replace worker processes: "
            'they need pool="process", a pool the run makes (not threads, which share '
            "one process, nor an executor of yours: reusable_pool's, a cluster's)"
        )
    if max_memory_mb is not None and sys.platform == "win32":
        raise ValueError("max_worker_memory_mb needs Linux or macOS, not Windows")


def may_run_another(limits: Limits) -> bool:
    """In a worker process, before an item: whether it may run (and counts it).
    Each worker runs one item at least, so that a run always goes on, even with
    a cap below what a new worker holds (a forked one counts its parent's too)."""
    global ITEMS_RUN
    if ITEMS_RUN and limits.max_items is not None and ITEMS_RUN >= limits.max_items:
        return False
    cap = limits.max_memory_mb
    if ITEMS_RUN and cap is not None and resident_mb() > cap:
        return False
    ITEMS_RUN += 1
    return True


def resident_mb() -> float:
    """This process's resident memory now, in MB (Linux: /proc, a few µs; macOS
    has no such file: the most it has held, from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE / 2**20
    except OSError:
        import resource  # not on Windows: check_limits refuses the cap there

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # bytes
