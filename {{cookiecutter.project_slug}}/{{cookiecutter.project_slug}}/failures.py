"""What can go wrong in a parallel run, caught where it happens and told clearly.

An item that raises does not take its batch or its worker down with it: the worker
catches the exception, turns it into a Failure (index, short repr, traceback as text)
and sends that back like a result. Everything else (a dead worker process, work that
cannot be pickled) is a problem of the pool, not of one item, and gets its own error.
"""

from __future__ import annotations

import pickle
import traceback
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath


@dataclass
class Failure:
    """Stands in for the result of an item whose loop body raised."""

    item: str  # a short repr of the item
    error: str  # "ValueError: bad input"
    traceback: str  # the worker's traceback, as text
    index: int | None = None  # position in the input, filled in by the caller

    def describe(self) -> str:
        return f"item #{self.index} ({self.item}) failed: {self.error}"


def short_repr(item, limit: int = 80) -> str:
    """repr(item) cut to limit; a path as plain text, cut at the start, so that its
    file name shows."""
    if isinstance(item, PurePath):
        text = str(item)
        return text if len(text) <= limit else "..." + text[3 - limit :]
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def call_safely(func, *args):
    """func(*args), or a Failure if it raises. The item is the last argument."""
    try:
        return func(*args)
    except Exception as exc:
        return Failure(
            item=short_repr(args[-1]),
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )


class ItemError(Exception):
    """An item's loop body raised (fail-fast mode)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.describe())
        self.failure = failure


class PoolError(Exception):
    """The pool itself failed: a worker died, or work could not be sent to it."""


HOW_TO_PICKLE = (
    "A process pool sends the loop body, each item and each result to another "
    "process by pickling them. Define the loop body with def at module level (as in "
    "tasks.py), pass file paths rather than open files, return plain data; or use "
    "the thread pool (--pool thread), which needs no pickling."
{%- if cookiecutter.distributed == "dask" %}
    " On a Dask cluster, the scheduler and every worker must also be able to import "
    "this project: install it there too (pip install .)."
{%- endif %}
)


def check_picklable(func) -> None:
    """Fails early, with advice, when func cannot be sent to a worker process."""
    try:
        pickle.dumps(func)
    except Exception as exc:
        name = getattr(func, "__qualname__", repr(func))
        raise PoolError(
            f"the loop body {name} cannot be sent to a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc


@contextmanager
def pool_errors(unfinished):
    """Turns the errors of the pool itself into PoolErrors that say what to do.

    Items' own exceptions never get here (call_safely catches them in the worker),
    so what does is a dead worker, or work that failed on its way to or from a
    worker process: almost always pickling. unfinished() names the items affected.
    """
    try:
        yield
    except Exception as exc:
        if is_dead_worker(exc):
            raise PoolError(
                "a worker process died (killed, out of memory, or the loop body "
                f"called os._exit or crashed the interpreter); unfinished: "
                f"{unfinished()}. Results finished so far are kept. Try fewer "
                "workers (--workers 1) if memory ran out, --serial to see the "
                "problem in this process, and --resume with --output to continue "
                "where the run stopped."
            ) from None
        raise PoolError(
            "could not send work to or from a worker process "
            f"({type(exc).__name__}: {exc}). {HOW_TO_PICKLE}"
        ) from exc


def is_dead_worker(exc: Exception) -> bool:
    """A process pool raises BrokenExecutor when a worker process dies.
{%- if cookiecutter.distributed == "dask" %} Dask retries
    the item on other workers, and raises KilledWorker once they died too.{% endif %}"""
{%- if cookiecutter.distributed == "dask" %}
    # Checked by name: importing Dask here would slow down every start.
    return isinstance(exc, BrokenExecutor) or type(exc).__name__ == "KilledWorker"
{%- else %}
    return isinstance(exc, BrokenExecutor)
{%- endif %}
