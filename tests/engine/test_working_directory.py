"""Nothing is left in the working directory: a run writes only the files it is
told to write (--output, --timeline). A timed run on processes once left its
workers' running files in a folder `slots/` there, and a run of the benchmark
from the repository's root committed eight of them."""

import os
import subprocess
import sys
import textwrap

from rendering import ENGINE

LIBRARY_RUNS = textwrap.dedent(
    """
    from concurrent.futures import Executor, Future

    import bodies
    from parallel_loop import parallel
    from parallel_loop._engine import executors


    class InThisThread(Executor):
        # An executor of yours that runs each call in the calling thread: the
        # main thread of this process, where a worker process's timeout watch
        # would start too.
        def submit(self, fn, /, *args, **kwargs):
            future = Future()
            future.set_result(fn(*args, **kwargs))
            return future


    if __name__ == "__main__":
        quiet = {"max_workers": 2, "progress": False}
        for method in ("forkserver", "spawn", "fork"):
            executors.START_METHOD = method
            parallel.run_map(bodies.process_item, ["a"] * 6, timeout=30, **quiet)
        executors.START_METHOD = None
        late = ["sleep 30", "regex", "a"]  # one interrupted, one ended from here
        parallel.run_map(bodies.process_item, late, timeout=0.5, keep_going=True,
                         **quiet)
        parallel.run_map(bodies.process_item, ["sleep 30", "a"], pool="thread",
                         timeout=0.5, keep_going=True, **quiet)
        with parallel.reusable_pool(max_workers=2) as workers:
            for run in (parallel.run_map, parallel.run_submit):
                body = bodies.process_item if run is parallel.run_map else (
                    bodies.process_numbered_item)
                run(body, ["a"] * 6, pool=workers, timeout=30, **quiet)
        parallel.run_map(bodies.square, [1, 2], pool=InThisThread(), timeout=30,
                         **quiet)
        parallel.run_map(bodies.process_item, ["a"] * 12, max_items_per_worker=3,
                         max_worker_memory_mb=10_000, **quiet)
        parallel.run_map(bodies.process_item, ["a"] * 4, setup=bodies.setup,
                         teardown=bodies.teardown, **quiet)
        print("done")
    """
)


def environment(project) -> dict:
    path = os.pathsep.join([str(project), str(ENGINE)])
    return {**os.environ, "PYTHONPATH": path, "PFOR_PACKAGE": project.name}


def listing(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_library_runs_leave_nothing_in_the_working_directory(project, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    (tmp_path / "runs.py").write_text(LIBRARY_RUNS)
    run = subprocess.run(
        [sys.executable, str(tmp_path / "runs.py")],
        cwd=here,
        env=environment(project),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "done"
    assert listing(here) == set()


def test_command_line_runs_write_only_what_they_are_told(project, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    (here / "items.txt").write_text("a\nbb\nsleep 30\nccc\n")
    (here / "quick.txt").write_text("a\nbb\n")
    timed = ["--lines", "items.txt", "--timeout", "0.5", "--keep-going"]
    runs = [
        [*timed, "--output", "out.jsonl", "--no-progress"],
        [*timed, "--output", "out.jsonl", "--resume", "--no-progress"],
        [*timed, "--pool", "thread", "--no-progress"],
        [*timed, "--max-items-per-worker", "1", "--timeline", "when.png"],
        ["bench", "--lines", "quick.txt", "--sample", "2", "--repeats", "1"],
    ]
    for options in runs:
        run = subprocess.run(
            [sys.executable, str(ENGINE / "run_cli.py"), *options],
            cwd=here,
            env=environment(project),
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert run.returncode in (0, 1), run.stderr  # 1: the item that timed out
        assert "done:" in run.stderr or options[0] == "bench", run.stderr
    assert listing(here) == {"items.txt", "quick.txt", "out.jsonl", "when.png"}
