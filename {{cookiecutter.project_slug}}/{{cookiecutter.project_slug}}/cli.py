"""The command line: python -m {{ cookiecutter.project_slug }} [INPUTS...] [options].

Exit codes: 0 all items done; 1 some item failed, an input could not be read, or
the pool broke; 2 a usage error; 130 Ctrl-C; 143 SIGTERM.
Results go to stdout (or --output FILE) as JSON lines; progress and messages go to
stderr, so stdout can be piped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from concurrent.futures import InvalidStateError
from pathlib import Path

from tqdm import tqdm

from . import tasks as default_tasks
from . import timeline
from .executors import POOLS
from .failures import Failure, ItemError, PoolError
from .inputs import InputError, collect_files
from .output import ResultWriter, label, open_for_append, read_finished, record
from .parallel import default_max_workers, run_map, run_serial, run_submit

FAILURES_LISTED = 20  # --keep-going lists at most this many failures at the end


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 up, not {text!r} (for example: --workers 4)"
        )
    return value


def parse_args(argv, tasks):
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.project_slug }}",
        description="Run the loop body in tasks.py over every input, in parallel. "
        "Inputs are files, or directories to walk; with none, a demo runs.",
        epilog="`%(prog)s bench [INPUT...]` times a sample of the items on threads "
        "and processes and recommends a pool and worker count.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="file or directory")
    parser.add_argument(
        "--pool",
        choices=POOLS,
        default=tasks.POOL,
{%- if cookiecutter.distributed == "dask" %}
        help="process: CPU-bound work; thread: I/O-bound work; dask: a Dask cluster "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --pool dask: the scheduler of a running cluster, such as "
        "tcp://10.0.0.5:8786 (default: start a cluster here)",
    )
{%- else %}
        help="process: CPU-bound work; thread: I/O-bound work (default: %(default)s)",
    )
{%- endif %}
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="items run at once (default: tasks.MAX_WORKERS, else half the CPUs)",
    )
    parser.add_argument(
        "--pattern",
        choices=["map", "submit"],
        default=tasks.PATTERN,
        help="map calls process_item(item), submit process_numbered_item(index, "
        "item) (default: %(default)s)",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="no pool: a plain loop in this process, where breakpoints work",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run every item even when some fail, then list the failures",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write results to FILE (JSON lines, flushed as each item finishes)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the items --output FILE already has results for",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (or TQDM_DISABLE=1)"
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        metavar="FILE",
        help="draw when and where each item ran to FILE (.png, .svg, .pdf); "
        "needs the extra: pip install -e '.[timeline]'",
    )
    args = parser.parse_args(argv)
{%- if cookiecutter.distributed == "dask" %}
    if args.scheduler and args.pool != "dask":
        parser.error("--scheduler goes with --pool dask")
{%- endif %}
    if args.timeline and not timeline.available():
        parser.error(timeline.MISSING)
    if args.resume and args.output is None:
        parser.error("--resume needs --output FILE: the file to resume from")
    if args.output and not args.resume and args.output.exists():
        if args.output.stat().st_size > 0:
            parser.error(
                f"{args.output} already has results: add --resume to skip the items "
                "it has, or remove it to start over"
            )
    return args, parser


def main(argv=None, tasks=default_tasks) -> int:
    """Runs the command line; `tasks` is the module with the loop body (tests pass
    their own). Returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from . import bench  # imported only when asked for

        return bench.main(argv[1:], tasks)
    args, parser = parse_args(argv, tasks)
    unreadable_inputs = []  # they make the exit code 1, like a failed item

    def warn(message: str) -> None:
        tqdm.write(f"warning: {message}", file=sys.stderr)

    def unreadable(message: str) -> None:
        unreadable_inputs.append(message)
        warn(message)

    try:
        items = (
            collect_files(args.inputs, warn, unreadable)
            if args.inputs
            else tasks.demo_items()
        )
    except InputError as exc:
        parser.error(str(exc))
    todo = list(range(len(items)))  # indexes of the items to run
    if args.resume and args.output.exists():
        finished, cut_lines = read_finished(args.output)
        if cut_lines:
            warn(f"{args.output}: skipped {cut_lines} unreadable line(s)")
        for index, name in finished.items():
            if index >= len(items) or label(items[index]) != name:
                parser.error(
                    f"{args.output} was written for other inputs (its item #{index} is "
                    f"{name}); give the same inputs, or another --output file"
                )
        todo = [index for index in todo if index not in finished]
    if not todo:
        print("nothing to do", file=sys.stderr)
        return 1 if unreadable_inputs else 0

    stream = open_for_append(args.output) if args.output else sys.stdout
    messages = sys.stdout if args.output else sys.stderr  # summary and failures
    writer = ResultWriter(stream)
    failures: list[Failure] = []
    spans: list[timeline.Span] = []  # with --timeline: when and where items ran
    finished_count = 0

    def on_result(position: int, outcome) -> None:
        # position counts the items of this run; todo maps it to the input index.
        nonlocal finished_count
        index = todo[position]
        if isinstance(outcome, Failure):
            outcome.index = index
            failures.append(outcome)
            if args.keep_going:
                tqdm.write(outcome.describe(), file=sys.stderr)
        else:
            finished_count += 1
        if isinstance(outcome, timeline.Span):
            spans.append(outcome)
            outcome = outcome.value
        writer.write(record(index, items[index], outcome))
{%- if cookiecutter.distributed == "dask" %}

    if args.pool == "dask":
        import dask  # imported only when used: it is slow

        # Dask's own setting, which DASK_SCHEDULER_ADDRESS can also make.
        if args.scheduler:
            dask.config.set({"scheduler-address": args.scheduler})
        args.scheduler = dask.config.get("scheduler-address", None)
    try:
        workers, source = choose_workers(args, tasks)
    except PoolError as exc:  # the scheduler could not be reached
        print(f"error: {exc}", file=sys.stderr)
        return 1
{%- else %}

    workers, source = choose_workers(args, tasks)
{%- endif %}
    describe_run(args, len(todo), workers, source)
    options = {
        "progress": not args.no_progress,
        "keep_going": args.keep_going,
        "on_result": on_result,
    }
    todo_items = [items[index] for index in todo]
    item_func, numbered_func = tasks.process_item, tasks.process_numbered_item
    if args.timeline:  # each call also reports when and where it ran
        item_func = timeline.Timed(item_func)
        numbered_func = timeline.Timed(numbered_func)
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        if args.serial:
            numbered = args.pattern == "submit"
            func = numbered_func if numbered else item_func
            run_serial(func, todo_items, numbered=numbered, **options)
        elif args.pattern == "submit":
            run_submit(
                numbered_func,
                todo_items,
                pool=args.pool,
                max_workers=workers,
                **options,
            )
        else:
            run_map(
                item_func,
                todo_items,
                pool=args.pool,
                max_workers=workers,
                **options,
            )
    except ItemError as exc:
        print(f"item #{exc.failure.index} raised:", file=sys.stderr)
        print(exc.failure.traceback.rstrip(), file=sys.stderr)
        print(
            f"error: {exc} (stopped after {finished_count} of {len(todo)} items "
            "finished; --keep-going runs every item and lists all failures)",
            file=messages,
        )
        return 1
    except PoolError as exc:
        print(f"error: {exc} ({finished_count} of {len(todo)} finished)", file=messages)
        return 1
    except (KeyboardInterrupt, Terminated) as exc:
        kept = f"; their results are in {args.output}" if args.output else ""
        print(
            f"interrupted: {finished_count} of {len(todo)} items finished{kept}",
            file=sys.stderr,
        )
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if args.output:
            stream.close()

    seconds = time.perf_counter() - started
    if args.timeline:
        how = "serial" if args.serial else f"{args.pool} pool, {workers} worker(s)"
        timeline.draw(spans, args.timeline, f"{len(spans)} items, {how}")
        print(f"timeline: {args.timeline}", file=sys.stderr)
    print(
        f"done: {finished_count} of {len(todo)} items in {seconds:.1f} s, "
        f"{len(failures)} failed",
        file=messages,
    )
    for failure in failures[:FAILURES_LISTED]:
        print(f"  {failure.describe()}", file=messages)
    if len(failures) > FAILURES_LISTED:
        print(f"  ... and {len(failures) - FAILURES_LISTED} more", file=messages)
    return 1 if failures or unreadable_inputs else 0


