"""Loop bodies for the engine tests, at module level so that worker processes can
import them under any start method. Used as the `tasks` module of run_cli.py.

Each item is a file or a line of text; what it says is what the loop body does:
"fail" raises, "http://..." fetches that URL, "exit" kills the worker process, "sys.exit" calls sys.exit(3),
"sleep S" waits S seconds, "print" prints to stdout, "hang" sleeps for good,
"nested" runs a process pool of its own, "regex [DIR]" holds the GIL in C code
for good (after a mark in DIR), "spin N" computes for N loops, "meet DIR"
waits until two items are running at once, "stuck" hangs where SIGALRM cannot
reach it, "once hang DIR" and "once regex DIR" hang or hold the GIL at their first
call only (then return "again"), "log" logs a warning, "info" logs an info record, "flaky DIR" fails
twice with ConnectionError and then checks that other items finished meanwhile,
"done DIR" leaves a mark there, "whoami" returns the worker process's name,
"leak MB" keeps MB more memory, "tree DIR [exit|return|stuck]" starts
commands (start_a_tree), "child sigign" the signals a command it runs blocks and ignores, "shell CMD" runs CMD, "until FILE" waits for FILE,
"signals" how the worker handles SIGINT and SIGTERM, "pid" the worker's process
id, "watches" how many timeout watch threads run once those of earlier runs had
time to stop, "data" the module's DATA as the worker sees it, "half [FILE]" dies
halfway through sending its result (and touches FILE first), "inner"
runs a small process pool of its own and returns its results' sum, anything else
returns its length. With $PFOR_SETUP_DIR set, each call of setup() leaves a mark
there; with $PFOR_SETUP_FAIL set, it raises (teardown(): $PFOR_TEARDOWN_FAIL).
$PFOR_RETRY_ON names the builtin exceptions of RETRY_ON, for the command line;
$PFOR_MAX_ITEMS sets MAX_ITEMS_PER_WORKER (JSON).
"""

import builtins
import importlib
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import urlopen

DATA = "set at import"  # see "data"
POOL = "process"
MAX_WORKERS = 2
PATTERN = "map"
if os.environ.get("PFOR_MAX_ITEMS"):  # JSON: tasks.py's MAX_ITEMS_PER_WORKER
    MAX_ITEMS_PER_WORKER = json.loads(os.environ["PFOR_MAX_ITEMS"])
if os.environ.get("PFOR_RETRY_ON"):  # names of builtin exceptions: RETRY_ON
    RETRY_ON = tuple(
        getattr(builtins, name) for name in os.environ["PFOR_RETRY_ON"].split(",")
    )


