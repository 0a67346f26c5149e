"""How the two patterns of parallel.py run. You need not read this to use them.

An item's way through a run, and the module that takes each step:

    item  ->  batch  ->  worker  ->  outcome  ->  result, in input order
              _batches   _worker     _outcomes    _outcomes
              (this Pool sends the batches and waits for them)

    executors.py           makes the pool (processes, threads, or an executor of
                        yours) and shuts it down: open_pool
    pool.py          this Pool: sends batches, a bounded number in flight,
                        and waits for them in this thread
    batches.py         how many items a batch holds, from how long items take
    worker_calls.py          what runs in a worker: the loop body on each item of a
                        batch, failures captured; timeouts
    resources.py       setup() and teardown() in each worker, worker_resource()
    recycling.py       worker processes replaced after N items, or past a cap
                        on their memory
    worker_start.py  how a worker process starts: signals, logs, its parent
    outcomes.py        results and failures, retries, timeouts, on_result, and
                        results handed out in input order
    ending_workers.py  workers ended at once, dead ones noticed, stuck ones
                        replaced; Ctrl-C held while a pool is made
    errors.py          the errors a run raises, and what they tell you to do
"""

from __future__ import annotations

import time
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from itertools import count, islice

from . import cpython
from .batches import BATCHES_IN_FLIGHT_PER_WORKER, BatchSizes
from .ending_workers import (
    abandon_late_items,
    ctrl_c_held,
    end_stuck_workers,
    look_for_an_unseen_death,
    note_worker_groups,
    pool_broke,
    recycle_workers,
    replace_stuck_worker,
)
from .errors import check_picklable, pool_errors
from .outcomes import Outcomes
from .worker_calls import Settings, call_batch, call_each, in_worker

# The longest this thread waits at once. A wait with no end can miss a Ctrl-C on
# free-threaded Python: its locks spin before they sleep, and a signal that comes
# during the spin does not wake them (seen on 3.14t).
LONGEST_WAIT = 0.5


