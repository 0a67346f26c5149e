"""A run leaves nothing of its executor to the garbage collector. A multiprocessing
lock that only the collector frees is finalized wherever a collection happens to
run, and before CPython 3.13.7 that can be inside the resource tracker, which then
warns that the lock "might leak" (gh-131788): under pytest's filterwarnings =
error, a test that merely ran next fails. Each kind of run is counted here with
the collector off, on the Python running these tests."""

import json

SCRIPT = """
import gc, json
import multiprocessing.synchronize as synchronize
import bodies
from parallel_loop.parallel import run_map, run_submit

def locks_left_to_the_collector():
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    found = sum(isinstance(o, synchronize.SemLock) for o in gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    gc.collect()
    return found

def indexed(index, item):
    return bodies.process_item(item)

def run_holding_its_error(run, func, items, **options):
    # As pytest.raises does: this frame holds the error, whose traceback holds
    # this frame and those of the run; they become garbage together on return.
    try:
        run(func, items, pool="process", max_workers=1, progress=False, **options)
    except Exception as exc:
        error = exc

body, numbered = bodies.process_item, indexed
RUNS = {
    "went well": (run_map, body, ["a", "bb"], {}),
    "an item failed": (run_map, body, ["a", "fail", "bb"], {}),
    "an item failed, submit": (run_submit, numbered, ["a", "fail", "bb"], {}),
    "cannot pickle": (run_map, lambda item: item, ["a"], {}),
    "a worker crashed": (run_map, body, ["a", "exit", "bb"], {}),
    "crashed, keep going": (run_map, body, ["a", "exit", "bb"], {"keep_going": True}),
    "crashed, submit": (run_submit, numbered, ["a", "exit"], {"keep_going": True}),
    "stuck, replaced": (run_map, body, ["stuck", "a"], {"keep_going": True, "timeout": 0.5}),
    "workers recycled": (run_map, body, ["a"] * 6, {"max_items_per_worker": 2}),
}

if __name__ == "__main__":
    gc.disable()
    found = {}
    for name, (run, func, items, options) in RUNS.items():
        run_holding_its_error(run, func, items, **options)
        found[name] = locks_left_to_the_collector()
    print(json.dumps(found))
"""


def test_no_run_leaves_an_executors_locks_to_the_garbage_collector(start_script):
    run = start_script(SCRIPT)
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    found = json.loads(stdout)
    assert len(found) == 9
    assert found == dict.fromkeys(found, 0)
