"""The contract of the two patterns: results in input order, each item once,
failures named, on both pools. (The engine's faults, signals and start methods
are tested where the template is developed.)"""

import inspect
import os
import pydoc
import re
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor

import pytest

from {{ cookiecutter.project_slug }}.parallel import (
    Failure,
    ItemError,
    PoolError,
    WorkerCrashed,
    default_max_workers,
    run_map,
    run_serial,
    run_submit,
)


def square(x):
    if x < 3:
        time.sleep(0.05)  # the first items finish last
    return x * x


def indexed_square(index, x):
    assert index == x  # the tests pass range(n): the index is the item
    return square(x)


def fail_on_7(x):
    if x == 7:
        raise ValueError("seven is bad")
    return x


def indexed_fail_on_7(index, x):
    return fail_on_7(x)


def fail_every_7th(x):
    if x % 7 == 6:
        raise ValueError(f"{x} is bad")
    return x


def indexed_fail_every_7th(index, x):
    return fail_every_7th(x)


def identity(x):
    return id(x)


def run(pattern, func, items, **options):
    options.setdefault("progress", False)
    if pattern == "map":
        return run_map(func, items, **options)
    func = {
        square: indexed_square,
        fail_on_7: indexed_fail_on_7,
        fail_every_7th: indexed_fail_every_7th,
        identity: lambda index, x: id(x),
    }.get(func, func)
    return run_submit(func, items, **options)


@pytest.fixture(params=["map", "submit"])
def pattern(request):
    return request.param


@pytest.mark.parametrize("count", [1, 5, 2000])
def test_results_come_back_in_input_order(pattern, pool, count):
    # 2000 items: batches grow to many items each, and finish out of order.
    results = run(pattern, square, range(count), pool=pool, max_workers=2)
    assert results == [x * x for x in range(count)]


def test_on_result_sees_every_item_once_with_its_index(pattern, pool):
    seen = []
    results = run(
        pattern,
        square,
        range(500),
        pool=pool,
        max_workers=2,
        on_result=lambda *r: seen.append(r),
    )
    assert sorted(seen) == [(x, x * x) for x in range(500)]
    assert len(results) == 500


def test_on_result_is_called_as_items_finish_not_in_input_order(pattern):
    # Item 0 waits until on_result has seen a later item: it could not, if
    # results were handed out in input order (the wait would end in failure).
    later_item_seen = threading.Event()

    def wait_for_a_later_item(x):
        if x == 0 and not later_item_seen.wait(timeout=60):
            raise TimeoutError("on_result saw nothing before item 0 finished")
        return x

    def on_result(index, result):
        if index > 0:
            later_item_seen.set()

    func = wait_for_a_later_item
    if pattern == "submit":
        func = lambda index, x: wait_for_a_later_item(x)  # noqa: E731
    results = run(
        pattern, func, range(50), pool="thread", max_workers=2, on_result=on_result
    )
    assert results == list(range(50))


def test_empty_input_gives_empty_results(pattern, pool):
    assert run(pattern, square, [], pool=pool, max_workers=2) == []


def test_a_failing_item_stops_the_run_with_its_index(pattern, pool):
    with pytest.raises(ItemError) as caught:
        run(pattern, fail_on_7, range(20), pool=pool, max_workers=2)
    failure = caught.value.failure
    assert failure.index == 7
    assert failure.item == "7"
    assert failure.error == "ValueError: seven is bad"
    assert 'raise ValueError("seven is bad")' in failure.traceback
    assert "_engine" not in failure.traceback  # from the loop body on, no engine
    assert "item #7 (7) failed: ValueError: seven is bad" in str(caught.value)


def test_keep_going_runs_every_other_item(pattern, pool):
    results = run(
        pattern, fail_on_7, range(20), pool=pool, max_workers=2, keep_going=True
    )
    assert isinstance(results[7], Failure) and results[7].index == 7
    assert results[:7] + results[8:] == [x for x in range(20) if x != 7]


def test_each_failure_says_its_own_index(pattern, pool):
    # 2000 items: failures land in the middle of batches of many items.
    results = run(
        pattern, fail_every_7th, range(2000), pool=pool, max_workers=2, keep_going=True
    )
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, Failure)]
    assert len(failures) == 2000 // 7
    assert all(r.index == i and r.item == str(i) for i, r in failures)


def exit_on_3(x):
    if x == 3:
        sys.exit(3)
    if x == 4:
        raise KeyboardInterrupt
    return x


def test_sys_exit_and_keyboard_interrupt_in_the_body_fail_only_their_item(pool):
    results = run_map(
        exit_on_3, range(6), pool=pool, max_workers=2, keep_going=True, progress=False
    )
    assert results[3].error == "SystemExit: 3"
    assert results[4].error.startswith("KeyboardInterrupt")
    assert [results[i] for i in (0, 1, 2, 5)] == [0, 1, 2, 5]


def test_the_defaults_need_no_pool_or_worker_count():
    assert run_map(abs, [-1, -2]) == [1, 2]
    assert run_submit(max, [-1, 5], max_workers=None) == [0, 5]


def test_an_executor_of_your_own_can_run_them(pattern):
    with ThreadPoolExecutor(3) as executor:
        assert run(pattern, square, range(100), pool=executor) == [
            x * x for x in range(100)
        ]
        assert run(pattern, square, range(5), pool=executor) == [
            0,
            1,
            4,
            9,
            16,
        ]  # still open


def test_a_thread_pool_shares_the_items_it_is_given(pattern):
    items = [[number] for number in range(20)]
    on_threads = run(pattern, identity, items, pool="thread", max_workers=2)
    assert on_threads == [id(item) for item in items]  # the very objects: no copies


