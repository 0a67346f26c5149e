"""A process pool kept between runs of the library functions (WarmPool): reused
while it is whole, never after a failure, closed when idle."""

import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading

import bodies
import pytest
from conftest import TESTS, processes_in_group, wait_for


@pytest.fixture
def engine(project):
    from parallel_loop import _engine, parallel

    _engine.WarmPool.close()  # whatever an earlier test kept
    yield _engine, parallel
    _engine.WarmPool.close()


def run_pids(parallel, max_workers=2):
    items = ["pid"] * 20
    options = {"max_workers": max_workers, "progress": False}
    return set(parallel.run_map(bodies.process_item, items, **options))


def kept_processes(engine):
    kept = engine.WarmPool.kept
    assert kept is not None, "no pool was kept"
    return list(kept[1]._processes.values())


def test_the_next_run_reuses_the_worker_processes(engine):
    _engine, parallel = engine
    first = run_pids(parallel)
    executor = _engine.WarmPool.kept[1]
    second = run_pids(parallel)
    assert _engine.WarmPool.kept[1] is executor
    assert first & second, "the second run started new workers"
    assert second <= {process.pid for process in kept_processes(_engine)}


def test_a_run_with_other_settings_gets_a_new_pool(engine):
    _engine, parallel = engine
    first = run_pids(parallel)
    old = kept_processes(_engine)
    second = run_pids(parallel, max_workers=1)
    assert not first & second
    wait_for(lambda: not any(p.is_alive() for p in old), what="the old workers")


def test_a_failed_run_ends_its_workers_and_keeps_nothing(engine):
    _engine, parallel = engine
    run_pids(parallel)
    workers = kept_processes(_engine)
    with pytest.raises(parallel.ItemError):
        parallel.run_map(bodies.process_item, ["a", "fail"], max_workers=2)
    assert _engine.WarmPool.kept is None
    wait_for(lambda: not any(p.is_alive() for p in workers), what="the workers")


def test_a_kept_pool_ends_when_idle(engine, monkeypatch):
    _engine, parallel = engine
    monkeypatch.setattr(_engine.WarmPool, "IDLE_SECONDS", 0.2)
    run_pids(parallel)
    workers = kept_processes(_engine)
    wait_for(lambda: not any(p.is_alive() for p in workers), what="the workers")
    assert _engine.WarmPool.kept is None


def test_a_kept_pool_whose_worker_died_is_not_used(engine):
    _engine, parallel = engine
    run_pids(parallel)
    victim = kept_processes(_engine)[0]
    os.kill(victim.pid, signal.SIGKILL)  # as the out-of-memory killer would
    wait_for(lambda: not victim.is_alive(), what="the worker to die")
    assert victim.pid not in run_pids(parallel)


def test_a_kept_worker_stops_the_timeout_watch_of_an_earlier_run(engine):
    _engine, parallel = engine
    options = {"max_workers": 1, "progress": False}
    parallel.run_map(bodies.process_item, ["a"], timeout=30, **options)
    watching = parallel.run_map(bodies.process_item, ["watches"], **options)
    assert watching == [0]


def test_nothing_is_kept_with_fork_whose_workers_hold_old_memory(engine, monkeypatch):
    _engine, parallel = engine
    monkeypatch.setattr(_engine, "START_METHOD", "fork")
    options = {"max_workers": 2, "progress": False}
    monkeypatch.setattr(bodies, "DATA", "first")
    assert parallel.run_map(bodies.process_item, ["data"], **options) == ["first"]
    monkeypatch.setattr(bodies, "DATA", "second")  # a fork from now sees this
    assert parallel.run_map(bodies.process_item, ["data"], **options) == ["second"]
    assert _engine.WarmPool.kept is None


def test_a_loop_body_with_a_pool_of_its_own_ends(make_files, start_cli):
    # A worker keeps nothing: it ends without the clean-up that would end kept
    # workers of its own, and would wait for them forever.
    run = start_cli(*make_files("inner", "inner"), "--workers", "2", "--no-progress")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert [json.loads(line)["result"] for line in stdout.splitlines()] == [14, 14]


