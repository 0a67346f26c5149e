"""The engine of a rendered project under faults: Ctrl-C, signals, dead workers and
parents, closed pipes, full disks, start methods. The generated project's own
tests keep to its contract; these run where the template is developed."""

import contextlib
import json
import multiprocessing
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import types
from concurrent.futures import BrokenExecutor, Executor, Future
from pathlib import Path

import bodies
import pytest
import small_disk
from processes import processes_in_session, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="POSIX signals and /proc"
)


@pytest.fixture(params=["process", "thread"])
def pool(request):
    return request.param


@pytest.fixture
def parallel(project):
    from parallel_loop import parallel

    return parallel


@pytest.fixture(params=["forkserver", "spawn"])
def start_cli_each_way(request, start_cli):
    """start_cli, with the workers started by forkserver (Linux's way) and by spawn
    (macOS's and Windows' way, and the one START_METHOD = "spawn" gives)."""

    def start(*args, env=None, **options):
        env = {"PFOR_START_METHOD": request.param, **(env or {})}
        return start_cli(*args, env=env, **options)

    return start


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def no_processes_left(group, timeout=20):
    wait_for(lambda: processes_in_session(group) == [], timeout, "the processes to end")


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_a_signal_stops_fast_keeps_results_leaves_no_process(
    make_files, tmp_path, pool, sig, code, start_cli_each_way
):
    files = make_files(*["sleep 0.4"] * 40)
    out = tmp_path / "results.jsonl"
    run = start_cli_each_way(*files, "--pool", pool, "--workers", "2", "--output", out)
    wait_for(lambda: lines_in(out) >= 2)
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)  # Ctrl-C reaches every process of the terminal
    else:
        run.send_signal(sig)  # `kill PID` reaches only the main process
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    finished = lines_in(out)
    assert f"interrupted: {finished} of 40 items finished" in stderr
    given = shlex.join(map(str, [*files, "--pool", pool, "--workers", "2"]))
    assert (
        f"to go on: python -m parallel_loop {given} --output {out} --resume" in stderr
    )
    assert "Traceback" not in stderr and "leaked" not in stderr
    assert all(json.loads(line)["result"] == 9 for line in out.read_text().splitlines())
    no_processes_left(run.pid)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.03, 0.05])
def test_ctrl_c_right_at_the_start(
    make_files, tmp_path, pool, delay, start_cli_each_way
):
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        run = start_cli_each_way(
            *make_files(*["sleep 0.2"] * 10), "--pool", pool, stderr=stderr
        )
        wait_for(lambda: "running 10 items" in log.read_text())  # the pool starts next
        time.sleep(delay)  # any moment of the start: the outcome must not depend on it
        os.killpg(run.pid, signal.SIGINT)
        run.communicate(timeout=60)
    assert run.returncode == 130, log.read_text()
    assert "Traceback" not in log.read_text() and "leaked" not in log.read_text()
    no_processes_left(run.pid)


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_a_ctrl_c_that_reaches_the_workers_is_left_to_the_main_process(
    make_files, tmp_path, method, start_cli
):
    # Ctrl-C reaches every process of the terminal and the main process stops
    # the run. Here only the others get it: a worker that took it itself would
    # fail its item or die, and the run would not end well.
    out = tmp_path / "results.jsonl"
    files = make_files(*["sleep 0.1"] * 30)
    env = {"PFOR_START_METHOD": method}
    run = start_cli(*files, "--workers", "2", "--output", out, env=env)
    wait_for(lambda: lines_in(out) >= 2)  # the workers are running items
    for pid in processes_in_session(run.pid):
        if pid != run.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert lines_in(out) == 30
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_workers_leave_signals_to_the_main_process(make_files, method, start_cli):
    # A forked worker inherits the command line's SIGTERM handler: it must not
    # keep it, or stopping the pool (SIGTERM) fails an item instead of ending it.
    env = {"PFOR_START_METHOD": method}
    run = start_cli(*make_files("signals"), "--no-progress", env=env)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    assert json.loads(stdout)["result"] == ["do_nothing", "SIG_DFL"]


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_workers_exit_when_the_main_process_is_killed(
    make_files, tmp_path, method, start_cli
):
    out = tmp_path / "results.jsonl"
    files = make_files("a", *["hang"] * 4)
    env = {"PFOR_START_METHOD": method}
    run = start_cli(*files, "--workers", "2", "--output", out, env=env)
    wait_for(lambda: lines_in(out) >= 1)  # the workers are running items
    wait_for(lambda: len(processes_in_session(run.pid)) >= 3, what="the workers")
    run.kill()  # kill -9: no chance to clean up
    run.communicate(timeout=60)
    no_processes_left(run.pid)  # the workers noticed


