"""Long runs on real pools: per-item timeouts, retries with backoff, setup() once
per worker, and the loop body's logs on stderr."""

import json
import random
import sys
import time
from itertools import pairwise

import bodies
import pytest
from processes import processes_in_session, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="signals, /proc"
)

POOLS = [
    pytest.param(("process", "forkserver"), id="process-forkserver"),
    pytest.param(("process", "spawn"), id="process-spawn"),
    pytest.param(("process", "fork"), id="process-fork"),
    pytest.param(("thread", ""), id="thread"),
]


@pytest.fixture(params=POOLS)
def pool_and_method(request):
    return request.param


def run_cli(start_cli, pool_and_method, *args, env=None):
    pool, method = pool_and_method
    env = {"PFOR_START_METHOD": method, **(env or {})}
    run = start_cli(*args, "--pool", pool, "--no-progress", env=env)
    stdout, stderr = run.communicate(timeout=120)
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")
    records = [json.loads(line) for line in stdout.splitlines()]
    return run.returncode, records, stderr


def lines(tmp_path, *texts):
    listing = tmp_path / "items.txt"
    listing.write_text("\n".join(texts) + "\n")
    return listing


def test_a_hung_item_times_out_and_the_run_goes_on(
    tmp_path, pool_and_method, start_cli
):
    listing = lines(tmp_path, *["a"] * 24, "hang", *["bb"] * 25)
    code, records, stderr = run_cli(
        start_cli, pool_and_method, "--lines", listing, "--timeout", "1", "--keep-going"
    )
    assert code == 1, stderr
    results = [r for r in records if "result" in r]
    errors = [r for r in records if "error" in r]
    assert len(results) == 49 and sorted(r["index"] for r in results) == [
        i for i in range(50) if i != 24
    ]
    assert errors == [
        {"index": 24, "item": "hang", "error": "ItemTimeout: timed out after 1 s"}
    ]


def test_a_timed_out_item_is_tried_again(tmp_path, pool_and_method, start_cli):
    # ItemTimeout is a TimeoutError, which the default retry_on takes: the guide's
    # "--timeout 30 --retries 3" gets a hung download a second try, on every pool.
    listing = lines(tmp_path, "a", f"once hang {tmp_path}", "bb")
    code, records, stderr = run_cli(
        start_cli,
        pool_and_method,
        "--lines",
        listing,
        "--timeout",
        "1",
        "--retries",
        "2",
    )
    assert code == 0, stderr
    by_index = {record["index"]: record for record in records}
    assert by_index[1] == {
        "index": 1,
        "item": f"once hang {tmp_path}",
        "result": "again",
        "attempts": 2,
    }
    assert [by_index[i]["result"] for i in (0, 2)] == [1, 2]


def test_an_item_whose_worker_was_ended_counts_one_attempt(tmp_path, start_cli):
    # Held in C code with the GIL, the item cannot be interrupted: the main process
    # ends its worker, and that is one attempt; the second one runs.
    listing = lines(tmp_path, f"once regex {tmp_path}", "a")
    code, records, stderr = run_cli(
        start_cli, ("process", "forkserver"), "--lines", listing,
        "--timeout", "1", "--retries", "1", "--workers", "2",
    )  # fmt: skip
    assert code == 0, stderr
    by_index = {record["index"]: record for record in records}
    assert by_index[0]["result"] == "again" and by_index[0]["attempts"] == 2


def test_without_retries_a_timeout_is_tried_once(tmp_path, start_cli):
    listing = lines(tmp_path, f"once hang {tmp_path}")
    code, records, stderr = run_cli(
        start_cli, ("thread", ""), "--lines", listing, "--timeout", "1",
        "--retries", "2", env={"PFOR_RETRY_ON": "ConnectionError"},
    )  # fmt: skip
    assert code == 1, stderr
    assert records[0]["error"] == "ItemTimeout: timed out after 1 s"
    assert records[0]["attempts"] == 1


