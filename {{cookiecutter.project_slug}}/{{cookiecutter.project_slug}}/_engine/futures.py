"""The futures of a run: reading what an executor's finished future holds, and
the future run_submit gets for each batch it submits."""

from __future__ import annotations

import time
from concurrent.futures import BrokenExecutor, Future
from typing import Any


def executor_broke(futures) -> bool:
    return any(
        not future.cancelled() and isinstance(future.exception(), BrokenExecutor)
        for future in futures
    )


def settled(future) -> tuple[Any, Exception | None]:
    """A finished batch's result, or the error it ended with. The error of a
    concurrent.futures future is read without raising it: raised, its traceback
    would hold the frames that hold the futures, which hold the error, a cycle that
    keeps the executor's locks (see WorkerLogs). A future of another kind (a
    cluster's) may give its error only by raising it."""
    if isinstance(future, Future):
        error = future.exception()
        if error is None:
            return future.result(), None
        if not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: not the batch's outcome
        return None, error
    try:
        return future.result(), None
    except Exception as exc:
        return None, exc


class BatchFuture(Future):
    """The future of a batch that run_submit sent. The pool runs in the thread
    that uses it, so result() runs the pool until this batch is done."""

    def __init__(self, pool) -> None:
        super().__init__()
        self.pool = pool

    def result(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the batch was not done in {timeout} s")
            self.pool.wait_a_little()
        return super().result()
