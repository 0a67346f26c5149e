"""Loop bodies for the engine tests, at module level so that worker processes can
import them under any start method. Used as the `tasks` module of run_cli.py.

Each item is a file or a line of text; what it says is what the loop body does:
"fail" raises, "exit" kills the worker process, "sys.exit" calls sys.exit(3),
"sleep S" waits S seconds, "print" prints to stdout, "hang" sleeps for good,
"nested" runs a process pool of its own, "spin N" computes for N loops, "meet DIR"
waits until two items are running at once, anything else returns its length.
"""

import os
import sys
import time
from pathlib import Path

POOL = "process"
MAX_WORKERS = 2
PATTERN = "map"


def process_item(item):
    text = item.read_text() if isinstance(item, Path) else item
    if text == "fail":
        raise ValueError(f"cannot process {item}")
    if text == "exit":
        os._exit(3)
    if text == "sys.exit":
        sys.exit(3)
    if text == "print":
        print("chatter from the loop body")
        from tqdm import tqdm

        tqdm.write("tqdm.write from the loop body")
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    if text.startswith("spin "):
        return sum(i * i for i in range(int(text.split()[1])))
    if text.startswith("meet "):
        meet(Path(text.split(maxsplit=1)[1]))
    if text == "hang":
        time.sleep(10**6)
    if text == "nested":
        package = __import__(os.environ["PFOR_PACKAGE"] + ".parallel")
        package.parallel.run_map(
            process_item, ["hang"] * 4, pool="process", max_workers=2, progress=False
        )
    return len(text)


def meet(folder: Path, count=2, timeout=60):
    """Waits until `count` items have arrived here: they run at the same time."""
    folder.mkdir(exist_ok=True)
    (folder / f"{os.getpid()}-{time.monotonic_ns()}").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no other item came to {folder}: not parallel")
        time.sleep(0.01)


def process_numbered_item(index, item):
    return process_item(item)


def items():
    return []


def square(x):
    return x * x


def indexed_square(index, x):
    return x * x