def test_fail_fast_stops_at_a_timeout(tmp_path, start_cli):
    listing = lines(tmp_path, "hang", *["a"] * 10)
    run = start_cli("--lines", listing, "--timeout", "0.5", "--no-progress")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "item #0 (hang) failed: ItemTimeout: timed out after 0.5 s" in stderr


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_an_item_stuck_where_python_cannot_interrupt_it(tmp_path, method, start_cli):
    listing = lines(tmp_path, *["sleep 0.01"] * 20, "stuck", *["sleep 0.01"] * 20)
    code, records, stderr = run_cli(
        start_cli,
        ("process", method),
        "--lines",
        listing,
        "--timeout",
        "1",
        "--keep-going",
        "--workers",
        "2",
    )
    assert code == 1, stderr
    indexes = sorted(r["index"] for r in records)
    assert indexes == list(range(41))  # each item once: nothing lost, none twice
    (stuck,) = [r for r in records if "error" in r]
    assert stuck["index"] == 20 and "its worker process was replaced" in stuck["error"]


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_an_item_that_holds_the_gil_is_ended_from_outside(tmp_path, method, start_cli):
    # A catastrophic regular expression: C code that never lets go of the GIL, so
    # no thread of its worker can act. The main process ends that worker.
    listing = lines(tmp_path, "a", "regex", *["bb"] * 6)
    args = ("--lines", listing, "--timeout", "1", "--keep-going", "--workers", "2")
    code, records, stderr = run_cli(start_cli, ("process", method), *args)
    assert code == 1, stderr
    assert sorted(r["index"] for r in records) == list(range(8))
    (stuck,) = [r for r in records if "error" in r]
    assert stuck["index"] == 1 and "its worker process was replaced" in stuck["error"]


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_an_item_that_holds_the_gil_ends_with_a_killed_main_process(
    tmp_path, method, start_cli
):
    marks = tmp_path / "marks"
    marks.mkdir()
    listing = lines(tmp_path, f"regex {marks}")
    env = {"PFOR_START_METHOD": method}
    run = start_cli("--lines", listing, "--timeout", "600", env=env)
    wait_for(lambda: any(marks.iterdir()), what="the regex to start")
    run.kill()  # kill -9: its worker cannot see it (the GIL is held)
    run.communicate(timeout=60)
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")


def test_retries_wait_without_blocking_other_items(
    tmp_path, pool_and_method, start_cli
):
    folder = tmp_path / "flaky"
    folder.mkdir()
    listing = lines(tmp_path, f"flaky {folder}", *[f"done {folder}"] * 30)
    code, records, stderr = run_cli(
        start_cli,
        pool_and_method,
        "--lines",
        listing,
        "--retries",
        "2",
        "--workers",
        "2",
    )
    assert code == 0, stderr
    flaky = [r for r in records if r["index"] == 0]
    assert flaky == [
        {"index": 0, "item": f"flaky {folder}", "result": 3, "attempts": 3}
    ]
    assert all(r["attempts"] == 1 for r in records if r["index"] > 0)


def test_the_last_failure_is_shown_when_retries_run_out(tmp_path, start_cli):
    folder = tmp_path / "flaky"
    folder.mkdir()
    listing = lines(tmp_path, f"flaky {folder}", "fail")
    code, records, stderr = run_cli(
        start_cli, ("thread", ""), "--lines", listing, "--retries", "1", "--keep-going"
    )
    assert code == 1
    by_index = {r["index"]: r for r in records}
    assert by_index[0]["error"] == "ConnectionError: attempt 2 fails"
    assert by_index[0]["attempts"] == 2
    assert by_index[1]["attempts"] == 1  # ValueError: never retried


