"""The command line: python -m {{ cookiecutter.project_slug }} [INPUTS...] [options].

stdout carries only results: one JSON line per item, written the moment the item
finishes (so in the order items finish; each line says its index). Everything
else (the bar, messages, whatever the loop body prints) goes to stderr.

Exit codes: 0 all items done; 1 an item failed, an input could not be read, the
pool broke or the results could not be written; 2 a usage error; 130 Ctrl-C;
129 SIGHUP; 143 SIGTERM; 141 stdout was closed (`| head`).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
from concurrent.futures import InvalidStateError
from pathlib import Path

from tqdm import tqdm

from .. import tasks as default_tasks
from .._engine import PoolError, current_index, pool_threads_waited_for
from .arguments import parse_args
from .output import CannotResume, OutputFile, ResultWriter, label, to_json
from .running import (
    Run,
    choose_workers,
    describe_run,
    in_option_terms,
    stdout_closed,
)
from .sources import FileChoice, Input, InputError, load_items


class Messages:
    """Warnings on stderr, above the bar; unreadable inputs make the exit code 1."""

    def __init__(self):
        self.unreadable = 0

    def warn(self, message: str) -> None:
        tqdm.write(f"warning: {message}", file=sys.stderr)

    def cannot_read(self, message: str) -> None:
        self.unreadable += 1
        self.warn(message)


def items_to_run(output, resume: bool, given: Input, parser):
    """The items to run, as (index, item), read as the run goes: all of them, or
    with --resume those that --output has no result for; and how many earlier
    runs finished. Takes the output file's lock."""
    try:
        finished = output.open(resume) if output else None
    except BlockingIOError as exc:
        parser.error(f"{exc}: wait for it to end, or choose another --output file")
    except CannotResume as exc:
        output.close()
        parser.error(str(exc))
    if not finished:
        return enumerate(given.items), 0
    if given.total is not None and finished.highest >= given.total:
        beyond = "beyond the inputs given"
        parser.error(written_for_others(output, finished.highest, beyond))
    return not_finished(output, given.items, finished), len(finished)


def not_finished(output, items, finished):
    """(index, item) of the items without a result in the output file; those
    with one are checked against it (Finished.labels) as they go by."""
    for index, item in enumerate(items):
        if index not in finished:
            yield index, item
        elif index in finished.labels:
            name = finished.labels[index]
            if to_json(label(item)) != to_json(name):
                raise InputError(written_for_others(output, index, name))


def written_for_others(output, index: int, what) -> str:
    """The message for an output file whose item #index is `what`, not ours."""
    return (
        f"{output.path} was written for other inputs (its item #{index} is "
        f"{what}); give the same inputs, or another --output file"
    )


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
        choice = FileChoice(args.glob, args.hidden)
        given = load_items(
            args, tasks, messages.warn, messages.cannot_read, leave_out, choice
        )
        inputs = [Path(path) for path in args.inputs if not os.path.isdir(path)]
        if args.lines not in (None, "-"):
            inputs = [Path(args.lines)]
        if output and (problem := output.check(inputs)):
            parser.error(problem)
        todo, done_before = items_to_run(output, args.resume, given, parser)
        first = next(todo, None)  # bad input seen at once: a usage error
    except InputError as exc:
        parser.error(str(exc))
    try:
        if first is None:
            said = "nothing to do"
            if left_out := choice.left_out():
                said += f" (left out: {left_out})"
            if done_before:
                said += f": {args.output} holds a result for each of the "
                said += f"{done_before} items"
            print(said, file=sys.stderr)
            return 1 if messages.unreadable else 0
        count = None if given.total is None else given.total - done_before
        workers, source = choose_workers(args, tasks)
        describe_run(args, count, workers, source, done_before)
        writer = output or ResultWriter(results or sys.stdout)
        show_logs(args.log_level)
        todo = itertools.chain([first], todo)
        code = Run(args, tasks, todo, count, writer, choice).start(workers)
    except InputError as exc:  # a line further on that cannot be read
        parser.error(str(exc))
    except PoolError as exc:  # a cluster that cannot be reached
        print(f"error: {in_option_terms(str(exc))}", file=sys.stderr)
        return 1
    finally:
        if output:
            output.close()
    return code or (1 if messages.unreadable else 0)


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
    if threads_that_would_hold_the_exit():
        # Threads of a thread pool are left behind (the run stopped early, or an
        # item timed out): they cannot be stopped, and Python would wait for
        # their items at exit. Everything is written, so leave now.
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def threads_that_would_hold_the_exit() -> list[threading.Thread]:
    """Threads Python waits for at exit: those that are not daemon threads, and
    those of thread pools (concurrent.futures waits for them at exit)."""
    main = threading.main_thread()
    pools = pool_threads_waited_for()
    others = [t for t in threading.enumerate() if t is not main and not t.daemon]
    return others + [t for t in pools if t.is_alive() and t.daemon]


def quiet_stopped_pool(args) -> None:
    """Python 3.10 and 3.11 (fixed in 3.12, gh-107219): when a run stops early, the
    process pool's manager thread may fail on futures that were already cancelled,
    and print InvalidStateError. Nothing is lost; every other error still prints."""
    if not isinstance(args.exc_value, InvalidStateError):
        threading.__excepthook__(args)
