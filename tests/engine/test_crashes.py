"""A crashing item is that item's failure: a worker process that dies under an item
(os._exit, a segfault in a C extension, a SIGKILL such as the out-of-memory killer
sends) fails that item with WorkerCrashed, saying how the worker ended; the rest of
its batch runs again on new workers, and with --keep-going the run goes on."""

import json
import os
import signal

import pytest
from processes import wait_for


def records(stdout: str) -> dict[int, dict]:
    return {record["index"]: record for record in map(json.loads, stdout.splitlines())}


@pytest.mark.parametrize("method", ["forkserver", "spawn", "fork"])
def test_each_crashing_item_fails_alone_and_the_run_goes_on(
    start_cli, tmp_path, method
):
    listing = tmp_path / "items.txt"
    # Fast items first: batches grow, so the crashes share one batch.
    lines = ["a"] * 60 + ["exit", "segfault", "exit"] + ["bb"] * 60
    listing.write_text("\n".join(lines) + "\n")
    run = start_cli(
        "--lines", listing, "--keep-going", "--workers", "2", "--no-progress",
        env={"PFOR_START_METHOD": method},
    )  # fmt: skip
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    found = records(stdout)
    assert sorted(found) == list(range(len(lines)))  # every item has its line
    crashed = {index: r["error"] for index, r in found.items() if "error" in r}
    assert crashed == {
        60: "WorkerCrashed: its worker process exited with code 3 while running it",
        61: "WorkerCrashed: its worker process was killed by SIGSEGV while running it",
        62: "WorkerCrashed: its worker process exited with code 3 while running it",
    }
    assert "done: 120 of 123 items" in stderr and "3 failed" in stderr


def test_without_keep_going_the_run_stops_and_names_the_item(start_cli, tmp_path):
    listing = tmp_path / "items.txt"
    listing.write_text("a\nbb\nexit\nccc\n")
    run = start_cli("--lines", listing, "--workers", "1", "--no-progress")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert (
        "error: item #2 (exit) failed: WorkerCrashed: its worker process exited "
        "with code 3 while running it" in stderr
    )
    assert {0, 1} <= set(records(stdout))  # what finished before it is written


def test_a_worker_killed_from_outside_fails_its_item_as_possibly_out_of_memory(
    start_cli, tmp_path
):
    listing = tmp_path / "items.txt"
    listing.write_text(f"wait to be killed {tmp_path}\na\nbb\n")
    run = start_cli("--lines", listing, "--workers", "2", "--keep-going")
    pid_file = tmp_path / "pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the item")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # as the OOM killer does
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    found = records(stdout)
    assert found[0]["error"] == (
        "WorkerCrashed: its worker process was killed by SIGKILL while running it "
        "(possibly out of memory: the kernel's OOM killer sends SIGKILL)"
    )
    assert (found[1]["result"], found[2]["result"]) == (1, 2)


def test_resume_and_the_timeline_count_a_crash_as_a_failure(start_cli, tmp_path):
    listing = tmp_path / "items.txt"
    listing.write_text(f"a\nonce exit {tmp_path}\nbb\n")  # crashes the first time
    out, picture = tmp_path / "out.jsonl", tmp_path / "when.png"
    options = ["--lines", listing, "--output", out, "--no-progress"]
    run = start_cli(*options, "--keep-going", "--timeline", picture)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert picture.is_file() and "1 failed" in stderr
    assert "WorkerCrashed" in records(out.read_text())[1]["error"]
    run = start_cli(*options, "--resume")  # only the item that crashed runs again
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "running 1 items" in stderr
    assert records(out.read_text())[1]["result"] == "again"


def test_a_crash_is_retried_when_retry_on_names_it(project, tmp_path):
    import bodies
    from parallel_loop.parallel import Failure, WorkerCrashed, run_map

    options = {"max_workers": 1, "progress": False, "retries": 1, "keep_going": True}
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    items = ["a", f"once exit {first}", "bb"]  # crashes the first time only
    outcomes = run_map(bodies.process_item, items, **options)  # the default RETRY_ON
    assert isinstance(outcomes[1], Failure) and (outcomes[0], outcomes[2]) == (1, 2)
    items = ["a", f"once exit {second}", "bb"]
    retry_on = (TimeoutError, ConnectionError, WorkerCrashed)
    assert run_map(bodies.process_item, items, retry_on=retry_on, **options) == [
        1,
        "again",
        2,
    ]


def test_run_submit_returns_every_result_when_a_crash_splits_a_batch(project):
    # The batch around the crash comes back in pieces: each goes back into place.
    import bodies
    from parallel_loop.parallel import Failure, run_submit

    items = ["a"] * 150 + ["exit"] + ["bb"] * 149  # batches grow: 150 is inside one
    outcomes = run_submit(bodies.process_numbered_item, items, max_workers=2,
                          keep_going=True, progress=False)  # fmt: skip
    assert len(outcomes) == 300
    assert isinstance(outcomes[150], Failure) and outcomes[150].index == 150
    assert outcomes[150].error.startswith("WorkerCrashed")
    assert outcomes[:150] == [1] * 150 and outcomes[151:] == [2] * 149


def test_what_the_crashed_item_started_ends_as_its_worker_is_replaced(
    start_cli, tmp_path
):
    # Not at the end of the run: the run goes on, and waits here until the
    # commands that the crashed item left have ended.
    from test_no_orphans import alive, tree_pids

    folder = tmp_path / "tree"
    folder.mkdir()
    ended = tmp_path / "ended"
    listing = tmp_path / "items.txt"
    listing.write_text(f"tree {folder} exit\nuntil {ended}\n")
    run = start_cli("--lines", listing, "--workers", "1", "--keep-going")
    pids = tree_pids(folder)
    wait_for(lambda: not any(alive(pid) for pid in pids), what="the commands to end")
    ended.touch()
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert "WorkerCrashed" in records(stdout)[0]["error"]
    assert records(stdout)[1]["result"] == len(f"until {ended}")