def test_setup_runs_once_in_each_worker(tmp_path, pool_and_method, start_cli):
    marks = tmp_path / "setup"
    marks.mkdir()
    listing = lines(tmp_path, *[f"done {tmp_path}"] * 40)
    code, records, stderr = run_cli(
        start_cli,
        pool_and_method,
        "--lines",
        listing,
        "--workers",
        "2",
        env={"PFOR_SETUP_DIR": str(marks)},
    )
    assert code == 0, stderr
    workers = {r["result"] for r in records}
    calls = [mark.name.rsplit("-", 1)[0] for mark in marks.iterdir()]
    assert sorted(calls) == sorted(workers)  # once in each worker, not per batch
    assert len(workers) >= 1


def test_a_setup_that_raises_stops_the_run_naming_setup(
    tmp_path, pool_and_method, start_cli
):
    listing = lines(tmp_path, "a", "bb")
    code, records, stderr = run_cli(
        start_cli, pool_and_method, "--lines", listing, env={"PFOR_SETUP_FAIL": "1"}
    )
    assert code == 1 and records == []
    assert "setup() failed in a worker: RuntimeError: no database here" in stderr
    assert "item #" not in stderr.split("setup() failed")[0]


def test_logs_of_the_loop_body_reach_stderr_with_the_index(
    tmp_path, pool_and_method, start_cli
):
    listing = lines(tmp_path, "a", "log", "bb")
    code, records, stderr = run_cli(start_cli, pool_and_method, "--lines", listing)
    assert code == 0, stderr
    assert "item #1: WARNING: bodies: a warning from the loop body" in stderr
    assert len(records) == 3  # stdout: results only


def test_serial_logs_say_which_item_too(tmp_path, start_cli):
    run = start_cli("--lines", lines(tmp_path, "a", "log", "bb"), "--serial")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "item #1: WARNING: bodies: a warning from the loop body" in stderr


@pytest.mark.parametrize("pool_and_method", [POOLS[0], POOLS[3]])
def test_log_level_chooses_the_records_shown(tmp_path, pool_and_method, start_cli):
    listing = lines(tmp_path, "log", "info")
    code, records, stderr = run_cli(start_cli, pool_and_method, "--lines", listing)
    assert code == 0, stderr
    assert "a warning from the loop body" in stderr
    assert "an info record" not in stderr  # the default level is WARNING
    code, records, stderr = run_cli(
        start_cli, pool_and_method, "--lines", listing, "--log-level", "INFO"
    )
    assert code == 0, stderr
    assert "item #1: INFO: bodies: an info record from the loop body" in stderr


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--timeout", "-1", "or 0 for no limit"),
        ("--timeout", "soon", "or 0 for no limit"),
        ("--timeout", "inf", "or 0 for no limit"),
        ("--timeout", "nan", "or 0 for no limit"),
        ("--retries", "-1", "from 0 up"),
        ("--retries", "1.5", "from 0 up"),
    ],
)
def test_bad_timeouts_and_retries_are_usage_errors(
    project, capsys, option, value, message
):
    from parallel_loop.cli import main

    with pytest.raises(SystemExit) as exit:
        main([option, value], tasks=bodies)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_the_library_takes_timeout_retries_and_setup(project, pool):
    from parallel_loop.parallel import Failure, ItemError, run_map, run_submit

    # A thread cannot be stopped: this one sleeps on, and this process waits for
    # it at exit, so it must end (a hung thread would hang the test run).
    items = ["a", "sleep 3" if pool == "thread" else "hang", "ccc"]
    results = run_map(
        bodies.process_item,
        items,
        pool=pool,
        timeout=0.5,
        keep_going=True,
        progress=False,
    )
    assert results[0] == 1 and results[2] == 3
    assert (
        isinstance(results[1], Failure) and "timed out after 0.5 s" in results[1].error
    )
    with pytest.raises(ItemError, match="timed out"):
        run_submit(
            bodies.process_numbered_item, items, pool=pool, timeout=0.5, progress=False
        )
    with pytest.raises(ValueError, match="timeout"):
        run_map(bodies.process_item, items, pool=pool, timeout=0)


