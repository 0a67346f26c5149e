"""max_items_per_worker and max_worker_memory_mb: worker processes replaced as
they are spent, every result recorded once, setup() run again in the new ones, on
each start method; and the options' checks."""

import collections
import functools
import json
import sys

import bodies
import pytest


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_a_worker_is_replaced_after_its_items(project, tmp_path, monkeypatch, method):
    from parallel_loop._engine import executors
    from parallel_loop.parallel import run_map, run_submit

    monkeypatch.setattr(executors, "START_METHOD", method)
    marks = tmp_path / "setup"
    marks.mkdir()
    options = {
        "max_workers": 2,
        "progress": False,
        "max_items_per_worker": 5,
        "setup": functools.partial(bodies.mark_setup, str(marks)),
        "teardown": functools.partial(bodies.mark_teardown, str(marks)),
    }
    pids = run_map(bodies.process_item, ["pid"] * 60, **options)
    assert len(pids) == 60  # each item once, in order
    per_worker = collections.Counter(pids)
    assert max(per_worker.values()) <= 5, per_worker
    assert len(per_worker) >= 12
    set_up = [mark.name for mark in marks.iterdir() if not mark.name.startswith("c")]
    closed = [mark.name for mark in marks.iterdir() if mark.name.startswith("closed")]
    workers = {name.rsplit("-", 1)[0] for name in set_up}  # PID-THREAD
    assert len(set_up) == len(workers)  # once in each
    assert {name.split("-")[0] for name in workers} >= {str(p) for p in per_worker}
    assert {name.removeprefix("closed-") for name in closed} == workers
    numbered = run_submit(bodies.process_numbered_item, ["pid"] * 30, **options)
    assert max(collections.Counter(numbered).values()) <= 5


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB")
def test_a_leaking_worker_stays_under_its_memory_cap(project):
    from parallel_loop.parallel import run_map

    cap, leak = 250, 25  # MB
    results = run_map(
        bodies.process_item,
        [f"leak {leak}"] * 60,
        max_workers=2,
        progress=False,
        max_worker_memory_mb=cap,
    )
    assert len(results) == 60
    peaks = collections.defaultdict(float)
    for pid, peak in results:
        peaks[pid] = max(peaks[pid], peak)
    assert max(peaks.values()) <= cap + leak + 5, peaks  # + one item's growth
    assert len(peaks) >= 4  # 60 x 25 MB = 1.5 GB: replaced, again and again


def test_items_retried_and_failing_keep_their_outcomes_across_recycling(project):
    from parallel_loop.parallel import Failure, run_map

    items = ["a", "fail", "bb", "ccc"] * 10
    results = run_map(
        bodies.process_item, items, max_workers=2, progress=False,
        keep_going=True, max_items_per_worker=3,
    )  # fmt: skip
    assert [type(r) for r in results] == [
        Failure if item == "fail" else int for item in items
    ]
    assert [r for r in results if not isinstance(r, Failure)] == [
        len(i) for i in items if i != "fail"
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_items_per_worker": 0}, "max_items_per_worker must be 1 or more"),
        ({"max_worker_memory_mb": -1}, "max_worker_memory_mb must be above 0"),
        ({"max_items_per_worker": 5, "pool": "thread"}, 'they need pool="process"'),
    ],
)
def test_the_limits_are_checked(project, options, message):
    from parallel_loop.parallel import run_map

    with pytest.raises(ValueError, match=message):
        run_map(bodies.process_item, ["a"], progress=False, **options)


def test_the_command_line_takes_the_limits(tmp_path, start_cli):
    listing = tmp_path / "items.txt"
    listing.write_text("pid\n" * 20)
    run = start_cli(
        "--lines", listing, "--workers", "2", "--no-progress",
        "--max-items-per-worker", "4", "--max-worker-memory", "4000",
    )  # fmt: skip
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(r["index"] for r in records) == list(range(20))
    assert max(collections.Counter(r["result"] for r in records).values()) <= 4
    for bad, message in [
        (["--pool", "thread", "--max-items-per-worker", "4"], "need --pool process"),
        (["--max-worker-memory", "-5"], "must be a number of megabytes, or 0"),
        (["--serial", "--max-items-per-worker", "4"], "need a pool"),
    ]:
        run = start_cli("--lines", listing, *bad)
        stdout, stderr = run.communicate(timeout=60)
        assert run.returncode == 2 and message in stderr, stderr


def test_a_cap_below_what_a_new_worker_holds_still_runs_every_item(project):
    # A new worker (about 20 MB) is over a 1 MB cap before its first item: each
    # worker runs one item, then is replaced; the run does not go round forever.
    from parallel_loop.parallel import run_map

    pids = run_map(
        bodies.process_item, ["pid"] * 6, max_workers=2, progress=False,
        max_worker_memory_mb=1,
    )  # fmt: skip
    assert len(set(pids)) == 6


def test_a_stuck_item_times_out_while_workers_are_replaced(project):
    from parallel_loop.parallel import Failure, run_map

    items = ["a"] * 5 + ["stuck"] + ["a"] * 5
    results = run_map(
        bodies.process_item, items, max_workers=2, progress=False, timeout=1,
        keep_going=True, max_items_per_worker=3,
    )  # fmt: skip
    assert isinstance(results[5], Failure) and "timed out" in results[5].error
    assert results[:5] + results[6:] == [1] * 10


@pytest.mark.parametrize(
    "value, code, message",
    [
        ("0", 0, None),  # 0: no limit, so the thread pool runs
        ("-1", 2, "max_items_per_worker must be 1 or more, not -1"),
        ('"abc"', 2, "max_items_per_worker must be 1 or more, not 'abc'"),
    ],
)
def test_tasks_py_limits_are_checked_as_the_options_are(
    tmp_path, start_cli, value, code, message
):
    listing = tmp_path / "items.txt"
    listing.write_text("a\n")
    run = start_cli(
        "--lines", listing, "--pool", "thread", env={"PFOR_MAX_ITEMS": value}
    )
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    if message:
        assert message in stderr and "tasks.py's MAX_ITEMS_PER_WORKER" in stderr
        assert "Traceback" not in stderr
