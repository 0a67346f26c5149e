"""Inputs of any size: the main process's peak memory, the time to the first result
and the total time, over a file of N lines, of the command line before it streamed
its input (commit 1332843, which read every line into a list first) and after, and
of the library's run_as_completed, run_map and joblib's unordered generator.

    python benchmarks/large_inputs.py [--items N] [--write-docs]

N is 5,000,000 by default (about seven minutes on 2 cores, one run each). Renders the template as
it is and as it was at 1332843 (from `git archive`, the repository untouched), with
their defaults, and writes "x0".."x{N-1}" to a file in a temporary folder. Each
contender runs in a fresh subprocess on a thread pool of 2 workers, with a trivial
loop body (the length of the line); its peak RSS is that of os.wait4, the first
result is its first line on stdout, read from a pipe. The command line runs with
the engine tests' loop body (tests/engine/run_cli.py), and also over 40 lines: the
memory of a run with next to no input. Takes turns over the repeats and quotes
medians. Prints a table; with --write-docs, puts it in docs/benchmarks.md under its
own heading. Not a test: the figures are for reading.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
ENGINE_TESTS = TEMPLATE / "tests" / "engine"
HEADING = "## Inputs of any size"
BEFORE = "1332843"  # the command line read every line into a list first
ITEMS = 5_000_000
BASELINE = 40  # lines: the memory of a run with next to no input
REPEATS = 1  # 3 take about 20 minutes at 5,000,000 items on 2 cores, joblib most
PACKAGE = "parallel_loop"

AS_COMPLETED = """
import sys
from parallel_loop.parallel import run_as_completed

lines = (line.rstrip("\\n") for line in open(sys.argv[1]))
write, first = sys.stdout.write, True
for index, result in run_as_completed(
    len, lines, pool="thread", max_workers=2, progress=False
):
    write(f"{index}\\n")
    if first:
        sys.stdout.flush()
        first = False
"""

RUN_MAP = """
import sys
from parallel_loop.parallel import run_map

lines = (line.rstrip("\\n") for line in open(sys.argv[1]))
results = run_map(len, lines, pool="thread", max_workers=2, progress=False)
write, first = sys.stdout.write, True
for result in results:
    write(f"{result}\\n")
    if first:
        sys.stdout.flush()
        first = False
"""

JOBLIB = """
import sys
import joblib
from joblib import Parallel, delayed

version = tuple(int(part) for part in joblib.__version__.split(".")[:2])
unordered = "generator_unordered" if version >= (1, 4) else "generator"
lines = (line.rstrip("\\n") for line in open(sys.argv[1]))
results = Parallel(n_jobs=2, backend="threading", return_as=unordered)(
    delayed(len)(line) for line in lines
)
write, first = sys.stdout.write, True
for result in results:
    write(f"{result}\\n")
    if first:
        sys.stdout.flush()
        first = False
"""


def render(template: Path, into: Path) -> Path:
    """The template's defaults rendered into a folder: the project's folder."""
    from run import render_project

    into.mkdir(parents=True, exist_ok=True)
    return render_project(into, template, answers={})


def template_at(commit: str, into: Path) -> Path:
    """The template's files at a commit, from git archive."""
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE), "archive", "--format=tar", commit],
        capture_output=True, check=True,
    )  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def write_lines(path: Path, count: int) -> None:
    with path.open("w") as out:
        for start in range(0, count, 100_000):
            stop = min(start + 100_000, count)
            out.write("".join(f"x{n}\n" for n in range(start, stop)))


def contenders(before: Path, after: Path, big: Path, small: Path, scratch: Path):
    """{name: (items, argv, environment)}."""
    cli = [sys.executable, str(ENGINE_TESTS / "run_cli.py"), "--lines"]
    options = ["--pool", "thread", "--no-progress"]

    def env(project: Path) -> dict:
        path = os.pathsep.join([str(project), str(ENGINE_TESTS)])
        return {**os.environ, "PYTHONPATH": path, "PFOR_PACKAGE": PACKAGE}

    scripts = {}
    for name, text in [("as_completed", AS_COMPLETED), ("run_map", RUN_MAP)]:
        scripts[name] = scratch / f"{name}.py"
        scripts[name].write_text(text)
    (scratch / "with_joblib.py").write_text(JOBLIB)
    size = f"{BASELINE} lines"
    return {
        f"command line before ({BEFORE})": ("N", [*cli, str(big), *options], env(before)),
        "command line after": ("N", [*cli, str(big), *options], env(after)),
        f"command line before, {size}": (BASELINE, [*cli, str(small), *options], env(before)),
        f"command line after, {size}": (BASELINE, [*cli, str(small), *options], env(after)),
        "run_as_completed (library, after)": ("N", [sys.executable, str(scripts["as_completed"]), str(big)], env(after)),
        "run_map over the generator (lists it)": ("N", [sys.executable, str(scripts["run_map"]), str(big)], env(after)),
        "joblib, generator_unordered": ("N", [sys.executable, str(scratch / "with_joblib.py"), str(big)], env(after)),
    }  # fmt: skip