def test_ctrl_c_stops_nested_pools_too(make_files, tmp_path, project, start_cli):
    run = start_cli(*make_files("nested", "nested"), "--workers", "2")
    wait_for(lambda: len(processes_in_session(run.pid)) >= 6, what="the inner workers")
    os.killpg(run.pid, signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    no_processes_left(run.pid)
    assert time.monotonic() - sent < 20


class DiesUnderTheSecondBatch(Executor):
    """An executor of one's own whose worker dies running the second batch just
    as the first one finishes: both are done before the pool looks again."""

    def __init__(self):
        self.calls = []

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        self.calls.append((future, fn, args))
        if len(self.calls) == 2:
            (first, fn, args), (second, _, _) = self.calls
            first.set_result(fn(*args))
            second.set_exception(BrokenExecutor("a worker died"))
        return future


class CtrlCWhileSending(Executor):
    """An executor whose submit() gets Ctrl-C halfway: as when a worker
    process is being started, which must not be left half done."""

    def __init__(self):
        self.sent = []

    def submit(self, fn, /, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # it lands here at the latest, if nothing holds it
        self.finish_sending(fn)  # a KeyboardInterrupt here would stop it
        future = Future()
        future.set_result(fn(*args))
        return future

    def finish_sending(self, fn):
        self.sent.append(fn)


def test_ctrl_c_while_work_is_sent_is_held_until_it_is_sent(parallel):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        executor = CtrlCWhileSending()
        with pytest.raises(KeyboardInterrupt):  # delivered once it is sent
            parallel.run_map(
                bodies.process_item, ["a"], pool=executor, max_workers=1, progress=False
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(executor.sent) == 1


def test_a_batch_that_finished_with_a_dead_worker_is_delivered(parallel):
    seen = {}
    with pytest.raises(parallel.PoolError, match="the pool broke"):
        parallel.run_map(
            bodies.process_item,
            ["a", "bb", "ccc"],
            pool=DiesUnderTheSecondBatch(),
            max_workers=1,
            on_result=seen.__setitem__,
            progress=False,
        )
    assert seen == {0: 1}


def test_a_dead_worker_is_reported_and_results_kept(
    make_files, tmp_path, start_cli_each_way
):
    files = make_files("sleep 0.05", "exit", *["sleep 0.05"] * 10)
    out = tmp_path / "results.jsonl"
    run = start_cli_each_way(*files, "--workers", "1", "--output", out, "--no-progress")
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1
    assert (
        "item #1 (" in stderr and "WorkerCrashed: its worker process exited" in stderr
    )
    assert "Traceback" not in stderr and "leaked" not in stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1] and "error" in records[1]
    assert stdout == ""
    no_processes_left(run.pid)


def test_fail_fast_stops_the_workers_at_once(make_files, pool, start_cli_each_way):
    run = start_cli_each_way(
        *make_files("fail", *["hang"] * 4), "--pool", pool, "--workers", "2"
    )
    stdout, stderr = run.communicate(timeout=60)  # the hanging items would never end
    assert run.returncode == 1
    assert "item #0" in stderr and "leaked" not in stderr
    no_processes_left(run.pid)


def test_a_run_stopped_early_leaves_no_process_or_thread_behind(parallel, monkeypatch):
    # On a busy machine the pool's own thread may end a little after its
    # workers: the run must wait for it, or it holds the exit (the command
    # line then leaves with os._exit, and leaks the pool's semaphores).
    from concurrent.futures import process

    manager = process._ExecutorManagerThread  # Python 3.9+
    real_run = manager.run

    def slow_to_end(self):
        real_run(self)
        time.sleep(0.5)

    monkeypatch.setattr(manager, "run", slow_to_end)
    threads, children = set(threading.enumerate()), multiprocessing.active_children()
    with pytest.raises(parallel.ItemError):
        parallel.run_map(
            bodies.process_item, ["fail", *["hang"] * 4], max_workers=2, progress=False
        )
    # Threads that would hold the exit: tqdm's monitor and a queue's feeder
    # thread are daemons, and end by themselves.
    left = [t for t in threading.enumerate() if t not in threads and not t.daemon]
    assert left == []
    assert [p for p in multiprocessing.active_children() if p not in children] == []


def test_sys_exit_in_the_loop_body_is_that_items_failure(make_files, pool, start_cli):
    files = make_files("a", "sys.exit", "ccc")
    run = start_cli(*files, "--pool", pool, "--keep-going", "--no-progress")
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1  # not 3, not 0
    assert "item #1" in stderr and "SystemExit: 3" in stderr
    assert sorted(json.loads(line)["index"] for line in stdout.splitlines()) == [
        0,
        1,
        2,
    ]


def test_stdout_carries_only_results_whatever_the_loop_body_prints(
    make_files, pool, start_cli
):
    files = make_files("a", "print", "fail", "print")
    run = start_cli(*files, "--pool", pool, "--keep-going", env={"TQDM_DISABLE": None})
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1
    indexes = sorted(json.loads(line)["index"] for line in stdout.splitlines())
    assert indexes == [0, 1, 2, 3]  # every line is a result: nothing else
    assert stderr.count("chatter from the loop body") == 2
    assert stderr.count("tqdm.write from the loop body") == 2
    assert "4/4" in stderr  # the bar went to stderr


def test_each_result_reaches_stdout_the_moment_it_finishes(make_files, pool, start_cli):
    # Item 0 never ends: item 1's line comes out anyway, while the run goes on.
    run = start_cli(*make_files("hang", "a"), "--pool", pool, "--workers", "2")
    ready, _, _ = select.select([run.stdout], [], [], 60)
    line = run.stdout.readline() if ready else "(nothing within 60 s)"
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert line.startswith("{"), line
    assert json.loads(line)["index"] == 1
    assert run.returncode == 130, stderr


def test_results_written_to_a_file_are_not_kept_in_memory(project, tmp_path):
    from parallel_loop import cli

    def megabyte(item):
        time.sleep(0.03)  # longer than a batch should take: batches of one item
        return "x" * 1_000_000

    tasks = types.SimpleNamespace(
        POOL="thread",
        MAX_WORKERS=2,
        PATTERN="map",
        process_item=megabyte,
        process_numbered_item=lambda index, item: megabyte(item),
        items=lambda: range(60),
    )
    out = tmp_path / "results.jsonl"
    tracemalloc.start()
    try:
        code = cli.main(["--no-progress", "--output", str(out)], tasks=tasks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0 and lines_in(out) == 60
    assert peak < 30_000_000  # 60 MB if the results were kept until the end


def test_a_closed_stdout_ends_the_run_quietly(make_files, pool, start_cli_each_way):
    run = start_cli_each_way(
        *make_files(*["sleep 0.05"] * 200), "--pool", pool, "--workers", "2"
    )
    first = run.stdout.readline()
    assert json.loads(first)["index"] >= 0
    run.stdout.close()  # like `| head -1`
    stderr = run.stderr.read()
    run.wait(timeout=60)
    assert run.returncode == 141, stderr
    assert "Traceback" not in stderr and "Error" not in stderr
    no_processes_left(run.pid)


def test_ctrl_c_while_reading_items_says_so(start_cli, tmp_path):
    run = start_cli("--lines", "-", stdin=subprocess.PIPE)

    def reading_stdin():
        return "pipe" in Path(f"/proc/{run.pid}/wchan").read_text()

    wait_for(reading_stdin, what="the command line to read its input")
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted" in stderr
    assert "Traceback" not in stderr


def test_many_more_processes_than_cpus_get_a_warning(make_files, start_cli):
    run = start_cli(*make_files("a"), "--workers", "1024", "--no-progress")
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0
    assert "warning: 1024 worker processes on" in stderr and "--pool thread" in stderr


def test_tqdm_disable_turns_the_bar_off(make_files, start_cli):
    run = start_cli(*make_files("a"), env={"TQDM_DISABLE": "1"})
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0
    assert "1/1" not in stderr and "item/s" not in stderr


def test_the_bar_in_a_log_file_is_not_a_flood(make_files, start_cli):
    # stderr is a pipe here, as in CI: a refresh every 5 s, not every 0.1 s.
    files = make_files(*["sleep 0.1"] * 20)
    run = start_cli(*files, "--workers", "1", env={"TQDM_DISABLE": None})
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0
    assert "20/20" in stderr
    assert stderr.count("/20 [") <= 3, stderr  # the start, the end, maybe one more


def test_a_full_disk_is_a_clear_error_and_lines_stay_whole(
    project, tmp_path, monkeypatch, capsys
):
    from parallel_loop import cli

    real_write = os.write
    writes = []

    def write(fd, data):
        if fd > 2 and b'"index"' in bytes(data):
            writes.append(data)
            if len(writes) == 3:  # half a line lands, then the disk is full
                real_write(fd, bytes(data)[:10])
                raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    listing = tmp_path / "lines.txt"
    listing.write_text("a\nbb\nccc\ndddd\n")
    out = tmp_path / "results.jsonl"
    options = ["--no-progress", "--serial", "--lines", listing, "--output", out]
    assert cli.main(list(map(str, options)), tasks=bodies) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--resume" in err
    lines = out.read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1]  # whole lines


@pytest.mark.skipif(not small_disk.available(), reason=small_disk.UNAVAILABLE)
def test_resume_after_a_full_disk_needs_room_for_the_lines_to_come_only(
    project, tmp_path, pool
):
    small_disk.check_resume_after_a_full_disk(project, sys.executable, pool, tmp_path)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_both_patterns_under_every_start_method(parallel, method, monkeypatch):
    from parallel_loop._engine import executors

    monkeypatch.setattr(executors, "START_METHOD", method)
    assert executors.process_context().get_start_method() == method
    results = parallel.run_map(bodies.square, range(300), max_workers=2, progress=False)
    assert results == [x * x for x in range(300)]
    numbered = parallel.run_submit(bodies.indexed_square, range(300), progress=False)
    assert numbered == results


def test_workers_start_with_forkserver_even_after_a_tqdm_bar(
    parallel, start_cli, make_files
):
    # tqdm fixes multiprocessing's default start method to fork on Linux: the
    # project must choose its own, and workers must not be forked copies.
    from parallel_loop._engine import executors
    from tqdm import tqdm

    tqdm(disable=True).close()
    assert executors.process_context().get_start_method() == "forkserver"
    run = start_cli(
        *make_files("print"), "--workers", "1", env={"PFOR_START_METHOD": ""}
    )
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0 and "DeprecationWarning" not in stderr
    assert "ForkProcess" not in stderr


def test_a_failures_traceback_starts_at_the_loop_body_in_the_package(
    project, start_script
):
    # The engine's own frames are left out, the loop body's kept, even when it
    # lives in the package beside the engine (tasks.py does). A script of its
    # own: this process's forkserver may have preloaded another rendered copy of
    # the package (or an installed one), which has no body_for_tests.py.
    body = project.package / "body_for_tests.py"
    body.write_text("def explode(item):\n    raise ValueError(f'bad {item}')\n")
    run = start_script(
        "import json\n"
        "from parallel_loop.body_for_tests import explode\n"
        "from parallel_loop.parallel import run_map\n"
        "if __name__ == '__main__':\n"
        "    for pool in ('process', 'thread'):\n"
        "        (failure,) = run_map(explode, [1], pool=pool, keep_going=True,\n"
        "                             progress=False)\n"
        "        print(json.dumps(failure.traceback))\n"
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    tracebacks = [json.loads(line) for line in stdout.splitlines()]
    assert len(tracebacks) == 2  # process and thread
    for traceback in tracebacks:
        assert "body_for_tests.py" in traceback, traceback
        assert "raise ValueError(f'bad {item}')" in traceback
        assert "_engine" not in traceback


def test_batches_grow_while_items_are_fast_and_shrink_at_the_end(parallel, monkeypatch):
    from parallel_loop._engine import pool as engine

    sizes = {}  # first index -> items in the batch
    real_call_batch = engine.call_batch

    def call_batch(func, first, items, numbered):
        sizes[first] = len(items)
        return real_call_batch(func, first, items, numbered)

    monkeypatch.setattr(engine, "call_batch", call_batch)
    options = {"pool": "thread", "max_workers": 2, "progress": False}
    assert parallel.run_map(abs, range(20_000), **options) == list(range(20_000))
    batches = [sizes[first] for first in sorted(sizes)]
    assert batches[0] == 1  # nothing measured yet
    assert max(batches) >= 64  # fast items travel many at a time
    assert batches[-8:] == [1] * 8  # the end is shared out item by item
    sizes.clear()
    parallel.run_map(time.sleep, [0.03] * 40, **options)  # slower than a batch
    assert list(sizes.values()) == [1] * 40  # should take: one item each


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_worker_that_reaches_an_unguarded_run_says_so(start_script, method):
    # The main process refuses such a run first (test_main_guard.py); where it
    # cannot see it, the worker that imports the script stops there and says why.
    run = start_script(
        "import bodies\n"
        "from parallel_loop import parallel\n"
        "from parallel_loop._engine import executors\n"
        f"executors.START_METHOD = {method!r}\n"
        "executors.check_main_is_guarded = lambda start_method: None\n"
        "print(parallel.run_map(bodies.square, [1, 2, 3], max_workers=2))\n"
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode != 0
    assert 'put that code under `if __name__ == "__main__":`' in stderr
    assert "leaked" not in stderr and stdout == ""


def guarded(*lines):
    """A script that runs the given lines under the __main__ guard."""
    head = ["import bodies", "from parallel_loop.parallel import run_map"]
    body = ["    " + line for line in lines]
    return "\n".join([*head, "if __name__ == '__main__':", *body, ""])


def test_a_worker_that_died_halfway_through_a_result_is_reported(start_script):
    # The pool's own thread waits for the rest of the message forever, blind to
    # the death: the run notices it, and ends the pool.
    run = start_script(
        guarded("run_map(bodies.process_item, ['half', 'a'], max_workers=2)")
    )
    stdout, stderr = run.communicate(timeout=60)  # it used to wait for good
    assert run.returncode == 1
    assert "item #0 (half) failed: WorkerCrashed" in stderr  # it killed its worker
    no_processes_left(run.pid)


def test_ctrl_c_after_a_worker_died_halfway_through_a_result(start_script, tmp_path):
    marker = tmp_path / "half-sent"
    run = start_script(
        guarded(f"run_map(bodies.process_item, ['half {marker}', 'a'], max_workers=2)")
    )
    wait_for(marker.exists, what="the half-sent result")
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)  # it used to wait at exit for good
    assert run.returncode == -signal.SIGINT
    assert "leaked" not in stderr
    no_processes_left(run.pid)


BLOCKED_READ = """
import socket, sys
from parallel_loop.parallel import run_map

reader, writer = socket.socketpair()

def read_for_good(item):
    if item == "block":
        reader.recv(1)  # no timeout, and nobody writes: blocked for good
    return item

try:
    run_map(read_for_good, ["a", "block"], pool="thread", max_workers=2,
            progress=False, on_result=lambda i, r: print("first", flush=True))
except KeyboardInterrupt:
    print("KeyboardInterrupt reached the caller", flush=True)
"""


def test_ctrl_c_ends_a_library_run_on_threads_blocked_in_a_read(start_script):
    # The thread cannot be stopped; the program exits without waiting for it,
    # and without a second Ctrl-C (issue: it waited at exit until one came).
    run = start_script(BLOCKED_READ)
    assert run.stdout.readline() == "first\n", run.stderr.read()
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=30)  # the read never returns
    assert stdout == "KeyboardInterrupt reached the caller\n", stderr
    assert run.returncode == 0, stderr
