"""The engine's Pool: what run_map and run_submit call `pool`. It looks like an
executor (map, submit) but sends items in batches, a bounded number in flight,
and waits for them in the calling thread, where it settles their outcomes.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait

from .batches import BATCHES_IN_FLIGHT_PER_WORKER, BatchSizes, read_batch
from .ctrl_c import ctrl_c_held
from .errors import (
    ItemError,
    PoolError,
    check_picklable,
    describe_named,
    is_dead_worker_error,
    pool_errors,
)
from .futures import BatchFuture, executor_broke, settled
from .outcomes import Outcomes
from .rate import Limiter
from .stops import Stops
from .turns import Call, Turns
from .worker_calls import (
    ItemTimeout,
    Settings,
    WorkerCrashed,
    call_batch,
    call_each,
    in_worker,
    running_items,
)
from .workers import Workers

# The longest this thread waits at once. A wait with no end can miss a Ctrl-C on
# free-threaded Python: its locks spin before they sleep, and a signal that comes
# during the spin does not wake them (seen on 3.14t).
LONGEST_WAIT = 0.5
# An executor that breaks with no item to blame (a worker killed between items, or
# while it started) is replaced and its batches sent again this many times a run
# at most: a worker that dies each time it starts must not loop for ever.
BLAMELESS_BREAKS = 3


class Pool:
    """Runs items in batches on its Workers: map() as executor.map does, and
    submit(call_each, ...) of the batches() it cuts. Outcomes are settled in this
    thread, as batches finish, while it waits (see Outcomes). Once its Limiter is
    in force (a rate, or a service that throttled), items go one by one, each
    when its turn comes, and only to a free worker: none waits in a queue there,
    where a pause could not hold it back."""

    def __init__(
        self,
        workers: Workers,
        worker_count: int,
        outcomes: Outcomes,
        stops=None,
        limiter: Limiter | None = None,
    ) -> None:
        self.workers = workers
        self.stops: Stops = stops or Stops()  # this process's stops: not time run
        self.worker_count = worker_count
        self.settings: Settings = workers.settings
        self.outcomes = outcomes
        self.sizes = BatchSizes(worker_count)
        self.in_flight: dict[Future, int] = {}  # -> index of the batch's first item
        self.sent_at: dict[Future, float] = {}  # when (timeouts on a cluster)
        self.call: Call | None = None  # the run's loop body: to send items again
        self.let_go: list[Future] = []  # finished futures: let_go_of_finished_futures
        self.blameless_breaks = 0  # see BLAMELESS_BREAKS
        self.left_running: set[tuple[int, float]] = set()  # (thread, start): timed out
        self.limiter = limiter or Limiter()
        self.turns = Turns(self.limiter, worker_count)  # batches held, paced
        self.warmed_up = False  # see start_held

    # --- The executor's interface ------------------------------------------------

    def map(self, func, items: list, chunksize: int | None = None):
        """Like executor.map(func, items, chunksize=...): func(item) for each item,
        in input order. Batches grow from 1 item up to chunksize while items are fast."""
        for first, batch in self.batches(items, chunksize):
            self.send(func, first, batch, numbered=False)
            for outcomes in self.outcomes.ready():
                yield from outcomes
        for outcomes in self.wait_for_all():
            yield from outcomes

    def submit(self, fn, func, first: int, batch: list) -> Future:
        """A future done once each item of the batch is final (retried, if it failed)."""
        if fn is not call_each:
            raise TypeError("the engine's Pool runs call_each(func, first, batch)")
        future = BatchFuture(self)
        self.outcomes.promise(first, future)
        self.send(func, first, batch, numbered=True)
        return future

    def batches(self, items, largest: int | None = None):
        """Yields (index of its first item, batch of at most `largest` items), read
        lazily, BATCHES_IN_FLIGHT_PER_WORKER per worker in flight."""
        total = len(items) if hasattr(items, "__len__") else None
        iterator, first = iter(items), 0
        while True:
            while self.sent_enough():
                self.wait_a_little()
            remaining = None if total is None else total - first
            size = self.sizes.next(remaining, largest)
            timed_here = self.settings.timeout and not self.workers.are_processes()
            if timed_here or self.limiter.in_force:
                size = 1  # timed here, or each starts when its turn comes
            if (batch := read_batch(iterator, size)) is None:
                self.wait_a_little()  # an input that comes slowly: nothing yet
                continue
            self.outcomes.read_up_to(first + len(batch) if batch else None)
            if not batch:
                return
            yield first, batch
            first += len(batch)

    def sent_enough(self) -> bool:
        """Whether enough batches are in flight, or held, to read no more items."""
        if self.turns.in_force:
            return self.turns.read_enough(len(self.in_flight))
        return len(self.in_flight) >= BATCHES_IN_FLIGHT_PER_WORKER * self.worker_count

    def stream(self, func, items, numbered: bool) -> None:
        """Runs every item and hands each outcome only to on_result, as it
        finishes: nothing is kept (the command line writes them as they come)."""
        for _ in self.as_completed(func, items, numbered):
            pass

    def as_completed(self, func, items, numbered: bool = False):
        """Yields (index, outcome) of each item as it finishes, in the order
        they finish, and keeps none: the items are read a bounded number ahead
        (what is in flight), so memory stays flat however long the input."""
        finished: deque = deque()
        self.outcomes.keep_no_results()
        self.outcomes.also_hand_to(
            lambda index, outcome: finished.append((index, outcome))
        )
        try:
            for first, batch in self.batches(items):
                self.send(func, first, batch, numbered)
                while finished:
                    yield finished.popleft()
            while True:  # the last read may have settled the last batches
                while finished:
                    yield finished.popleft()
                if not (
                    self.in_flight or self.turns or self.outcomes.retries_waiting()
                ):
                    return
                self.wait_a_little()
        except ItemError:  # raised after the outcomes that finished before it
            while finished:
                yield finished.popleft()
            raise

    def attempts_of(self, index: int) -> int:
        """How many attempts item #index took (asked once, as it is written)."""
        return self.outcomes.attempts_of(index)

    # --- Sending and waiting -------------------------------------------------------

    def send(self, func, first: int, batch: list, numbered: bool, again=False):
        """Sends a batch to a worker, or once the Limiter is in force holds it
        until its turn (start_held)."""
        self.call = Call(func, numbered)  # remembered, to retry an item
        if self.turns.in_force:
            self.turns.hold(first, batch, self.call, again)
            self.start_held()
        else:
            self.send_now(func, first, batch, numbered)

    def start_held(self) -> None:
        """Sends the held batches whose turn came, to free workers only; before
        the first, each worker process starts and sets up (Workers.warm_up)."""
        if not self.warmed_up and (call := self.turns.first_call()):
            self.warmed_up = True
            if not self.in_flight:
                with pool_errors(self.outcomes.describe_unfinished):
                    self.workers.warm_up(call.func, self.worker_count, self.stops)
        while (held := self.turns.next_due(len(self.in_flight))) is not None:
            first, batch, call = held
            self.send_now(call.func, first, batch, call.numbered)

    def send_now(self, func, first: int, batch: list, numbered: bool) -> None:
        """Sends a batch to a worker, tracked, with the pool's errors explained."""
        self.limiter.started(len(batch))
        if self.outcomes.workers_spent:
            self.recycle_workers()
        if not self.in_flight and not self.workers.are_threads():
            check_picklable(func, self.workers.fork())  # say early
        self.outcomes.sent(first, batch)
        args = (self.settings, call_batch, func, first, batch, numbered)
        try:
            future = self.workers.submit(in_worker, *args)
        except BrokenExecutor as broken:
            if not self.workers.are_processes():
                with pool_errors(self.outcomes.describe_unfinished):
                    raise
            # It broke since this thread last looked: this batch is lost with
            # those in flight, and recovered with them.
            self.handle(set(), lost={first: broken})
            return
        except Exception:
            with pool_errors(self.outcomes.describe_unfinished):
                raise
        self.in_flight[future] = first
        self.sent_at[future] = time.monotonic()

    def send_again(self, first: int, items: list) -> None:
        if items and self.call is not None:
            self.send(self.call.func, first, items, self.call.numbered, again=True)

    def wait_for_all(self):
        """Yields the remaining batches of outcomes in input order, as they finish."""
        yield from self.outcomes.ready()
        while self.in_flight or self.turns or self.outcomes.retries_waiting():
            self.wait_a_little()
            yield from self.outcomes.ready()

    def wait_a_little(self) -> None:
        """Waits for a batch (or a due retry or timeout); handles what finished."""
        self.stops.awake()
        self.let_go_of_finished_futures()
        timeout: float | None = None
        if self.settings.timeout:  # late items to see, here or in worker processes
            timeout = min(0.05, self.settings.timeout / 4)
        if (due := self.outcomes.next_retry_in()) is not None:
            timeout = due if timeout is None else min(timeout, due)
        if (turn := self.turns.wait(len(self.in_flight))) is not None:
            timeout = turn if timeout is None else min(timeout, turn)
        if self.in_flight:
            self.wait_for_batches(LONGEST_WAIT if timeout is None else timeout)
        else:  # only retries to wait for
            time.sleep(min(timeout or 0.0, LONGEST_WAIT))
        self.stops.awake()
        self.abandon_late_items()
        self.workers.end_stuck()
        for index, item in self.outcomes.due_retries():
            self.send_again(index, [item])
        self.start_held()

    def wait_for_batches(self, seconds: float) -> None:
        """Waits up to `seconds` (LONGEST_WAIT at most) for batches in flight, and
        handles those that finished."""
        seconds = min(seconds, LONGEST_WAIT)
        done = wait(self.in_flight, seconds, FIRST_COMPLETED).done
        if not done:
            self.workers.look_for_an_unseen_death()
        self.handle(done)

    def let_go_of_finished_futures(self) -> None:
        """Python drops a KeyboardInterrupt raised in a __del__, and a cluster's
        futures have one: so they are let go here, with Ctrl-C held meanwhile."""
        if self.let_go:
            with ctrl_c_held():
                self.let_go.clear()

    def handle(self, futures, lost: dict[int, Exception] | None = None) -> None:
        """Hands the outcomes of finished batches to on_result, in this thread,
        before raising what stops the run: nothing that finished is lost. `lost`:
        batches that could not be sent (first index -> the error)."""
        futures, lost = set(futures), dict(lost or {})
        if self.settings.notes and (lost or executor_broke(futures)):
            futures |= wait(self.in_flight).done  # all of them fail with it
        self.let_go.extend(futures)
        done = []
        was_in_force = self.turns.in_force
        for future in futures:
            first = self.in_flight.pop(future)
            sent_at = self.sent_at.pop(future, 0.0)
            result, error = settled(future)
            if error is None:
                done.append(result)
                self.turns.heard(result, sent_at)
            else:  # the pool's problem: items' own errors are outcomes
                lost[first] = error
        if self.turns.in_force and not was_in_force:
            self.hold_queued_batches()
        self.outcomes.settle_batches(done)
        for batch in done:  # after: a setup failure is no batch
            self.sizes.record(len(batch.outcomes), batch.seconds)
        if lost:
            self.recover(lost)

    def hold_queued_batches(self) -> None:
        """The service throttled for the first time: the batches queued for a
        worker but not started come back here, to start when their turn comes."""
        for future, first in list(self.in_flight.items()):
            if future.cancel():
                del self.in_flight[future]
                self.sent_at.pop(future, None)
                items = self.outcomes.take_unfinished(first)  # sent again later
                if self.call is not None:
                    self.turns.hold(first, items, self.call)

    # --- What the workers' troubles mean for the items -------------------------------

    def recover(self, lost: dict[int, Exception]) -> None:
        """Batches came back with an error of the pool rather than outcomes (the
        first index of each -> its error). A worker that died takes only the item
        it ran: that item fails with WorkerCrashed (or ItemTimeout, where this
        process ended it for being stuck), and the rest of the batches are sent
        again, to a new executor where the old one broke. Anything else stops the
        run with a PoolError that says what to do."""
        errors = list(lost.values())
        other = [exc for exc in errors if not is_dead_worker_error(exc)]
        # A broken executor of another kind (a thread pool whose initializer
        # failed, an executor of yours) runs nothing more: no item to blame.
        broken = [exc for exc in errors if isinstance(exc, BrokenExecutor)]
        if other or (broken and not self.workers.are_processes()):
            with pool_errors(self.outcomes.describe_unfinished):
                raise (other or broken)[0]
        if self.workers.are_processes():
            self.recover_from_a_break(lost, errors[0])
        else:  # a cluster's worker died: the cluster replaced it
            for first in sorted(lost):
                self.resend_one_by_one(first, lost[first])

    def recover_from_a_break(self, lost: dict[int, Exception], error) -> None:
        """A process pool broke: its workers that died under an item, or were
        ended here for a stuck one, name their items (Workers.crashes,
        Workers.take_stuck_notes); the others ran innocent ones, which run again."""
        stuck = self.workers.take_stuck_notes()
        timeout = self.settings.timeout or 0
        failed: dict[int, tuple[type[Exception], str]] = {
            index: (
                ItemTimeout,
                f"timed out after {timeout:g} s (stuck where Python could not "
                "interrupt it: its worker process was replaced)",
            )
            for index in stuck
        }
        for crash in self.workers.crashes():
            failed.setdefault(crash.item_index, (WorkerCrashed, crash.how))
        if not failed:
            self.blameless_breaks += 1
        if not self.workers.renewable():
            raise PoolError(
                f"a worker process of your executor died{describe_named(failed)}, "
                "and a run cannot replace an executor it did not make: the "
                "executor is broken now. Open a new one (a new reusable_pool) for "
                f"the next run; unfinished: {self.outcomes.describe_unfinished()}"
            ) from None
        if self.blameless_breaks > BLAMELESS_BREAKS:
            raise PoolError(
                f"worker processes died {self.blameless_breaks} times while no item "
                "was running (as they started, in setup(), or while they sent a "
                "result back): see their messages above; unfinished: "
                f"{self.outcomes.describe_unfinished()}"
            ) from None
        self.workers.replace()
        self.outcomes.workers_replaced()  # the new workers are fresh
        self.send_in_pieces(sorted(lost), failed)

    def send_in_pieces(self, lost: list[int], failed: dict) -> None:
        """Sends the items of lost batches again, each in pieces around the items
        that `failed` names (index -> (error class, why)), which fail alone; every
        piece, and every failed item, goes back to where its batch belongs."""
        pieces = []
        for first in lost:
            items = self.outcomes.take_unfinished(first)
            named = sorted(i for i in failed if first <= i < first + len(items))
            start = first  # the first item of the batch not yet in a piece
            for end in [*named, first + len(items)]:
                if end > start:
                    pieces.append((start, items[start - first : end - first]))
                start = end + 1
            starts = [s for s, _ in pieces if first <= s < first + len(items)]
            self.outcomes.split(first, len(items), [*starts, *named])
            for index in named:  # first: without keep_going, the run stops here
                kind, why = failed[index]
                self.outcomes.fail_alone(index, items[index - first], kind, why)
        for start, items in pieces:
            self.send_again(start, items)

    def resend_one_by_one(self, first: int, error: Exception) -> None:
        """A cluster's worker died under a batch: an item alone in its batch fails
        with WorkerCrashed; a batch of several is sent again item by item, to find
        the one that kills its worker (the cluster tried each batch a few times)."""
        items = self.outcomes.take_unfinished(first)
        if len(items) == 1:
            why = f"its worker died while running it ({type(error).__name__})"
            self.outcomes.fail_alone(first, items[0], WorkerCrashed, why)
            return
        self.outcomes.split(first, len(items), list(range(first, first + len(items))))
        for index, item in enumerate(items, first):
            self.send_again(index, [item])

    def abandon_late_items(self) -> None:
        """On a thread pool or a cluster: an item past its timeout is recorded as
        timed out, and the run goes on without it (a thread cannot be stopped)."""
        timeout = self.settings.timeout
        if not timeout or self.workers.are_processes():
            return
        ran_for = self.stops.ran_for  # the time stops of this process took, left out
        running = {
            item.item_index: item
            for item in running_items()  # an earlier try left running: not this one
            if (item.thread, item.started) not in self.left_running
        }
        if self.workers.are_threads():  # from when its item started
            late = [
                future
                for future, first in self.in_flight.items()
                if first in running and ran_for(running[first].started) > timeout
            ]
        else:  # on a cluster: from when it was sent
            late = [f for f, at in self.sent_at.items() if ran_for(at) > timeout]
        self.let_go.extend(late)
        for future in late:
            first = self.in_flight.pop(future)
            self.sent_at.pop(future, None)
            if first in running:
                self.left_running.add((running[first].thread, running[first].started))
            future.cancel()
            self.workers.leave_late_threads()
            self.outcomes.fail(first, ItemTimeout, f"timed out after {timeout:g} s")
        if self.left_running:  # a retry may wait behind threads held by late items
            self.move_queued_batches()

    def move_queued_batches(self) -> None:
        """When every thread of our thread pool runs on past its item's timeout,
        the batches still queued go to a new executor (Workers.swap_held_threads)."""
        if not self.in_flight or any(future.running() for future in self.in_flight):
            return  # a thread runs a batch of ours: not all of them are held
        if not self.workers.swap_held_threads(self.worker_count):
            return
        for future, first in list(self.in_flight.items()):
            if future.cancel():  # not started: sent to the new executor instead
                del self.in_flight[future]
                self.sent_at.pop(future, None)
                self.send_again(first, self.outcomes.take_unfinished(first))

    def recycle_workers(self) -> None:
        """A worker ran its max_items_per_worker or passed max_worker_memory_mb
        (recycling.py): once the batches in flight are back, new workers take over.
        This waits as wait_a_little does, but sends nothing, not even due retries,
        which would start a recycle inside this one."""
        while self.in_flight:
            self.wait_for_batches(0.05 if self.settings.timeout else LONGEST_WAIT)
            self.workers.end_stuck()  # a late item is stopped meanwhile too
        self.outcomes.workers_replaced()  # after: the batches back may say so too
        self.workers.recycle()