def test_retries_wait_longer_each_time(project, monkeypatch):
    from parallel_loop._engine import outcomes
    from parallel_loop.parallel import run_map

    monkeypatch.setattr(outcomes, "RETRY_DELAY", 0.2)
    monkeypatch.setattr(random, "uniform", lambda low, high: low)  # jitter: x0.5
    started = []

    def fails_three_times(item):
        started.append(time.monotonic())
        if len(started) <= 3:
            raise ConnectionError(f"attempt {len(started)} fails")
        return item

    results = run_map(
        fails_three_times, ["a"], pool="thread", retries=3, progress=False
    )
    assert results == ["a"]
    waits = [later - earlier for earlier, later in pairwise(started)]
    # 0.2 s, then twice as long each time, x0.5: lower bounds only (a busy
    # machine makes waits longer, never shorter).
    assert waits[0] >= 0.1 and waits[1] >= 0.2 and waits[2] >= 0.4, waits


@pytest.mark.parametrize("pattern", ["map", "submit"])
def test_items_tried_again_keep_their_place_in_the_results(
    project, monkeypatch, pattern
):
    from parallel_loop._engine import outcomes
    from parallel_loop.parallel import run_map, run_submit

    monkeypatch.setattr(outcomes, "RETRY_DELAY", 0.01)
    failed_once = set()

    def fails_once_in_ten(item):  # in the middle of batches of many items
        if item % 10 == 3 and item not in failed_once:
            failed_once.add(item)
            raise ConnectionError("try again")
        return item

    options = {"pool": "thread", "max_workers": 2, "retries": 1, "progress": False}
    if pattern == "map":
        results = run_map(fails_once_in_ten, range(500), **options)
    else:
        results = run_submit(lambda i, x: fails_once_in_ten(x), range(500), **options)
    assert len(failed_once) == 50
    assert results == list(range(500))


def test_a_running_file_caught_halfway_written_is_no_item(project, tmp_path):
    # A worker paused between the two fields of its running file leaves the new index
    # beside the start of none (0.0) for a while. Read as an item started at 0, it
    # looked stuck, and its worker was killed: seen in the benchmark, whose timed
    # runs share their workers, on a busy machine.
    from parallel_loop._engine import worker_calls

    path = tmp_path / "running"
    path.write_bytes(worker_calls.RUNNING_FILE.pack(9307, 0.0))
    assert worker_calls.read_running_file(path) == (-1, 0.0)
    path.write_bytes(worker_calls.RUNNING_FILE.pack(7, 123.5))
    assert worker_calls.read_running_file(path) == (7, 123.5)


HELD_THREADS = """
import json, sys
import bodies
from parallel_loop.parallel import run_map

release = sys.argv[1]
items = [f"until {release}"] * 2 + ["a", "bb", "ccc", "dddd"]
results = run_map(bodies.process_item, items, pool="thread", max_workers=2,
                  timeout=1, keep_going=True, progress=False)
print(json.dumps([getattr(r, "error", r) for r in results]), flush=True)
"""


def test_a_thread_pool_whose_threads_all_run_late_goes_on(start_script, tmp_path):
    # Both threads are held by items past their timeout, which no thread can
    # stop: the items queued behind them run on a new pool, not never.
    release = tmp_path / "release"
    code = f"import sys; sys.argv[1:] = [{str(release)!r}]\n" + HELD_THREADS
    run = start_script(code)
    try:  # the held threads are let go: the script ends without waiting for them
        stdout, stderr = run.communicate(timeout=60)
    finally:
        release.touch()  # they may end now
        run.kill()
    assert run.returncode == 0, stderr
    results = json.loads(stdout)
    assert results[:2] == ["ItemTimeout: timed out after 1 s"] * 2, results
    assert results[2:] == [1, 2, 3, 4]