# Runs a command and reports, to the file named first, when it started, its
# rusage and when it ended. A process's ru_maxrss counts the memory of the process
# that forked it, up to its exec: this one is small, where the benchmark's own
# process (cookiecutter imported) would set every figure's floor at about 50 MB.
LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
os.close(1)  # the command's stdout ends with the command
_, status, usage = os.wait4(pid, 0)
ended = time.monotonic()
with open(report, "w") as out:
    out.write(f"{started} {ended} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def measure_one(argv: list, env: dict, expected: int, scratch: Path) -> tuple:
    """(peak MB, first result s, total s) of a fresh process, its stdout drained."""
    report = scratch / "report"
    launch = [sys.executable, "-S", "-c", LAUNCHER, str(report), *argv]
    with (scratch / "stderr").open("w+b") as errors:
        process = subprocess.Popen(
            launch, env=env, stdout=subprocess.PIPE, stderr=errors
        )
        first, lines = None, 0
        while chunk := os.read(process.stdout.fileno(), 1 << 20):
            if first is None and b"\n" in chunk:
                first = time.monotonic()  # CLOCK_MONOTONIC, as in the launcher
            lines += chunk.count(b"\n")
        process.stdout.close()
        process.wait()
        started, ended, code, peak = report.read_text().split()
        errors.seek(0)
        if process.returncode or int(code) or lines != expected:
            said = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(
                f"{argv}: exit {code}, {lines} lines of {expected}\n{said}"
            )
    started = float(started)
    return int(peak) / 1024, first - started, float(ended) - started  # KiB on Linux


def measure(runs: dict, items: int, repeats: int, scratch: Path) -> dict:
    """{name: (items, peak MB, first s, total s)}, medians, taking turns."""
    found: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (count, argv, env) in runs.items():
            count = items if count == "N" else count
            found[name].append(measure_one(argv, env, count, scratch))
            peak, first, total = found[name][-1]
            print(f"  {name}: {peak:.0f} MB, {first:.3f} s, {total:.2f} s", flush=True)
    medians = {}
    for name, (count, _, _) in runs.items():
        got = found[name]
        medians[name] = (items if count == "N" else count,) + tuple(
            statistics.median(run[column] for run in got) for column in range(3)
        )
    return medians


def table(medians: dict, items: int, repeats: int) -> str:
    import joblib

    today = datetime.date.today().isoformat()
    python = sys.version.split()[0]
    how = f"medians of {repeats} interleaved repeats" if repeats > 1 else "one run"
    made = (
        f"Made by `python benchmarks/large_inputs.py --items {items}` on {today} "
        f"(Python {python}, joblib {joblib.__version__}): a file of {items:,} short "
        f"lines, a trivial loop body (the line's length), a thread pool of 2 "
        f"workers, {how}. Each run is a fresh process; its peak memory is the "
        "main process's peak RSS, its first result the first line it writes to "
        "stdout, counted from the process's start. The command line runs "
        f"`--lines FILE` before it streamed its input ({BEFORE}) and after, and "
        f"over {BASELINE} lines for the memory of a run with next to no input; "
        "the library runs over a generator of the file's lines."
    )
    lines = [
        HEADING,
        "",
        made,
        "",
        "| contender | items | peak MB | first result s | total s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (count, peak, first, total) in medians.items():
        lines.append(f"| {name} | {count:,} | {peak:.0f} | {first:.2f} | {total:.1f} |")
    joblib_note = (
        "joblib's threading backend sends the items one at a time (its batch_size "
        "is 1 there unless set), hence its time."
    )
    lines += ["", joblib_note]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--write-docs", action="store_true")
    arguments = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        before = render(template_at(BEFORE, scratch / "old"), scratch / "before")
        after = render(TEMPLATE, scratch / "after")
        big, small = scratch / "big.txt", scratch / "small.txt"
        write_lines(big, arguments.items)
        write_lines(small, BASELINE)
        runs = contenders(before, after, big, small, scratch)
        medians = measure(runs, arguments.items, arguments.repeats, scratch)
    section = table(medians, arguments.items, arguments.repeats)
    print(section)
    print(f"took {time.perf_counter() - started:.0f} s")
    if arguments.write_docs:
        sys.path.insert(0, str(HERE))
        import free_threading

        free_threading.write(section, HEADING)


if __name__ == "__main__":
    main()