class ExecutorOfUnknownSize(Executor):
    """Like a cluster's executor: Python cannot tell how many items it runs at once."""

    def __init__(self):
        self.threads = ThreadPoolExecutor(2)

    def submit(self, fn, /, *args, **kwargs):
        return self.threads.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.threads.shutdown(wait, cancel_futures=cancel_futures)


def test_an_executor_of_unknown_size_needs_max_workers(pattern):
    with ExecutorOfUnknownSize() as executor:
        with pytest.raises(ValueError, match="pass max_workers with an executor"):
            run(pattern, square, range(4), pool=executor)
        options = {"pool": executor, "max_workers": 2}
        assert run(pattern, square, range(4), **options) == [0, 1, 4, 9]


def test_bad_pool_or_worker_count_is_explained():
    with pytest.raises(ValueError, match='"process", "thread"'):
        run_map(abs, [1], pool="threads")
    with pytest.raises(ValueError, match="1 or more"):
        run_map(abs, [1], max_workers=0)
    with pytest.raises(TypeError, match="whole number"):
        run_map(abs, [1], max_workers=True)  # a bool is an int to Python


def test_the_bar_counts_every_item(pattern, pool, capsys):
    run(pattern, square, range(300), pool=pool, max_workers=2, progress=True)
    assert "300/300" in capsys.readouterr().err


def test_serial_loop_behaves_like_the_patterns():
    assert run_serial(square, range(10), progress=False) == [x * x for x in range(10)]
    numbered = run_serial(indexed_square, range(10), numbered=True, progress=False)
    assert numbered == [x * x for x in range(10)]
    with pytest.raises(ItemError) as caught:
        run_serial(fail_on_7, range(10), progress=False)
    assert caught.value.failure.index == 7
    results = run_serial(exit_on_3, range(4), keep_going=True, progress=False)
    assert results[:3] == [0, 1, 2] and results[3].error == "SystemExit: 3"


def test_submit_takes_a_generator_with_no_len(pool):
    items = (x for x in range(3_000))
    results = run_submit(
        indexed_square, items, pool=pool, max_workers=2, progress=False
    )
    assert results == [x * x for x in range(3_000)]


def test_submit_reads_ahead_only_a_bounded_window():
    read = []

    def items():
        for x in range(5_000):
            read.append(x)
            yield x

    def items_read_ahead(index, item):
        time.sleep(0.0005)
        return len(read) - index

    ahead = run_submit(
        items_read_ahead, items(), pool="thread", max_workers=2, progress=False
    )
    assert max(ahead) < 1_000  # never all 5,000: batches are read as they are sent


def test_unpicklable_loop_body_is_explained():
    # Checked before any item is sent: the message names the loop body.
    with pytest.raises(PoolError, match="the loop body .*<lambda> cannot be sent"):
        run_map(lambda x: x, [1, 2], pool="process", max_workers=1, progress=False)
    with pytest.raises(PoolError, match="module level"):
        run_map(lambda x: x, [1, 2], pool="process", max_workers=1, progress=False)
    with pytest.raises(PoolError, match='pool="thread"'):
        run_submit(lambda i, x: x, [1], pool="process", max_workers=1, progress=False)


def open_file(x):
    return open(__file__)


def indexed_open_file(index, x):
    return open(__file__)


def test_unpicklable_item_or_result_is_explained(pattern):
    with open(__file__) as handle, pytest.raises(PoolError, match="pickling") as caught:
        run(pattern, square, [handle], pool="process", max_workers=1)
    assert 'pool="thread"' in str(caught.value)  # in run_map's terms: no options
    assert "--" not in str(caught.value)
    func = open_file if pattern == "map" else indexed_open_file
    with pytest.raises(PoolError, match="pickling"):
        run(pattern, func, [1, 2], pool="process", max_workers=1)


def exit_on_5(x):
    time.sleep(0.03)  # slower than a batch should take: one item per batch
    if x == 5:
        os._exit(3)
    return x


def indexed_exit_on_5(index, x):
    return exit_on_5(x)


def test_an_item_that_kills_its_worker_is_that_items_failure(pattern):
    # os._exit, a segfault or the out-of-memory killer end the worker process
    # under one item: that item fails, and the run stops there, naming it ...
    seen = {}
    func = exit_on_5 if pattern == "map" else indexed_exit_on_5
    options = {"pool": "process", "max_workers": 1, "on_result": seen.__setitem__}
    with pytest.raises(ItemError, match="WorkerCrashed") as caught:
        run(pattern, func, range(10), **options)
    assert caught.value.failure.index == 5
    assert "exited with code 3" in caught.value.failure.error
    assert {i: seen[i] for i in range(5)} == {i: i for i in range(5)}  # kept
    # ... or, with keep_going, the others run on new workers.
    results = run(pattern, func, range(10), keep_going=True, **options)
    assert isinstance(results[5], Failure)
    assert results[5].error.startswith(WorkerCrashed.__name__)
    assert results[:5] + results[6:] == [0, 1, 2, 3, 4, 6, 7, 8, 9]


def test_default_max_workers_is_half_the_usable_cpus(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(
        os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False
    )
    assert default_max_workers() == 2


def test_default_max_workers_is_never_zero(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_max_workers() == 1  # one CPU: 1 // 2 would be 0
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "cannot tell"
    assert default_max_workers() == 1


def test_help_lists_every_parameter_and_what_a_run_raises():
    for function in (run_map, run_submit):
        text = pydoc.render_doc(function, renderer=pydoc.plaintext)
        for name in inspect.signature(function).parameters:
            assert re.search(rf"^ +{name} ", text, re.M), (function, name)
        for error in ("ItemError", "PoolError", "ValueError", "KeyboardInterrupt"):
            assert re.search(rf"^ +{error} ", text, re.M), (function, error)
