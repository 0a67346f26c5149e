"""The two patterns: results, order, failures, and the worker count."""

import os
import subprocess
import sys

import pytest

from {{ cookiecutter.project_slug }}.failures import (
    Failure,
    ItemError,
    PoolError,
)
from {{ cookiecutter.project_slug }}.parallel import (
    chunk_size,
    default_max_workers,
    run_map,
    run_serial,
    run_submit,
)


def square(x):
    return x * x


def indexed_square(index, x):
    assert index == x  # the tests pass range(n): the index is the item
    return x * x


def fail_on_7(x):
    if x == 7:
        raise ValueError("seven is bad")
    return x


def indexed_fail_on_7(index, x):
    return fail_on_7(x)


def run(pattern, func, items, **options):
    options.setdefault("progress", False)
    if pattern == "map":
        return run_map(func, items, **options)
    func = {square: indexed_square, fail_on_7: indexed_fail_on_7}.get(func, func)
    return run_submit(func, items, **options)


@pytest.fixture(params=["map", "submit"])
def pattern(request):
    return request.param


@pytest.mark.parametrize("count", [1, 5, 1000])
def test_results_come_back_in_input_order(pattern, pool, count):
    results = run(pattern, square, range(count), pool=pool, max_workers=2)
    assert results == [x * x for x in range(count)]


def test_empty_input_gives_empty_results(pattern, pool):
    assert run(pattern, square, [], pool=pool, max_workers=2) == []


def test_process_pool_under_every_start_method(pattern, start_method):
    results = run(pattern, square, range(300), pool="process", max_workers=2)
    assert results == [x * x for x in range(300)]


def test_a_failing_item_stops_the_run_with_its_index(pattern, pool):
    with pytest.raises(ItemError) as caught:
        run(pattern, fail_on_7, range(20), pool=pool, max_workers=2)
    failure = caught.value.failure
    assert failure.index == 7
    assert failure.item == "7"
    assert failure.error == "ValueError: seven is bad"
    assert 'raise ValueError("seven is bad")' in failure.traceback
    assert "item #7 (7) failed: ValueError: seven is bad" in str(caught.value)


def test_keep_going_runs_every_other_item(pattern, pool):
    seen = {}
    results = run(
        pattern,
        fail_on_7,
        range(20),
        pool=pool,
        max_workers=2,
        keep_going=True,
        on_result=seen.__setitem__,
    )
    assert isinstance(results[7], Failure) and results[7].index == 7
    assert results[:7] + results[8:] == [x for x in range(20) if x != 7]
    assert sorted(seen) == list(range(20))  # on_result saw every item, once


def test_serial_loop_behaves_like_the_patterns():
    assert run_serial(square, range(10), progress=False) == [x * x for x in range(10)]
    numbered = run_serial(indexed_square, range(10), numbered=True, progress=False)
    assert numbered == [x * x for x in range(10)]
    with pytest.raises(ItemError) as caught:
        run_serial(fail_on_7, range(10), progress=False)
    assert caught.value.failure.index == 7


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
        return len(read) - index

    ahead = run_submit(
        items_read_ahead, items(), pool="thread", max_workers=2, progress=False
    )
    # 2 workers: at most 4 items in flight plus the one read next, not all 5000.
    assert max(ahead) <= 6


def test_unpicklable_loop_body_is_explained():
    with pytest.raises(PoolError, match="module level"):
        run_map(lambda x: x, [1, 2], pool="process", max_workers=1, progress=False)
    with pytest.raises(PoolError, match="--pool thread"):
        run_submit(lambda i, x: x, [1], pool="process", max_workers=1, progress=False)


def open_file(x):
    return open(__file__)


def test_unpicklable_item_or_result_is_explained(pattern):
    with open(__file__) as handle, pytest.raises(PoolError, match="pickling"):
        run(pattern, square, [handle], pool="process", max_workers=1)
    func = open_file if pattern == "map" else indexed_open_file
    with pytest.raises(PoolError, match="pickling"):
        run(pattern, func, [1, 2], pool="process", max_workers=1)


def indexed_open_file(index, x):
    return open(__file__)


def exit_on_5(x):
    if x == 5:
        os._exit(3)
    return x


def indexed_exit_on_5(index, x):
    return exit_on_5(x)


def test_a_dead_worker_is_reported_and_earlier_results_kept(pattern):
    seen = {}
    func = exit_on_5 if pattern == "map" else indexed_exit_on_5
    with pytest.raises(PoolError, match="worker process died") as caught:
        run(
            pattern,
            func,
            range(10),
            pool="process",
            max_workers=1,
            on_result=seen.__setitem__,
        )
    assert "#5" in str(caught.value)  # names the unfinished items
    assert seen == {i: i for i in range(5)}  # the results before it were delivered


def test_default_max_workers_is_half_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(
        os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False
    )
    assert default_max_workers() == 2


def test_default_max_workers_is_never_zero(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_max_workers() == 1  # one CPU: 1 // 2 would be 0
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "cannot tell"
    assert default_max_workers() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_max_workers() == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="taskset is Linux")
def test_default_max_workers_respects_taskset():
    code = f"from {default_max_workers.__module__} import default_max_workers; "
    code += "print(default_max_workers())"
    try:
        out = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
    except FileNotFoundError:
        pytest.skip("no taskset on this machine")
    assert out.stdout.strip() == "1"


def test_process_pools_send_items_in_chunks_threads_one_by_one():
    assert chunk_size(20_000, 2, "process") == 312  # 32 chunks per worker
    assert chunk_size(40, 2, "process") == 1  # few items: one at a time
    assert chunk_size(20_000, 2, "thread") == 1
