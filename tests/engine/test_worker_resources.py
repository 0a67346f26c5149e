"""setup() returns each worker's own resource, worker_resource() gives it to the
loop body, and teardown(resource) closes it in the worker that made it: sqlite3
connections (usable only in the thread that opened them) on the thread pool, the
process pool (each start method) and a Dask cluster."""

import functools
import json
import sqlite3
import textwrap
from pathlib import Path

import bodies
import pytest


def run_with_database(run_map, tmp_path, count=200, meet=False, **options):
    """run_map of record_in_database over `count` items, each worker with its own
    connection; returns (the database's path, the workers that ran items). With
    meet, the first two items wait until both run: two workers run items."""
    path = str(tmp_path / "shared.db")
    items = [f"item {n}" for n in range(count)]
    if meet:
        items[:2] = [f"meet {tmp_path / 'meet'}"] * 2
    results = run_map(
        bodies.record_in_database,
        items,
        setup=functools.partial(bodies.open_database, path),
        teardown=functools.partial(bodies.close_database, path),
        progress=False,
        **options,
    )
    return path, set(results)


def marks(path: str, what: str) -> set[str]:
    """The workers that left a mark (see bodies.open_database): 'setup', 'closed'."""
    prefix = f"{Path(path).name}-{what}-"
    found = Path(path).parent.glob(prefix + "*")
    return {mark.name.removeprefix(prefix) for mark in found}


def rows(path: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute("select item, worker from done").fetchall()


@pytest.mark.parametrize(
    "pool, method",
    [("thread", None), ("process", "forkserver"), ("process", "spawn")],
)
def test_each_worker_has_its_own_connection_closed_where_it_was_made(
    project, tmp_path, monkeypatch, pool, method
):
    from parallel_loop._engine import executors
    from parallel_loop.parallel import run_map, run_submit

    monkeypatch.setattr(executors, "START_METHOD", method)
    options = {"pool": pool, "max_workers": 2, "meet": True}
    path, workers = run_with_database(run_map, tmp_path, **options)
    assert len(workers) == 2
    assert len(rows(path)) == 200  # no ProgrammingError: no connection shared
    items = sorted(item for item, _ in rows(path) if not item.startswith("meet"))
    assert items == sorted(f"item {n}" for n in range(2, 200))
    assert marks(path, "setup") == workers  # once in each worker that ran items
    assert marks(path, "closed") >= workers  # each closed in its own worker

    second = tmp_path / "second"
    second.mkdir()
    path = str(second / "shared.db")
    run_submit(
        bodies.record_numbered_in_database,
        range(50),
        pool=pool,
        max_workers=2,
        progress=False,
        setup=functools.partial(bodies.open_database, path),
        teardown=functools.partial(bodies.close_database, path),
    )
    assert len(rows(path)) == 50
    assert marks(path, "closed") == marks(path, "setup") != set()


def test_a_thread_pool_of_many_threads_closes_each_connection(project, tmp_path):
    from parallel_loop.parallel import run_map

    path, workers = run_with_database(
        run_map, tmp_path, count=40, pool="thread", max_workers=8
    )
    assert len(rows(path)) == 40
    assert marks(path, "closed") == marks(path, "setup")
    assert marks(path, "setup") >= workers


def test_shared_workers_close_a_runs_connection_as_the_next_run_sets_up(
    project, tmp_path
):
    from parallel_loop.parallel import reusable_pool, run_map

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with reusable_pool("thread", max_workers=2) as workers:
        path_1, _ = run_with_database(run_map, first, count=20, pool=workers)
        assert marks(path_1, "closed") == set()  # the workers run on
        path_2, _ = run_with_database(run_map, second, count=20, pool=workers)
        assert marks(path_1, "closed") == marks(path_1, "setup")
    assert marks(path_2, "closed") == marks(path_2, "setup")  # as the pool ended


def test_the_serial_loop_sets_up_and_tears_down_too(project, tmp_path):
    from parallel_loop.parallel import run_serial

    path, workers = run_with_database(run_serial, tmp_path, count=5)
    assert len(rows(path)) == 5 and len(workers) == 1
    assert marks(path, "closed") == workers


def test_worker_resource_without_setup_says_what_to_do(project):
    from parallel_loop.parallel import Failure, run_map

    (failure,) = run_map(
        bodies.record_in_database, ["x"], pool="thread", keep_going=True, progress=False
    )
    assert isinstance(failure, Failure)
    assert "no setup() ran here: pass setup= to run_map" in failure.error


def test_a_teardown_that_fails_is_reported_and_exits_1(tmp_path, start_cli):
    listing = tmp_path / "items.txt"
    listing.write_text("a\nbb\n")
    for pool in ("thread", "process"):
        run = start_cli(
            "--lines", listing, "--pool", pool, "--no-progress",
            env={"PFOR_TEARDOWN_FAIL": "1"},
        )  # fmt: skip
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 1, stderr
        results = [json.loads(line)["result"] for line in stdout.splitlines()]
        assert sorted(results) == [1, 2]
        assert "teardown() failed in a worker" in stderr
        assert "OSError: cannot close the connection" in stderr
        assert "teardown() failed in 1 worker(s)" in stderr or (
            "teardown() failed in 2 worker(s)" in stderr
        )


def test_the_generated_tasks_show_the_shape(project):
    tasks = (project.package / "tasks.py").read_text()
    assert "def teardown(resource):" in tasks
    assert "worker_resource()" in tasks
    code = textwrap.dedent(
        """
        from parallel_loop import tasks
        from parallel_loop.parallel import run_map
        print(run_map(tasks.process_item, ["a"], pool="thread", progress=False,
                      setup=tasks.setup, teardown=tasks.teardown)[0]["bytes"])
        """
    )
    ran = project.run("-c", code)
    assert ran.stdout.strip() == "50000", ran.stderr


def test_a_setup_that_fails_in_the_serial_loop_says_so(tmp_path, start_cli):
    listing = tmp_path / "items.txt"
    listing.write_text("a\n")
    run = start_cli("--lines", listing, "--serial", env={"PFOR_SETUP_FAIL": "1"})
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1 and stdout == "", stderr
    assert "setup() failed in a worker: RuntimeError: no database here" in stderr
    assert "cannot write the results" not in stderr


def test_threads_not_held_by_a_late_item_still_close_their_connections(
    project, tmp_path
):
    from parallel_loop.parallel import Failure, run_map

    path, release = str(tmp_path / "shared.db"), tmp_path / "release"
    items = [f"until {release}"] + [f"meet {tmp_path / 'meet'}"] * 2 + ["a"] * 20
    try:
        results = run_map(
            bodies.process_item, items, pool="thread", max_workers=4, timeout=1,
            keep_going=True, progress=False,
            setup=functools.partial(bodies.open_database, path),
            teardown=functools.partial(bodies.close_database, path),
        )  # fmt: skip
        assert isinstance(results[0], Failure)  # its thread waits on
        assert len(marks(path, "setup")) >= 3
        assert len(marks(path, "closed")) == len(marks(path, "setup")) - 1
    finally:
        release.touch()  # lets that thread go
