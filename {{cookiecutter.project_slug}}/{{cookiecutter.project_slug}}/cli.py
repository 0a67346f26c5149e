"""The command line: python -m {{ cookiecutter.project_slug }} [INPUTS...] [options].

stdout carries only results: one JSON line per item, written the moment the item
finishes (so in the order items finish; each line says its index). Everything
else (the bar, messages, whatever the loop body prints) goes to stderr.

Exit codes: 0 all items done; 1 an item failed, an input could not be read, the
pool broke or the results could not be written; 2 a usage error; 130 Ctrl-C;
129 SIGHUP; 143 SIGTERM; 141 stdout was closed (`| head`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import InvalidStateError
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from . import _pools, {% if cookiecutter.distributed == "dask" %}dask_pool, {% endif %}timeline
from . import tasks as default_tasks
from ._ending_workers import ctrl_c_held
from ._engine import Pool
from ._errors import ItemError, PoolError
from ._outcomes import RETRY_ON
from ._pools import default_max_workers, open_pool, usable_cpus
from ._worker import Failure, current_index
from .output import (
    AsJson,
    CannotResume,
    OutputFile,
    ResultWriter,
    cannot_write,
    label,
    record_line,
    to_json,
)
from .parallel import bar_options, run_serial
from .sources import (
    InputError,
    load_items,
    positive_int,
    retry_count,
    timeout_seconds,
)

FAILURES_LISTED = 20  # --keep-going lists at most this many failures at the end
{%- if cookiecutter.distributed == "dask" %}
POOLS = (*_pools.POOLS, "dask")
{%- else %}
POOLS = _pools.POOLS
{%- endif %}


class Stopped(BaseException):
    """Raised in the main thread when the process gets SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


def parse_args(argv, tasks):
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.project_slug }}",  # the name the READMEs use
        description="Run the loop body in tasks.py over every item, in parallel. "
        "Items are the files given (directories are walked), or the lines of "
        "--lines FILE, or with neither, what tasks.items() returns.",
        epilog="`%(prog)s bench [INPUT...]` times a sample of the items on threads "
        "and processes and recommends a pool and worker count.",
    )
    add_item_options(parser.add_argument_group("items"))
    add_pool_options(parser.add_argument_group("how they run"), tasks)
    add_long_run_options(parser.add_argument_group("long runs"), tasks)
    add_result_options(parser.add_argument_group("results"))
    args = parser.parse_args(argv)
    check_args(args, parser)
    long_run_settings(args, tasks)
    return args, parser


def long_run_settings(args, tasks) -> None:
    """--timeout and --retries, else tasks.py's TIMEOUT and RETRIES. Those are for
    a pool: --serial, the debugging loop, runs without them (and says so)."""
    args.tasks_long_run = bool(getattr(tasks, "TIMEOUT", None)) or bool(
        getattr(tasks, "RETRIES", 0)
    )
    if args.serial:
        args.timeout, args.retries = None, 0
        return
    if args.timeout is None:
        args.timeout = getattr(tasks, "TIMEOUT", None)
    args.timeout = args.timeout or None  # --timeout 0: no limit
    if args.retries is None:
        args.retries = getattr(tasks, "RETRIES", 0)


