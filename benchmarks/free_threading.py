"""CPU-bound speedup on 2 threads and on 2 processes, on every Python build here:
what free-threading changes, measured, not assumed.

    python benchmarks/free_threading.py          # about two minutes on 2 cores

Renders the template with its defaults, and runs its own loop body
(tasks.process_item on 8 of its demo items) through run_map on 2 threads and on 2
processes, against run_serial; and the bodies of cpu_bodies.py on a plain
ThreadPoolExecutor and ProcessPoolExecutor (forkserver where there is one). Each
on the default Python, 3.14 and free-threaded 3.14t (those that
tests/matrix/pythons.py finds), twice: with the modules compiled from source (no
.pyc, as with PYTHONDONTWRITEBYTECODE=1) and loaded from a .pyc. Takes turns over
the repeats and quotes medians. Prints a table and puts it in docs/benchmarks.md
under its own heading. Not a test: the figures are for reading.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"
HEADING = "## CPU-bound work on threads and processes, by Python build"
ITEMS = 8  # per run: 4 per worker
REPEATS = 5
COMPILED = ("from source", "from a .pyc")
PROJECT_BODY = "process_item via run_map"


def timed(run) -> tuple[float, float]:
    """Wall-clock and CPU seconds (of every thread of this process) of run()."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def runs_of_bodies(threads, processes) -> dict:
    """{body name: {pool name: a function that runs it on ITEMS items}}."""
    import cpu_bodies
    from parallel_loop import tasks
    from parallel_loop.parallel import run_map, run_serial

    runs: dict = {}
    for body in cpu_bodies.BODIES:
        runs[body.__name__] = {
            "serial": lambda body=body: [body(n) for n in range(ITEMS)],
            "thread": lambda body=body: list(threads.map(body, range(ITEMS))),
            "process": lambda body=body: list(processes.map(body, range(ITEMS))),
        }
    items = tasks.demo_items()[:ITEMS]
    body, quiet = tasks.process_item, {"progress": False, "max_workers": 2}
    runs[PROJECT_BODY] = {
        "serial": lambda: run_serial(body, items, progress=False),
        "thread": lambda: run_map(body, items, pool="thread", **quiet),
        "process": lambda: run_map(body, items, pool="process", **quiet),
    }
    return runs


