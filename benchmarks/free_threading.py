"""CPU-bound speedup on 2 threads and on 2 processes, on every Python build here:
what free-threading changes, measured, not assumed.

    python benchmarks/free_threading.py          # about a minute on 2 cores

Runs each loop body below serially, on a ThreadPoolExecutor and on a
ProcessPoolExecutor (forkserver where there is one), 2 workers each, on the default
Python, 3.14 and free-threaded 3.14t (those that tests/matrix/pythons.py finds),
taking turns over the repeats and quoting medians. Prints a table and puts it in
docs/benchmarks.md under its own heading. Not a test: the figures are for reading.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"
HEADING = "## CPU-bound work on threads and processes, by Python build"
ITEMS = 8  # per run: 4 per worker
REPEATS = 5


def fnv_demo(number: int) -> int:
    """The default project's demo: FNV-1a over bytes, its big-int constants shared
    by every thread that runs it (constants of one code object)."""
    checksum = 0xCBF29CE484222325
    for byte in f"demo item {number:02d}".encode() * 25_000:
        checksum = ((checksum ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return checksum


def fnv_own_constants(number: int) -> int:
    """The same, with the constants made in each call: no object is shared."""
    prime, mask = (1 << 40) + 0x1B3, (1 << 64) - 1
    checksum = int("CBF29CE484222325", 16)
    for byte in f"demo item {number:02d}".encode() * 25_000:
        checksum = ((checksum ^ byte) * prime) & mask
    return checksum


def small_ints(number: int) -> int:
    """Arithmetic on small ints only (immortal objects: no reference counts)."""
    total = number
    for value in range(600_000):
        total = (total * 31 + value) % 65_521
    return total


BODIES = [fnv_demo, fnv_own_constants, small_ints]


def seconds(body, executor) -> float:
    started = time.perf_counter()
    if executor is None:
        [body(number) for number in range(ITEMS)]
    else:
        list(executor.map(body, range(ITEMS)))
    return time.perf_counter() - started


def measure() -> dict:
    """{body: {"serial": s, "thread": s, "process": s}}, medians, in this Python."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in methods else "spawn"
    )
    times: dict = {body.__name__: {} for body in BODIES}
    with (
        ThreadPoolExecutor(2) as threads,
        ProcessPoolExecutor(2, mp_context=context) as processes,
    ):
        list(processes.map(abs, range(4)))  # started before the clock runs
        pools = {"serial": None, "thread": threads, "process": processes}
        for _ in range(REPEATS):
            for body in BODIES:
                for name, executor in pools.items():
                    runs = times[body.__name__].setdefault(name, [])
                    runs.append(seconds(body, executor))
    return {
        body: {name: statistics.median(runs) for name, runs in pools.items()}
        for body, pools in times.items()
    }


def build() -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return sys.version.split()[0] + ("" if gil else "t (free-threaded)")


def table(results: dict) -> str:
    lines = [
        HEADING,
        "",
        f"Made by `python benchmarks/free_threading.py`: {ITEMS} items per run, "
        f"2 workers, medians of {REPEATS} interleaved repeats; speedup over the "
        "serial loop in the same interpreter.",
        "",
        "| Python | loop body | serial s | 2 threads | 2 processes |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for python, bodies in results.items():
        for body, pools in bodies.items():
            serial = pools["serial"]
            lines.append(
                f"| {python} | {body} | {serial:.2f} | {serial / pools['thread']:.2f}x "
                f"| {serial / pools['process']:.2f}x |"
            )
    lines += [
        "",
        "With the GIL, threads take turns (about 1x) and processes run at once. On "
        "free-threaded 3.14t, threads compute at once too. A figure above 2x means "
        "the serial loop ran slower than the same loop on a worker thread. On this "
        "2-vCPU machine, the same free-threaded thread run has measured anywhere "
        "from 1.1x to 2.2x from one run to the next, while processes held about "
        "1.4x to 2.1x: measure your own items with `python -m <package> bench`. "
        "The demo's shared big-int constants are not what slows a slow run: "
        "fnv_own_constants, which shares none, varies as much.",
    ]
    return "\n".join(lines) + "\n"


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


def main() -> None:
    if sys.argv[1:] == ["--measure"]:  # in each interpreter
        print(json.dumps({build(): measure()}))
        return
    sys.path.insert(0, str(HERE.parent / "tests" / "matrix"))
    import pythons

    found = pythons.survey()[0]
    interpreters = [sys.executable] + [
        found[tag].path for tag in ("3.14", "3.14t") if tag in found
    ]
    results: dict = {}
    for interpreter in interpreters:
        done = subprocess.run(
            [interpreter, __file__, "--measure"],
            capture_output=True,
            text=True,
            check=True,
        )
        results.update(json.loads(done.stdout))
    section = table(results)
    print(section)
    write(section)


if __name__ == "__main__":
    main()
