"""The turns of a paced run: once its Limiter is in force (a rate, or a service
that throttled), the Pool holds each batch here until its turn comes and a
worker is free, and tells the Limiter what the service said of each finished
batch."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from .rate import Limiter
from .worker_calls import BatchDone


class Call(NamedTuple):
    """The loop body of a run, and whether it takes the index too: to send an
    item again."""

    func: object
    numbered: bool


class Held(NamedTuple):
    """A batch that waits for its turn to start."""

    first: int
    batch: list
    call: Call


class Turns:
    """Held batches, in order, and the Limiter that says when the next starts."""

    def __init__(self, limiter: Limiter, worker_count: int) -> None:
        self.limiter = limiter
        self.worker_count = worker_count
        self.held: deque[Held] = deque()

    @property
    def in_force(self) -> bool:
        return self.limiter.in_force

    def __len__(self) -> int:
        return len(self.held)

    def hold(self, first: int, batch: list, call: Call, again=False) -> None:
        """Holds a batch until its turn; one sent again (a retry) goes first."""
        if again:
            self.held.appendleft(Held(first, batch, call))
        else:
            self.held.append(Held(first, batch, call))

    def first_call(self) -> Call | None:
        return self.held[0].call if self.held else None

    def next_due(self, in_flight: int) -> Held | None:
        """The next held batch, if its turn came and a worker is free."""
        if self.held and in_flight < self.worker_count and self.limiter.wait() == 0:
            return self.held.popleft()
        return None

    def wait(self, in_flight: int) -> float | None:
        """Seconds until the next held batch's turn (None: none can go then)."""
        if self.held and in_flight < self.worker_count:
            return self.limiter.wait()
        return None

    def read_enough(self, in_flight: int) -> bool:
        """Whether a paced run has enough batches in flight or held: it reads no
        more items meanwhile."""
        return in_flight + len(self.held) >= self.worker_count

    def heard(self, batch, sent_at: float) -> None:
        """Tells the Limiter which calls of a finished batch the service
        throttled, and how many went well."""
        if not isinstance(batch, BatchDone):
            return  # SetupFailed
        for position in batch.failed:
            throttle = batch.outcomes[position].throttle
            if throttle is not None:
                self.limiter.heard(throttle, sent_at)
        self.limiter.went_well(len(batch.outcomes) - len(batch.failed))
