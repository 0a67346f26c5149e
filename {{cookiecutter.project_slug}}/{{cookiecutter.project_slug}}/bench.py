"""python -m {{ cookiecutter.project_slug }} bench [INPUTS...]: measure instead of guessing.

Runs a sample of your items through your loop body serially, on threads and on
processes at a few worker counts, prints time, speedup and efficiency, and
recommends a pool and a worker count for this workload on this machine.
"""

from __future__ import annotations

import argparse
import time

from ._engine import Failure, default_max_workers, usable_cpus
from .parallel import run_map, run_serial
from .sources import InputError, load_items, positive_int

# A setting at most this much slower than the fastest, with fewer workers, is
# recommended instead: it leaves the rest of the machine free.
CLOSE_ENOUGH = 1.10


def worker_counts(pool: str, cpus: int) -> list[int]:
    """Processes: 1, 2, 4, ... up to the CPUs. Threads: 2, 4, ... 32, since threads
    that wait can be many more than the CPUs."""
    limit = cpus if pool == "process" else 32
    counts, count = [], 1 if pool == "process" else 2
    while count < limit:
        counts.append(count)
        count *= 2
    return [*counts, limit]


def sample(items: list, size: int) -> list:
    """Up to `size` items, spread evenly over the input."""
    if len(items) <= size:
        return items
    step = len(items) / size
    return [items[int(number * step)] for number in range(size)]


def measure(tasks, items: list, pool: str | None, workers: int) -> tuple[float, int]:
    """Seconds for the whole sample (pool start included), and how many failed."""
    started = time.perf_counter()
    options = {"progress": False, "keep_going": True}
    if pool is None:
        outcomes = run_serial(tasks.process_item, items, **options)
    else:
        outcomes = run_map(
            tasks.process_item, items, pool=pool, max_workers=workers, **options
        )
    seconds = time.perf_counter() - started
    return seconds, sum(isinstance(outcome, Failure) for outcome in outcomes)


def main(argv, tasks) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{__package__} bench",
        description="Time a sample of your items serially, on threads and on "
        "processes, and recommend a pool and worker count.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="file or directory")
    parser.add_argument("--lines", metavar="FILE", help="time lines of FILE as items")
    parser.add_argument(
        "--sample",
        type=positive_int,
        default=20,
        metavar="N",
        help="how many items to time (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        items = sample(load_items(args, tasks, print, print), args.sample)
    except InputError as exc:
        parser.error(str(exc))
    if not items:
        print("nothing to do")
        return 0

    cpus = usable_cpus()
    print(f"timing {len(items)} items on {cpus} usable CPUs; each row runs them all")
    serial_seconds, failed = measure(tasks, items, None, 1)
    rows = [("serial", 1, serial_seconds)]
    for pool in ("thread", "process"):
        for workers in worker_counts(pool, cpus):
            seconds, failed_here = measure(tasks, items, pool, workers)
            failed = max(failed, failed_here)
            rows.append((pool, workers, seconds))

    print(f"\n{'pool':<8} {'workers':>7} {'time':>9} {'speedup':>8} {'efficiency':>10}")
    for pool, workers, seconds in rows:
        speedup = serial_seconds / seconds
        print(
            f"{pool:<8} {workers:>7} {seconds:>8.2f}s {speedup:>7.2f}x "
            f"{speedup / workers:>9.0%}"
        )
    if failed:
        print(f"\nnote: {failed} of the {len(items)} items failed; their time counts")

    fastest = min(seconds for _, _, seconds in rows)
    pool, workers, seconds = min(
        (row for row in rows if row[2] <= fastest * CLOSE_ENOUGH),
        key=lambda row: (row[1], row[2]),
    )
    print()
    if pool == "serial":
        print(
            "recommendation: no pool. Starting one costs more than it saves on "
            "these items; try more or larger items, or run with --serial."
        )
        return 0
    print(
        f"recommendation: --pool {pool} --workers {workers} "
        f"({serial_seconds / seconds:.1f}x the serial speed)"
    )
    default = default_max_workers()
    if pool == "process" and workers > default:
        print(
            f"the default, {default} worker(s) (half the CPUs), leaves "
            f"{workers - default} of the CPUs this work can use idle: set "
            f"MAX_WORKERS = {workers} in tasks.py, or pass --workers {workers}"
        )
    return 0
