"""What the engine takes from the machine: CPU quotas of containers, BLAS threads
in worker processes, free-threaded Python in bench's advice."""

import os
import sys
import time

import bodies
import pytest
from local_http import QuietHandler, serving


@pytest.fixture
def engine(project):
    from parallel_loop._engine import worker_count

    return worker_count


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


@pytest.mark.parametrize(
    "files, quota",
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, docker --cpus 1.5
        ({"cpu.max": "max 100000\n"}, None),  # v2, no limit
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup files: macOS, Windows
    ],
)
def test_the_cgroup_cpu_quota_is_read(engine, tmp_path, files, quota):
    assert engine.cgroup_cpu_quota(write(tmp_path, files)) == quota


def test_the_default_worker_count_respects_a_cpu_quota(engine, monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(
        os, "sched_getaffinity", lambda pid: set(range(16)), raising=False
    )
    monkeypatch.setattr(engine, "cgroup_cpu_quota", lambda: 3.5)  # 16 CPUs, 3.5 allowed
    assert engine.usable_cpus() == 4
    assert engine.default_max_workers() == 2
    monkeypatch.setattr(engine, "cgroup_cpu_quota", lambda: 0.25)
    assert engine.default_max_workers() == 1
    monkeypatch.setattr(engine, "cgroup_cpu_quota", lambda: None)
    assert engine.usable_cpus() == 16


@pytest.mark.skipif(not hasattr(os, "process_cpu_count"), reason="Python 3.13+")
def test_python_cpu_count_is_the_users_word(engine, monkeypatch):
    monkeypatch.setenv("PYTHON_CPU_COUNT", "6")
    monkeypatch.setattr(engine, "cgroup_cpu_quota", lambda: 1.0)
    assert engine.usable_cpus() == 6


def blas_threads(item):
    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")


def test_worker_processes_get_one_blas_thread_unless_set(project, monkeypatch):
    from parallel_loop.parallel import run_map

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    meanwhile = []  # this process's, while the pool runs: a numpy imported now gets 1

    def note(index, result):
        meanwhile.append(os.environ.get("OMP_NUM_THREADS"))

    run = {"max_workers": 1, "progress": False}
    assert run_map(blas_threads, [1], on_result=note, **run) == [("1", "1")]
    assert meanwhile == ["1"]
    assert "OMP_NUM_THREADS" not in os.environ  # this process's is left as it was
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own choice stays
    assert run_map(blas_threads, [1], pool="thread", progress=False) == [("3", None)]
    assert run_map(blas_threads, [1], max_workers=1, progress=False)[0][0] == "3"


@pytest.fixture
def bench(project):
    from parallel_loop.cli import bench

    return bench


def run_bench(project, capsys, *args):
    from parallel_loop.cli import main

    assert main(["bench", *map(str, args)], tasks=bodies) == 0
    return capsys.readouterr().out


def test_bench_times_the_lines_of_a_file(project, tmp_path, capsys):
    listing = tmp_path / "items.txt"
    listing.write_text("a\nbb\nccc\n")
    out = run_bench(
        project, capsys, "--lines", listing, "--sample", "2", "--repeats", "1"
    )
    assert "timing 2 items" in out and "recommendation:" in out


def test_bench_says_when_a_sample_is_too_short(project, make_files, capsys):
    files = make_files(*["a"] * 10)
    out = run_bench(project, capsys, *files, "--sample", "2", "--repeats", "1")
    assert "too short to be sure" in out and "(--sample 10)" in out  # all there is
    out = run_bench(project, capsys, *files[:2], "--repeats", "1")
    assert "too short to be sure" in out and "Time larger items." in out
    assert "--sample" not in out  # the sample is the whole input already


def test_bench_advises_from_a_short_sample_and_asks_for_more(project, bench, capsys):
    # As measured on 400 quick items (sha256 of files) on free-threaded 3.14t.
    rows = [
        bench.Timing("serial", 1, 0.120, 0.004, 0),
        bench.Timing("thread", 2, 0.0706, 0.003, 0),
        bench.Timing("process", 1, 0.150, 0.010, 0),
        bench.Timing("process", 2, 0.095, 0.010, 0),
    ]
    assert bench.recommend(rows, 400) == 0
    out = capsys.readouterr().out
    assert "recommendation: --pool thread --workers 2 (1.70x the serial speed" in out
    assert "1.58x to 1.83x over the repeats" in out
    suggested = int(out.split("--sample ")[1].split(")")[0])
    assert suggested > 400  # more than was timed: 0.2 s of serial work at least
    rows[0] = bench.Timing(
        "serial", 1, 1.2, 0.01, 0
    )  # a sample long enough, a clear result
    rows[1] = bench.Timing("thread", 2, 0.706, 0.01, 0)
    bench.recommend(rows, 400)
    assert "uncertain" not in capsys.readouterr().out
    # As measured on 3.14t beside two busy loops: a speedup, but all over the place.
    rows[0] = bench.Timing("serial", 1, 3.154, 0.940, 0)
    rows[1] = bench.Timing("thread", 2, 1.444, 0.664, 0)
    rows[2:] = [
        bench.Timing("process", 1, 5.800, 1.733, 0),
        bench.Timing("process", 2, 3.756, 1.092, 0),
    ]
    bench.recommend(rows, 16)
    out = capsys.readouterr().out
    assert "uncertain: the repeats varied from 1.05x to 5.25x" in out
    assert "--repeats 7" in out and "--sample 32" in out


def test_bench_names_the_settings_to_change(project, make_files, capsys):
    out = run_bench(
        project, capsys, *make_files(*["sleep 0.03"] * 16), "--sample", "16"
    )
    assert "recommendation: --pool thread" in out
    assert 'POOL = "thread" and MAX_WORKERS = ' in out
    assert "spread" in out and "OMP_NUM_THREADS" in out
    # Threads still gained at 8 when the 16 items ran out: it says so.
    said = "note: 8 threads were still gaining when the input ran out (16 items, two"
    assert said in out and "try --workers 16" in out
    # bodies.py says MAX_WORKERS = 2, on processes: compared with that setting.
    said = "the setting in force, --pool process --workers 2 (tasks.MAX_WORKERS): "
    assert said in out and "x the serial speed, against " in out


def test_bench_compares_with_the_workers_given(project, make_files, capsys):
    files = make_files(*["sleep 0.03"] * 8)
    options = ["--sample", "8", "--repeats", "1", "--pool", "thread"]
    out = run_bench(project, capsys, *files, *options, "--workers", "3")
    assert "thread         3 " in out  # a count the search does not try: timed too
    assert "the setting in force, --pool thread --workers 3 (--workers): " in out


def test_bench_on_free_threaded_python_says_threads_compute(
    project, bench, make_files, capsys, monkeypatch
):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    # Pretend threads won: as they would for CPU-bound work without the GIL.
    rows = [
        bench.Timing("serial", 1, 1.0, 0.0, 0),
        bench.Timing("thread", 2, 0.5, 0.0, 0),
        bench.Timing("process", 2, 0.6, 0.0, 0),
    ]
    assert bench.recommend(rows, 20) == 0
    out = capsys.readouterr().out
    assert "--pool thread --workers 2" in out
    assert "free-threaded Python: threads beat processes on these items" in out
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    bench.recommend(rows, 20)
    assert "free-threaded" not in capsys.readouterr().out


def test_bench_says_why_threads_may_lose_on_free_threaded_python(
    project, bench, capsys, monkeypatch
):
    # As measured on 3.14t with the demo's literals, compiled from source.
    rows = [
        bench.Timing("serial", 1, 1.0, 0.0, 0),
        bench.Timing("thread", 2, 1.05, 0.0, 0),
        bench.Timing("process", 2, 0.6, 0.0, 0),
    ]
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    bench.recommend(rows, 20)
    out = capsys.readouterr().out
    assert "yet threads ran no faster than the serial loop" in out
    assert "PYTHONDONTWRITEBYTECODE" in out and "python -m compileall" in out
    rows[1] = bench.Timing("thread", 2, 0.55, 0.0, 0)  # threads won: nothing to say
    bench.recommend(rows, 20)
    assert "no faster" not in capsys.readouterr().out
    rows[1] = bench.Timing("thread", 2, 1.05, 0.0, 0)  # with the GIL: as expected
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    bench.recommend(rows, 20)
    assert "no faster" not in capsys.readouterr().out


class SlowService(QuietHandler):
    """Answers each request after DELAY seconds, as a slow service does; it serves
    any number at once."""

    DELAY = 0.1

    def do_GET(self):
        time.sleep(self.DELAY)
        self.answer(b"ok")


def test_bench_looks_past_32_threads_when_a_slow_server_rewards_it(
    project, capsys, tmp_path
):
    # bench used to stop at 32 threads. 512 URLs of a service that answers each in
    # 0.1 s, from bench's default sample of 20: threads past 10 are timed on more
    # of the URLs (two a thread), and 128 beat 32.
    with serving(SlowService) as port:
        listing = tmp_path / "urls.txt"
        listing.write_text(
            "".join(f"http://127.0.0.1:{port}/{n}\n" for n in range(512))
        )
        out = run_bench(project, capsys, "--lines", listing, "--repeats", "1")
    seconds = {
        int(line.split()[1]): float(line.split()[2].rstrip("s"))
        for line in out.splitlines()
        if line.startswith("thread ")
    }
    assert max(seconds) >= 128 and seconds[128] < seconds[32], out
    assert "timed more items of the input (two a thread)" in out
    recommended = int(
        out.split("recommendation: --pool thread --workers ")[1].split()[0]
    )
    assert recommended >= 64, out
