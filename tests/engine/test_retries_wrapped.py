"""Retries recognise what an error wraps: the README's own urlopen loop body,
pasted into tasks.py, retries a refused connection (urllib raises URLError, an
OSError whose `reason` is the ConnectionRefusedError) and a dropped one."""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading

import pytest
from local_http import QuietHandler, serving

RUN = """
import sys
import pasted_tasks
from parallel_loop import cli
cli.run(sys.argv[1:], tasks=pasted_tasks)
"""


@pytest.fixture
def pasted(project, tmp_path):
    """A tasks.py whose loop body is the README's URL example, pasted in."""
    readme = (project / "README.md").read_text()
    block = re.search(
        r"For a list of URLs, the loop body could be:\n\n```python\n(.*?)```",
        readme,
        re.S,
    )
    tasks = (project.package / "tasks.py").read_text()
    (tmp_path / "pasted_tasks.py").write_text(tasks + "\n\n" + block[1])
    return tmp_path


def run_urls(project, folder, urls, *options):
    (folder / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    path = os.pathsep.join([str(folder), str(project)])
    done = subprocess.run(
        [sys.executable, "-c", RUN, "--lines", "urls.txt", "--no-progress", *options],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, [json.loads(line) for line in done.stdout.splitlines()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_refused_connection_is_retried(project, pasted, pool):
    url = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    options = ["--pool", pool, "--retries", "2", "--keep-going"]
    done, (record,) = run_urls(project, pasted, [url], *options)
    assert done.returncode == 1, done.stderr
    assert record["error"].startswith("URLError: <urlopen error [Errno 111]")
    assert record["attempts"] == 3  # the first try and both retries


class DropsEachFirstTry(QuietHandler):
    """Resets the connection the first time each path is asked for."""

    seen: set[str] = set()
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            first = self.path not in self.seen
            self.seen.add(self.path)
        if first:  # SO_LINGER 0: close with a reset, not a goodbye
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.close_connection = True
            return
        self.answer(b"fine")


def test_a_dropped_connection_is_retried_and_the_item_succeeds(project, pasted):
    with serving(DropsEachFirstTry) as port:
        urls = [f"http://127.0.0.1:{port}/item/{n}" for n in range(6)]
        options = ["--pool", "thread", "--workers", "3", "--retries", "2"]
        done, records = run_urls(project, pasted, urls, *options)
    assert done.returncode == 0, done.stderr
    assert sorted(r["index"] for r in records) == list(range(6))
    for record in records:
        assert record["result"] == {"status": 200, "bytes": 4}, record
        assert record["attempts"] == 2, record


def test_what_an_error_wraps_is_looked_at_a_few_levels_deep(project):
    from parallel_loop._engine.worker_calls import wraps_one_of

    def chained(*errors):
        """The last error, raised from each one before it."""
        cause = None
        for error in errors:
            error.__cause__ = cause
            cause = error
        return cause

    kinds = (ConnectionError,)
    assert wraps_one_of(chained(ConnectionResetError(), RuntimeError()), kinds)
    deep = [ConnectionResetError(), *(RuntimeError(n) for n in range(4))]
    assert wraps_one_of(chained(*deep), kinds)
    assert not wraps_one_of(chained(*deep, RuntimeError("one too many")), kinds)
    assert not wraps_one_of(chained(KeyError(), ValueError()), kinds)
    try:  # `raise ... from None` hides what it was raised in: not retried
        try:
            raise ConnectionResetError
        except ConnectionError:
            raise ValueError("no such user") from None
    except ValueError as hidden:
        assert not wraps_one_of(hidden, kinds)
    looped = ValueError("a")
    looped.__context__ = RuntimeError("b")
    looped.__context__.__context__ = looped  # a cycle ends
    assert not wraps_one_of(looped, kinds)
