"""Windows, as far as Linux can show it: the command line with what Windows lacks
taken away (SIGALRM, SIGHUP, pthread_sigmask, fcntl; run_cli.py's $PFOR_LIKE_WINDOWS),
its workers forked so that they lack it too. Real Windows runs only in the generated
projects' workflow; its own start method, spawn, is tested on Linux beside forkserver.
"""

import json
import os
import signal
import sys

import pytest
from processes import wait_for
from rendering import TEMPLATE
from test_engine import lines_in, no_processes_left

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="POSIX signals and /proc"
)
LIKE_WINDOWS = {"PFOR_LIKE_WINDOWS": "1", "PFOR_START_METHOD": "fork"}


def test_without_sigalrm_a_late_item_ends_its_worker_and_the_run_goes_on(
    make_files, start_cli
):
    files = make_files("a", "sleep 60", *["bb"] * 6)
    run = start_cli(*files, "--timeout", "0.5", "--keep-going", "--workers", "1",
                    "--no-progress", env=LIKE_WINDOWS)  # fmt: skip
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(record["index"] for record in records) == list(range(8))
    late = [record for record in records if "error" in record]
    assert [record["index"] for record in late] == [1]
    assert late[0]["error"].startswith("ItemTimeout: timed out after 0.5 s")
    assert "Traceback" not in stderr, stderr
    no_processes_left(run.pid)


def test_without_sighup_and_signal_masks_ctrl_c_still_stops_everything(
    make_files, tmp_path, start_cli
):
    out = tmp_path / "results.jsonl"
    files = make_files(*["sleep 0.4"] * 40)
    run = start_cli(*files, "--workers", "2", "--output", out, env=LIKE_WINDOWS)
    wait_for(lambda: lines_in(out) >= 2)
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert f"interrupted: {lines_in(out)} of 40 items finished" in stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    no_processes_left(run.pid)


def test_without_fcntl_a_second_run_on_one_file_is_not_refused_as_the_docs_say(
    make_files, tmp_path, start_cli
):
    out = tmp_path / "results.jsonl"
    files = make_files(*["sleep 0.2"] * 30)
    first = start_cli(*files, "--workers", "2", "--output", out, env=LIKE_WINDOWS)
    wait_for(lambda: lines_in(out) >= 1)
    second = start_cli(*files, "--output", out, "--resume", env=LIKE_WINDOWS)
    stdout, stderr = second.communicate(timeout=120)
    assert "another run is writing" not in stderr  # Linux and macOS: refused, exit 2
    first.communicate(timeout=120)
    readme = TEMPLATE / "{{cookiecutter.project_slug}}" / "README.md"
    assert "not on Windows, which has no `fcntl` lock" in readme.read_text()
