"""Settling outcomes. As batches finish, this thread records each item's outcome
(a result or a Failure), tries again what failed with a transient error, records
timeouts, calls on_result for each final outcome, and hands the outcomes out in
input order once an item and every item before it are final.
"""

from __future__ import annotations

import heapq
import random
import time
from concurrent.futures import Future

from .errors import ItemError, SetupError
from .worker_calls import Failure, ItemTimeout, SetupFailed, describe

# Items that fail with these exceptions are tried again by default (retries=N):
# they are usually transient. A missing file or a bad value is not.
RETRY_ON = (TimeoutError, ConnectionError)
# The first retry waits about this long; each next one twice as long, up to
# RETRY_MAX_DELAY; each delay is jittered (x0.5 to x1.5) so retries spread out.
RETRY_DELAY = 0.5
RETRY_MAX_DELAY = 30.0


class Outcomes:
    """The outcomes of one run, from the batch that was sent to the result that
    is handed out: keep_going, on_result, retries and retry_on are the run's own."""

    def __init__(
        self, keep_going=False, on_result=None, retries=0, retry_on=()
    ) -> None:
        self.keep_going = keep_going
        self.on_result = on_result
        self.retries = retries
        self.retry_timeouts = issubclass(ItemTimeout, tuple(retry_on))
        self.keep_results = True
        self.unfinished: dict[int, list] = {}  # first index -> items, not handled yet
        self.finished: dict[int, list] = {}  # first index -> outcomes, to hand out
        self.handed_out = 0  # ready() hands out items below this index
        self.attempts: dict[int, int] = {}  # index -> attempts, of items tried again
        self.retry_at: list[tuple[float, int, object]] = []  # heap: (when, index, item)
        self.waiting: dict[int, list] = {}  # first -> [outcomes, retries to come]
        self.home: dict[int, tuple[int, int]] = {}  # retried index -> (first, offset)
        self.not_read: int | None = None  # the first item not yet read, if any
        self.promised: dict[int, Future] = {}  # first index -> its batch's future
        self.workers_spent = False  # a worker sent items back not run: recycle it

    def settle_batches(self, done: list) -> None:
        """Settles finished batches, (first, outcomes, seconds, failed) each, in
        input order; then raises ItemError for the first final failure, unless
        keep_going."""
        for result in done:
            if isinstance(result, SetupFailed):
                raise SetupError(result.error, result.traceback)
        first_failure = None
        for first, outcomes, _, failed in sorted(done, key=lambda batch: batch[0]):
            failure = self.settle(first, outcomes, failed)  # first: it must run
            first_failure = first_failure or failure
        if first_failure is not None and not self.keep_going:
            raise ItemError(first_failure)

    def settle(self, first: int, outcomes: list, failed: list) -> Failure | None:
        """Records the outcomes of a finished batch, or of an item tried again,
        and hands the final ones to on_result. `failed`: the positions of the
        Failures, which the worker lists, so that this thread need not look at
        every outcome. A batch is done, and can be handed out in input order, once
        its items tried again are final too. Returns the first final failure."""
        if first in self.home:  # an item tried again: its batch waits for it
            home, offset = self.home.pop(first)
            self.waiting[home][1] -= 1
        else:
            home, offset = first, 0
            self.waiting[home] = [outcomes, 0]  # outcomes, retries still to come
        slots = self.waiting[home]
        items = self.unfinished.pop(first)
        first_failure, tried_again = None, set()
        for position in failed:
            failure, index = outcomes[position], first + position
            failure.index = index
            if failure.not_run:  # its worker was spent: sent again at once
                self.workers_spent = True
                heapq.heappush(self.retry_at, (0.0, index, items[position]))
            elif not (failure.retryable and self.try_again(index, items[position])):
                first_failure = first_failure or failure
                continue
            self.home[index] = (home, offset + position)
            slots[1] += 1
            tried_again.add(position)
        if slots[0] is outcomes and self.on_result is None:
            pass  # nothing to do item by item: the way a million small items go
        else:
            for position, outcome in enumerate(outcomes):
                if position in tried_again:
                    continue
                if slots[0] is not outcomes:  # an item tried again, back home
                    slots[0][offset + position] = outcome
                if self.on_result is not None:
                    self.on_result(first + position, outcome)
        if slots[1] == 0:
            del self.waiting[home]
            if home in self.promised:
                self.promised.pop(home).set_result(slots[0])
            elif self.keep_results:
                self.finished[home] = slots[0]
        return first_failure

    def try_again(self, index: int, item) -> bool:
        """Schedules another attempt of an item, after a backoff, if any is left."""
        attempts = self.attempts.get(index, 1)
        if attempts > self.retries:
            return False
        self.attempts[index] = attempts + 1
        delay = min(RETRY_MAX_DELAY, RETRY_DELAY * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.5)
        heapq.heappush(self.retry_at, (time.monotonic() + delay, index, item))
        return True

    def due_retries(self):
        """Yields (index, item) of each item whose retry is due."""
        while self.retry_at and self.retry_at[0][0] <= time.monotonic():
            _, index, item = heapq.heappop(self.retry_at)
            yield index, item

    def time_out(self, index: int, error: str) -> None:
        """Records that item #index timed out where this thread saw it (a thread, a
        cluster, a worker process ended for it): tried again like any other
        ItemTimeout, if retry_on takes it and attempts are left."""
        item = self.unfinished[index][0]
        failure = Failure(describe(item), f"ItemTimeout: {error}", "")
        failure.retryable = self.retry_timeouts
        if self.settle(index, [failure], [0]) is not None and not self.keep_going:
            raise ItemError(failure)

    def ready(self):
        """Yields the batches of outcomes that can be handed out in input order."""
        while self.handed_out in self.finished:
            outcomes = self.finished.pop(self.handed_out)
            self.handed_out += len(outcomes)
            yield outcomes

    def describe_unfinished(self) -> str:
        ranges = [
            f"#{first}-{first + len(items) - 1}" if len(items) > 1 else f"#{first}"
            for first, items in sorted(self.unfinished.items())
        ]
        if self.not_read is not None:
            ranges.append(f"#{self.not_read} onwards")
        return "items " + ", ".join(ranges) if ranges else "none"
