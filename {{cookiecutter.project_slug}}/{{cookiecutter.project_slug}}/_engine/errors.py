"""The errors a run raises, each saying what went wrong and what to do about it:

    ItemError   an item's loop body raised (fail-fast mode)
    PoolError   the pool itself failed: a worker died, or work could not be sent
    SetupError  setup() raised in a worker

The checks that raise them before anything runs are here too.
"""

from __future__ import annotations

import ast
import inspect
import os
import pickle
import sys
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager

from . import cpython
from .worker_calls import Failure

# What an executor raises when a worker died under it: add_dead_worker_error adds
# a cluster's own.
DEAD_WORKER_ERRORS: tuple[type[BaseException], ...] = (BrokenExecutor,)


class ItemError(Exception):
    """An item's loop body raised (fail-fast mode)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.describe())
        self.failure = failure


class PoolError(Exception):
    """The pool itself failed: a worker died, or work could not be sent to it."""


class SetupError(PoolError):
    """setup() raised in a worker."""

    def __init__(self, error: str, traceback: str):
        super().__init__(
            f"setup() failed in a worker: {error}. It runs once in each worker "
            "before the first item. The worker's traceback:\n" + traceback.rstrip()
        )


HOW_TO_PICKLE = (
    "A process pool sends the loop body, each item and each result to another "
    "process by pickling them. Define the loop body with def at module level (as in "
    "tasks.py), pass file paths rather than open files, return plain data; or use "
    'the thread pool (pool="thread"), which needs no pickling.'
)


def add_dead_worker_error(error: type[BaseException], advice: str) -> None:
    """For a pool of another kind (a cluster): `error` is what it raises when a
    worker died, and `advice` what its workers need to unpickle the work."""
    global DEAD_WORKER_ERRORS, HOW_TO_PICKLE
    if error not in DEAD_WORKER_ERRORS:
        DEAD_WORKER_ERRORS += (error,)
        HOW_TO_PICKLE += " " + advice


def check_not_starting_a_worker() -> None:
    """A worker process started by spawn or forkserver first imports the script
    that started the run. Without the __main__ guard, that import runs the run
    again, which would start workers of its own."""
    if cpython.starting_a_worker():
        raise PoolError(
            "a worker process, importing your script as it started, reached the "
            "code that starts the run: put that code under "
            '`if __name__ == "__main__":`. Each worker process of the spawn and '
            "forkserver start methods imports the main script first, and the guard "
            "keeps it from starting a run of its own"
        )


def check_main_is_guarded(start_method: str) -> None:
    """Said in the main process, before any worker starts: a process pool started
    while the main script's top level runs, outside its __main__ guard. Workers of
    spawn and forkserver import that script first, and would run it again."""
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None) or ""
    if start_method == "fork" or not os.path.isfile(path):
        return  # forked workers import nothing; a notebook or python -c: no file
    frame = inspect.currentframe()
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)
    ):
        frame = frame.f_back
    if frame is None or frame.f_lineno in guarded_lines(path):
        return  # called while the script's top level does not run, or guarded
    raise PoolError(
        f"a process pool was started at the top level of {path} (line "
        f'{frame.f_lineno}), outside `if __name__ == "__main__":`. Each worker '
        "process starts by importing that file, to find your loop body there, and "
        "would run this line again. Move the code that starts the run under the "
        'guard, at the end of the file: if __name__ == "__main__": results = '
        "run_map(...)"
    )


def guarded_lines(path: str) -> set[int]:
    """The line numbers under `if __name__ == "__main__":` in a script."""
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return set()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and is_main_test(node.test):
            for statement in node.body:
                lines.update(range(statement.lineno, (statement.end_lineno or 0) + 1))
    return lines


def is_main_test(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    sides = [test.left, *test.comparators]
    names = [side.id for side in sides if isinstance(side, ast.Name)]
    texts = [side.value for side in sides if isinstance(side, ast.Constant)]
    return (
        isinstance(test.ops[0], ast.Eq)
        and names == ["__name__"]
        and texts == ["__main__"]
    )


def check_picklable(func, forked: bool = False) -> None:
    """Fails early, with advice, when func cannot be sent to a worker process:
    it does not pickle, or it is defined where a new worker process cannot import
    it (a notebook cell, python -c, stdin). Forked workers have it already."""
    name = getattr(func, "__qualname__", repr(func))
    try:
        sent = pickle.dumps(func)
    except Exception as exc:
        raise PoolError(
            f"the loop body {name} cannot be sent to a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc
    main = sys.modules["__main__"]
    script = os.path.isfile(getattr(main, "__file__", None) or "")  # not "<stdin>"
    if b"__main__" in sent and not (
        script or getattr(main, "__spec__", None) or forked
    ):
        raise PoolError(
            f"the loop body {name} is defined "
            "in a notebook cell, python -c or stdin, where worker processes cannot "
            "import it: each starts afresh and imports the loop body from its file. "
            "Move it into a module (a .py file beside the notebook, then import it "
            'from there), or use pool="thread"'
        )


def is_dead_worker_error(error: BaseException) -> bool:
    return isinstance(error, DEAD_WORKER_ERRORS)


@contextmanager
def pool_errors(unfinished):
    """Turns the errors of the pool itself into PoolErrors that say what to do.

    Items' own exceptions never get here (call_batch catches them in the worker),
    and the Pool recovers from a worker process that died (Pool.recover), so what
    does is a pool that broke otherwise (a thread pool's initializer failed), or
    work that failed on its way to or from a worker process: almost always
    pickling. unfinished() names the items affected.
    """
    try:
        yield
    except DEAD_WORKER_ERRORS as exc:
        raise PoolError(
            f"the pool broke ({type(exc).__name__}: {exc}); unfinished: "
            f"{unfinished()}. Results finished so far are kept. Try fewer "
            "workers (max_workers=1) if memory ran out, or run_serial to see the "
            "problem in this process."
        ) from None
    except Exception as exc:
        raise PoolError(
            "could not send work to or from a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc


def describe_named(failed: dict) -> str:
    """Each item a dead worker ran, as "; item #3: its worker process ..."."""
    return "".join(f"; item #{i}: {why}" for i, (_, why) in sorted(failed.items()))
