"""Time that counts is time that ran: a run stopped (Ctrl-Z, SIGSTOP) and then
continued fails no item as late because of the stop, on either pool, with or
without retries; and a retry is timed from its own start."""

import json
import os
import signal
import time

import pytest
from processes import processes_in_session, wait_for

STOPPED_FOR = 7  # seconds: longer than the timeout and an item together
TIMEOUT = "4"


def records(text: str) -> dict[int, dict]:
    return {record["index"]: record for record in map(json.loads, text.splitlines())}


def stop_and_continue(send) -> None:
    send(signal.SIGSTOP)
    time.sleep(STOPPED_FOR)  # the stop itself, as long as a Ctrl-Z might last
    send(signal.SIGCONT)


@pytest.mark.parametrize(
    "pool, what",
    [
        ("thread", "the terminal's group"),  # Ctrl-Z: all of a thread pool's run
        ("process", "the terminal's group"),  # the main process: workers go on
        ("process", "every process"),  # the workers too
    ],
)
@pytest.mark.parametrize("retries", ["0", "1"])
def test_a_stopped_run_fails_no_item_as_late(start_cli, tmp_path, pool, what, retries):
    listing = tmp_path / "items.txt"
    listing.write_text("sleep 2\n" * 4)
    out = tmp_path / "out.jsonl"
    run = start_cli(
        "--lines", listing, "--pool", pool, "--workers", "2", "--timeout", TIMEOUT,
        "--retries", retries, "--output", out, "--no-progress",
    )  # fmt: skip
    # Two items done, two running (each 2 s): stop them half-way.
    wait_for(lambda: out.exists() and out.read_text().count("\n") >= 1)
    if what == "every process":
        pids = processes_in_session(run.pid)
        stop_and_continue(lambda signum: [os.kill(pid, signum) for pid in pids])
    else:  # Ctrl-Z stops the terminal's process group, which the run leads
        stop_and_continue(lambda signum: os.killpg(run.pid, signum))
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    found = records(out.read_text())
    assert sorted(found) == [0, 1, 2, 3]
    for record in found.values():
        assert "error" not in record, record
        assert record.get("attempts", 1) == 1, record


def test_a_retry_is_timed_from_its_own_start(start_cli, tmp_path):
    # The first try hangs on the only thread, which cannot be stopped: the retry
    # waits behind it, then runs on a new thread, timed from its own start (not
    # from the first try's, which would make it late before it ran).
    listing = tmp_path / "items.txt"
    listing.write_text(f"once hang {tmp_path}\n")
    run = start_cli(
        "--lines", listing, "--pool", "thread", "--workers", "1", "--timeout", "1",
        "--retries", "1", "--no-progress",
    )  # fmt: skip
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    (record,) = records(stdout).values()
    assert (record["result"], record["attempts"]) == ("again", 2), record
