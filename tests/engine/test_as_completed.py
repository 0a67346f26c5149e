"""run_as_completed: results as items finish, the input read a bounded number
ahead and no result kept, so memory stays flat however long the input; leaving
the loop early ends the run and its workers."""

import multiprocessing

import bodies
import pytest


def test_the_input_is_read_a_bounded_number_ahead(project):
    from parallel_loop.parallel import run_as_completed

    read = 0
    ahead = 0  # the most items read and not yet handed out

    def numbers(count):
        nonlocal read
        for number in range(count):
            read += 1
            yield number

    handed_out = []
    for index, result in run_as_completed(
        bodies.square, numbers(1_000_000), pool="thread", max_workers=2,
        progress=False,
    ):  # fmt: skip
        assert result == index * index
        handed_out.append(index)
        if len(handed_out) == 1:
            assert read < 1_000_000, "the input was read through before a result"
        ahead = max(ahead, read - len(handed_out))
    assert sorted(handed_out) == list(range(1_000_000))
    assert ahead < 100_000, ahead  # batches of LARGEST_BATCH, 2 a worker


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_every_item_is_handed_out_whatever_the_input(project, pool):
    """Fast items, many batches settled while the last is read: each is handed
    out, from a list, an iterator or a generator."""
    from parallel_loop.parallel import run_as_completed

    def generator():
        yield from range(500)

    expected = [(x, x * x) for x in range(500)]
    for items in (list(range(500)), iter(range(500)), generator()):
        found = run_as_completed(
            bodies.square, items, pool=pool, max_workers=2, progress=False
        )
        assert sorted(found) == expected


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_results_come_as_items_finish_with_their_index(project, pool, tmp_path):
    from parallel_loop.parallel import run_as_completed

    items = ["sleep 1", *(["x"] * 6)]  # the first item finishes last
    order = [
        index
        for index, _ in run_as_completed(
            bodies.process_item, items, pool=pool, max_workers=2, progress=False
        )
    ]
    assert sorted(order) == list(range(7))
    assert order[-1] == 0


def test_leaving_the_loop_early_ends_the_run(project):
    from parallel_loop.parallel import run_as_completed

    results = run_as_completed(
        bodies.process_item, ["sleep 30"] * 2 + ["x"] * 20, max_workers=2,
        progress=False,
    )  # fmt: skip
    next(results)  # the run has started: its workers run the sleeps
    assert multiprocessing.active_children()
    results.close()
    assert multiprocessing.active_children() == []


def test_a_worker_that_hears_too_many_requests_sends_its_batch_back(project):
    """call_batch runs no item of its batch after one the service throttled:
    those go back unrun (held_back), to start when the pool's Limiter says."""
    from parallel_loop._engine.worker_calls import call_batch
    from parallel_loop.parallel import Throttled

    called = []

    def body(item):
        called.append(item)
        if item == 1:
            raise Throttled(retry_after=5)
        return item

    done = call_batch(body, 10, [0, 1, 2, 3], numbered=False)
    assert called == [0, 1]
    assert done.outcomes[0] == 0
    assert done.outcomes[1].throttle.retry_after == 5
    assert [f.held_back for f in done.outcomes[2:]] == [True, True]
    assert done.failed == [1, 2, 3]


def test_batches_queued_when_the_service_first_throttles_wait_for_the_pause(project):
    """No rate asked: each thread has a batch queued behind the one it runs. When
    the service first throttles, those not started are held back with the rest
    (Pool.hold_queued_batches): none starts until the pause has passed."""
    import threading
    import time

    from parallel_loop.parallel import Throttled, run_map

    starts, lock = [], threading.Lock()
    throttled_at = []

    def slow_call(item):
        with lock:
            starts.append(time.monotonic())
            throttle = len(starts) == 3
        if throttle:
            throttled_at.append(time.monotonic())
            raise Throttled(retry_after=2)
        time.sleep(0.4)
        return item

    results = run_map(
        slow_call, range(16), pool="thread", max_workers=4, progress=False
    )
    assert results == list(range(16))
    (at,) = throttled_at
    # Calls sent before the pool heard of it may start just after; none later.
    assert [s - at for s in starts if at + 0.25 < s < at + 2] == []


def test_a_worker_starts_nothing_while_another_was_told_to_wait(project):
    """One thread heard Retry-After: the others of the process hold back their
    items too, even those queued before the calling thread knew (call_batch)."""
    from parallel_loop._engine import rate
    from parallel_loop._engine.worker_calls import THIS_WORKER, call_batch

    run = THIS_WORKER.settings.run
    called = []
    rate.pause_here(run, 60)
    try:
        done = call_batch(called.append, 0, ["a", "b"], numbered=False)
    finally:
        rate.PAUSED_UNTIL.pop(run)
    assert called == []
    assert [f.held_back for f in done.outcomes] == [True, True]
    call_batch(called.append, 0, ["a"], numbered=False)
    assert called == ["a"]


def test_a_failed_item_is_raised_after_what_finished_before_it(project):
    from parallel_loop.parallel import ItemError, run_as_completed

    def boom_at_five(x):
        if x == 5:
            raise ValueError("five")
        return x

    handed_out = []
    with pytest.raises(ItemError, match="five"):
        for index, _ in run_as_completed(
            boom_at_five, range(20), pool="thread", max_workers=2, progress=False
        ):
            handed_out.append(index)
    # Batches of one item, then two, four...: 0 to 4 finish before 5 fails.
    assert set(range(5)) <= set(handed_out)
