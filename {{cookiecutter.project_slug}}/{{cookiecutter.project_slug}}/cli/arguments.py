"""The command line's options: what each means, and the checks of those that
argparse cannot make alone (options that do not go together, files to write).
"""

from __future__ import annotations

import argparse
from pathlib import Path

{% if cookiecutter.distributed == "dask" %}from .. import dask_pool
{% endif %}from .._engine import POOLS as ENGINE_POOLS
from .._engine import THROTTLE_RETRIES, check_limits, parse_rate
from . import timeline
from .output import cannot_write
from .sources import (
    items_per_second,
    megabytes,
    positive_int,
    retry_count,
    timeout_seconds,
)

PROG = "python -m {{ cookiecutter.project_slug }}"  # the name the READMEs use

# What --pool offers.
{%- if cookiecutter.distributed == "dask" %}
POOLS = (*ENGINE_POOLS, "dask")
{%- else %}
POOLS = ENGINE_POOLS
{%- endif %}


def parse_args(argv, tasks):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the loop body in tasks.py over every item, in parallel. "
        "Items are the files given (directories are walked), or the lines of "
        "--lines FILE, or with neither, what tasks.items() returns.",
        epilog="`%(prog)s bench [INPUT...]` times a sample of the items on threads "
        "and processes and recommends a pool and worker count.",
    )
    add_item_options(parser.add_argument_group("items"))
    add_pool_options(parser.add_argument_group("how they run"), tasks)
    add_long_run_options(parser.add_argument_group("long runs"), tasks)
    add_service_options(parser.add_argument_group("calling a service"), tasks)
    add_result_options(parser.add_argument_group("results"))
    args = parser.parse_args(argv)
    args.argv = list(argv)  # to say the command that goes on (command_to_go_on)
    check_args(args, parser)
    long_run_settings(args, tasks)
    service_settings(args, tasks, parser)
    limits = (args.max_items_per_worker, args.max_worker_memory)
    try:
        check_limits("process", *limits)  # tasks.py's too
    except ValueError as exc:
        parser.error(f"{exc} (tasks.py's {' or '.join(LIMITS.values())}?)")
    if any(limits) and args.pool != "process":
        parser.error(
            "--max-items-per-worker and --max-worker-memory (or tasks.py's "
            "MAX_ITEMS_PER_WORKER, MAX_WORKER_MEMORY_MB) replace worker processes: "
            f"they need --pool process, not {args.pool}"
        )
    return args, parser


def long_run_settings(args, tasks) -> None:
    """--timeout and --retries, else tasks.py's TIMEOUT and RETRIES. Those are for
    a pool: --serial, the debugging loop, runs without them (and says so)."""
    names = ("TIMEOUT", "RETRIES", *LIMITS.values())
    args.tasks_long_run = [name for name in names if getattr(tasks, name, None)]
    if args.serial:
        args.timeout, args.retries = None, 0
        args.max_items_per_worker = args.max_worker_memory = None
        return
    for option, name in LIMITS.items():
        if getattr(args, option) is None:
            setattr(args, option, getattr(tasks, name, None))
        setattr(args, option, getattr(args, option) or None)  # 0: none this run
    if args.timeout is None:
        args.timeout = getattr(tasks, "TIMEOUT", None)
    args.timeout = args.timeout or None  # --timeout 0: no limit
    if args.retries is None:
        args.retries = getattr(tasks, "RETRIES", 0)


def service_settings(args, tasks, parser) -> None:
    """--rate and --throttle-retries, else tasks.py's RATE and THROTTLE_RETRIES:
    --serial keeps them, since its calls go to the service too."""
    if args.rate is None:
        try:
            args.rate = parse_rate(getattr(tasks, "RATE", None))
        except ValueError as exc:
            parser.error(f"tasks.RATE: {exc}")
    if args.throttle_retries is None:
        args.throttle_retries = getattr(tasks, "THROTTLE_RETRIES", THROTTLE_RETRIES)


# Options that replace worker processes, and their defaults in tasks.py.
LIMITS = {
    "max_items_per_worker": "MAX_ITEMS_PER_WORKER",
    "max_worker_memory": "MAX_WORKER_MEMORY_MB",
}


def add_item_options(group) -> None:
    group.add_argument("inputs", nargs="*", metavar="INPUT", help="file or directory")
    group.add_argument(
        "--lines",
        metavar="FILE",
        help="run over the non-empty lines of FILE, one string item each "
        "(- reads standard input: seq 100 | %(prog)s --lines -)",
    )
    add_file_choice(group)


def add_file_choice(group) -> None:
    """--glob and --hidden: which files of the directories given are items."""
    group.add_argument(
        "--glob",
        action="append",
        default=[],
        metavar="PATTERN",
        help="of the files in the directories given, take those whose name matches "
        "(repeat it for more; a PATTERN with / is matched against the path under "
        "the directory: 2024/*.csv). Quote it: --glob '*.csv'",
    )
    group.add_argument(
        "--hidden",
        action="store_true",
        help="take hidden files and folders too (.DS_Store, .git/), which walked "
        "directories leave out",
    )


def check_file_choice(args, parser) -> None:
    if (args.glob or args.hidden) and not args.inputs:
        parser.error(
            "--glob and --hidden choose files of the directories given: "
            "name a directory"
        )


