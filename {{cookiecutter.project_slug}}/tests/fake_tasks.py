"""A loop body for the tests, so they keep passing when you rewrite tasks.py.

Each item is a file, or a line of text; what it says is what the loop body does:
"fail" raises, "sleep S" waits S seconds, and anything else returns its length.
"""

import time
from pathlib import Path

POOL = "process"
MAX_WORKERS = 2
PATTERN = "map"


def process_item(item):
    text = item.read_text() if isinstance(item, Path) else item
    if text == "fail":
        raise ValueError(f"cannot process {item}")
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    return len(text)


def process_numbered_item(index, item):
    return process_item(item)


def items():
    return ["a", "bb", "ccc"]
