"""What a loop body starts (a command, a shell pipeline, a grandchild) ends with
its worker process, however the run ends: Ctrl-C, SIGTERM, kill -9 of the main
process, a timeout, a dead worker, or a normal end that left them running.
Counted by session: each worker process leads a process group of its own."""

import json
import os
import signal
import sys
from pathlib import Path

import bodies
import pytest
from processes import processes_in_session, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups, /proc"
)


def tree_pids(folder: Path) -> list[int]:
    """The pids start_a_tree noted, once one has."""
    wait_for(lambda: list(folder.glob("pids-*")), what="the commands to start")
    pids = []
    for note in folder.glob("pids-*"):
        pids += [int(pid) for pid in note.read_text().split()]
    return pids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_tree_run(start_cli, tmp_path, *texts, options=()):
    folder = tmp_path / "tree"
    folder.mkdir()
    listing = tmp_path / "items.txt"
    listing.write_text("".join(f"{text.format(folder=folder)}\n" for text in texts))
    out = tmp_path / "out.jsonl"
    run = start_cli(
        "--lines", listing, "--workers", "2", "--output", out, "--no-progress",
        *options,
    )  # fmt: skip
    return run, folder, out


@pytest.mark.parametrize(
    "ending, code",
    [
        ("ctrl-c", 130),
        ("sigterm", 128 + signal.SIGTERM),
        ("sighup", 128 + signal.SIGHUP),
        ("kill -9", None),
    ],
)
def test_nothing_the_loop_body_started_outlives_the_run(
    start_cli, tmp_path, ending, code
):
    run, folder, _ = start_tree_run(start_cli, tmp_path, "tree {folder}", "hang")
    pids = tree_pids(folder)
    assert all(alive(pid) for pid in pids)
    if ending == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)  # the terminal's Ctrl-C: its group
    elif ending in ("sigterm", "sighup"):
        os.kill(run.pid, signal.SIGTERM if ending == "sigterm" else signal.SIGHUP)
    else:
        os.kill(run.pid, signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=60)
    if code is not None:
        assert run.returncode == code, stderr
        assert "Traceback" not in stderr
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")
    assert not any(alive(pid) for pid in pids)


def test_a_worker_that_dies_takes_what_it_started(start_cli, tmp_path):
    run, folder, out = start_tree_run(start_cli, tmp_path, "tree {folder} exit", "a")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1 and "WorkerCrashed" in stderr, stderr
    pids = tree_pids(folder)
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")
    assert not any(alive(pid) for pid in pids)


def test_a_worker_ended_for_a_stuck_item_takes_what_it_started(start_cli, tmp_path):
    run, folder, out = start_tree_run(
        start_cli, tmp_path, "tree {folder} stuck", options=["--timeout", "1"]
    )
    pids = tree_pids(folder)
    wait_for(lambda: not any(alive(pid) for pid in pids), what="them to end")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert "its worker process was replaced" in out.read_text()


def test_commands_a_loop_body_left_running_end_with_the_run(start_cli, tmp_path):
    run, folder, out = start_tree_run(start_cli, tmp_path, "tree {folder} return")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    (record,) = map(json.loads, out.read_text().splitlines())
    assert len(record["result"]) == 4
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")


def test_a_timed_out_item_ends_what_it_started_and_its_worker_goes_on(
    project, tmp_path
):
    from parallel_loop._engine import worker_calls
    from parallel_loop.parallel import Failure, reusable_pool, run_map

    folder = tmp_path / "tree"
    folder.mkdir()
    with reusable_pool(max_workers=1) as workers:
        (failure,) = run_map(
            bodies.process_item, [f"tree {folder}"], pool=workers, timeout=2,
            keep_going=True, progress=False,
        )  # fmt: skip
        assert isinstance(failure, Failure) and "timed out" in failure.error
        pids = tree_pids(folder)
        wait_for(lambda: not any(alive(pid) for pid in pids), what="them to end")
        # The same worker runs the next item: it did not end itself.
        (again,) = run_map(bodies.process_item, ["pid"], pool=workers, progress=False)
        assert f"pids-{again}" in [note.name for note in folder.glob("pids-*")]
    assert worker_calls  # imported: the package the workers run


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_commands_run_by_the_loop_body_can_be_interrupted(start_cli, tmp_path, pool):
    # SIG_IGN and a blocked signal are inherited across exec: a worker that
    # ignored or blocked SIGINT would start every command with Ctrl-C lost.
    listing = tmp_path / "items.txt"
    listing.write_text("child sigign\n")
    run = start_cli("--lines", listing, "--pool", pool, "--no-progress")
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    lines = json.loads(stdout)["result"]
    assert [line.split(":")[0] for line in lines] == ["SigBlk", "SigIgn"]
    for line in lines:  # SIGINT neither blocked nor ignored
        assert not int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)), line


def test_ctrl_c_reaches_the_commands_of_the_thread_pool(start_cli, tmp_path):
    # There they are the main process's own children, in its process group: the
    # terminal's Ctrl-C reaches them, unless they start with SIGINT blocked.
    listing = tmp_path / "items.txt"
    listing.write_text("shell sleep 1000 | cat\nshell sleep 1000\n")
    run = start_cli("--lines", listing, "--pool", "thread", "--workers", "2")
    commands = 4  # two shells, sleep | cat, sleep
    wait_for(lambda: len(processes_in_session(run.pid)) > commands, what="commands")
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")


def test_a_recycled_worker_takes_what_it_started(project, tmp_path):
    # The commands a loop body left running end as its worker is replaced, not
    # only when the run ends: end_worker_groups forgets a replaced pool's groups.
    from parallel_loop.parallel import run_map

    folder = tmp_path / "tree"
    folder.mkdir()
    items = [f"tree {folder} return"] + ["a"] * 4
    results = run_map(
        bodies.process_item, items, max_workers=1, progress=False,
        max_items_per_worker=1,
    )  # fmt: skip
    assert results[1:] == [1] * 4
    pids = results[0]
    wait_for(lambda: not any(alive(pid) for pid in pids), what="them to end")