def measure() -> dict:
    """{body: {pool: [wall s, CPU s]}}, medians, in this Python."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in methods else "spawn"
    )
    with (
        ThreadPoolExecutor(2) as threads,
        ProcessPoolExecutor(2, mp_context=context) as processes,
    ):
        list(processes.map(abs, range(4)))  # started before the clock runs
        runs = runs_of_bodies(threads, processes)
        times: dict = {
            body: {pool: [] for pool in pools} for body, pools in runs.items()
        }
        for _ in range(REPEATS):
            for body, pools in runs.items():
                for pool, run in pools.items():
                    times[body][pool].append(timed(run))
    return {
        body: {
            pool: [
                statistics.median(t[0] for t in got),
                statistics.median(t[1] for t in got),
            ]
            for pool, got in pools.items()
        }
        for body, pools in times.items()
    }


def build() -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return sys.version.split()[0] + ("" if gil else "t (free-threaded)")


def measure_in(interpreter: str, project: Path, compiled: str) -> dict:
    """Runs measure() in interpreter, on fresh copies of the project and of
    cpu_bodies.py, compiled as said."""
    with tempfile.TemporaryDirectory() as scratch:
        here = Path(scratch)
        shutil.copytree(
            project, here / "project", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copy(HERE / "cpu_bodies.py", here)
        shutil.copy(__file__, here)
        path = os.pathsep.join([str(here / "project"), str(here)])
        env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
        if compiled == "from a .pyc":
            compile_all = [interpreter, "-m", "compileall", "-q", str(here)]
            subprocess.run(compile_all, check=True, env=env)
            env["PYTHONDONTWRITEBYTECODE"] = ""
        done = subprocess.run(
            [interpreter, str(here / Path(__file__).name), "--measure"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"{interpreter}: {done.stderr}")
        return json.loads(done.stdout)


def table(results: dict) -> str:
    """results: {(python, compiled): {body: {pool: [wall s, CPU s]}}}."""
    lines = [
        HEADING,
        "",
        f"Made by `python benchmarks/free_threading.py`: {ITEMS} items per run, "
        f"2 workers, medians of {REPEATS} interleaved repeats; speedup over the "
        "serial loop in the same interpreter, and the CPU time of the 2 threads "
        f"over the serial loop's. `{PROJECT_BODY}` is the default project's own "
        "loop body through `run_map` (`run_serial` for the serial loop); the "
        "others are cpu_bodies.py on a plain executor.",
        "",
        "| Python | compiled | loop body | serial s | 2 threads | 2 processes "
        "| threads' CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for (python, compiled), bodies in results.items():
        for body, pools in bodies.items():
            serial, serial_cpu = pools["serial"]
            thread, thread_cpu = pools["thread"]
            lines.append(
                f"| {python} | {compiled} | {body} | {serial:.2f} | "
                f"{serial / thread:.2f}x | {serial / pools['process'][0]:.2f}x | "
                f"{thread_cpu / serial_cpu:.2f}x |"
            )
    lines += [
        "",
        "With the GIL, threads take turns (about 1x) and processes run at once. On "
        "free-threaded 3.14t, threads compute at once too, unless they share "
        "objects whose reference counts they then contend for: a threads' CPU "
        "time well above 1x is that contention. fnv_literals (the demo before) "
        "shares the big-int literals of its code, which stay mortal when its "
        "module is compiled from source; loaded from a .pyc they are immortal, "
        "with no count to contend for. fnv_per_call (the demo now) makes them in "
        "each call. On this 2-vCPU machine a thread run varies from one run to "
        "the next: measure your own items with `python -m <package> bench`.",
    ]
    return "\n".join(lines) + "\n"


GUIDE = HERE.parent / "docs" / "threads-and-processes.md"
FIGURES = (
    "<!-- figures of benchmarks/free_threading.py -->",
    "<!-- end of figures -->",
)


def rows_of(text: str) -> dict:
    """The free-threaded rows of the table in docs/benchmarks.md:
    {(compiled, body): (2 threads, threads' CPU)}, as written there."""
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith("t (free-threaded)"):
            rows[cells[1], cells[2]] = (cells[4], cells[6])
    return rows


def figures(rows: dict) -> str:
    """The guide's sentence of figures, from the table's free-threaded rows."""
    source, pyc = COMPILED

    def on(compiled, body):
        threads, cpu = rows[compiled, body]
        return f"{threads} ({cpu} the serial CPU time)"

    return (
        f"With the literals, compiled from source: {on(source, 'fnv_literals')}; "
        f"loaded from a .pyc: {on(pyc, 'fnv_literals')}. The demo now, through "
        f"run_map: {on(source, PROJECT_BODY)} from source, {on(pyc, PROJECT_BODY)} "
        "from a .pyc."
    )


def write_figures_in_the_guide() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    start, end = FIGURES
    before, rest = text.split(start, 1)
    sentence = figures(rows_of(DOCS.read_text(encoding="utf-8")))
    text = before + start + sentence + end + rest.split(end, 1)[1]
    GUIDE.write_text(text, encoding="utf-8")


def write(section: str, heading: str = HEADING) -> None:
    """Puts a section in docs/benchmarks.md, in place of the one it replaces."""
    text = DOCS.read_text(encoding="utf-8")
    if heading in text:
        before, rest = text.split(heading, 1)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text, encoding="utf-8")


def venv_with_tqdm(interpreter: str, folder: Path) -> str:
    """A virtual environment of interpreter with the project's one dependency."""
    subprocess.run([interpreter, "-m", "venv", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", "tqdm"]
    subprocess.run(install, check=True, capture_output=True)
    return python


def main() -> None:
    if sys.argv[1:] == ["--measure"]:  # in each interpreter
        print(json.dumps({"python": build(), "bodies": measure()}))
        return
    sys.path.insert(0, str(HERE.parent / "tests" / "matrix"))
    import pythons
    from run import render_project

    found = pythons.survey()[0]
    interpreters = [sys.executable] + [
        found[tag].path for tag in ("3.14", "3.14t") if tag in found
    ]
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        project = render_project(Path(scratch))
        for number, interpreter in enumerate(interpreters):
            python = venv_with_tqdm(interpreter, Path(scratch, f"venv{number}"))
            for compiled in COMPILED:
                measured = measure_in(python, project, compiled)
                results[measured["python"], compiled] = measured["bodies"]
    section = table(results)
    print(section)
    write(section)
    write_figures_in_the_guide()


if __name__ == "__main__":
    main()
