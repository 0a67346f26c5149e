"""distributed=dask: the same loop on real Dask clusters, local and started apart."""

import json
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest
from processes import processes_in_session, wait_for
from rendering import ENGINE, render_once

pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def dask_project(tmp_path_factory):
    """A project with distributed=dask (package dask_loop), importable here."""
    project = render_once(
        tmp_path_factory, project_name="Dask Loop", distributed="dask"
    )
    sys.path.insert(0, str(project))
    return project


@pytest.fixture
def dask_pool(dask_project):
    from dask_loop import dask_pool

    return dask_pool


def exit_on_one(index, x):
    if x == 1:
        os._exit(1)
    return x


def test_an_item_that_kills_its_dask_worker_fails_alone(dask_pool):
    # Dask runs a task whose worker died on other workers (three more times, by
    # default), then raises KilledWorker: the batch is sent again item by item,
    # and the item alone in its batch that still kills its worker fails with
    # WorkerCrashed, while the others come back into their places. One doomed
    # item only: each costs four workers, and a local cluster whose workers die
    # faster than its nannies restart them can be left with none (the run then
    # waits for one: a limit of Dask's, said in scaling-out.md).
    # A saturation of 1 keeps each worker to the task it runs: Dask gives up on
    # the tasks queued on a worker that died too often, innocent or not.
    import dask
    from dask_loop.parallel import Failure, run_submit

    crashed = "WorkerCrashed: its worker died while running it (KilledWorker)"
    options = {"max_workers": 2, "progress": False, "keep_going": True}
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": 1.0}),
        dask_pool.open_executor(2, None) as executor,
    ):
        outcomes = run_submit(exit_on_one, range(4), pool=executor, **options)
    assert len(outcomes) == 4
    assert isinstance(outcomes[1], Failure) and outcomes[1].error == crashed
    for index in (0, 2, 3):  # each in its place: its result, unless Dask gave up
        fine = outcomes[index] == index
        assert fine or (outcomes[index].index, outcomes[index].error) == (
            index,
            crashed,
        )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_scheduler_is_reported(dask_project):
    address = f"tcp://127.0.0.1:{free_port()}"
    run = dask_project.start_cli(
        "--lines",
        os.devnull,
        "--pool",
        "dask",
        "--scheduler",
        address,
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode in (0, 1)  # nothing to do needs no cluster
    listing = ENGINE / "bodies.py"
    run = dask_project.start_cli(listing, "--pool", "dask", "--scheduler", address)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert f"cannot reach the Dask scheduler at {address}" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("pattern", ["map", "submit"])
def test_the_command_line_on_a_local_cluster(
    make_files, tmp_path, pattern, dask_project
):
    out = tmp_path / "results.jsonl"
    files = make_files("a", "bb", "fail", "dddd")
    run = dask_project.start_cli(
        *files,
        *("--pool", "dask", "--workers", "2", "--pattern", pattern),
        *("--keep-going", "--output", out, "--no-progress"),
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    records = {r["index"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [records[i].get("result") for i in range(4)] == [1, 2, None, 4]
    assert "dask pool, 2 worker(s)" in stderr and "1 failed" in stderr
    assert "INFO" not in stderr and "distributed" not in stderr  # the default: WARNING


def test_the_log_level_holds_for_dask_too(make_files, dask_project):
    files = make_files("a", "bb")
    args = ("--pool", "dask", "--workers", "1", "--no-progress")
    for level in ("ERROR", "INFO"):
        run = dask_project.start_cli(*files, *args, "--log-level", level)
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        shown = [line for line in stderr.splitlines() if ": distributed." in line]
        assert bool(shown) == (level == "INFO"), stderr


def test_a_timed_out_item_is_tried_again_on_dask(tmp_path, dask_project):
    listing = tmp_path / "items.txt"
    listing.write_text(f"a\nonce hang {tmp_path}\nbb\n")
    args = ("--lines", listing, "--timeout", "2", "--retries", "2", "--no-progress")
    run = dask_project.start_cli(*args, "--pool", "dask", "--workers", "2")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    records = {r["index"]: r for r in map(json.loads, stdout.splitlines())}
    # A cluster cannot stop a task: its worker stays busy with the first attempt,
    # and a timeout counts from sending, so the second may wait behind it and time
    # out too. The third then runs elsewhere.
    assert records[1]["result"] == "again" and records[1]["attempts"] in (2, 3)
    assert [records[i]["result"] for i in (0, 2)] == [1, 2]
    wait_for(lambda: processes_in_session(run.pid) == [], what="the cluster to stop")


def test_ctrl_c_stops_the_local_cluster(make_files, tmp_path, dask_project):
    out = tmp_path / "results.jsonl"
    files = make_files(*["sleep 0.5"] * 20)
    run = dask_project.start_cli(
        *files, "--pool", "dask", "--workers", "2", "--output", out
    )
    wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2)
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    finished = out.read_text().count("\n")
    assert f"interrupted: {finished} of 20 items finished" in stderr
    assert "Traceback" not in stderr
    wait_for(lambda: processes_in_session(run.pid) == [], what="the cluster to stop")

    # --resume runs the rest, on Dask too, with the same bar.
    args = ("--pool", "dask", "--workers", "2", "--output", out, "--resume")
    run = dask_project.start_cli(*files, *args, env={"TQDM_DISABLE": None})
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert f"running {20 - finished} items" in stderr
    assert f"{20 - finished}/{20 - finished} [" in stderr  # the bar, as it ends
    indexes = [json.loads(line)["index"] for line in out.read_text().splitlines()]
    assert sorted(indexes) == list(range(20))  # each item once


CTRL_C_IN_A_DEL = """
import os, signal, threading, time
import distributed
from dask_loop import dask_pool
from dask_loop.parallel import run_map

original, deleted = distributed.Future.__del__, []


def ctrl_c_as_it_is_let_go(future):
    if threading.current_thread() is threading.main_thread():
        deleted.append(future.key)
        if len(deleted) == 2:  # the Ctrl-C comes while a __del__ runs here
            os.kill(os.getpid(), signal.SIGINT)
    original(future)


distributed.Future.__del__ = ctrl_c_as_it_is_let_go
try:
    with dask_pool.open_executor(2, None) as executor:
        run_map(time.sleep, [0.2] * 20, pool=executor, max_workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted after", len(deleted), flush=True)
    os._exit(130)
print("not interrupted:", len(deleted), flush=True)
"""


def test_a_ctrl_c_that_comes_in_a_dask_futures_del_is_not_lost(dask_project):
    # Python drops a KeyboardInterrupt raised inside a __del__ method (it prints
    # "Exception ignored"), and Dask's futures have one.
    env = {**os.environ, "PYTHONPATH": str(dask_project)}
    run = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_A_DEL],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 130, run.stdout + run.stderr
    assert "interrupted after 2" in run.stdout
    assert "Exception ignored" not in run.stderr


@contextmanager
def separate_cluster(project, importable: bool):
    """A scheduler and 2 workers started apart, as `dask scheduler` and `dask worker`
    would be; importable says whether they can import the project."""
    address = f"tcp://127.0.0.1:{free_port()}"
    host, port = address[len("tcp://") :].split(":")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if importable:
        env["PYTHONPATH"] = os.pathsep.join([str(project), str(ENGINE)])
    commands = [
        ["distributed.cli.dask_scheduler", "--host", host, "--port", port],
        ["distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", *command, "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ENGINE.anchor,
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


def test_the_command_line_against_a_separate_scheduler(
    make_files, tmp_path, dask_project
):
    with separate_cluster(dask_project, importable=True) as address:
        out = tmp_path / "results.jsonl"
        run = dask_project.start_cli(
            *make_files("a", "bb", "ccc"),
            *(
                "--pool",
                "dask",
                "--scheduler",
                address,
                "--output",
                out,
                "--no-progress",
            ),
        )
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert f"(all the cluster's cores, at {address})" in stderr
        results = {
            json.loads(line)["index"]: json.loads(line)["result"]
            for line in out.read_text().splitlines()
        }
        assert results == {0: 1, 1: 2, 2: 3}
        # Dask's own environment variable names the cluster just as well.
        run = dask_project.start_cli(
            *make_files("dddd"),
            *("--pool", "dask", "--no-progress"),
            env={"DASK_SCHEDULER_ADDRESS": address},
        )
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert json.loads(stdout)["result"] == 4


def test_a_cluster_that_cannot_import_the_project_says_so(make_files, dask_project):
    with separate_cluster(dask_project, importable=False) as address:
        run = dask_project.start_cli(
            *make_files("a"),
            *("--pool", "dask", "--scheduler", address, "--no-progress"),
        )
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert "install it there too (pip install .)" in stderr


def lines_file(tmp_path, *texts):
    listing = tmp_path / "items.txt"
    listing.write_text("\n".join(texts) + "\n")
    return listing


def test_long_runs_on_a_local_cluster(tmp_path, dask_project):
    # A hung item times out and the run goes on; a flaky one is tried again and
    # succeeds; setup() runs in the workers.
    folder, marks = tmp_path / "flaky", tmp_path / "setup"
    folder.mkdir()
    marks.mkdir()
    listing = lines_file(tmp_path, f"flaky {folder}", "hang", *["bb"] * 12)
    run = dask_project.start_cli(
        *("--lines", listing, "--pool", "dask", "--workers", "2", "--no-progress"),
        *("--timeout", "3", "--retries", "2", "--keep-going"),
        env={"PFOR_SETUP_DIR": str(marks)},
    )
    stdout, stderr = run.communicate(timeout=180)
    assert run.returncode == 1, stderr  # the hung item failed
    records = {r["index"]: r for r in map(json.loads, stdout.splitlines())}
    assert sorted(records) == list(range(14)), records
    assert records[1]["error"] == "ItemTimeout: timed out after 3 s"
    assert records[0].get("attempts") == 3, records[0]
    # A Dask worker cannot stop its hung thread, and the timeout counts from when
    # an item was sent: one queued behind the hung item may time out too.
    for index in range(2, 14):
        assert records[index].get("result") == 2 or records[index]["error"] == (
            "ItemTimeout: timed out after 3 s"
        ), records[index]
    assert 1 <= len(list(marks.iterdir())) <= 3  # per worker thread, not per item
    wait_for(lambda: processes_in_session(run.pid) == [], what="the cluster to stop")


def test_each_thread_of_a_dask_worker_has_its_own_connection(
    dask_project, tmp_path, monkeypatch
):
    # One worker process with two threads: a connection kept in a module variable
    # would be shared by both (sqlite3 refuses that). Each run's connections are
    # closed in their own threads as the next run sets up.
    import bodies
    from dask.distributed import Client
    from dask_loop.parallel import run_map
    from test_worker_resources import marks, rows, run_with_database

    monkeypatch.setenv("PFOR_PACKAGE", "dask_loop")  # for record_in_database
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with Client(n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        executor = client.get_executor()
        options = {"pool": executor, "max_workers": 2, "count": 100}
        path_1, workers = run_with_database(run_map, first, meet=True, **options)
        assert len(rows(path_1)) == 100
        assert marks(path_1, "setup") == workers and len(workers) == 2, workers
        assert len({worker.split("-")[0] for worker in workers}) == 1  # one process
        path_2, _ = run_with_database(run_map, second, **options)
        assert len(rows(path_2)) == 100
        assert marks(path_1, "closed") == marks(path_1, "setup")
    assert bodies  # imported here: the workers import it by name


def test_commands_run_on_a_dask_worker_can_be_interrupted(tmp_path, dask_project):
    listing = lines_file(tmp_path, "child sigign")
    run = dask_project.start_cli(
        "--lines", listing, "--pool", "dask", "--workers", "1", "--no-progress",
    )  # fmt: skip
    stdout, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, stderr
    for line in json.loads(stdout)["result"]:  # SigBlk, SigIgn
        assert not int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)), line


def test_a_rate_and_a_service_that_throttles_on_a_local_cluster(tmp_path, dask_project):
    """The calling thread paces what it sends to the cluster as it does on a pool
    of its own, and holds every start for a service's Retry-After."""
    from local_http import Service, serving

    service = Service(per_second=20, burst=5, retry_after=1)
    with serving(service.handler()) as port:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"http://127.0.0.1:{port}/{n}\n" for n in range(60)))
        run = dask_project.start_cli(
            "--lines", listing, "--pool", "dask", "--workers", "4", "--rate", "25",
            "--no-progress",
        )  # fmt: skip
        stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(r["index"] for r in records if "result" in r) == list(range(60))
    service.check_kept_to(items=60, extra=6)
    times = sorted(when for when, _ in service.arrivals)
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 27
    wait_for(lambda: processes_in_session(run.pid) == [], what="the cluster to stop")
