"""Inputs of any size: the command line reads --lines (a file or standard
input) as the run goes, so the main process's memory stays flat from 40 lines to
5 million, the first result comes before the input is read through, and
--resume keeps a compact record of what is finished."""

import select
import subprocess

import pytest
from processes import processes_in_session, wait_for


def run_lines(project, listing, log, *args):
    """The peak memory (MB) of the command line over the lines of `listing` on
    threads (one process: the run's peak is its own), results to nowhere."""
    return project.peak_mb_of_cli(
        "--lines", listing, "--pool", "thread", "--no-progress", *args, log=log
    )


def test_five_million_lines_run_in_the_memory_of_forty(tmp_path, project):
    short, long = tmp_path / "40.txt", tmp_path / "5m.txt"
    short.write_text("".join(f"x{n}\n" for n in range(40)))
    with long.open("w") as lines:
        for start in range(0, 5_000_000, 100_000):
            lines.write("".join(f"x{n}\n" for n in range(start, start + 100_000)))
    log = tmp_path / "stderr.txt"
    forty = run_lines(project, short, log)
    output = tmp_path / "out.jsonl"
    millions = run_lines(project, long, log, "--output", output)
    assert "running 5000000 items" in log.read_text()
    assert "done: 5000000 of 5000000 items" in log.read_text()
    assert millions - forty < 100, (forty, millions)
    # --resume over the 5 million results: a bit each, not their labels.
    resumed = run_lines(project, long, log, "--output", output, "--resume")
    assert "holds a result for each of the 5000000 items" in log.read_text()
    assert resumed - forty < 100, (forty, resumed)


def test_the_first_result_comes_before_the_input_is_read_through(start_cli):
    run = start_cli(
        "--lines", "-", "--pool", "thread", "--no-progress",
        stdin=subprocess.PIPE,
    )  # fmt: skip
    run.stdin.write("".join(f"x{n}\n" for n in range(1000)))
    run.stdin.flush()  # and left open: the input goes on
    ready, _, _ = select.select([run.stdout], [], [], 60)
    assert ready, "no result while the input was still open"
    first = run.stdout.readline()
    assert first.startswith('{"index": '), first
    run.stdin.write("last\n")
    run.stdin.close()
    rest = run.stdout.read()
    run.wait(timeout=120)
    assert run.returncode == 0, run.stderr.read()
    assert len([first, *rest.splitlines()]) == 1001
    assert "running the items as they are read" in run.stderr.read()
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_slow_pipe_gets_each_result_before_its_next_line(start_cli, pool):
    """Lines that come one by one (a pipe, tail -f): each item's result is
    written before the next line comes, not once a batch has filled."""
    run = start_cli(
        "--lines", "-", "--pool", pool, "--no-progress", stdin=subprocess.PIPE
    )
    for number in range(3):
        run.stdin.write(f"x{number}\n")
        run.stdin.flush()
        ready, _, _ = select.select([run.stdout], [], [], 60)
        assert ready, f"no result for line {number} before the next came"
        assert run.stdout.readline().startswith(f'{{"index": {number}, ')
    run.stdin.close()
    run.wait(timeout=120)
    assert run.returncode == 0, run.stderr.read()
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")
