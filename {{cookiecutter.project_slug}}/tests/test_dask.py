"""The same loop on a real Dask cluster: local, and one started separately."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import dask
import pytest

from {{ cookiecutter.project_slug }} import executors
from {{ cookiecutter.project_slug }}.failures import (
    Failure,
    ItemError,
    PoolError,
)
from {{ cookiecutter.project_slug }}.parallel import (
    run_map,
    run_submit,
)

TESTS = Path(__file__).parent
PROJECT = TESTS.parent


def square(x):
    return x * x


def indexed_square(index, x):
    return x * x


def fail_on_3(x):
    if x == 3:
        raise ValueError("three")
    return x


def exit_on_3(x):
    if x == 3:
        os._exit(1)
    return x


def test_both_patterns_on_a_local_cluster():
    items = list(range(500))
    expected = [x * x for x in items]
    assert (
        run_map(square, items, pool="dask", max_workers=2, progress=False) == expected
    )
    results = run_submit(
        indexed_square, items, pool="dask", max_workers=2, progress=False
    )
    assert results == expected


def test_a_failing_item_fails_fast_or_is_kept_going():
    with pytest.raises(ItemError) as caught:
        run_map(fail_on_3, range(10), pool="dask", max_workers=2, progress=False)
    assert caught.value.failure.index == 3
    assert caught.value.failure.error == "ValueError: three"
    results = run_map(
        fail_on_3,
        range(10),
        pool="dask",
        max_workers=2,
        progress=False,
        keep_going=True,
    )
    assert isinstance(results[3], Failure)
    assert results[:3] + results[4:] == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_workers_that_keep_dying_are_reported():
    started = time.monotonic()
    with pytest.raises(PoolError, match="a worker process died"):
        run_map(exit_on_3, range(10), pool="dask", max_workers=2, progress=False)
    assert time.monotonic() - started < 60


def test_an_unreachable_scheduler_is_reported(monkeypatch):
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", "2s")
    started = time.monotonic()
    with (
        dask.config.set({"scheduler-address": f"tcp://127.0.0.1:{free_port()}"}),
        pytest.raises(PoolError, match="cannot reach the Dask scheduler"),
    ):
        run_map(square, [1, 2], pool="dask", max_workers=2, progress=False)
    assert time.monotonic() - started < 10


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("pattern", ["map", "submit"])
def test_the_command_line_on_a_local_cluster(make_files, tmp_path, pattern, start_cli):
    out = tmp_path / "results.jsonl"
    files = make_files("a", "bb", "fail", "dddd")
    run = start_cli(
        *files,
        "--pool",
        "dask",
        "--workers",
        "2",
        "--pattern",
        pattern,
        "--keep-going",
        "--output",
        out,
        "--no-progress",
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    records = {r["index"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [records[i].get("result") for i in range(4)] == [1, 2, None, 4]
    assert "dask pool, 2 worker(s)" in stderr and "1 failed" in stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ps -g, signals")
def test_ctrl_c_stops_the_local_cluster(make_files, tmp_path, start_cli):
    out = tmp_path / "results.jsonl"
    files = make_files(*["sleep 0.5"] * 20)
    run = start_cli(*files, "--pool", "dask", "--workers", "2", "--output", out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        out.exists() and out.read_text().count("\n") >= 2
    ):
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = run.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert run.returncode == 130
    finished = out.read_text().count("\n")
    assert f"interrupted: {finished} of 20 items finished" in stderr
    assert "Traceback" not in stderr
    assert live_processes_in_group(run.pid) == []


def live_processes_in_group(group, grace=3.0):
    """Processes still running in a process group, after a grace period to end.
    (An ended one can linger as a zombie until init reaps it: not running.)"""
    deadline = time.monotonic() + grace
    while True:
        listing = subprocess.run(
            ["ps", "-o", "pid=,stat=", "-g", str(group)], capture_output=True, text=True
        ).stdout
        alive = [line for line in listing.splitlines() if "Z" not in line.split()[1]]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@contextmanager
def separate_cluster(importable: bool):
    """A scheduler and 2 workers started apart, as `dask scheduler` and `dask worker`
    would be; importable says whether they can import this project."""
    address = f"tcp://127.0.0.1:{free_port()}"
    host, port = address[len("tcp://") :].split(":")
    env = dict(os.environ)
    if importable:
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), str(TESTS)])
    commands = [
        ["distributed.cli.dask_scheduler", "--host", host, "--port", port],
        ["distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", *command, "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=TESTS.anchor,
            env=env,
        )
        for command in commands
    ]
    try:
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


def test_the_command_line_against_a_separate_scheduler(make_files, tmp_path, start_cli):
    with separate_cluster(importable=True) as address:
        out = tmp_path / "results.jsonl"
        run = start_cli(
            *make_files("a", "bb", "ccc"),
            "--pool",
            "dask",
            "--scheduler",
            address,
            "--output",
            out,
            "--no-progress",
        )
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert f"(all the cluster's cores, at {address})" in stderr
        results = [json.loads(line)["result"] for line in out.read_text().splitlines()]
        assert results == [1, 2, 3]
        # Dask's own environment variable names the cluster just as well.
        run = start_cli(
            *make_files("dddd"),
            "--pool",
            "dask",
            "--no-progress",
            env={"DASK_SCHEDULER_ADDRESS": address},
        )
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert json.loads(stdout)["result"] == 4


def test_a_cluster_that_cannot_import_the_project_says_so(make_files, start_cli):
    with separate_cluster(importable=False) as address:
        run = start_cli(
            *make_files("a"), "--pool", "dask", "--scheduler", address, "--no-progress"
        )
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "install it there too (pip install .)" in stderr
