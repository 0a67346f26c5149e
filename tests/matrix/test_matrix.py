"""Each kind of generated project on every Python the machine has (pythons.py):
its own tests, the demo, a library call of each pattern on each pool that exits
cleanly, and, for the package, Ctrl-C and a killed worker. A supported version
that is not on this machine is a skip that says so, not a silent pass.

Each leg makes a fresh virtual environment with uv, from the project's own
declared dependencies, and runs the project in place (as its tests do)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
import small_disk
from local_http import Service, serving
from matrix import pythons
from processes import IGNORING_CTRL_C, processes_in_session, tool, wait_for
from rendering import ENGINE, script_metadata

KINDS = {
    "package": {},  # the defaults: process pool, map
    "thread": {"pool": "thread", "pattern": "submit"},
    "script": {"layout": "script"},
    "dask": {"distributed": "dask"},
}
# The generated tests each kind runs here. The thread kind differs from the package
# in tasks.py only (the package's tests run both pools), and the dask kind adds a
# module: the rest of their tests are the package's.
OWN_TESTS = {
    "package": [],
    "thread": ["tests/test_tasks.py"],
    "script": [],
    "dask": ["tests/test_tasks.py", "tests/test_dask_pool.py"],
}
# Words that must not reach stderr of a run that went well, on any Python.
NOT_ON_STDERR = ("Traceback", "Exception ignored", "Warning", "leaked", "Error")

# A library call of each pattern on each pool, as a user's script makes it.
LIBRARY_CALL = """
from {module} import run_map, run_submit

def square(x):
    return x * x

def indexed_square(index, x):
    return x * x

if __name__ == "__main__":
    expected = [x * x for x in range(500)]
    for pool in ("process", "thread"):
        options = {{"pool": pool, "max_workers": 2{progress}}}
        assert list(run_map(square, range(500), **options)) == expected
        assert list(run_submit(indexed_square, range(500), **options)) == expected
{package_only}    print("ok")
"""


def test_the_matrix_reports_what_it_found():
    chosen, skipped = pythons.survey()
    assert pythons.running_tag() in chosen, pythons.report()
    for path, why in skipped:
        assert why, path
    print("\n".join(pythons.report()))


@pytest.fixture(params=pythons.SUPPORTED)
def python(request):
    found = pythons.survey()[0].get(request.param)
    if found is None:
        pytest.skip(f"Python {request.param} not found {pythons.WHERE}")
    return found


@pytest.fixture
def venv(python, tmp_path):
    """venv(*requirements) -> the python of a fresh virtual environment."""
    uv = tool("uv")
    if uv is None:
        pytest.skip(
            "uv is not installed: python -m pip install -r requirements-test.txt"
        )
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}

    def make(*requirements):
        folder = tmp_path / "venv"
        for command in (
            ["venv", "--quiet", "--python", python.path, str(folder)],
            ["pip", "install", "--quiet", "--python", str(folder), *requirements],
        ):
            done = subprocess.run(
                [uv, *command], capture_output=True, text=True, env=env, timeout=600
            )
            if done.returncode and "dask" in " ".join(requirements):
                pytest.skip(f"dask does not install on {python.tag}: {done.stderr}")
            assert done.returncode == 0, done.stderr
        return str(pythons.venv_python(folder))

    return make


def requirements(project, kind) -> list[str]:
    """What the project's own files declare: pyproject.toml's dependencies and its
    test extra, or the script's PEP 723 block and pytest."""
    if kind == "script":
        script = project.script.read_text(encoding="utf-8")
        return [*script_metadata(script)["dependencies"], "pytest>=8"]
    declared = project.pyproject()["project"]
    return [*declared["dependencies"], *declared["optional-dependencies"]["test"]]


