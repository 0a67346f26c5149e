"""What recycling worker processes costs: run_map with max_items_per_worker (a new
pool each time a worker is spent) and with max_worker_memory_mb (a check before
each item), against the same run without them.

    python benchmarks/recycling.py          # about a minute on 2 cores

Renders the template with its defaults and imports its parallel.py. Each run is
400 items of about 2 ms of computing on 2 worker processes; the settings take turns
over the repeats, and the figures are medians. Prints a table and puts it in
docs/benchmarks.md under its own heading. Not a test: the figures are for reading.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADING = "## Recycling workers (max_items_per_worker, max_worker_memory_mb)"
ITEMS = 400
REPEATS = 5
SETTINGS = {
    "none": {},
    "max_items_per_worker=200": {"max_items_per_worker": 200},
    "max_items_per_worker=50": {"max_items_per_worker": 50},
    "max_items_per_worker=10": {"max_items_per_worker": 10},
    "max_worker_memory_mb=100000 (never reached)": {"max_worker_memory_mb": 100_000},
}


def spin(number: int) -> int:
    """About 2 ms of pure Python."""
    total = 0
    for step in range(40_000):
        total += step * number % 7
    return total


def measure(parallel) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    expected = [spin(n) for n in range(ITEMS)]
    for _ in range(REPEATS):
        for name, options in SETTINGS.items():
            started = time.perf_counter()
            results = parallel.run_map(
                spin, range(ITEMS), max_workers=2, progress=False, **options
            )
            times[name].append(time.perf_counter() - started)
            assert results == expected, name
    return {name: statistics.median(found) for name, found in times.items()}


def table(medians: dict[str, float]) -> str:
    base = medians["none"]
    lines = [
        HEADING,
        "",
        f"Made by `python benchmarks/recycling.py`: {ITEMS} items of about 2 ms on 2 "
        f"worker processes, medians of {REPEATS} interleaved repeats.",
        "",
        "| setting | pools started | seconds | vs none |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, seconds in medians.items():
        items = SETTINGS[name].get("max_items_per_worker")
        pools = 1 if items is None else -(-ITEMS // (2 * items))  # at least
        lines.append(f"| {name} | {pools}+ | {seconds:.2f} | {seconds / base:.2f}x |")
    lines += [
        "",
        "Each time a worker is spent the whole pool is replaced, after the batches in "
        "flight are back: a pool's start (tens of milliseconds) and a short drain. "
        "The memory cap, never reached here, costs a read of /proc/self/statm per "
        "item (Linux).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.path.insert(0, str(HERE))
    import free_threading
    import run

    project = run.render_project(Path(tempfile.mkdtemp()))
    section = table(measure(run.import_parallel(project)))
    print(section)
    free_threading.write(section, HEADING)


if __name__ == "__main__":
    main()
