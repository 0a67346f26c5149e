"""The loop body, and what it loops over. This is the file you edit.

    process_item(item)    the work for one item: replace the demo with yours
    items()               what to loop over when the command line names nothing
    demo_items()          a few small items: the demo, and what the tests run
    setup(), teardown()   once in each worker, first and last: open and close
                          what its items share (a connection, a model)
    POOL, MAX_WORKERS     how it runs by default (the command line can override)
    TIMEOUT, RETRIES      for long runs: a time limit per item, tries again
    RATE                  for a service: items started a second, pool-wide
    MAX_ITEMS_PER_WORKER  for leaky loop bodies: workers replaced as they grow

The items come from the command line (`python -m {{ cookiecutter.project_slug }} FILES_OR_DIRS...`
gives paths, `--lines FILE` one string per line) or, with neither, from items().

What the loop body imports beyond the standard library goes in pyproject.toml's
`dependencies` ("pillow>=10", say): `pip install -e ".[test]"`, `uv run` and the
tests' workflow then install it.
"""

from __future__ import annotations

{% if cookiecutter.pool == "thread" -%}
import hashlib
import time
{% endif -%}
from pathlib import Path

# "process" for work that computes: parsing, transforming, compressing, even of
# local files (reading a local file is quick; what you do with it is computing).
# "thread" for work that waits: on the network, a database, a subprocess or a slow
# remote disk. Not sure? The command line's bench measures both on your items.
POOL = "{{ cookiecutter.pool }}"

# How many items run at once. None means half the CPUs this process may use
# (parallel.default_max_workers()). On a 2-CPU machine that is 1: no speedup, so
# try --workers 2, or `python -m {{ cookiecutter.project_slug }} bench` to measure. Threads that mostly
# wait can be many more than the CPUs.
MAX_WORKERS = {{ cookiecutter.max_workers | max_workers_code }}

# Which pattern the command line runs: "map" calls process_item(item),
# "submit" calls process_numbered_item(index, item). See parallel.py.
PATTERN = "{{ cookiecutter.pattern }}"

# Seconds an item may run before it is stopped and recorded as failed (None: no
# limit). How many more times an item is tried when it fails with one of RETRY_ON:
# errors that usually go away (a network hiccup), not ones that will not (a
# missing file, a bug). An error that wraps one counts too: urlopen's URLError
# for a refused connection, a library's error raised "from" a ConnectionError.
# Retries wait 0.5 s, 1 s, 2 s... and other items go on. An item whose worker
# process died under it (a segfault in a C library, the out-of-memory killer)
# fails with parallel.WorkerCrashed: add that to RETRY_ON to try it again too.
TIMEOUT = None
RETRIES = 0
RETRY_ON = (TimeoutError, ConnectionError)

# For a loop body that calls a service (an API, a website) that limits its
# callers: at most RATE items start a second, across all workers, evenly spread:
# 20, 0.5, "600/min", "1000/h" (None: no limit). Retries count against it. When
# the service answers 429 Too Many Requests or 503 (urllib's HTTPError; requests'
# and httpx' errors of raise_for_status()), or the loop body raises
# parallel.Throttled, no item starts anywhere in the pool for the delay of its
# Retry-After header, and the rate is halved, then climbs back while calls go
# well. The item is tried again, THROTTLE_RETRIES times at most.
RATE = None
THROTTLE_RETRIES = 10

# For a loop body that leaks memory (a C library, a cache that grows), on the
# process pool: once a worker process has run this many items, or its resident
# memory passed this many MB, the pool's workers are replaced by new ones (setup()
# runs again) and the run goes on (None: never).
MAX_ITEMS_PER_WORKER = None
MAX_WORKER_MEMORY_MB = None


def process_item(item):
    """THE LOOP BODY: the work for one item. Its return value is the item's result,
    written as JSON (see the README for how other types are written).

    `item` is a Path (files on the command line), a str (--lines), or whatever
    items() yields. Keep this a module-level def: worker processes import it.
    """
    if isinstance(item, Path):
        data = item.read_bytes()
    else:  # a demo item or a line of text, made longer so that its work shows
        data = str(item).encode() * 50_000
{%- if cookiecutter.pool == "process" %}
    # Demo: a checksum computed in pure Python, so CPU-bound work. On threads the
    # GIL would let only one item compute at a time; processes each have their own.
    # FNV-1a, 64 bit. Its big numbers are made in each call rather than written as
    # literals: on free-threaded Python, threads that share a literal's object (a
    # module compiled from source) contend for its reference count.
    prime, mask = int("100000001b3", 16), int("ffffffffffffffff", 16)
    checksum = int("cbf29ce484222325", 16)
    for byte in data:
        checksum = ((checksum ^ byte) * prime) & mask
    return {"bytes": len(data), "fnv1a": f"{checksum:016x}"}
{%- else %}
    # Demo: I/O-bound work. The sleep stands in for a download or a query: while
    # one thread waits, the others run, so many threads overlap their waiting.
    time.sleep(0.05)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
{%- endif %}


def process_numbered_item(index: int, item):
    """The loop body as the submit pattern calls it, with the item's position in
    the input: use `index` if your work needs it (a seed, an output file name)."""
    return process_item(item)


def setup():
    """Runs once in each worker, before its first item: return what its items
    share, such as a database connection, an HTTP session or a model. Each worker
    has its own (each thread, on the thread pool), so objects that are not
    thread-safe are never shared; process_item gets its worker's with
    `connection = worker_resource()` (from .parallel import worker_resource):

        return sqlite3.connect("cache.db")      # a database connection
        return requests.Session()               # an HTTP session

    If it raises, the run stops and says so."""
    return None


def teardown(resource):
    """Runs once in each worker as the run ends normally, with what setup()
    returned there: `resource.close()`. Not after Ctrl-C or a crash."""


def items():
    """THE ITEMS, when the command line names no files and no --lines: return any
    iterable. For example:

        return range(1_000)                                   # numbers
        return [row[0] for row in connection.execute(query)]  # ids from a database
        # Rows of a CSV, as dicts. "utf-8-sig" drops the byte-order mark that
        # Excel writes first, which would stick to the first column's name.
        return csv.DictReader(open("rows.csv", newline="", encoding="utf-8-sig"))

    A generator (`yield`) is read as the run goes, a few items ahead of the
    workers: a table of millions of rows needs no list of them.

    Items travel to worker processes by pickling: plain data (numbers, strings,
    paths, tuples, dicts) works; open files and connections do not.
    """
    return demo_items()


def demo_items() -> list:
    """A few small items like yours: the demo runs them, and the tests run
    process_item on them. Keep them small and fast when you change them."""
    return [f"demo item {number:02d}" for number in range(40)]