def add_pool_options(group, tasks) -> None:
    group.add_argument(
        "--pool",
        choices=POOLS,
        default=tasks.POOL,
{%- if cookiecutter.distributed == "dask" %}
        help="process: CPU-bound work; thread: I/O-bound work; dask: a Dask "
        "cluster (default: %(default)s)",
    )
    dask_pool.add_arguments(group)
{%- else %}
        help="process: CPU-bound work; thread: I/O-bound work (default: %(default)s)",
    )
{%- endif %}
    group.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="items run at once (default: tasks.MAX_WORKERS, else half the CPUs)",
    )
    group.add_argument(
        "--pattern",
        choices=["map", "submit"],
        default=tasks.PATTERN,
        help="map calls process_item(item), submit process_numbered_item(index, "
        "item) (default: %(default)s)",
    )
    group.add_argument(
        "--serial",
        action="store_true",
        help="no pool: a plain loop in this process, where breakpoints work",
    )
    group.add_argument(
        "--keep-going",
        action="store_true",
        help="run every item even when some fail, then list the failures",
    )


def add_long_run_options(group, tasks) -> None:
    # None: tasks.py's value, which --serial leaves out (see long_run_settings)
    group.add_argument(
        "--timeout",
        type=timeout_seconds,
        metavar="SECONDS",
        help="stop an item that runs longer, and record it as failed; 0: no limit "
        f"(default: tasks.TIMEOUT, {getattr(tasks, 'TIMEOUT', None)})",
    )
    group.add_argument(
        "--retries",
        type=retry_count,
        metavar="N",
        help="try an item that fails with one of tasks.RETRY_ON up to N more "
        "times, waiting longer each time (default: tasks.RETRIES, "
        f"{getattr(tasks, 'RETRIES', 0)})",
    )
    group.add_argument(
        "--max-items-per-worker",
        type=retry_count,
        metavar="N",
        help="replace the worker processes once one has run N items, for a loop body "
        "that leaks memory; 0: never (default: tasks.MAX_ITEMS_PER_WORKER, "
        f"{getattr(tasks, 'MAX_ITEMS_PER_WORKER', None)})",
    )
    group.add_argument(
        "--max-worker-memory",
        type=megabytes,
        metavar="MB",
        help="replace the worker processes once one's resident memory passed MB; 0: "
        "never (default: tasks.MAX_WORKER_MEMORY_MB, "
        f"{getattr(tasks, 'MAX_WORKER_MEMORY_MB', None)})",
    )
    group.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="WARNING",
        help="show log records of the loop body from this level up, on stderr "
        "(default: %(default)s)",
    )


def add_service_options(group, tasks) -> None:
    # None: tasks.py's value (see service_settings)
    group.add_argument(
        "--rate",
        type=items_per_second,
        metavar="RATE",
        help="start at most RATE items a second, across all workers, evenly spread: "
        "20, 0.5, 600/min, 1000/h; retries count too. A service that answers 429 "
        "or 503 pauses the whole pool for its Retry-After, and halves the rate "
        f"(default: tasks.RATE, {getattr(tasks, 'RATE', None)})",
    )
    group.add_argument(
        "--throttle-retries",
        type=retry_count,
        metavar="N",
        help="try an item the service throttled (429, 503) up to N more times "
        "(default: tasks.THROTTLE_RETRIES, "
        f"{getattr(tasks, 'THROTTLE_RETRIES', THROTTLE_RETRIES)})",
    )


def add_result_options(group) -> None:
    group.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write results to FILE instead of stdout (JSON lines, each written "
        "as its item finishes)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="skip the items --output FILE already has results for",
    )
    group.add_argument(
        "--no-progress", action="store_true", help="no progress bar (or TQDM_DISABLE=1)"
    )
    group.add_argument(
        "--timeline",
        type=Path,
        metavar="FILE",
        help="draw when and where each item ran to FILE (.png, .svg, .pdf); "
        "needs the extra: pip install -e '.[timeline]'",
    )


def check_args(args, parser) -> None:
    """What argparse cannot check alone: options that do not go together."""
{%- if cookiecutter.distributed == "dask" %}
    if args.scheduler and args.pool != "dask":
        parser.error("--scheduler goes with --pool dask")
{%- endif %}
    if args.serial and (args.timeout or args.retries):
        parser.error("--timeout and --retries need a pool: leave out --serial")
    if args.serial and (args.max_items_per_worker or args.max_worker_memory):
        parser.error("--max-items-per-worker and --max-worker-memory need a pool")
    if args.lines is not None and args.inputs:
        parser.error("give either INPUT files or --lines FILE, not both")
    check_file_choice(args, parser)
    if args.timeline and not timeline.available():
        parser.error(timeline.MISSING)
    if args.timeline and args.timeline.suffix.lower() not in timeline.TYPES:
        types = "/".join(timeline.TYPES)
        parser.error(f"--timeline {args.timeline}: name a {types} file")
    if args.timeline and (problem := cannot_write("--timeline", args.timeline)):
        parser.error(problem)
    if args.resume and args.output is None:
        parser.error("--resume needs --output FILE: the file to resume from")
    if args.output and not args.resume and args.output.is_file():
        if args.output.stat().st_size > 0:
            parser.error(
                f"{args.output} exists and is not empty: add --resume to go on with "
                "the run that wrote it, or choose another file"
            )