def call(python, *args, cwd, env=None, timeout=300):
    return subprocess.run(
        [python, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def check_clean(done, what):
    assert done.returncode == 0, f"{what}: exit {done.returncode}\n{done.stderr}"
    for word in NOT_ON_STDERR:
        assert word not in done.stderr, f"{what}: {word!r} on stderr\n{done.stderr}"


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_project_on_each_python(render, venv, python, kind, tmp_path):
    project = render(**KINDS[kind])
    interpreter = venv(*requirements(project, kind))
    script = kind == "script"

    # Its own tests, started with Ctrl-C ignored, as in the background. (On the
    # Python running this suite, tests/template/test_workflows.py runs them all, as
    # CI would.)
    if python.tag != pythons.running_tag():
        paths = OWN_TESTS[kind]
        done = call(interpreter, *IGNORING_CTRL_C, "-m", "pytest", "-q",
                    "-p", "no:cacheprovider", *paths, cwd=project, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]

    # The demo: one JSON line per item, and nothing alarming on stderr.
    demo = [f"{project.name}.py"] if script else ["-m", project.name, "--no-progress"]
    done = call(interpreter, *demo, cwd=project, env={"TQDM_DISABLE": "1"})
    check_clean(done, "the demo")
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == list(
        range(40)
    )

    # A library call of each pattern on each pool exits cleanly.
    module = project.name if script else f"{project.name}.parallel"
    progress = "" if script else ', "progress": False'
    probe = tmp_path / "library_call.py"
    package_only = "" if script else PACKAGE_CALLS.format(module=module)
    probe.write_text(
        LIBRARY_CALL.format(module=module, progress=progress, package_only=package_only)
    )
    env = {"PYTHONPATH": str(project), "TQDM_DISABLE": "1"}
    done = call(interpreter, str(probe), cwd=tmp_path, env=env)
    check_clean(done, "a library call")
    assert done.stdout == "ok\n"


# What the package's library has and the script's has not: the streaming form,
# and a rate (as LIBRARY_CALL's lines, in its loop over the pools).
PACKAGE_CALLS = """\
        from {module} import run_as_completed
        found = sorted(run_as_completed(square, iter(range(500)), **options))
        assert found == list(enumerate(expected))
        assert run_map(square, range(5), rate="600/min", **options) == expected[:5]
"""


CTRL_C_CALL = """
import time
from {module} import run_map
try:
    run_map(time.sleep, [0.1, 60], pool="{pool}", max_workers=2, progress=False,
            on_result=lambda index, result: print("first result", flush=True))
except KeyboardInterrupt:
    print("KeyboardInterrupt reached the caller", flush=True)
# The program ends here, without waiting for the item still asleep on a thread.
"""


def make_files(folder, *contents):
    folder.mkdir()
    for number, content in enumerate(contents):
        (folder / f"item{number:04d}.txt").write_text(content)
    return sorted(folder.iterdir())


def lines_in(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_ctrl_c_and_a_killed_worker_on_each_python(
    render, venv, python, pool, tmp_path
):
    project = render()
    interpreter = venv(*requirements(project, "package"))

    # Ctrl-C: exit 130, the results so far kept, no traceback, no process left.
    out = tmp_path / "results.jsonl"
    files = make_files(tmp_path / "slow", *["sleep 0.4"] * 40)
    run = project.start_cli(*files, "--pool", pool, "--workers", "2",
                            "--output", out, python=interpreter)  # fmt: skip
    wait_for(lambda: lines_in(out) >= 2)
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches every process of the terminal
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert f"interrupted: {lines_in(out)} of 40 items finished" in stderr
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    wait_for(lambda: processes_in_session(run.pid) == [], what="the processes to end")

    # A library call, Ctrl-C'd just as it starts to wait for a long item, where a
    # wait with no end can miss it (free-threaded Python): it is seen, each time.
    for attempt in range(3):
        code = CTRL_C_CALL.format(module=f"{project.name}.parallel", pool=pool)
        run = subprocess.Popen([interpreter, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=project,
                               start_new_session=True)  # fmt: skip
        try:
            assert run.stdout.readline() == "first result\n", run.stderr.read()
            os.killpg(run.pid, signal.SIGINT)
            stdout, stderr = run.communicate(timeout=30)  # not the 60 s item
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
        assert stdout == "KeyboardInterrupt reached the caller\n", (attempt, stderr)
    if pool == "thread":
        return

    # A worker killed under an item: named, the others' results kept, exit 1.
    files = make_files(tmp_path / "dies", "sleep 0.05", "exit", *["sleep 0.05"] * 10)
    run = project.start_cli(
        *files, "--workers", "1", "--no-progress", python=interpreter
    )
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert (
        "item #1 (" in stderr and "WorkerCrashed: its worker process exited" in stderr
    )
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1] and "error" in records[1]
    wait_for(lambda: processes_in_session(run.pid) == [], what="the processes to end")


def test_the_private_cpython_attributes_exist_on_each_python(project, python):
    """The engine reads a few private attributes of CPython (_engine/cpython.py): a
    Python that drops one fails here, by name."""
    code = "from parallel_loop._engine import cpython; print(cpython.missing())"
    done = call(python.path, "-c", code, cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n", f"Python {python.version} lacks {done.stdout}"


REFUSED = """
from concurrent.futures import InterpreterPoolExecutor
from parallel_loop.parallel import run_map
with InterpreterPoolExecutor(2) as executor:
    try:
        run_map(abs, [-1], pool=executor, progress=False)
    except ValueError as exc:
        print(exc)
"""


def test_an_interpreter_pool_is_refused_with_the_reason(project, python, venv):
    if python.tag < "3.14":
        pytest.skip("InterpreterPoolExecutor is new in Python 3.14")
    interpreter = venv(*requirements(project, "package"))
    done = call(interpreter, "-c", REFUSED, cwd=project, env={"PYTHONPATH": "."})
    assert done.returncode == 0, done.stderr
    assert "InterpreterPoolExecutor is not supported" in done.stdout
    assert 'pool="process"' in done.stdout and 'pool="thread"' in done.stdout


FROM_PYTHON_C = """
from parallel_loop import parallel
def square(x):
    return x * x
try:
    parallel.run_map(square, range(3), progress=False)
except parallel.PoolError as exc:
    print(exc)
print(parallel.run_map(square, range(3), pool="thread", progress=False))
"""


def test_a_loop_body_of_python_c_is_refused_on_each_python(project, python, venv):
    """tests/engine/test_notebooks.py, on each Python: refused on processes, with
    the fix; run on threads."""
    interpreter = venv(*requirements(project, "package"))
    done = call(interpreter, "-c", FROM_PYTHON_C, cwd=project, env={"PYTHONPATH": "."})
    assert done.returncode == 0, done.stderr
    assert "defined in a notebook cell, python -c or stdin" in done.stdout, done.stdout
    assert 'or use pool="thread"' in done.stdout
    assert done.stdout.endswith("[0, 1, 4]\n")


RESOURCES_CALL = """
import functools, sqlite3, sys, tempfile
from pathlib import Path

import bodies
from parallel_loop.parallel import run_map

if __name__ == "__main__":
    for pool in ("thread", "process"):
        folder = Path(tempfile.mkdtemp())
        path = str(folder / "shared.db")
        results = run_map(
            bodies.record_in_database, [f"item {n}" for n in range(100)],
            pool=pool, max_workers=2, progress=False,
            setup=functools.partial(bodies.open_database, path),
            teardown=functools.partial(bodies.close_database, path),
        )
        with sqlite3.connect(path) as connection:
            (count,) = connection.execute("select count(*) from done").fetchone()
        setups = {p.name.split("-setup-")[1] for p in folder.glob("*-setup-*")}
        closed = {p.name.split("-closed-")[1] for p in folder.glob("*-closed-*")}
        print(pool, count, setups == closed >= set(results))
"""


def test_each_worker_has_its_own_resource_on_each_python(project, python, venv):
    """tests/engine/test_worker_resources.py, on each Python: sqlite3 connections of
    setup(), one per thread or process, each closed by teardown() where made."""
    stdout = call_with_bodies(project, venv, RESOURCES_CALL, "setup and teardown")
    assert stdout == "thread 100 True\nprocess 100 True\n"


def call_with_bodies(project, venv, code: str, what: str) -> str:
    """Runs `python -c code` in a fresh venv of the project, with
    tests/engine/bodies.py importable; checks it exits cleanly, and returns its
    stdout."""
    interpreter = venv(*requirements(project, "package"))
    path = os.pathsep.join([str(project), str(ENGINE)])
    done = call(interpreter, "-c", code, cwd=project, env={"PYTHONPATH": path})
    check_clean(done, what)
    return done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_commands_of_the_loop_body_end_with_the_run_on_each_python(
    project, python, venv, tmp_path, signum
):
    """tests/engine/test_no_orphans.py, on each Python: SIGTERM and kill -9 of the main
    process leave none of the commands a loop body started."""
    interpreter = venv(*requirements(project, "package"))
    folder = tmp_path / "tree"
    folder.mkdir()
    listing = tmp_path / "items.txt"
    listing.write_text(f"tree {folder}\nhang\n")
    run = project.start_cli("--lines", listing, "--workers", "2", python=interpreter)
    wait_for(lambda: list(folder.glob("pids-*")), what="the commands to start")
    os.kill(run.pid, signum)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == (-9 if signum == signal.SIGKILL else 143), stderr
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")


RECYCLING_CALL = """
import collections

import bodies
from parallel_loop._engine import executors
from parallel_loop.parallel import run_map

if __name__ == "__main__":
    for method in ("forkserver", "fork"):
        executors.START_METHOD = method
        pids = run_map(bodies.process_item, ["pid"] * 40, max_workers=2,
                       progress=False, max_items_per_worker=5)
        per_worker = collections.Counter(pids)
        print(method, len(pids), max(per_worker.values()) <= 5 < len(per_worker))
"""


def test_workers_are_recycled_on_each_python(project, python, venv):
    """tests/engine/test_recycling.py, on each Python (3.10 has no max_tasks_per_child,
    and fork refuses it): workers replaced after 5 items, every item run once."""
    stdout = call_with_bodies(project, venv, RECYCLING_CALL, "recycling")
    assert stdout == "forkserver 40 True\nfork 40 True\n"


CRASH_CALL = """
import bodies
from parallel_loop._engine import executors
from parallel_loop.parallel import Failure, run_map

if __name__ == "__main__":
    items = ["a"] * 100 + ["exit", "segfault", "exit"] + ["bb"] * 100
    for method in ("forkserver", "spawn", "fork"):
        executors.START_METHOD = method
        outcomes = run_map(bodies.process_item, items, max_workers=2, progress=False,
                           keep_going=True)
        crashed = [i for i, o in enumerate(outcomes) if isinstance(o, Failure)]
        fine = [o for o in outcomes if not isinstance(o, Failure)]
        print(method, crashed, fine == [1] * 100 + [2] * 100)
"""


def test_an_item_that_crashes_its_worker_fails_alone_on_each_python(
    project, python, venv
):
    """tests/engine/test_crashes.py, on each Python: an item whose worker process
    dies (os._exit, a segfault) fails alone, and the others run on new workers."""
    stdout = call_with_bodies(project, venv, CRASH_CALL, "crashes")
    lines = [
        f"{method} [100, 101, 102] True" for method in ("forkserver", "spawn", "fork")
    ]
    assert stdout.splitlines() == lines


# The demo's loop body through run_map on 2 threads, against run_serial: the big
# numbers its loop uses (constants loaded inside a loop that are not immortal are
# shared by the threads, which then contend for their reference counts), and the
# CPU time the threads take over the serial loop's (medians of 3). CPU time, not
# the wall clock: busy neighbours slow the wall clock, while contention costs CPU.
DEMO_ON_THREADS = """
import dis, statistics, sys, time
from parallel_loop import tasks
from parallel_loop.parallel import run_map, run_serial

def mortal_constants_in_loops(code):
    instructions = list(dis.get_instructions(code))
    loops = [(i.argval, i.offset) for i in instructions
             if i.opname.startswith("JUMP_BACKWARD")]
    return [i.argval for i in instructions if i.opname.startswith("LOAD_CONST")
            and any(start <= i.offset <= end for start, end in loops)
            and not sys._is_immortal(i.argval)]

def timed(run):
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu

if __name__ == "__main__":
    import literals  # the guide's example: the demo's FNV loop before
    print(mortal_constants_in_loops(literals.fnv.__code__))
    print(mortal_constants_in_loops(tasks.process_item.__code__))
    items = tasks.demo_items()[:8]
    options = {"pool": "thread", "max_workers": 2, "progress": False}
    serial, threads = [], []
    for _ in range(3):
        serial.append(timed(lambda: run_serial(tasks.process_item, items, progress=False)))
        threads.append(timed(lambda: run_map(tasks.process_item, items, **options)))
    median = lambda runs, k: statistics.median(run[k] for run in runs)
    print(median(threads, 1) / median(serial, 1), median(serial, 0) / median(threads, 0))
"""


LITERALS = """
def fnv(data):
    checksum = 0xCBF29CE484222325
    for byte in data:
        checksum = ((checksum ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return checksum
"""


@pytest.mark.parametrize("compiled", ["from source", "from a .pyc"])
def test_the_demo_computes_on_threads_on_free_threaded_python(
    project, python, venv, compiled, tmp_path
):
    """docs/threads-and-processes.md: on a free-threaded build the demo's loop body
    computes on 2 threads at once, whether its module was compiled from source
    (no .pyc: PYTHONDONTWRITEBYTECODE, Docker, the first run after an edit) or
    loaded from a .pyc. The speedup itself is a benchmark's figure
    (benchmarks/free_threading.py): printed here, not asserted."""
    if not python.tag.endswith("t"):
        pytest.skip("threads compute at once only on a free-threaded build")
    interpreter = venv(*requirements(project, "package"))
    (tmp_path / "literals.py").write_text(LITERALS)
    for cache in project.path.rglob("__pycache__"):
        shutil.rmtree(cache)
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tmp_path)}
    if compiled == "from a .pyc":
        for folder in (project.name, str(tmp_path)):
            done = call(interpreter, "-m", "compileall", "-q", folder, cwd=project)
            assert done.returncode == 0, done.stdout + done.stderr
        env["PYTHONDONTWRITEBYTECODE"] = ""
    done = call(interpreter, "-c", DEMO_ON_THREADS, cwd=project, env=env)
    check_clean(done, "the demo on threads")
    literals, mortal, numbers = done.stdout.splitlines()
    cpu, speedup = map(float, numbers.split())
    print(f"{python.tag}, {compiled}: {speedup:.2f}x on 2 threads, CPU {cpu:.2f}x")
    # The guide's why: literals are shared objects, immortal from a .pyc only.
    shared = "[1099511628211, 18446744073709551615]"
    assert literals == ("[]" if compiled == "from a .pyc" else shared)
    assert mortal == "[]", f"shared constants in the demo's loop: {mortal}"
    assert cpu < 1.6, f"the threads took {cpu:.2f}x the serial loop's CPU time"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_stopped_run_fails_no_item_as_late_on_each_python(
    project, python, venv, pool, tmp_path
):
    """tests/engine/test_stops.py, on each Python: every process of the run stopped
    for 7 s (as Ctrl-Z or a sleeping laptop does), then continued, with a timeout
    of 4 s on items of 2 s and a retry: no item fails, none is tried twice."""
    interpreter = venv(*requirements(project, "package"))
    listing, out = tmp_path / "items.txt", tmp_path / "out.jsonl"
    listing.write_text("sleep 2\n" * 4)
    run = project.start_cli(
        "--lines", listing, "--pool", pool, "--workers", "2", "--timeout", "4",
        "--retries", "1", "--output", out, "--no-progress", python=interpreter,
    )  # fmt: skip
    wait_for(lambda: lines_in(out) >= 1)  # two done, two running: stop them there
    pids = processes_in_session(run.pid)
    for signum in (signal.SIGSTOP, signal.SIGCONT):
        for pid in pids:
            os.kill(pid, signum)
        if signum == signal.SIGSTOP:
            time.sleep(7)  # the stop itself, longer than the timeout
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3]
    assert [(r.get("error"), r["attempts"]) for r in records] == [(None, 1)] * 4


@pytest.mark.skipif(not small_disk.available(), reason=small_disk.UNAVAILABLE)
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_resume_after_a_full_disk_on_each_python(project, python, venv, pool, tmp_path):
    """tests/engine/test_engine.py's small disk, on each Python: --resume appends, so
    it finishes in less room than the results file already takes."""
    interpreter = venv(*requirements(project, "package"))
    small_disk.check_resume_after_a_full_disk(project, interpreter, pool, tmp_path)


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_service_that_throttles_on_each_python(project, python, venv, pool, tmp_path):
    """tests/engine/test_services.py, on each Python: asked for 25 a second, a pool
    of 8 against a service that takes 20 and asks for 1 s of quiet when passed
    keeps every pause, sends few requests more than items, and finishes all."""
    interpreter = venv(*requirements(project, "package"))
    service = Service(per_second=20, burst=5, retry_after=1)
    with serving(service.handler()) as port:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"http://127.0.0.1:{port}/{n}\n" for n in range(60)))
        run = project.start_cli(
            "--lines", listing, "--pool", pool, "--workers", "8", "--rate", "25",
            "--no-progress", python=interpreter,
        )  # fmt: skip
        stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(r["index"] for r in records if "result" in r) == list(range(60))
    service.check_kept_to(items=60, extra=6)


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_the_first_result_comes_while_the_input_goes_on_on_each_python(
    project, python, venv, pool
):
    """tests/engine/test_streaming.py, on each Python: lines on standard input,
    left open, give results before the input ends."""
    interpreter = venv(*requirements(project, "package"))
    run = project.start_cli(
        "--lines", "-", "--pool", pool, "--no-progress", python=interpreter,
        stdin=subprocess.PIPE,
    )  # fmt: skip
    run.stdin.write("".join(f"x{n}\n" for n in range(100)))
    run.stdin.flush()  # and left open
    ready, _, _ = select.select([run.stdout], [], [], 120)
    assert ready, "no result while the input was still open"
    assert run.stdout.readline().startswith('{"index": ')
    run.stdin.close()
    rest = run.stdout.read()
    run.wait(timeout=120)
    assert run.returncode == 0
    assert len(rest.splitlines()) == 99


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB")
@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_million_lines_run_in_flat_memory_on_each_python(
    project, python, venv, pool, tmp_path
):
    """tests/engine/test_streaming.py, smaller, on each Python: a million lines
    take little more memory than forty (read into a list, they took ~90 MB)."""
    interpreter = venv(*requirements(project, "package"))
    short, long = tmp_path / "40.txt", tmp_path / "1m.txt"
    short.write_text("".join(f"x{n}\n" for n in range(40)))
    long.write_text("".join(f"x{n}\n" for n in range(1_000_000)))
    args = ("--pool", pool, "--no-progress")
    log = tmp_path / "stderr.txt"
    forty = project.peak_mb_of_cli("--lines", short, *args, log=log, python=interpreter)
    million = project.peak_mb_of_cli(
        "--lines", long, *args, log=log, python=interpreter
    )
    assert million - forty < 50, (forty, million)
