"""python -m {{ cookiecutter.project_slug }} bench [INPUTS...]: measure instead of guessing.

Runs a sample of your items through your loop body serially, on threads and on
processes at a few worker counts, each several times on a started pool, prints the
median time with its spread, the speedup and the efficiency, and recommends a pool
and a worker count for this workload on this machine.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from contextlib import ExitStack
from typing import NamedTuple

from .._engine import (
    BlasThreadsPerWorker,
    Failure,
    gil_enabled,
    usable_cpus,
)
from ..parallel import reusable_pool, run_map, run_serial
from .arguments import add_file_choice, check_file_choice
from .running import workers_in_force
from .sources import FileChoice, InputError, load_items, positive_int

# A setting at most this much slower than the fastest, with fewer workers, is
# recommended instead: it leaves the rest of the machine free, and two settings
# this close swap places from run to run on a busy machine.
CLOSE_ENOUGH = 1.10
# A sample whose serial run is shorter than this is over before the workers have
# much to do: too short to judge from.
SHORTEST_SAMPLE_SECONDS = 0.2
# A speedup whose range over the repeats is wider than this factor says too little.
WIDE_RANGE = 1.5
# Thread counts double while each doubling is at least this much faster, up to the
# ceiling: a service or a disk has its own limits long before that.
GAIN = 1.10
THREAD_CEILING = 256


class Timing(NamedTuple):
    """How one setting did: the median seconds of a run over the repeats, their
    spread (max - min), and how many items failed."""

    pool: str  # "serial", "thread" or "process"
    workers: int
    seconds: float
    spread: float
    failed: int

    def scaled(self, factor: float) -> Timing:
        """The same, for `factor` times as many items."""
        return self._replace(seconds=self.seconds * factor, spread=self.spread * factor)


def process_counts(cpus: int) -> list[int]:
    """1, 2, 4, ... up to the CPUs: more processes than CPUs compute no faster."""
    counts, count = [], 1
    while count < cpus:
        counts.append(count)
        count *= 2
    return [*counts, cpus]


class ThreadSearch(NamedTuple):
    """Thread counts tried, doubling, and why the doubling stopped."""

    rows: list[Timing]
    stopped: str  # "no gain", "ceiling" or "input"


def search_threads(time_threads, items: int) -> ThreadSearch:
    """Threads doubled from 2 while each doubling is at least GAIN faster (threads
    that wait can be far more than the CPUs), up to THREAD_CEILING and to half the
    `items` there are (two items a thread: more threads than that have little to
    overlap). time_threads(count) -> the Timing of that many threads."""
    rows = [time_threads(2)]
    while True:
        count = rows[-1].workers * 2
        if count > THREAD_CEILING:
            return ThreadSearch(rows, "ceiling")
        if count > items // 2:
            return ThreadSearch(rows, "input")
        rows.append(time_threads(count))
        if rows[-1].seconds * GAIN > rows[-2].seconds:
            return ThreadSearch(rows, "no gain")


def sample(items: list, size: int) -> list:
    """Up to `size` items, spread evenly over the input."""
    if len(items) <= size:
        return items
    step = len(items) / size
    return [items[int(number * step)] for number in range(size)]


def timed(tasks, items, pool, workers, repeats) -> Timing:
    """How a run of the sample does on `pool` (None: serially) with `workers`.
    Pools are started, and their workers warmed up, before the clock runs: a real
    run pays that once, not once per sample."""
    options = {"progress": False, "keep_going": True}
    seconds, failed = [], 0
    with ExitStack() as stack:
        if pool is None:

            def run_once():
                return run_serial(tasks.process_item, items, **options)

        else:
            warm = stack.enter_context(reusable_pool(pool, workers))
            run_map(tasks.process_item, items[:workers], pool=warm, **options)

            def run_once():
                return run_map(
                    tasks.process_item, items, pool=warm, max_workers=workers, **options
                )

        for _ in range(repeats):
            started = time.perf_counter()
            outcomes = run_once()
            seconds.append(time.perf_counter() - started)
            failed = sum(isinstance(outcome, Failure) for outcome in outcomes)
    spread = max(seconds) - min(seconds)
    return Timing(pool or "serial", workers, statistics.median(seconds), spread, failed)


def bench_parser(tasks) -> argparse.ArgumentParser:
    """bench's options: what to time, and the setting to compare with."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.project_slug }} bench",
        description="Time a sample of your items serially, on threads and on "
        "processes, and recommend a pool and worker count.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="file or directory")
    parser.add_argument("--lines", metavar="FILE", help="time lines of FILE as items")
    add_file_choice(parser)
    parser.add_argument(
        "--sample",
        type=positive_int,
        default=20,
        metavar="N",
        help="how many items to time (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        metavar="N",
        help="time each setting N times and take the median (default: %(default)s)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="accepted: bench shows no bar"
    )
    parser.add_argument(
        "--pool",
        choices=["process", "thread"],
        default=tasks.POOL,
        help="the pool of the setting to compare with (default: tasks.POOL)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="the worker count to compare with (default: tasks.MAX_WORKERS, else "
        "half the CPUs)",
    )
    return parser


def main(argv, tasks) -> int:
    parser = bench_parser(tasks)
    args = parser.parse_args(argv)
    check_file_choice(args, parser)
    choice = FileChoice(args.glob, args.hidden)
    try:
        every_item = list(load_items(args, tasks, print, print, (), choice).items)
    except InputError as exc:
        parser.error(str(exc))
    items = sample(every_item, args.sample)
    if not items:
        print("nothing to do")
        return 0

    cpus = usable_cpus()
    print(f"timing {len(items)} items on {cpus} usable CPUs, {args.repeats} times each")
    if not gil_enabled():
        print("free-threaded Python: threads can compute at once; see if they do")
    rows = [timed(tasks, items, None, 1, args.repeats)]

    def time_threads(count: int) -> Timing:
        # Two items a thread at least, from the whole input: scaled to the sample.
        more = sample(every_item, max(len(items), 2 * count))
        timing = timed(tasks, more, "thread", count, args.repeats)
        return timing.scaled(len(items) / len(more))

    threads = search_threads(time_threads, len(every_item))
    rows += threads.rows
    for workers in process_counts(cpus):
        rows.append(timed(tasks, items, "process", workers, args.repeats))
    pool, (workers, source) = args.pool, workers_in_force(args, tasks)
    if not any(row.pool == pool and row.workers == workers for row in rows):
        rows.append(timed(tasks, items, pool, workers, args.repeats))
    print_table(rows, len(items))
    if len(items) < 2 * threads.rows[-1].workers:
        print(
            f"note: more threads than half the sample timed more items of the input "
            f"(two a thread), scaled to the {len(items)} of the sample"
        )
    recommend(rows, len(items), len(every_item))
    say_where_threads_stopped(threads, len(every_item))
    compare_with_the_setting(rows, pool, workers, source)
    return 0


def print_table(rows: list[Timing], count: int) -> None:
    serial_seconds = rows[0].seconds
    print(
        f"\n{'pool':<8} {'workers':>7} {'median':>9} {'spread':>8} {'speedup':>8} "
        f"{'efficiency':>10}"
    )
    for row in rows:
        speedup = serial_seconds / row.seconds
        print(
            f"{row.pool:<8} {row.workers:>7} {row.seconds:>8.3f}s {row.spread:>7.3f}s "
            f"{speedup:>7.2f}x {speedup / row.workers:>9.0%}"
        )
    failed = max(row.failed for row in rows)
    if failed:
        print(f"\nnote: {failed} of the {count} items failed; their time counts")
    print(
        "note: worker processes run numpy/BLAS/OpenMP with 1 thread each ("
        + ", ".join(BlasThreadsPerWorker.NAMES[:2])
        + "... = 1) unless you set those variables"
    )


def recommend(rows: list[Timing], count: int, available: int | None = None) -> int:
    """Advises from what was measured: the setting with the fewest workers within
    CLOSE_ENOUGH of the fastest, its speedup with the range the repeats saw, and
    how to be surer where the sample was short or that range is wide."""
    serial_seconds, serial_spread = rows[0].seconds, rows[0].spread
    fastest = min(row.seconds for row in rows)
    chosen = min(
        (row for row in rows if row.seconds <= fastest * CLOSE_ENOUGH),
        key=lambda row: (row.workers, row.seconds),
    )
    pool, workers = chosen.pool, chosen.workers
    seconds, spread = chosen.seconds, chosen.spread
    speedup = serial_seconds / seconds
    # The slowest and fastest speedup that the repeats' spreads allow.
    low = max(serial_seconds - serial_spread, 0.0) / (seconds + spread)
    high = (serial_seconds + serial_spread) / max(seconds - spread, 1e-9)
    print()
    if pool == "serial":
        print(
            "recommendation: no pool. Starting one costs more than it saves on "
            "these items; try more or larger items, or run with --serial."
        )
    else:
        why = ""
        if pool == "thread" and not gil_enabled():
            why = " (free-threaded Python: threads beat processes on these items)"
        print(
            f"recommendation: --pool {pool} --workers {workers} ({speedup:.2f}x the "
            f"serial speed; {low:.2f}x to {high:.2f}x over the repeats){why}"
        )
        print(
            f'to make it the default: POOL = "{pool}" and MAX_WORKERS = {workers} '
            "in tasks.py"
        )
    threads = [row.seconds for row in rows if row.pool == "thread"]
    if not gil_enabled() and threads and min(threads) >= serial_seconds:
        print(THREADS_CONTEND)
    say_how_sure(serial_seconds, count, pool != "serial", low, high, available)
    return 0


# Said where threads lose to the serial loop on a free-threaded Python.
THREADS_CONTEND = (
    "note: free-threaded Python, yet threads ran no faster than the serial loop. "
    "Threads that use one object at once contend for its reference count: numbers "
    "written in the loop body (any int outside -5 to 256, any float) are such "
    "objects when its module was compiled from source (no .pyc: "
    "PYTHONDONTWRITEBYTECODE=1, a read-only install, the first run after an edit), "
    "and so is anything every item writes to. Make such numbers in each call "
    '(prime = int("100000001b3", 16)), or compile ahead (python -m compileall '
    "{{ cookiecutter.project_slug }}) and let Python read the .pyc."
)


def say_where_threads_stopped(threads: ThreadSearch, available: int) -> None:
    """Where the doubling of threads stopped while they were still gaining."""
    largest = threads.rows[-1].workers
    if threads.stopped == "ceiling":
        print(
            f"note: {largest} threads, the most tried (the ceiling), were still "
            "gaining: more may be faster still; try --workers higher on a real run"
        )
    elif threads.stopped == "input":
        print(
            f"note: {largest} threads were still gaining when the input ran out "
            f"({available} items, two a thread): for all of it, try --workers "
            f"{min(available, THREAD_CEILING)}"
        )


def compare_with_the_setting(rows: list[Timing], pool: str, workers: int, source):
    """How the setting a run would use did, against the fastest of the table."""
    (row,) = [r for r in rows if r.pool == pool and r.workers == workers]
    serial_seconds = rows[0].seconds
    fastest = min(r.seconds for r in rows)
    said = (
        f"the setting in force, --pool {pool} --workers {workers} ({source}): "
        f"{serial_seconds / row.seconds:.2f}x the serial speed"
    )
    if row.seconds <= fastest * CLOSE_ENOUGH:
        said += ", as fast as the best here: keep it"
    else:
        said += f", against {serial_seconds / fastest:.2f}x for the fastest here"
    print(said)


def say_how_sure(
    serial_seconds: float, count: int, pooled: bool, low, high, available=None
) -> None:
    """Says how to be surer, where the sample was short or the repeats' range of
    speedups (low to high) is wide; never more items than the `available` ones."""
    available = available or math.inf
    whole = count >= available  # the sample is every item there is
    if serial_seconds < SHORTEST_SAMPLE_SECONDS:
        # Enough items for SHORTEST_SAMPLE_SECONDS of serial work, and more than now.
        enough = SHORTEST_SAMPLE_SECONDS / max(serial_seconds, 1e-9)
        more = min(max(2 * count, math.ceil(count * enough)), available)
        how = f"more items (--sample {more}), or larger ones"
        print(
            f"uncertain: {count} items take {serial_seconds:.3f} s serially, too "
            "short to be sure (sending items to workers costs about as much). Time "
            f"{'larger items' if whole else how}."
        )
    elif pooled and (low < 1 or high > WIDE_RANGE * low):
        more = min(2 * count, available)
        more_items = "" if whole else f" or more items (--sample {more})"
        print(
            f"uncertain: the repeats varied from {low:.2f}x to {high:.2f}x (a busy "
            "machine, or items that differ a lot): time again with more repeats "
            f"(--repeats 7){more_items}."
        )
