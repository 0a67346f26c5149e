"""Workers and runs: each run starts its own workers and ends them, so it runs the
code as it is now; runs that pass one reusable_pool() share its workers."""

import functools
import importlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading

import bodies
import pytest
from processes import processes_in_session, wait_for
from rendering import ENGINE


@pytest.fixture
def parallel(project):
    from parallel_loop import parallel

    return parallel


def run_pids(parallel, **options):
    options = {"max_workers": 2, "progress": False, **options}
    return set(parallel.run_map(bodies.process_item, ["pid"] * 20, **options))


def test_each_run_starts_its_own_workers_and_ends_them(parallel):
    before = set(multiprocessing.active_children())
    first = run_pids(parallel)
    # ended before the call returned: nothing of the run is left to race the exit
    assert [p for p in multiprocessing.active_children() if p not in before] == []
    assert not first & run_pids(parallel)


def test_runs_in_a_reusable_pool_share_its_workers(parallel):
    with parallel.reusable_pool(max_workers=2) as workers:
        first = run_pids(parallel, pool=workers)
        second = run_pids(parallel, pool=workers)
        processes = {process.pid for process in workers._processes.values()}
    assert first & second and second <= processes
    wait_for(lambda: not any(map(alive, processes)), what="the shared workers to end")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_reloaded_loop_body_runs_in_the_next_run(parallel, tmp_path, monkeypatch):
    module = tmp_path / "edited_body.py"
    module.write_text("def body(x):\n    return 'old'\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # workers inherit sys.path
    edited_body = importlib.import_module("edited_body")
    options = {"max_workers": 2, "progress": False}
    assert parallel.run_map(edited_body.body, [1, 2], **options) == ["old", "old"]
    module.write_text("def body(x):\n    return 'new'\n")
    edited_body = importlib.reload(edited_body)
    assert parallel.run_map(edited_body.body, [1, 2], **options) == ["new", "new"]
    sys.modules.pop("edited_body")


def test_a_reusable_pool_whose_worker_died_says_so(parallel):
    with parallel.reusable_pool(max_workers=2) as workers:
        run_pids(parallel, pool=workers)
        with pytest.raises(parallel.PoolError, match="a worker process of your"):
            parallel.run_map(
                bodies.process_item, ["exit"], pool=workers, progress=False
            )
        with pytest.raises(parallel.PoolError):  # broken for the runs after it too
            run_pids(parallel, pool=workers)


def test_a_reused_worker_stops_the_timeout_watch_of_an_earlier_run(parallel):
    with parallel.reusable_pool(max_workers=1) as workers:
        options = {"pool": workers, "progress": False}
        parallel.run_map(bodies.process_item, ["a"], timeout=30, **options)
        watching = parallel.run_map(bodies.process_item, ["watches"], **options)
    assert watching == [0]


def test_a_loop_body_with_a_pool_of_its_own_ends(make_files, start_cli):
    # A worker keeps nothing: it ends without the clean-up that would end kept
    # workers of its own, and would wait for them forever.
    run = start_cli(*make_files("inner", "inner"), "--workers", "2", "--no-progress")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert [json.loads(line)["result"] for line in stdout.splitlines()] == [14, 14]


def test_a_timeout_watch_of_an_earlier_run_leaves_a_reused_worker_alone(start_script):
    # The watch of the first run used to read the next run's item with the first
    # run's start time, and take it for a stuck one.
    run = start_script(
        "import time\n"
        "import bodies\n"
        "from parallel_loop.parallel import reusable_pool, run_map\n"
        "if __name__ == '__main__':\n"
        "  with reusable_pool(max_workers=1) as workers:\n"
        "    options = {'pool': workers, 'progress': False}\n"
        "    late = run_map(bodies.process_item, ['sleep 1'], timeout=0.2,\n"
        "                   keep_going=True, **options)\n"
        "    assert 'ItemTimeout' in late[0].error, late\n"
        "    time.sleep(2.5)  # longer than a stuck item's grace: 2 s\n"
        "    print(run_map(bodies.process_item, ['sleep 0.5'], **options))\n",
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert stdout == "[9]\n"
    assert "Exception in thread" not in stderr, stderr


def test_setup_runs_again_in_shared_workers_at_each_run(parallel, tmp_path):
    setup = functools.partial(bodies.mark_setup, str(tmp_path))
    with parallel.reusable_pool(max_workers=1) as workers:
        run = {"pool": workers, "progress": False, "setup": setup}
        first = parallel.run_map(bodies.process_item, ["pid"] * 4, **run)
        second = parallel.run_map(bodies.process_item, ["pid"] * 4, **run)
    assert set(first) == set(second)  # the same shared worker
    (worker,) = set(first)
    marks = [path.name for path in tmp_path.iterdir()]
    assert len([mark for mark in marks if mark.startswith(f"{worker}-")]) == 2


RUN_THEN_EXIT = """
import os, sys
sys.path.insert(0, {tests!r})
import bodies
from parallel_loop.parallel import run_map
if __name__ == "__main__":
    run_map(bodies.process_item, ["pid"] * 8, max_workers=2, progress=False)
    print(os.getpgrp(), flush=True)  # then Python exits
"""


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups")
def test_nothing_is_left_when_the_program_exits(project, tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(RUN_THEN_EXIT.format(tests=str(ENGINE)))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=project,  # parallel_loop is found here
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # its own group: what it leaves can be counted
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    group = int(done.stdout)
    wait_for(
        lambda: processes_in_session(group) == [],
        what="the forkserver and the workers to end",
    )


@pytest.mark.parametrize("pattern", ["run_map", "run_submit"])
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_on_result_is_called_in_the_callers_thread(parallel, pattern, pool):
    threads = set()
    body = bodies.process_item if pattern == "run_map" else bodies.indexed_square
    items = ["a"] * 6 if pattern == "run_map" else list(range(6))
    run = getattr(parallel, pattern)
    run(body, items, pool=pool, max_workers=2, progress=False,
        on_result=lambda index, result: threads.add(threading.get_ident()))  # fmt: skip
    assert threads == {threading.get_ident()}


def test_new_workers_see_the_environment_of_the_first_process_pool(
    parallel, monkeypatch
):
    """As threads-and-processes.md says: with a forkserver, workers are forked from
    a server started with the first process pool, and keep its environment."""
    from parallel_loop._engine import executors

    parallel.run_map(bodies.process_item, ["a"], max_workers=1, progress=False)
    monkeypatch.setenv("PFOR_SET_LATER", "now")
    run = {"max_workers": 2, "progress": False}  # a new pool
    (on_thread,) = parallel.run_map(bodies.process_item, ["getenv PFOR_SET_LATER"],
                                    pool="thread", **run)  # fmt: skip
    (in_worker,) = parallel.run_map(
        bodies.process_item, ["getenv PFOR_SET_LATER"], **run
    )
    assert on_thread == "now"
    if executors.process_context().get_start_method() == "forkserver":
        assert in_worker is None
    else:  # spawn (Windows): a new worker starts from the environment as it is
        assert in_worker == "now"