def choose_workers(args, tasks) -> tuple[int, str]:
    """How many items run at once, and where that number comes from."""
    if args.workers:
        return args.workers, "--workers"
{%- if cookiecutter.distributed == "dask" %}
    if args.pool == "dask" and args.scheduler:
        from .executors import dask_cluster_size

        cores = dask_cluster_size(args.scheduler)
        return cores, f"all the cluster's cores, at {args.scheduler}"
{%- endif %}
    if tasks.MAX_WORKERS:
        return tasks.MAX_WORKERS, "tasks.MAX_WORKERS"
    return default_max_workers(), "the default: half the CPUs; try --workers N"


def describe_run(args, count: int, workers: int, source: str) -> None:
    """One line on stderr saying how the run is set up, and how to change it."""
    if args.serial:
        how = "serially, in this process"
    else:
        how = f"{args.pattern} pattern, {args.pool} pool, {workers} worker(s)"
        how += f" ({source})"
    tqdm.write(f"running {count} items: {how}", file=sys.stderr)


def raise_terminated(signum, frame):
    raise Terminated()


def run(argv=None, tasks=default_tasks) -> None:
    """The console script and `python -m` entry point."""
    threading.excepthook = quiet_stopped_pool
    try:
        code = main(argv, tasks)
    except KeyboardInterrupt:  # before or after the run itself
        print("interrupted", file=sys.stderr)
        code = 130
    if code != 0 and threading.active_count() > 1:
        # The run stopped early and left a pool behind: threads of a thread pool
        # cannot be stopped (Python would wait for their items at exit), and a
        # process pool shut down early can print a spurious "Bad file descriptor"
        # at exit (a CPython quirk). Everything is written, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def quiet_stopped_pool(args) -> None:
    """Python 3.10 and 3.11 (fixed in 3.12): when a run stops early, the process
    pool's manager thread may fail on futures that were already cancelled, and
    print InvalidStateError. Nothing is lost; every other error still prints."""
    if not isinstance(args.exc_value, InvalidStateError):
        threading.__excepthook__(args)
