"""Ctrl-C, SIGTERM, dead workers and clean output, on the real command line."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
PROJECT = TESTS.parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def children(pid):
    """PIDs of the processes whose parent is pid (Linux only; else empty)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


def wait_for_lines(path, count):
    wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= count)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_fast_keeps_results_leaves_no_workers(
    make_files, tmp_path, pool, sig, code, start_cli
):
    files = make_files(*["sleep 0.4"] * 40)
    out = tmp_path / "results.jsonl"
    run = start_cli(*files, "--pool", pool, "--workers", "2", "--output", out)
    wait_for_lines(out, 2)
    workers = children(run.pid)
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)  # Ctrl-C reaches every process of the terminal
    else:
        run.send_signal(sig)  # `kill PID` reaches only the main process
    sent = time.monotonic()
    stdout, stderr = run.communicate(timeout=10)
    assert time.monotonic() - sent < 2, "took too long to stop"
    assert run.returncode == code
    finished = len(out.read_text().splitlines())
    assert f"interrupted: {finished} of 40 items finished" in stderr
    assert "Traceback" not in stderr
    assert all(json.loads(line)["result"] == 9 for line in out.read_text().splitlines())
    time.sleep(0.2)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []


def test_interrupt_right_at_the_start(make_files, tmp_path, pool, start_cli):
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        run = start_cli(*make_files(*["sleep 0.2"] * 10), "--pool", pool, stderr=stderr)
        wait_for(lambda: "running 10 items" in log.read_text())  # the pool starts next
        time.sleep(0.05)  # while the pool starts and the first items are submitted
        os.killpg(run.pid, signal.SIGINT)
        run.communicate(timeout=10)
    assert run.returncode == 130, log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_dead_worker_is_reported_and_results_kept(make_files, tmp_path, start_cli):
    # One worker finishes item 0, then dies on item 2; the other is mid-item 1.
    files = make_files("sleep 0.05", "sleep 0.6", "exit", *["sleep 0.1"] * 10)
    out = tmp_path / "results.jsonl"
    run = start_cli(*files, "--workers", "2", "--output", out, "--no-progress")
    stdout, stderr = run.communicate(timeout=20)
    assert run.returncode == 1
    assert "a worker process died" in stdout and "unfinished: items #1" in stdout
    assert "Traceback" not in stderr  # the other worker ends quietly
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == [0]


def test_fail_fast_does_not_wait_for_the_rest(make_files, pool, start_cli):
    files = make_files("fail", *["sleep 0.5"] * 20)
    started = time.monotonic()
    run = start_cli(*files, "--pool", pool, "--workers", "2", "--no-progress")
    stdout, stderr = run.communicate(timeout=20)
    assert run.returncode == 1
    assert time.monotonic() - started < 4  # the 20 sleeps would take 5 s
    assert "item #0" in stderr


def test_stdout_carries_only_results_even_with_a_bar(make_files, start_cli):
    run = start_cli(
        *make_files("a", "bb", "fail"), "--keep-going", env={"TQDM_DISABLE": None}
    )
    stdout, stderr = run.communicate(timeout=20)
    assert run.returncode == 1
    assert [json.loads(line)["index"] for line in stdout.splitlines()] == [0, 1, 2]
    assert "item/s" in stderr or "3/3" in stderr  # the bar went to stderr


def test_tqdm_disable_turns_the_bar_off(make_files, start_cli):
    run = start_cli(*make_files("a"), env={"TQDM_DISABLE": "1"})
    stdout, stderr = run.communicate(timeout=20)
    assert run.returncode == 0
    assert "1/1" not in stderr and "it/s" not in stderr and "item/s" not in stderr


def test_the_bar_in_a_log_file_is_not_a_flood(make_files, start_cli):
    # stderr is a pipe here, as in CI: a few lines, not one per tenth of a second.
    files = make_files(*["sleep 0.1"] * 12)
    run = start_cli(*files, "--workers", "1", env={"TQDM_DISABLE": None})
    stdout, stderr = run.communicate(timeout=20)
    assert run.returncode == 0
    assert "12/12" in stderr
    assert stderr.count("\r") <= 4
