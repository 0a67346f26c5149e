"""A loop body for the tests, so they keep passing when you rewrite tasks.py.

Each item is a file; what is in it says what the loop body does with it:
"fail" raises, "exit" kills the worker process, "sleep S" waits S seconds,
"spin N" computes for N loops, and anything else returns its length.
"""

import os
import time
from pathlib import Path

POOL = "process"
MAX_WORKERS = 2
PATTERN = "map"


def process_item(item):
    text = Path(item).read_text()
    if text == "fail":
        raise ValueError(f"cannot process {Path(item).name}")
    if text == "exit":
        os._exit(3)
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    if text.startswith("spin "):
        return sum(i * i for i in range(int(text.split()[1])))
    return len(text)


def process_numbered_item(index, item):
    return process_item(item)


def demo_items():
    return []
