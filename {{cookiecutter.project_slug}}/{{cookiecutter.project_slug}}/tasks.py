"""The loop body, and how to run it. This is the file you edit.

    process_item(item)    the work for one item: replace the demo with yours
    POOL, MAX_WORKERS     how it runs by default (the command line can override)

Run it with `python -m {{ cookiecutter.project_slug }} FILES_OR_DIRS...`; with no inputs it runs the demo.
"""

from __future__ import annotations

{% if cookiecutter.pool == "thread" -%}
import hashlib
import time
{% endif -%}
from pathlib import Path

# "process" for CPU-bound work (computing), "thread" for I/O-bound work (waiting on
# the network, a disk, a database or a subprocess).
POOL = "{{ cookiecutter.pool }}"

# How many items run at once. None means half the CPUs this process may use
# (parallel.default_max_workers()). On a 2-CPU machine that is 1: no speedup, so
# try --workers 2, or `python -m {{ cookiecutter.project_slug }} bench` to measure. Threads that mostly
# wait can be many more than the CPUs.
MAX_WORKERS = {{ cookiecutter.__max_workers_code }}

# Which pattern the command line runs: "map" calls process_item(item),
# "submit" calls process_numbered_item(index, item). See parallel.py.
PATTERN = "{{ cookiecutter.pattern }}"


def process_item(item):
    """THE LOOP BODY: the work for one item. Its return value is the item's result.

    `item` is a path from the command line, or with no inputs one of demo_items().
    Define it with def at module level: worker processes import it by name.
    """
{%- if cookiecutter.pool == "process" %}
    # Demo: a checksum computed in pure Python, so CPU-bound work. On threads the
    # GIL would let only one item compute at a time; processes each have their own.
    data = item.read_bytes() if isinstance(item, Path) else item
    checksum = 0xCBF29CE484222325  # FNV-1a, 64 bit
    for byte in data:
        checksum = ((checksum ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return {"bytes": len(data), "fnv1a": f"{checksum:016x}"}
{%- else %}
    # Demo: I/O-bound work. The sleep stands in for a download or a query: while
    # one thread waits, the others run, so many threads overlap their waiting.
    data = item.read_bytes() if isinstance(item, Path) else item
    time.sleep(0.05)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
{%- endif %}


def process_numbered_item(index: int, item):
    """The loop body as the submit pattern calls it, with the item's position in
    the input: use `index` if your work needs it (a seed, an output file name)."""
    return process_item(item)


def demo_items() -> list:
    """What runs when no inputs are given: 40 in-memory "files" of 512 KiB."""
    return [bytes([number]) * 512 * 1024 for number in range(40)]