def process_item(item):
    text = item.read_text() if isinstance(item, Path) else item
    if text.startswith("once "):  # "once hang DIR", "once regex DIR": the first call
        what, folder = text.split()[1:]
        try:
            Path(folder, "once").touch(exist_ok=False)
        except FileExistsError:
            return "again"
        text = what
    if text == "fail":
        raise ValueError(f"cannot process {item}")
    if text.startswith("http://"):  # a URL: what the server says, as bytes read
        with urlopen(text, timeout=60) as response:
            return len(response.read())
    if text == "exit":
        os._exit(3)
    if text == "segfault":  # what a C extension does with a bad pointer
        import ctypes

        ctypes.string_at(0)
    if text.startswith("wait to be killed "):  # "... DIR": its pid in DIR/pid
        Path(text.split()[-1], "pid").write_text(str(os.getpid()))
        time.sleep(120)
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
    if text.startswith("regex"):  # C code that holds the GIL for good
        if " " in text:
            Path(text.split(maxsplit=1)[1], str(os.getpid())).touch()
        re.match(r"(a+)+$", "a" * 40 + "b")
    if text == "stuck":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(10**6)
    if text == "log":
        logging.getLogger("bodies").warning("a warning from the loop body")
    if text == "info":
        logging.getLogger("bodies").info("an info record from the loop body")
    if text.startswith("leak "):  # "leak MB": keeps MB more, returns [pid, peak MB]
        LEAKED.append(b"x" * (int(text.split()[1]) * 2**20))
        return [os.getpid(), peak_resident_mb()]
    if text.startswith("tree "):  # "tree DIR [then exit|return]"
        return start_a_tree(*text.split()[1:])
    if text.startswith("until "):  # "until FILE": waits for FILE (2 minutes at most)
        deadline = time.monotonic() + 120
        while not Path(text.split(maxsplit=1)[1]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("nobody made the file")
            time.sleep(0.01)
    if text.startswith("shell "):  # "shell CMD": runs CMD, returns its exit code
        return subprocess.run(["sh", "-c", text.split(maxsplit=1)[1]]).returncode
    if text == "child sigign":  # the signals a command run here blocks, ignores
        status = subprocess.run(["cat", "/proc/self/status"], capture_output=True)
        lines = status.stdout.decode().splitlines()
        return [line for line in lines if line.startswith(("SigBlk", "SigIgn"))]
    if text == "signals":
        handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        return [getattr(h, "name", getattr(h, "__name__", repr(h))) for h in handlers]
    if text.startswith("flaky "):
        return flaky(Path(text.split(maxsplit=1)[1]))
    if text.startswith("done "):
        time.sleep(0.1)
        folder = Path(text.split(maxsplit=1)[1])
        (
            folder / f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        ).touch()
        return worker_id()
    if text == "whoami":
        import multiprocessing

        return multiprocessing.current_process().name
    if text.startswith("getenv "):
        return os.environ.get(text.split()[1])
    if text == "pid":
        return os.getpid()
    if text == "engine file":  # where the engine this worker runs was imported from
        return sys.modules[
            os.environ["PFOR_PACKAGE"] + "._engine.worker_calls"
        ].__file__
    if text == "watches":
        return watches_left()
    if text == "data":
        return DATA
    if text.startswith("half"):
        half_a_result(text.split()[1:])
    if text == "inner":
        package = __import__(os.environ["PFOR_PACKAGE"] + ".parallel")
        return sum(package.parallel.run_map(square, [1, 2, 3], progress=False))
    if text == "hang":
        time.sleep(10**6)
    if text == "nested":
        package = __import__(os.environ["PFOR_PACKAGE"] + ".parallel")
        package.parallel.run_map(
            process_item, ["hang"] * 4, pool="process", max_workers=2, progress=False
        )
    return len(text)


def half_a_result(marker: list) -> None:
    """Dies as a worker killed while it sent its result would: the pool's result
    pipe holds the start of a message (a header saying 1,000 bytes, then 10)."""
    import gc
    import multiprocessing.queues
    import struct

    (results,) = [
        o for o in gc.get_objects() if type(o) is multiprocessing.queues.SimpleQueue
    ]
    results._writer._send(struct.pack("!i", 1000) + b"x" * 10)
    for path in marker:
        Path(path).touch()
    os._exit(9)


def watches_left(timeout=10) -> int:
    def count():
        return sum(t.name.endswith("(watch)") for t in threading.enumerate())

    deadline = time.monotonic() + timeout
    while count() and time.monotonic() < deadline:
        time.sleep(0.01)
    return count()


def worker_id() -> str:
    return f"{os.getpid()}-{threading.get_ident()}"


def setup():
    if os.environ.get("PFOR_SETUP_FAIL"):
        raise RuntimeError("no database here")
    if os.environ.get("PFOR_SETUP_DIR"):  # one mark per call: WORKER-WHEN
        Path(
            os.environ["PFOR_SETUP_DIR"], f"{worker_id()}-{time.monotonic_ns()}"
        ).touch()


def teardown(resource) -> None:
    if os.environ.get("PFOR_TEARDOWN_FAIL"):
        raise OSError("cannot close the connection")


def mark_teardown(folder: str, resource) -> None:
    """A teardown() that leaves one mark per call in folder: closed-WORKER."""
    Path(folder, f"closed-{worker_id()}").touch()


def mark_setup(folder: str) -> None:
    """A setup() that leaves one mark per call in folder: WORKER-WHEN."""
    Path(folder, f"{worker_id()}-{time.monotonic_ns()}").touch()


LEAKED = []  # what "leak MB" keeps


def peak_resident_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def start_a_tree(folder: str, then: str = "wait"):
    """Starts what a loop body starts: a command, a shell pipeline, and a shell
    whose child (our grandchild) runs on; notes their pids in folder, then waits
    for another command (or exits the worker, or returns)."""
    started = [
        subprocess.Popen(["sleep", "1000"]),
        subprocess.Popen(["sh", "-c", "sleep 1000 | cat"]),
        subprocess.Popen(
            ["sh", "-c", "sleep 1000 & echo $! > grandchild; wait"], cwd=folder
        ),  # fmt: skip
    ]
    grandchild = Path(folder, "grandchild")
    deadline = time.monotonic() + 60
    while not grandchild.exists() or not grandchild.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError("the grandchild did not start")
        time.sleep(0.01)
    pids = [p.pid for p in started] + [int(grandchild.read_text())]
    Path(folder, f"pids-{os.getpid()}").write_text(" ".join(map(str, pids)))
    if then == "exit":
        os._exit(3)
    if then == "return":
        return pids
    if then == "stuck":  # where its timeout cannot reach
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(10**6)
    subprocess.run(["sleep", "1000"])


def open_database(path: str):
    """A setup(): this worker's own sqlite3 connection, to a file all share."""
    connection = sqlite3.connect(path, timeout=60)  # waits for the others' writes
    connection.execute("create table if not exists done (item, worker)")
    connection.commit()
    Path(f"{path}-setup-{worker_id()}").touch()
    return connection


def record_in_database(item):
    """The loop body: inserts the item with its worker's connection."""
    package = os.environ.get("PFOR_PACKAGE", "parallel_loop")
    connection = importlib.import_module(package + ".parallel").worker_resource()
    if str(item).startswith("meet "):
        meet(Path(item.split(maxsplit=1)[1]))
    connection.execute("insert into done values (?, ?)", (item, worker_id()))
    connection.commit()
    return worker_id()


def record_numbered_in_database(index: int, item):
    return record_in_database(item)


def close_database(path: str, connection) -> None:
    """A teardown(): a query first, which fails in any other thread than the one
    that opened the connection; leaves a mark, then closes it."""
    (count,) = connection.execute("select count(*) from done").fetchone()
    Path(f"{path}-closed-{worker_id()}").touch()
    connection.close()


def flaky(folder: Path):
    """Fails twice; the third time, other items must have finished in between."""
    attempts = folder / "attempts"
    done_before = (
        [int(n) for n in attempts.read_text().split()] if attempts.exists() else []
    )
    done_now = len(list(folder.glob("*-*-*")))
    attempts.write_text(" ".join(map(str, [*done_before, done_now])))
    if len(done_before) < 2:
        raise ConnectionError(f"attempt {len(done_before) + 1} fails")
    if done_now <= done_before[0]:
        raise ValueError("no other item finished while this one waited to retry")
    return len(done_before) + 1


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


def throttled_once(folder_and_number):
    """Raises the package's Throttled(retry_after=0.2) at the first call for a
    number of every four (a mark in the folder); returns the number."""
    folder, number = folder_and_number
    if number % 4 != 1:
        return number
    package = os.environ.get("PFOR_PACKAGE", "parallel_loop")
    throttled = importlib.import_module(package + ".parallel").Throttled
    try:
        Path(folder, f"throttled-{number}").touch(exist_ok=False)
    except FileExistsError:
        return number
    raise throttled(retry_after=0.2)
