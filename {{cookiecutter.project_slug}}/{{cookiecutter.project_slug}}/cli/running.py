"""Running the items of a command line run, and reporting: the pool it runs on,
each result written as it comes, the bar, and what is said at the end.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from traceback import format_exc

from tqdm import tqdm

{% if cookiecutter.distributed == "dask" %}from .. import dask_pool
{% endif %}from .._engine import (
    RETRY_ON,
    TEARDOWN_FAILURES,
    Failure,
    ItemError,
    Pool,
    PoolError,
    Prefetched,
    ctrl_c_held,
    default_max_workers,
    describe_rate,
    open_pool,
    usable_cpus,
)
from ..parallel import bar_options, run_serial
from . import timeline
from .arguments import PROG
from .output import AsJson, record_line
from .sources import InputError


class Stopped(BaseException):
    """Raised in the main thread when the process gets SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


STOP_SIGNALS = [
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
]


def raise_stopped(signum, frame):
    raise Stopped(signum)


class Run:
    """One run of the command line: writes each outcome as it comes, counts."""

    def __init__(self, args, tasks, todo, count: int | None, writer, choice=None):
        self.args = args
        self.tasks = tasks
        self.todo = todo  # (index in the input, item), read as the run goes
        self.count = count  # items to run, if known
        self.read = 0  # items read so far: the count, once read through
        self.running: dict[int, tuple[int, object]] = {}  # position -> index, item
        self.suffixes: Counter[str] = Counter()  # of the files read: odd_one_out
        self.stopping_items: dict[int, object] = {}  # failed, without --keep-going
        self.input_error = ""  # why the input could not be read through
        self.choice = choice  # what a walk left out
        self.writer = writer
        self.failures: list[Failure] = []
        self.spans: list[timeline.Span] = []  # with --timeline: when, where items ran
        self.bar: tqdm | None = None
        self.pool: Pool | None = None  # counts the attempts of retries
        self.teardowns_failed_before = TEARDOWN_FAILURES.count
        self.retried = 0  # items that took more than one attempt

    def on_result(self, position: int, outcome) -> None:
        """Called in this thread as each item finishes: writes its line."""
        index, item = self.running.pop(position)
        if isinstance(outcome, timeline.Span):
            self.spans.append(outcome)
            outcome = outcome.value
        attempts = None
        if self.pool is not None:  # with --retries, or when the service throttled
            attempts = self.pool.attempts_of(position)
            self.retried += attempts > 1
            if attempts == 1 and not self.args.retries:
                attempts = None
        if isinstance(outcome, Failure):
            if not self.args.keep_going:  # it stops the run: odd_one_out
                self.stopping_items[index] = item
            outcome.error = in_option_terms(outcome.error)
            self.failures.append(outcome.put_at(index))
            if self.args.keep_going:
                self.tell_failure(self.failures[-1], attempts)
        self.writer.write(record_line(index, item, outcome, attempts))
        if self.bar is not None:
            if self.pool is not None and self.pool.limiter.in_force:
                self.bar.set_postfix_str(self.pool.limiter.describe(), refresh=False)
            self.bar.update()

    def tell_failure(self, failure: Failure, attempts: int | None) -> None:
        """--keep-going says each failure once, as it happens; the traceback of the
        first one only (of each one at --log-level DEBUG)."""
        said = failure.describe()
        if attempts and attempts > 1 and "still throttled" not in failure.error:
            said += f" (after {attempts} attempts)"
        first = len(self.failures) == 1
        if failure.traceback and (first or self.args.log_level == "DEBUG"):
            said += f"\nitem #{failure.index} raised:\n{failure.traceback.rstrip()}"
        tqdm.write(said, file=sys.stderr)

    def start(self, workers: int) -> int:
        args, tasks = self.args, self.tasks
        numbered = args.pattern == "submit"
        func = tasks.process_numbered_item if numbered else tasks.process_item
        func = AsJson(func)  # results turn into JSON in the workers
        if args.timeline:  # each call also reports when and where it ran
            func = timeline.Timed(func)
        started = time.perf_counter()
        for signum in STOP_SIGNALS:
            signal.signal(signum, raise_stopped)
        bar_settings = bar_options(not args.no_progress)
        try:
            with ctrl_c_held():  # a half-made bar complains at exit
                self.bar = tqdm(total=self.count, **bar_settings)
                if args.rate:
                    self.bar.set_postfix_str(f"rate {describe_rate(args.rate)}")
            with self.bar:
                self.run_items(func, self.items_to_run(), workers)
        except ItemError as exc:
            return self.stopped_by_item(exc)
        except PoolError as exc:
            said = in_option_terms(str(exc))
            return self.say(f"error: {said} ({self.count_written()})", 1)
        except BrokenPipeError:
            return stdout_closed(self.writer.stream)
        except OSError as exc:  # the results could not be written: a full disk
            return self.say(
                f"error: cannot write the results to {args.output}: {exc.strerror}. "
                f"The {self.writer.written} lines written are whole: make room for "
                "the lines still to come (--resume appends them)",
                1,
            )
        except (KeyboardInterrupt, Stopped) as exc:
            kept = f"; their results are in {args.output}" if args.output else ""
            code = getattr(exc, "exit_code", 130)
            return self.say(f"interrupted: {self.count_written()}{kept}", code)
        finally:
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
        if self.input_error:  # what was read ran; the rest could not be read
            said = f"error: {self.input_error} ({self.count_written()}"
            if self.args.output:
                said += f"; their results are in {self.args.output}"
            return self.say(said + "; mend the input, then go on)", 1)
        self.finish(time.perf_counter() - started, workers)
        teardowns_failed = TEARDOWN_FAILURES.since(self.teardowns_failed_before)
        return 1 if self.failures or teardowns_failed else 0

    def items_to_run(self):
        """items_read; from a pipe or standard input, read in a thread of its own
        (Prefetched): results are written while the next lines are awaited."""
        lines = self.args.lines
        if lines == "-" or (lines is not None and not os.path.isfile(lines)):
            return Prefetched(self.items_read())
        return self.items_read()

    def items_read(self):
        """The items to run, as the pool reads them; each is kept, with its index
        in the input, only until its outcome is written. An input that cannot be
        read on (a line that is not UTF-8, an items() that raised) ends here: the
        items read run to their end, and the run says why it stopped."""
        try:
            for position, (index, item) in enumerate(self.todo):
                self.running[position] = (index, item)
                self.read = position + 1
                if isinstance(item, Path):
                    self.suffixes[item.suffix] += 1
                yield item
        except InputError as exc:
            self.input_error = str(exc)
        except Exception as exc:  # tasks.items(), a generator of yours
            print(format_exc().rstrip(), file=sys.stderr)
            self.input_error = (
                f"reading the items stopped after {self.read}: "
                f"{type(exc).__name__}: {exc} (raised where the items come from: "
                "tasks.items(), its traceback above)"
            )

    def run_items(self, func, items, workers: int) -> None:
        args = self.args
        numbered = args.pattern == "submit"
        in_each_worker = {
            "setup": getattr(self.tasks, "setup", None),
            "teardown": getattr(self.tasks, "teardown", None),
        }
        if args.serial:
            run_serial(
                func,
                items,
                numbered=numbered,
                progress=False,
                keep_going=args.keep_going,
                on_result=self.on_result,
                rate=args.rate,
                throttle_retries=args.throttle_retries,
                **in_each_worker,
            )
            return
        options = {
            "keep_going": args.keep_going,
            "on_result": self.on_result,
            "timeout": args.timeout,
            "retries": args.retries,
            "retry_on": getattr(self.tasks, "RETRY_ON", RETRY_ON),
            "max_items_per_worker": args.max_items_per_worker,
            "max_worker_memory_mb": args.max_worker_memory,
            "rate": args.rate,
            "throttle_retries": args.throttle_retries,
            **in_each_worker,
        }
        with (
            open_executor(args, workers) as runs_on,
            open_pool(runs_on, workers, **options) as pool,
        ):
            self.pool = pool
            pool.stream(func, items, numbered)

    def count_written(self) -> str:
        done = self.writer.written - len(self.failures)
        total = self.read if self.count is None else self.count
        return f"{done} of {total} items finished"

    def stopped_by_item(self, exc: ItemError) -> int:
        if exc.failure.traceback:  # none where its worker died under it
            print(f"item #{exc.failure.index} raised:", file=sys.stderr)
            print(exc.failure.traceback.rstrip(), file=sys.stderr)
        hint = self.odd_one_out(exc.failure.index)
        return self.say(
            f"error: {exc} (stopped after {self.count_written()}; --keep-going "
            f"runs every item, and says each failure as it happens){hint}",
            1,
        )

    def odd_one_out(self, index: int | None) -> str:
        """A hint, where the failed item is a file unlike most of the others (a
        README.txt among images, say): --glob takes only those."""
        item = None if index is None else self.stopping_items.get(index)
        if not isinstance(item, Path) or not self.suffixes:
            return ""
        usual, count = self.suffixes.most_common(1)[0]
        if not usual or item.suffix == usual or count < self.read / 2:
            return ""
        return f". Not one of your files? --glob '*{usual}' takes only those"

    def say(self, message: str, code: int) -> int:
        """Says how the run ended (and what the service did), and with --output
        the command that goes on."""
        self.say_what_the_service_did()
        print(message, file=sys.stderr)
        if self.args.output:
            print(f"to go on: {command_to_go_on(self.args)}", file=sys.stderr)
        return code

    def say_what_the_service_did(self) -> None:
        """How often the service throttled the run, if it did (rate.py)."""
        if self.pool is not None and (throttling := self.pool.limiter.summary()):
            print(in_option_terms(throttling), file=sys.stderr)

    def finish(self, seconds: float, workers: int) -> None:
        args = self.args
        if args.timeline:
            how = "serial" if args.serial else f"{args.pool} pool, {workers} worker(s)"
            timeline.draw(self.spans, args.timeline, f"{len(self.spans)} items, {how}")
            print(f"timeline: {args.timeline}", file=sys.stderr)
        done = self.read - len(self.failures)
        said = f"done: {done} of {self.read} items in {seconds:.1f} s, "
        said += f"{len(self.failures)} failed"
        if self.failures:
            kinds = Counter(failure.error.split(":")[0] for failure in self.failures)
            said += ": " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
            where = f"in {args.output}" if args.output else "on stdout"
            said += f' (each said above; their lines {where} have an "error")'
        if self.retried:
            said += f"; {self.retried} took more than one attempt"
            said += " (--retries)" if self.args.retries else ""
        print(said, file=sys.stderr)
        if self.choice is not None and (left_out := self.choice.left_out()):
            print(f"left out: {left_out}", file=sys.stderr)
        self.say_what_the_service_did()
        if teardowns_failed := TEARDOWN_FAILURES.since(self.teardowns_failed_before):
            print(f"teardown() failed in {teardowns_failed} worker(s)", file=sys.stderr)
        if self.failures and args.output:
            again = command_to_go_on(args)
            print(f"to run the failed items again: {again}", file=sys.stderr)