def add_item_options(group) -> None:
    group.add_argument("inputs", nargs="*", metavar="INPUT", help="file or directory")
    group.add_argument(
        "--lines",
        metavar="FILE",
        help="run over the non-empty lines of FILE, one string item each "
        "(- reads standard input: seq 100 | %(prog)s --lines -)",
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
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="WARNING",
        help="show log records of the loop body from this level up, on stderr "
        "(default: %(default)s)",
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
    if args.lines is not None and args.inputs:
        parser.error("give either INPUT files or --lines FILE, not both")
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


class Messages:
    """Warnings on stderr, above the bar; unreadable inputs make the exit code 1."""

    def __init__(self):
        self.unreadable = 0

    def warn(self, message: str) -> None:
        tqdm.write(f"warning: {message}", file=sys.stderr)

    def cannot_read(self, message: str) -> None:
        self.unreadable += 1
        self.warn(message)


def items_to_run(output, resume: bool, items: list, parser) -> list[int]:
    """Indexes of the items to run: all of them, or with --resume those that
    --output has no result for. Takes the output file's lock."""
    try:
        finished = output.open(resume) if output else None
    except BlockingIOError as exc:
        parser.error(f"{exc}: wait for it to end, or choose another --output file")
    except CannotResume as exc:
        output.close()
        parser.error(str(exc))
    if not finished:
        return list(range(len(items)))
    for index, name in finished.items():
        if index >= len(items) or to_json(label(items[index])) != to_json(name):
            parser.error(
                f"{output.path} was written for other inputs (its item #{index} is "
                f"{name}); give the same inputs, or another --output file"
            )
    return [index for index in range(len(items)) if index not in finished]


def main(argv=None, tasks=default_tasks, results=None) -> int:
    """Runs the command line; `tasks` is the module with the loop body (tests pass
    their own), `results` the stream for results (default: stdout; run() passes
    keep_stdout_for_results). Returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from . import bench  # imported only when asked for

        return bench.main(argv[1:], tasks)
    args, parser = parse_args(argv, tasks)  # --help went to stdout: it was asked for
    if callable(results):
        results = results()
    messages = Messages()
    output = OutputFile(args.output) if args.output else None
    try:
        if output and (problem := output.check([])):
            parser.error(problem)
        leave_out = [args.output] if args.output else []
        items = load_items(args, tasks, messages.warn, messages.cannot_read, leave_out)
        inputs = items if args.inputs else []
        if args.lines not in (None, "-"):
            inputs = [Path(args.lines)]
        if output and (problem := output.check(inputs)):
            parser.error(problem)
    except InputError as exc:
        parser.error(str(exc))
    todo = items_to_run(output, args.resume, items, parser)
    try:
        if not todo:
            print("nothing to do", file=sys.stderr)
            return 1 if messages.unreadable else 0
        workers, source = choose_workers(args, tasks)
        describe_run(args, len(todo), workers, source)
        writer = output or ResultWriter(results or sys.stdout)
        show_logs(args.log_level)
        code = Run(args, tasks, items, todo, writer).start(workers)
    except PoolError as exc:  # a cluster that cannot be reached
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if output:
            output.close()
    return code or (1 if messages.unreadable else 0)


class Run:
    """One run of the command line: writes each outcome as it comes, counts."""

    def __init__(self, args, tasks, items: list, todo: list[int], writer):
        self.args = args
        self.tasks = tasks
        self.items = items
        self.todo = todo  # position in this run -> index in the input
        self.writer = writer
        self.failures: list[Failure] = []
        self.spans: list[timeline.Span] = []  # with --timeline: when, where items ran
        self.bar: tqdm | None = None
        self.executor: Pool | None = None  # counts the attempts of retries

    def on_result(self, position: int, outcome) -> None:
        """Called in this thread as each item finishes: writes its line."""
        index = self.todo[position]
        if isinstance(outcome, timeline.Span):
            self.spans.append(outcome)
            outcome = outcome.value
        if isinstance(outcome, Failure):
            outcome.index = index
            self.failures.append(outcome)
            if self.args.keep_going:
                tqdm.write(outcome.describe(), file=sys.stderr)
        attempts = None
        if self.args.retries and self.executor is not None:
            attempts = self.executor.outcomes.attempts.pop(position, 1)
        self.writer.write(record_line(index, self.items[index], outcome, attempts))
        if self.bar is not None:
            self.bar.update()

    def start(self, workers: int) -> int:
        args, tasks = self.args, self.tasks
        numbered = args.pattern == "submit"
        func = tasks.process_numbered_item if numbered else tasks.process_item
        func = AsJson(func)  # results turn into JSON in the workers
        if args.timeline:  # each call also reports when and where it ran
            func = timeline.Timed(func)
        todo_items = [self.items[index] for index in self.todo]
        started = time.perf_counter()
        for signum in STOP_SIGNALS:
            signal.signal(signum, raise_stopped)
        bar_settings = bar_options(not args.no_progress)
        try:
            with ctrl_c_held():  # a half-made bar complains at exit
                self.bar = tqdm(total=len(self.todo), **bar_settings)
            with self.bar:
                self.run_items(func, todo_items, workers)
        except ItemError as exc:
            return self.stopped_by_item(exc)
        except PoolError as exc:
            return self.say(f"error: {exc} ({self.count_written()})", 1)
        except BrokenPipeError:
            return stdout_closed(self.writer.stream)
        except OSError as exc:  # the results could not be written: a full disk
            return self.say(
                f"error: cannot write the results to {args.output}: {exc.strerror}. "
                f"The {self.writer.written} lines written are whole: make room, "
                "then run again with --resume",
                1,
            )
        except (KeyboardInterrupt, Stopped) as exc:
            kept = f"; their results are in {args.output}" if args.output else ""
            code = getattr(exc, "exit_code", 130)
            return self.say(f"interrupted: {self.count_written()}{kept}", code)
        finally:
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
        self.finish(time.perf_counter() - started, workers)
        return 1 if self.failures else 0

    def run_items(self, func, items: list, workers: int) -> None:
        args = self.args
        numbered = args.pattern == "submit"
        setup = getattr(self.tasks, "setup", None)
        if args.serial:
            if setup is not None:
                setup()
            run_serial(
                func,
                items,
                numbered=numbered,
                progress=False,
                keep_going=args.keep_going,
                on_result=self.on_result,
            )
            return
        options = {
            "keep_going": args.keep_going,
            "on_result": self.on_result,
            "timeout": args.timeout,
            "retries": args.retries,
            "retry_on": getattr(self.tasks, "RETRY_ON", RETRY_ON),
            "setup": setup,
        }
        with (
            open_executor(args, workers) as pool,
            open_pool(pool, workers, **options) as executor,
        ):
            self.executor = executor
            executor.stream(func, items, numbered)

    def count_written(self) -> str:
        done = self.writer.written - len(self.failures)
        return f"{done} of {len(self.todo)} items finished"

    def stopped_by_item(self, exc: ItemError) -> int:
        print(f"item #{exc.failure.index} raised:", file=sys.stderr)
        print(exc.failure.traceback.rstrip(), file=sys.stderr)
        return self.say(
            f"error: {exc} (stopped after {self.count_written()}; --keep-going "
            "runs every item and lists all failures)",
            1,
        )

    def say(self, message: str, code: int) -> int:
        print(message, file=sys.stderr)
        return code

    def finish(self, seconds: float, workers: int) -> None:
        args = self.args
        if args.timeline:
            how = "serial" if args.serial else f"{args.pool} pool, {workers} worker(s)"
            timeline.draw(self.spans, args.timeline, f"{len(self.spans)} items, {how}")
            print(f"timeline: {args.timeline}", file=sys.stderr)
        done = len(self.todo) - len(self.failures)
        print(
            f"done: {done} of {len(self.todo)} items in {seconds:.1f} s, "
            f"{len(self.failures)} failed",
            file=sys.stderr,
        )
        for failure in self.failures[:FAILURES_LISTED]:
            print(f"  {failure.describe()}", file=sys.stderr)
        more = len(self.failures) - FAILURES_LISTED
        if more > 0:
            print(f"  ... and {more} more", file=sys.stderr)
        if self.failures and self.failures[0].traceback:
            first = self.failures[0]  # the others' are alike, as a rule
            print(f"item #{first.index} raised:", file=sys.stderr)
            print(first.traceback.rstrip(), file=sys.stderr)


def open_executor(args, workers: int):
    """What open_pool runs on: "process" or "thread"{% if cookiecutter.distributed == "dask" %}, or a Dask cluster's executor{% endif %}."""
{%- if cookiecutter.distributed == "dask" %}
    if args.pool == "dask":
        return dask_pool.open_executor(workers, args.scheduler)
{%- endif %}
    return nullcontext(args.pool)


def choose_workers(args, tasks) -> tuple[int, str]:
    """How many items run at once, and where that number comes from."""
    if args.workers:
        return args.workers, "--workers"
{%- if cookiecutter.distributed == "dask" %}
    if args.pool == "dask":
        args.scheduler = dask_pool.scheduler_address(args.scheduler)
        if args.scheduler:
            cores = dask_pool.cluster_size(args.scheduler)
            return cores, f"all the cluster's cores, at {args.scheduler}"
{%- endif %}
    if tasks.MAX_WORKERS:
        return tasks.MAX_WORKERS, "tasks.MAX_WORKERS"
    return default_max_workers(), "the default: half the CPUs; try --workers N"


def describe_run(args, count: int, workers: int, source: str) -> None:
    """One line on stderr saying how the run is set up, and how to change it."""
    if args.serial:
        how = "serially, in this process"
        if args.tasks_long_run:
            how += " (without tasks.py's TIMEOUT and RETRIES: they need a pool)"
    else:
        how = f"{args.pattern} pattern, {args.pool} pool, {workers} worker(s)"
        how += f" ({source})"
    tqdm.write(f"running {count} items: {how}", file=sys.stderr)
    cpus = usable_cpus()
    if args.pool == "process" and not args.serial and workers > 4 * cpus:
        tqdm.write(
            f"warning: {workers} worker processes on {cpus} CPUs: each costs memory "
            "and start-up time, and more processes than CPUs compute no faster. "
            "For work that waits, use --pool thread.",
            file=sys.stderr,
        )


class LogLines(logging.Handler):
    """Log records on stderr, above the bar, saying which item they came from."""

    def emit(self, record: logging.LogRecord) -> None:
        index = getattr(record, "item_index", None)
        if index is None:
            index = current_index()  # the loop body on a thread of this process
        where = f"item #{index}: " if index is not None else ""
        message = f"{where}{record.levelname}: {record.name}: {record.getMessage()}"
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        tqdm.write(message, file=sys.stderr)


def show_logs(level: str) -> None:
    """Sends log records of this process, and of the workers (they come here),
    to stderr: never to stdout, which carries only results."""
    root = logging.getLogger()
    # The handler's level too: a library that sets its own loggers' levels (a
    # cluster's client sets INFO) would get past the root's.
    root.handlers = [LogLines(level)]
    root.setLevel(level)


STOP_SIGNALS = [
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
]


def raise_stopped(signum, frame):
    raise Stopped(signum)


def stdout_closed(stream) -> int:
    """The reader of stdout went away (`| head`): stop quietly, like other tools."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())  # what is still buffered goes nowhere
    return 128 + 13  # as if killed by SIGPIPE


def keep_stdout_for_results():
    """Sends everything printed to stderr (in this process and in the workers,
    which inherit it), and returns a stream on the real stdout for the results."""
    sys.stdout.flush()
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return results


def run(argv=None, tasks=default_tasks) -> None:
    """The console script and `python -m` entry point."""
    threading.excepthook = quiet_stopped_pool
    # tqdm's own lock is a multiprocessing semaphore, which os._exit below would
    # leave behind (Python 3.14 reports it as leaked). Every bar is in this process.
    tqdm.set_lock(threading.RLock())
    try:
        code = main(argv, tasks, keep_stdout_for_results)
        sys.stdout.flush()
    except KeyboardInterrupt:  # before or after the run itself
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = stdout_closed(sys.stdout)
    if code != 0 and threads_that_would_hold_the_exit():
        # The run stopped early and left threads of a thread pool behind: they
        # cannot be stopped, and Python would wait for their items at exit.
        # Everything is written, so leave now.
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def threads_that_would_hold_the_exit() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon]


def quiet_stopped_pool(args) -> None:
    """Python 3.10 and 3.11 (fixed in 3.12): when a run stops early, the process
    pool's manager thread may fail on futures that were already cancelled, and
    print InvalidStateError. Nothing is lost; every other error still prints."""
    if not isinstance(args.exc_value, InvalidStateError):
        threading.__excepthook__(args)
