"""A process pool started at the top level of a script, outside its __main__ guard,
is refused in the main process before any worker starts, with the line and the
fix in run_map's terms; where workers do not import the script (fork), or the
call is guarded, it runs."""

import pytest

NO_GUARD = """
import bodies
from parallel_loop._engine import executors
from parallel_loop.parallel import run_map

executors.START_METHOD = {method!r}
print(run_map(bodies.square, range(4), max_workers=2, progress=False))
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_run_outside_the_guard_is_refused_before_a_worker_starts(
    start_script, method
):
    run = start_script(NO_GUARD.format(method=method))
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "PoolError: a process pool was started at the top level of" in stderr
    assert 'script.py (line 7), outside `if __name__ == "__main__":`' in stderr
    assert "worker processes died" not in stderr  # said before any worker starts
    assert " --" not in stderr.splitlines()[-1]  # run_map's terms, not options


def test_forked_workers_need_no_guard(start_script):
    run = start_script(NO_GUARD.format(method="fork"))
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert stdout == "[0, 1, 4, 9]\n"


def test_a_guarded_run_from_a_function_runs(start_script):
    code = NO_GUARD.format(method="forkserver").replace(
        "print(run_map(", "def main():\n    return run_map("
    )
    code = code.replace("progress=False))", "progress=False)")
    run = start_script(code + "\nif __name__ == '__main__':\n    print(main())\n")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert stdout == "[0, 1, 4, 9]\n"