# The engine's advice names run_map's parameters; here, the options that set them.
OPTIONS_FOR_PARAMETERS = {
    "throttle_retries=": "--throttle-retries",
    "rate=": "--rate",
    'pool="thread"': "--pool thread",
    "max_workers=1": "--workers 1",
    "run_serial": "--serial",
}


def in_option_terms(message: str) -> str:
    """An error of the engine, with the options of the command line in place of
    the parameters it names."""
    for parameter, option in OPTIONS_FOR_PARAMETERS.items():
        message = message.replace(parameter, option)
    return message


def command_to_go_on(args) -> str:
    """The command that continues a run that wrote --output: the same, with
    --resume (which runs the items that have no result yet, failed ones too)."""
    words = args.argv if args.resume else [*args.argv, "--resume"]
    command = f"{PROG} {shlex.join(words)}"
    if args.lines == "-":
        command += "  (fed the same lines on its standard input)"
    return command


def open_executor(args, workers: int):
    """What open_pool runs on: "process" or "thread"{% if cookiecutter.distributed == "dask" %}, or a Dask cluster's executor{% endif %}."""
{%- if cookiecutter.distributed == "dask" %}
    if args.pool == "dask":
        return dask_pool.open_executor(workers, args.scheduler)
{%- endif %}
    return nullcontext(args.pool)


