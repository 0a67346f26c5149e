"""The engine of a rendered project under faults: Ctrl-C, signals, dead workers and
parents, closed pipes, full disks, start methods. The generated project's own
tests keep to its contract; these run where the template is developed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bodies
import pytest
from conftest import processes_in_group, wait_for

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


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def no_processes_left(group, timeout=20):
    wait_for(lambda: processes_in_group(group) == [], timeout, "the processes to end")


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_a_signal_stops_fast_keeps_results_leaves_no_process(
    make_files, tmp_path, pool, sig, code, start_cli
):
    files = make_files(*["sleep 0.4"] * 40)
    out = tmp_path / "results.jsonl"
    run = start_cli(*files, "--pool", pool, "--workers", "2", "--output", out)
    wait_for(lambda: lines_in(out) >= 2)
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)  # Ctrl-C reaches every process of the terminal
    else:
        run.send_signal(sig)  # `kill PID` reaches only the main process
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    finished = lines_in(out)
    assert f"interrupted: {finished} of 40 items finished" in stderr
    assert "Traceback" not in stderr and "leaked" not in stderr
    assert all(json.loads(line)["result"] == 9 for line in out.read_text().splitlines())
    no_processes_left(run.pid)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.03, 0.05])
def test_ctrl_c_right_at_the_start(make_files, tmp_path, pool, delay, start_cli):
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        run = start_cli(*make_files(*["sleep 0.2"] * 10), "--pool", pool, stderr=stderr)
        wait_for(lambda: "running 10 items" in log.read_text())  # the pool starts next
        time.sleep(delay)  # any moment of the start: the outcome must not depend on it
        os.killpg(run.pid, signal.SIGINT)
        run.communicate(timeout=60)
    assert run.returncode == 130, log.read_text()
    assert "Traceback" not in log.read_text() and "leaked" not in log.read_text()
    no_processes_left(run.pid)


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_workers_exit_when_the_main_process_is_killed(
    make_files, tmp_path, method, start_cli
):
    out = tmp_path / "results.jsonl"
    files = make_files("a", *["hang"] * 4)
    env = {"PFOR_START_METHOD": method}
    run = start_cli(*files, "--workers", "2", "--output", out, env=env)
    wait_for(lambda: lines_in(out) >= 1)  # the workers are running items
    wait_for(lambda: len(processes_in_group(run.pid)) >= 3, what="the workers")
    run.kill()  # kill -9: no chance to clean up
    run.communicate(timeout=60)
    no_processes_left(run.pid)  # the workers noticed


def test_ctrl_c_stops_nested_pools_too(make_files, tmp_path, project, start_cli):
    run = start_cli(*make_files("nested", "nested"), "--workers", "2")
    wait_for(lambda: len(processes_in_group(run.pid)) >= 6, what="the inner workers")
    os.killpg(run.pid, signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    no_processes_left(run.pid)
    assert time.monotonic() - sent < 20


def test_a_dead_worker_is_reported_and_results_kept(make_files, tmp_path, start_cli):
    files = make_files("sleep 0.05", "exit", *["sleep 0.05"] * 10)
    out = tmp_path / "results.jsonl"
    run = start_cli(*files, "--workers", "1", "--output", out, "--no-progress")
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1
    assert "a worker process died" in stderr and "unfinished: items #1" in stderr
    assert "Traceback" not in stderr and "leaked" not in stderr
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == [0]
    assert stdout == ""
    no_processes_left(run.pid)


def test_fail_fast_stops_the_workers_at_once(make_files, pool, start_cli):
    run = start_cli(
        *make_files("fail", *["hang"] * 4), "--pool", pool, "--workers", "2"
    )
    stdout, stderr = run.communicate(timeout=60)  # the hanging items would never end
    assert run.returncode == 1
    assert "item #0" in stderr and "leaked" not in stderr
    no_processes_left(run.pid)


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


def test_a_closed_stdout_ends_the_run_quietly(make_files, pool, start_cli):
    run = start_cli(
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


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_both_patterns_under_every_start_method(parallel, method, monkeypatch):
    monkeypatch.setattr(parallel._engine, "START_METHOD", method)
    assert parallel._engine.process_context().get_start_method() == method
    results = parallel.run_map(bodies.square, range(300), max_workers=2, progress=False)
    assert results == [x * x for x in range(300)]
    numbered = parallel.run_submit(bodies.indexed_square, range(300), progress=False)
    assert numbered == results


def test_workers_start_with_forkserver_even_after_a_tqdm_bar(
    parallel, start_cli, make_files
):
    # tqdm fixes multiprocessing's default start method to fork on Linux: the
    # project must choose its own, and workers must not be forked copies.
    from tqdm import tqdm

    tqdm(disable=True).close()
    assert parallel._engine.process_context().get_start_method() == "forkserver"
    run = start_cli(
        *make_files("print"), "--workers", "1", env={"PFOR_START_METHOD": ""}
    )
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0 and "DeprecationWarning" not in stderr
    assert "ForkProcess" not in stderr


def test_a_failures_traceback_starts_at_the_loop_body_in_the_package(project):
    # The engine's own frames are left out, the loop body's kept, even when it
    # lives in the package beside the engine (tasks.py does).
    body = project / "parallel_loop" / "body_for_tests.py"
    body.write_text("def explode(item):\n    raise ValueError(f'bad {item}')\n")
    from parallel_loop.body_for_tests import explode
    from parallel_loop.parallel import run_map

    for pool in ("process", "thread"):
        (failure,) = run_map(explode, [1], pool=pool, keep_going=True, progress=False)
        assert "body_for_tests.py" in failure.traceback, failure.traceback
        assert "raise ValueError(f'bad {item}')" in failure.traceback
        assert "_worker.py" not in failure.traceback
