"""Sizing and cutting batches. Sending work to a worker process costs about 0.1 ms,
so items travel in batches. A batch should take about TARGET_BATCH_SECONDS:
batches start at one item and double while items are fast, and shrink toward the
end of the input so that no worker is left with a long batch while the others
sit idle.
"""

from __future__ import annotations

import queue
import threading
from itertools import count, islice

# A batch should take about this long in a worker: ~200 times what sending it costs,
# and short enough that the end of the run stays balanced.
TARGET_BATCH_SECONDS = 0.02
# A batch holds at most this many items, however fast they are: what a run holds
# in flight stays bounded by its workers, not its input (run_as_completed). A
# trip to a worker costs ~0.1 ms: 10 ns an item in batches this big.
LARGEST_BATCH = 10_000
# Batches in flight per worker: one running, one waiting, so no worker idles.
BATCHES_IN_FLIGHT_PER_WORKER = 2
# Near the end of the input, a batch holds at most this share of what each worker
# has left to do, so the last batches are small and finish together.
END_SHARE = 4


class BatchSizes:
    """How many items the next batch holds: it starts at 1, doubles while a batch
    takes less than TARGET_BATCH_SECONDS, drops at once when items get slow, and
    near the end of the input shrinks to a small share of what is left."""

    def __init__(self, workers: int):
        self.workers = workers
        self.size = 1
        self.seconds_per_item: float | None = None

    def record(self, count: int, seconds: float) -> None:
        latest = seconds / count
        previous = self.seconds_per_item
        self.seconds_per_item = latest if previous is None else (previous + latest) / 2
        ideal = TARGET_BATCH_SECONDS / max(self.seconds_per_item, 1e-9)
        self.size = max(1, min(2 * self.size, int(ideal), LARGEST_BATCH))

    def next(self, remaining: int | None, largest: int | None = None) -> int:
        """The next batch's size; at most `largest` (executor.map's chunksize)."""
        size = min(self.size, largest or self.size)
        if remaining is None:  # a generator: its end cannot be seen coming
            return size
        return max(1, min(size, remaining // (END_SHARE * self.workers)))


def batches_of(items, executor, size: int = 64):
    """(index of its first item, batch) for each batch of items, read lazily.
    The engine's Pool sizes them from how long items take, and reads on while
    few are in flight; any other executor gets batches of `size` items."""
    if hasattr(executor, "batches"):  # the engine's Pool
        yield from executor.batches(items)
        return
    iterator = iter(items)
    for first in count(0, size):
        batch = list(islice(iterator, size))
        if not batch:
            return
        yield first, batch


def read_batch(iterator, size: int) -> list | None:
    """The next `size` items at most ([]: the input ended). From a Prefetched
    input, those that came (None: none yet, so the pool handles what finished
    meanwhile); from any other, read until there are `size`."""
    if isinstance(iterator, Prefetched):
        return iterator.take(size)
    return list(islice(iterator, size))


class Prefetched:
    """An input that may come slowly (a pipe, standard input), read in a thread
    of its own into a bounded queue: the pool takes what came, and meanwhile
    writes what finished, instead of waiting for a batch to fill."""

    QUEUED = 1_000  # items read ahead at most
    WAIT = 0.2  # seconds take() waits for a first item

    def __init__(self, items) -> None:
        self.queue: queue.Queue = queue.Queue(self.QUEUED)
        self.ended = False
        self.error: BaseException | None = None
        threading.Thread(target=self.read, args=(items,), daemon=True).start()

    def read(self, items) -> None:
        try:
            for item in items:
                self.queue.put((True, item))
        except BaseException as exc:  # raised again in the pool's thread
            self.error = exc
        self.queue.put((False, None))

    def __iter__(self):
        return self

    def __next__(self):
        batch = None
        while batch is None:
            batch = self.take(1)
        if not batch:
            raise StopIteration
        return batch[0]

    def take(self, size: int) -> list | None:
        """Up to `size` items that came; [] once the input ended, None if none
        came within WAIT seconds."""
        batch: list = []
        try:
            while len(batch) < size and not self.ended:
                if batch:
                    more, item = self.queue.get_nowait()
                else:
                    more, item = self.queue.get(timeout=self.WAIT)
                if not more:
                    self.ended = True
                    break
                batch.append(item)
        except queue.Empty:
            if not batch:
                return None
        if self.ended and not batch and self.error is not None:
            error, self.error = self.error, None
            raise error
        return batch