# Where the worker count comes from when neither --workers nor tasks.py says.
DEFAULT_WORKERS = "the default: half the CPUs"


def workers_in_force(args, tasks) -> tuple[int, str]:
    """The worker count of --workers, else tasks.MAX_WORKERS, else the default,
    and which of them it is (bench compares with it)."""
    if args.workers:
        return args.workers, "--workers"
    if tasks.MAX_WORKERS:
        return tasks.MAX_WORKERS, "tasks.MAX_WORKERS"
    return default_max_workers(), DEFAULT_WORKERS


def choose_workers(args, tasks) -> tuple[int, str]:
    """How many items run at once, and where that number comes from (the default
    says how to change it)."""
{%- if cookiecutter.distributed == "dask" %}
    if args.pool == "dask" and not args.workers:
        args.scheduler = dask_pool.scheduler_address(args.scheduler)
        if args.scheduler:
            cores = dask_pool.cluster_size(args.scheduler)
            return cores, f"all the cluster's cores, at {args.scheduler}"
{%- endif %}
    count, source = workers_in_force(args, tasks)
    if source == DEFAULT_WORKERS and args.pool == "thread":
        # Threads that wait can be many more than the CPUs.
        source += "; work that waits takes more threads: try --workers 16, or "
        source += "measure with bench"
    elif source == DEFAULT_WORKERS:
        source += "; try --workers N"
    return count, source


def describe_run(
    args, count: int | None, workers: int, source: str, done_before=0
) -> None:
    """One line on stderr saying how the run is set up, and how to change it;
    with --resume, how many items earlier runs did. `count`: None where the
    input's length is not known before it is read (a walk, standard input)."""
    if args.serial:
        how = "serially, in this process"
        if args.tasks_long_run:
            names = " and ".join(args.tasks_long_run)
            how += f" (without tasks.py's {names}: they need a pool)"
    else:
        how = f"{args.pattern} pattern, {args.pool} pool, {workers} worker(s)"
        how += f" ({source})"
    items = "the items as they are read" if count is None else f"{count} items"
    if done_before and count is not None:
        items += f" ({done_before} of {done_before + count} done before)"
    elif done_before:
        items += f" ({done_before} done before)"
    tqdm.write(f"running {items}: {how}", file=sys.stderr)
    cpus = usable_cpus()
    if args.pool == "process" and not args.serial and workers > 4 * cpus:
        tqdm.write(
            f"warning: {workers} worker processes on {cpus} CPUs: each costs memory "
            "and start-up time, and more processes than CPUs compute no faster. "
            "For work that waits, use --pool thread.",
            file=sys.stderr,
        )


def stdout_closed(stream) -> int:
    """The reader of stdout went away (`| head`): stop quietly, like other tools."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())  # what is still buffered goes nowhere
    return 128 + 13  # as if killed by SIGPIPE
