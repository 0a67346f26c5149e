import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # fake_tasks must be importable in worker processes


@pytest.fixture(params=["process", "thread"])
def pool(request):
    return request.param


START_METHODS = [
    m
    for m in ("fork", "spawn", "forkserver")
    if m in multiprocessing.get_all_start_methods()
]


@pytest.fixture(params=START_METHODS)
def start_method(request):
    """Runs a test under each way of starting worker processes."""
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(request.param, force=True)
    yield request.param
    multiprocessing.set_start_method(previous, force=True)


@pytest.fixture
def make_files(tmp_path):
    """make_files("a", "fail", ...) -> paths of files with those contents."""

    def make(*contents):
        paths = []
        for number, content in enumerate(contents):
            path = tmp_path / f"item{number:04d}.txt"
            path.write_text(content)
            paths.append(path)
        return paths

    return make


@pytest.fixture
def start_cli():
    """start_cli(*args, env=changes) starts the command line, with the loop body of
    fake_tasks.py, in its own process group as a terminal would. env changes the
    environment; a value of None removes a variable. stderr may be a file."""

    def start(*args, env=None, stderr=subprocess.PIPE):
        path = os.pathsep.join([str(TESTS.parent), str(TESTS)])
        changed = {**os.environ, "PYTHONPATH": path, **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(TESTS / "run_cli.py"), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
            env={name: value for name, value in changed.items() if value is not None},
        )

    return start