def test_ctrl_c_as_a_pool_is_kept_keeps_it_whole(engine, monkeypatch, caplog):
    _engine, parallel = engine
    real_start = threading.Timer.start

    def start_with_ctrl_c(timer):  # Ctrl-C lands in the middle of keeping
        os.kill(os.getpid(), signal.SIGINT)
        real_start(timer)

    monkeypatch.setattr(threading.Timer, "start", start_with_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_pids(parallel)
    monkeypatch.undo()
    # the kept pool still has its logs: records of its workers reach this process
    parallel.run_map(bodies.process_item, ["log"], max_workers=2, progress=False)
    wait_for(lambda: "a warning from the loop body" in caplog.text, what="the log")


def test_nothing_kept_is_used_when_idle_seconds_is_zero(engine, monkeypatch):
    _engine, parallel = engine
    monkeypatch.setattr(_engine.WarmPool, "IDLE_SECONDS", 0)
    first = run_pids(parallel)
    # ended before the call returned, not a moment later: a close running in
    # another thread could race the exit of the program
    assert [p for p in multiprocessing.active_children() if p.pid in first] == []
    assert _engine.WarmPool.kept is None
    assert not first & run_pids(parallel)


def test_a_dead_kept_worker_says_the_workers_were_kept(engine):
    _engine, parallel = engine
    run_pids(parallel)
    with pytest.raises(parallel.PoolError, match="kept from an earlier run"):
        parallel.run_map(bodies.process_item, ["exit"], max_workers=2, progress=False)


def test_a_child_of_os_fork_leaves_the_parents_pool_alone(start_script):
    run = start_script(
        "import logging, os, sys\n"
        "import bodies\n"
        "from parallel_loop.parallel import run_map\n"
        "if __name__ == '__main__':\n"
        "    run_map(bodies.process_item, ['a'], max_workers=2, progress=False)\n"
        "    child = os.fork()\n"
        "    if child == 0:\n"
        "        sys.exit(0)  # runs the exit hooks\n"
        "    os.waitpid(child, 0)\n"
        "    run_map(bodies.process_item, ['log'], max_workers=2, progress=False)\n",
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "a warning from the loop body" in stderr
    assert "Exception ignored" not in stderr


def test_a_timeout_watch_of_an_earlier_run_leaves_a_kept_worker_alone(start_script):
    # The watch of the first run used to read the next run's item with the first
    # run's start time, and take it for a stuck one.
    run = start_script(
        "import time\n"
        "import bodies\n"
        "from parallel_loop.parallel import run_map\n"
        "if __name__ == '__main__':\n"
        "    options = {'max_workers': 1, 'progress': False}\n"
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


def test_setup_runs_again_in_kept_workers_at_each_run(engine, tmp_path):
    _engine, parallel = engine
    setup = functools.partial(bodies.mark_setup, str(tmp_path))
    run = {"max_workers": 1, "progress": False, "setup": setup}
    first = parallel.run_map(bodies.process_item, ["pid"] * 4, **run)
    second = parallel.run_map(bodies.process_item, ["pid"] * 4, **run)
    assert set(first) == set(second)  # the same kept worker
    (worker,) = set(first)
    marks = [path.name for path in tmp_path.iterdir()]
    assert len([mark for mark in marks if mark.startswith(f"{worker}-")]) == 2


KEPT_THEN_EXIT = """
import os, sys
sys.path.insert(0, {tests!r})
import bodies
from parallel_loop.parallel import run_map
if __name__ == "__main__":
    run_map(bodies.process_item, ["pid"] * 8, max_workers=2, progress=False)
    print(os.getpgrp(), flush=True)  # then Python exits, with the pool kept
"""


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups")
def test_kept_workers_end_when_the_program_exits(project, tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(KEPT_THEN_EXIT.format(tests=str(TESTS)))
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
    wait_for(lambda: processes_in_group(group) == [], what="the kept workers to end")


@pytest.mark.parametrize("pattern", ["run_map", "run_submit"])
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_on_result_is_called_in_the_callers_thread(engine, pattern, pool):
    _engine, parallel = engine
    threads = set()
    body = bodies.process_item if pattern == "run_map" else bodies.indexed_square
    items = ["a"] * 6 if pattern == "run_map" else list(range(6))
    run = getattr(parallel, pattern)
    run(body, items, pool=pool, max_workers=2, progress=False,
        on_result=lambda index, result: threads.add(threading.get_ident()))  # fmt: skip
    assert threads == {threading.get_ident()}


def test_new_workers_see_the_environment_of_the_first_process_pool(engine, monkeypatch):
    """As threads-and-processes.md says: with a forkserver, workers are forked from
    a server started with the first process pool, and keep its environment."""
    _engine, parallel = engine
    parallel.run_map(bodies.process_item, ["a"], max_workers=1, progress=False)
    monkeypatch.setenv("PFOR_SET_LATER", "now")
    run = {"max_workers": 2, "progress": False}  # a new pool, not the kept one
    (on_thread,) = parallel.run_map(bodies.process_item, ["getenv PFOR_SET_LATER"],
                                    pool="thread", **run)  # fmt: skip
    (in_worker,) = parallel.run_map(
        bodies.process_item, ["getenv PFOR_SET_LATER"], **run
    )
    assert on_thread == "now"
    if _engine.process_context().get_start_method() == "forkserver":
        assert in_worker is None
    else:  # spawn (Windows): a new worker starts from the environment as it is
        assert in_worker == "now"
