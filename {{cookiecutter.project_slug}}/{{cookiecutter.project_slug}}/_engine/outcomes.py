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
from dataclasses import dataclass
from typing import NamedTuple

from .errors import ItemError, SetupError
from .rate import THROTTLE_RETRIES, still_throttled
from .worker_calls import BatchDone, Failure, SetupFailed, describe

# Items that fail with these exceptions are tried again by default (retries=N):
# they are usually transient. A missing file or a bad value is not.
RETRY_ON = (TimeoutError, ConnectionError)
# The first retry waits about this long; each next one twice as long, up to
# RETRY_MAX_DELAY; each delay is jittered (x0.5 to x1.5) so retries spread out.
RETRY_DELAY = 0.5
RETRY_MAX_DELAY = 30.0


class Retry(NamedTuple):
    """An item to try again, and when: ordered by time in Outcomes.retries."""

    at: float  # time.monotonic()
    item_index: int
    item: object


class Home(NamedTuple):
    """Where an item tried again belongs: its batch's first index, its place there."""

    first: int
    offset: int


@dataclass
class WaitingBatch:
    """A finished batch whose items tried again are not all final yet."""

    outcomes: list
    retries_to_come: int = 0


class Outcomes:
    """The outcomes of one run, from the batch that was sent to the result that
    is handed out: keep_going, on_result, retries and retry_on are the run's own."""

    def __init__(
        self,
        keep_going=False,
        on_result=None,
        retries=0,
        retry_on=(),
        throttle_retries=THROTTLE_RETRIES,
    ) -> None:
        self.keep_going = keep_going
        self.on_result = on_result
        self.retries = retries
        self.retry_on = tuple(retry_on)
        self.throttle_retries = throttle_retries
        self.keep_results = True
        self.unfinished: dict[int, list] = {}  # first index -> items, not handled yet
        self.finished: dict[int, list] = {}  # first index -> outcomes, to hand out
        self.handed_out = 0  # ready() hands out items below this index
        self.attempts: dict[int, int] = {}  # index -> attempts, of items tried again
        self.throttled: dict[int, int] = {}  # index -> tries the service throttled
        self.retry_queue: list[Retry] = []  # a heap: the soonest first
        self.waiting: dict[int, WaitingBatch] = {}  # first index -> its batch
        self.home: dict[int, Home] = {}  # index of an item tried again -> its batch
        self.not_read: int | None = None  # the first item not yet read, if any
        self.promised: dict[int, Future] = {}  # first index -> its batch's future
        self.workers_spent = False  # a worker sent items back not run: recycle it

    # --- What the Pool tells --------------------------------------------------------

    def sent(self, first: int, batch: list) -> None:
        """A batch went to a worker: its items are unfinished until it is back."""
        self.unfinished[first] = batch

    def take_unfinished(self, first: int) -> list:
        """The items of a batch that will not come back (its worker was ended, or
        it was never started): the Pool sends them again."""
        return self.unfinished.pop(first)

    def read_up_to(self, index: int | None) -> None:
        """The input was read up to item #index (None: read through)."""
        self.not_read = index

    def promise(self, first: int, future: Future) -> None:
        """run_submit's future for the batch at `first`, resolved once it is final."""
        self.promised[first] = future

    def keep_no_results(self) -> None:
        """Outcomes go to on_result only (the command line writes them as they come)."""
        self.keep_results = False

    def also_hand_to(self, receiver) -> None:
        """Each final outcome goes to receiver(index, outcome) too, after
        on_result (Pool.as_completed)."""
        on_result = self.on_result

        def hand_out(index: int, outcome) -> None:
            if on_result is not None:
                on_result(index, outcome)
            receiver(index, outcome)

        self.on_result = hand_out

    def split(self, first: int, size: int, starts: list[int]) -> None:
        """The batch of `size` items at `first` was lost, and comes back in pieces
        that start at `starts` (an item that fails alone is a piece of one): each
        piece goes back to where the batch belongs, as an item tried again does."""
        if first in self.home:  # itself a piece of a batch, now cut smaller
            home, offset = self.home.pop(first)
            self.waiting[home].retries_to_come -= 1
        else:
            home, offset = first, 0
            self.waiting[home] = WaitingBatch([None] * size)
        for start in starts:
            self.home[start] = Home(home, offset + start - first)
            self.waiting[home].retries_to_come += 1

    def workers_replaced(self) -> None:
        """Spent workers were replaced (Pool.recycle_workers)."""
        self.workers_spent = False

    def attempts_of(self, index: int) -> int:
        """How many attempts item #index took; asked once per item."""
        return self.attempts.pop(index, 1) + self.throttled.pop(index, 0)

    def settle_batches(self, done: list[BatchDone]) -> None:
        """Settles finished batches in input order; then raises ItemError for the
        first final failure, unless keep_going."""
        for result in done:
            if isinstance(result, SetupFailed):
                raise SetupError(result.error, result.traceback)
        first_failure = None
        for batch in sorted(done, key=lambda batch: batch.first):
            failure = self.settle(batch.first, batch.outcomes, batch.failed)
            first_failure = first_failure or failure  # settle first: it must run
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
            self.waiting[home].retries_to_come -= 1
        else:
            home, offset = first, 0
            self.waiting[home] = WaitingBatch(outcomes)
        waiting = self.waiting[home]
        items = self.unfinished.pop(first)
        first_failure, tried_again = None, set()
        for position in failed:
            failure, index = outcomes[position], first + position
            failure.put_at(index)
            if failure.not_run or failure.held_back:  # sent again at once
                self.workers_spent |= failure.not_run  # its worker was spent
                heapq.heappush(self.retry_queue, Retry(0.0, index, items[position]))
            elif failure.throttle is not None:
                if not self.try_throttled(index, failure, items[position]):
                    first_failure = first_failure or failure
                    continue
            elif not (failure.retryable and self.try_again(index, items[position])):
                first_failure = first_failure or failure
                continue
            self.home[index] = Home(home, offset + position)
            waiting.retries_to_come += 1
            tried_again.add(position)
        if waiting.outcomes is outcomes and self.on_result is None:
            pass  # nothing to do item by item: the way a million small items go
        else:
            for position, outcome in enumerate(outcomes):
                if position in tried_again:
                    continue
                if waiting.outcomes is not outcomes:  # an item tried again, back home
                    waiting.outcomes[offset + position] = outcome
                if self.on_result is not None:
                    self.on_result(first + position, outcome)
        if waiting.retries_to_come == 0:
            del self.waiting[home]
            if home in self.promised:
                self.promised.pop(home).set_result(waiting.outcomes)
            elif self.keep_results:
                self.finished[home] = waiting.outcomes
        return first_failure

    def try_again(self, index: int, item) -> bool:
        """Schedules another attempt of an item, after a backoff, if any is left."""
        attempts = self.attempts.get(index, 1)
        if attempts > self.retries:
            return False
        self.attempts[index] = attempts + 1
        delay = min(RETRY_MAX_DELAY, RETRY_DELAY * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.5)
        heapq.heappush(self.retry_queue, Retry(time.monotonic() + delay, index, item))
        return True

    def try_throttled(self, index: int, failure: Failure, item) -> bool:
        """Schedules another attempt of an item the service throttled, due at once:
        the Pool's Limiter holds it back for as long as the service asked. After
        throttle_retries, the failure says so."""
        tries = self.throttled.get(index, 0)
        if tries >= self.throttle_retries:
            attempts = self.attempts.get(index, 1) + tries
            failure.error += still_throttled(attempts)
            return False
        self.throttled[index] = tries + 1
        heapq.heappush(self.retry_queue, Retry(0.0, index, item))
        return True

    def retries_waiting(self) -> bool:
        return bool(self.retry_queue)

    def next_retry_in(self) -> float | None:
        """Seconds until the next retry is due (None: no retry waits)."""
        if not self.retry_queue:
            return None
        return max(0.0, self.retry_queue[0].at - time.monotonic())

    def due_retries(self):
        """Yields (index, item) of each item whose retry is due."""
        while self.retry_queue and self.retry_queue[0].at <= time.monotonic():
            retry = heapq.heappop(self.retry_queue)
            yield retry.item_index, retry.item

    def fail(self, index: int, kind: type[Exception], error: str) -> None:
        """Records that item #index, sent alone, failed where this thread saw it:
        it timed out on a thread or a cluster (ItemTimeout), or its worker died
        under it (WorkerCrashed). Tried again like any other failure of that kind,
        if retry_on takes it and attempts are left."""
        item = self.unfinished[index][0]
        error = f"{kind.__name__}: {error}"
        retryable = issubclass(kind, self.retry_on)
        failure = Failure(describe(item), error, "", retryable=retryable)
        if self.settle(index, [failure], [0]) is not None and not self.keep_going:
            raise ItemError(failure)

    def fail_alone(self, index: int, item, kind: type[Exception], error: str) -> None:
        """Records that item #index of a batch failed (fail); the Pool sends the
        rest of its batch again."""
        self.unfinished[index] = [item]
        self.fail(index, kind, error)

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