class Pool:
    """An executor that runs items in batches: map() as executor.map does, and
    submit(call_each, ...) of the batches() it cuts. Outcomes are handled in
    this thread, as batches finish, while it waits (see Outcomes)."""

    def __init__(self, executor, workers, settings, outcomes, renew=None) -> None:
        self.executor: Executor = executor
        self.renew = renew  # makes a new executor, to replace one a stuck item broke
        self.workers: int = workers
        self.settings: Settings = settings
        self.outcomes: Outcomes = outcomes
        self.sizes = BatchSizes(workers)
        self.in_flight: dict[Future, int] = {}  # -> index of the batch's first item
        self.submitted_at: dict[Future, float] = {}  # when (timeouts on a cluster)
        self.call: tuple = (None, False)  # (func, numbered): to send items again
        self.abandoned = False  # an item timed out on a thread that runs on
        self.death_seen_at: float | None = None  # of a worker the pool missed
        self.let_go: list[Future] = []  # finished futures: let_go_of_finished_futures
        self.worker_groups: set[int] = set()  # see note_worker_groups

    def submit(self, fn, func, first: int, batch: list) -> Future:
        """A future done once each item of the batch is final (retried, if it failed)."""
        if fn is not call_each:
            raise TypeError("the engine's Pool runs call_each(func, first, batch)")
        future = BatchFuture(self)
        self.outcomes.promised[first] = future
        self.send(func, first, batch, numbered=True)
        return future

    def send(self, func, first: int, batch: list, numbered: bool) -> None:
        """Sends a batch to a worker, tracked, with the pool's errors explained."""
        self.call = (func, numbered)  # remembered, to retry an item
        if self.outcomes.workers_spent:
            recycle_workers(self)
        if not self.in_flight and not isinstance(self.executor, ThreadPoolExecutor):
            check_picklable(func, cpython.forks(self.executor))  # say early
        self.outcomes.unfinished[first] = batch
        args = (func, first, batch, numbered)
        with pool_errors(self.outcomes.describe_unfinished), ctrl_c_held():
            future = self.executor.submit(in_worker, self.settings, call_batch, *args)
        self.in_flight[future] = first
        note_worker_groups(self)
        self.submitted_at[future] = time.monotonic()

    def batches(self, items, largest: int | None = None):
        """Yields (index of its first item, batch of at most `largest` items), read
        lazily, BATCHES_IN_FLIGHT_PER_WORKER per worker in flight."""
        total = len(items) if hasattr(items, "__len__") else None
        iterator = iter(items)
        first = 0
        while True:
            while len(self.in_flight) >= BATCHES_IN_FLIGHT_PER_WORKER * self.workers:
                self.wait_a_little()
            remaining = None if total is None else total - first
            size = self.sizes.next(remaining, largest)
            if self.settings.timeout and not self.times_in_workers():
                size = 1  # timed here, one by one
            batch = list(islice(iterator, size))
            if not batch:
                self.outcomes.not_read = None
                return
            self.outcomes.not_read = first + len(batch)
            yield first, batch
            first += len(batch)

    def times_in_workers(self) -> bool:
        """Worker processes stop their own late items; elsewhere this thread does."""
        return isinstance(self.executor, ProcessPoolExecutor)

    def wait_a_little(self) -> None:
        """Waits for a batch (or a due retry or timeout); handles what finished."""
        self.let_go_of_finished_futures()
        timeout: float | None = None
        if self.settings.timeout:  # late items to see, here or in worker processes
            timeout = min(0.05, self.settings.timeout / 4)
        if self.outcomes.retry_at:
            due = max(0.0, self.outcomes.retry_at[0][0] - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        if self.in_flight:
            timeout = LONGEST_WAIT if timeout is None else min(timeout, LONGEST_WAIT)
            done = wait(self.in_flight, timeout, FIRST_COMPLETED).done
            if not done:
                look_for_an_unseen_death(self)
            self.handle(done)
        else:  # only retries to wait for
            time.sleep(timeout or 0.0)
        abandon_late_items(self)
        end_stuck_workers(self)
        for index, item in self.outcomes.due_retries():
            self.send_again(index, [item])

    def let_go_of_finished_futures(self) -> None:
        """Python drops a KeyboardInterrupt raised in a __del__, and a cluster's
        futures have one: so they are let go here, with Ctrl-C held meanwhile."""
        if self.let_go:
            with ctrl_c_held():
                self.let_go.clear()

    def handle(self, futures) -> None:
        """Hands the outcomes of finished batches to on_result, in this thread,
        before raising what stops the run: nothing that finished is lost."""
        futures = set(futures)
        if futures and self.settings.notes and pool_broke(futures):
            futures |= wait(self.in_flight).done  # all of them fail with it
        self.let_go.extend(futures)
        done, broken, lost = [], None, []
        for future in futures:
            first = self.in_flight.pop(future)
            self.submitted_at.pop(future, None)
            try:
                done.append(future.result())
            except Exception as exc:  # the pool's problem: items' are outcomes
                broken = broken or exc
                lost.append(first)
        self.outcomes.settle_batches(done)
        for _, outcomes, seconds, _ in done:  # after: a setup failure is no batch
            self.sizes.record(len(outcomes), seconds)
        if broken is not None and not replace_stuck_worker(self, lost):
            with pool_errors(self.outcomes.describe_unfinished):
                raise broken

    def send_again(self, first: int, items: list) -> None:
        if items:
            self.send(self.call[0], first, items, self.call[1])

    def wait_for_all(self):
        """Yields the remaining batches of outcomes in input order, as they finish."""
        yield from self.outcomes.ready()
        while self.in_flight or self.outcomes.retry_at:
            self.wait_a_little()
            yield from self.outcomes.ready()

    def map(self, func, items: list, chunksize: int | None = None):
        """Like executor.map(func, items, chunksize=...): func(item) for each item,
        in input order. Batches grow from 1 item up to chunksize while items are fast."""
        for first, batch in self.batches(items, chunksize):
            self.send(func, first, batch, numbered=False)
            for outcomes in self.outcomes.ready():
                yield from outcomes
        for outcomes in self.wait_for_all():
            yield from outcomes

    def stream(self, func, items: list, numbered: bool) -> None:
        """Runs every item and hands each outcome only to on_result, as it
        finishes: nothing is kept (the command line writes them as they come)."""
        self.outcomes.keep_results = False
        for first, batch in self.batches(items):
            self.send(func, first, batch, numbered)
        for _ in self.wait_for_all():
            pass


def batches_of(items, executor, size: int = 64):
    """(index of its first item, batch) for each batch of items, read lazily.
    The engine's Pool sizes them from how long items take, and reads on while
    few are in flight; any other executor gets batches of `size` items."""
    if isinstance(executor, Pool):
        yield from executor.batches(items)
        return
    iterator = iter(items)
    for first in count(0, size):
        batch = list(islice(iterator, size))
        if not batch:
            return
        yield first, batch


class BatchFuture(Future):
    """The future of a batch that run_submit sent. The pool runs in the thread
    that uses it, so result() runs the pool until this batch is done."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool

    def result(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the batch was not done in {timeout} s")
            self.pool.wait_a_little()
        return super().result()
