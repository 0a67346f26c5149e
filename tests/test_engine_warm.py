"""A process pool kept between runs of the library functions (WarmPool): reused
while it is whole, never after a failure, closed when idle."""

import os
import signal

import bodies
import pytest
from conftest import wait_for


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
