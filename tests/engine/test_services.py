"""Loops that call a service: --rate paces the whole pool, and a service's 429
(with or without Retry-After) pauses or slows every worker, on threads and
processes. The service is a local HTTP server (local_http.Service); the loop body
of bodies.py fetches each "http://..." item with urllib."""

import json
import os
import signal
import sys

import pytest
from local_http import Service, serving
from processes import processes_in_session, wait_for

POOLS = ["thread", "process"]


def urls(tmp_path, port, count):
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"http://127.0.0.1:{port}/{n}\n" for n in range(count)))
    return listing


def run_cli(start_cli, *args, timeout=180):
    run = start_cli(*args, "--no-progress")
    stdout, stderr = run.communicate(timeout=timeout)
    wait_for(lambda: processes_in_session(run.pid) == [], what="every process to end")
    records = [json.loads(line) for line in stdout.splitlines()]
    return run.returncode, records, stderr


def starts_per_second(arrivals) -> float:
    """The rate of a run's requests, from the first to the last."""
    times = sorted(when for when, _ in arrivals)
    return (len(times) - 1) / (times[-1] - times[0])


@pytest.mark.parametrize("pool", POOLS)
def test_rate_spreads_starts_evenly_over_the_pool(tmp_path, pool, start_cli):
    service = Service(per_second=1000, burst=1000)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 40)
        args = ["--lines", listing, "--pool", pool, "--workers", "4", "--rate", "20"]
        code, records, stderr = run_cli(start_cli, *args)
    assert code == 0, stderr
    assert len(records) == 40 and all("result" in r for r in records)
    times = sorted(when for when, _ in service.arrivals)
    # no burst at the start, none later: 4 workers, yet one start each 1/20 s
    assert times[1] - times[0] > 0.5 / 20
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 22
    assert 20 * 0.9 < starts_per_second(service.arrivals) < 20 * 1.02


def test_rate_keeps_within_two_percent_over_twenty_seconds(tmp_path, start_cli):
    service = Service(per_second=1000, burst=1000)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 401)  # 400 gaps of 1/20 s: 20 s
        args = ["--lines", listing, "--pool", "thread", "--workers", "8"]
        code, records, stderr = run_cli(start_cli, *args, "--rate", "1200/min")
    assert code == 0, stderr
    assert len(records) == 401
    assert abs(starts_per_second(service.arrivals) / 20 - 1) < 0.02


def test_serial_keeps_to_the_rate_too(tmp_path, start_cli):
    service = Service(per_second=1000, burst=1000)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 11)
        code, records, stderr = run_cli(
            start_cli, "--lines", listing, "--serial", "--rate", "10"
        )
    assert code == 0, stderr
    assert starts_per_second(service.arrivals) < 10 * 1.02


@pytest.mark.parametrize("pool", POOLS)
def test_retry_after_pauses_the_whole_pool(tmp_path, pool, start_cli):
    """The service takes 20 a second and asks for 1 s of quiet when passed;
    asked for 25 a second by 8 workers, the pool honours each pause, and
    nearly every request it sends gets through."""
    service = Service(per_second=20, burst=5, retry_after=1)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 150)
        args = ["--lines", listing, "--pool", pool, "--workers", "8", "--rate", "25"]
        code, records, stderr = run_cli(start_cli, *args)
    assert code == 0, stderr
    assert sorted(r["index"] for r in records if "result" in r) == list(range(150))
    # Requests in flight when the service said 429 may land in its pause; none
    # sent after the pool heard it.
    service.check_kept_to(items=150, extra=15)
    assert "the service throttled" in stderr and "the pool paused" in stderr


@pytest.mark.parametrize("pool", POOLS)
def test_without_retry_after_the_pool_halves_its_rate(tmp_path, pool, start_cli):
    """No rate asked, no Retry-After given: the pool starts from the rate it
    measures, halves it at each 429, and climbs back while calls go well."""
    service = Service(per_second=50, burst=5)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 400)
        args = ["--lines", listing, "--pool", pool, "--workers", "8"]
        code, records, stderr = run_cli(start_cli, *args)
    assert code == 0, stderr
    assert sorted(r["index"] for r in records if "result" in r) == list(range(400))
    assert service.count(429) > 0
    assert service.count() <= 400 * 1.1, service.count(429)
    assert "the rate ended at" in stderr


def test_an_item_still_throttled_fails_saying_so(tmp_path, start_cli):
    service = Service(per_second=0.001, burst=1)  # one request, then 429 for good
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 2)
        args = ["--lines", listing, "--pool", "thread", "--throttle-retries", "2"]
        code, records, stderr = run_cli(start_cli, *args, "--keep-going")
    assert code == 1
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1, records
    assert "still throttled after 3 attempts" in failed[0]["error"]
    assert "lower --rate, or raise --throttle-retries" in failed[0]["error"]
    assert service.count() == 4  # 1 + 3 attempts of the other


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_a_pause_keeps_what_finished(tmp_path, signum, pool, start_cli):
    """Ctrl-C or SIGTERM while the pool waits out a long Retry-After: the run ends
    at once, every result it had is written, and --resume runs the rest."""
    service = Service(per_second=0.001, burst=10, retry_after=600)
    output = tmp_path / "out.jsonl"
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 30)
        args = ["--lines", listing, "--pool", pool, "--workers", "2"]
        run = start_cli(*args, "--output", output, "--no-progress")
        wait_for(lambda: service.pauses, what="the service to ask for a pause")
        wait_for(
            lambda: output.exists() and output.read_text().count("\n") >= 10,
            what="the results before the pause",
        )
        os.killpg(run.pid, signum)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 128 + signum if signum != signal.SIGINT else 130
        wait_for(lambda: processes_in_session(run.pid) == [], what="every process")
        written = [json.loads(line) for line in output.read_text().splitlines()]
        assert len(written) == 10 and all("result" in r for r in written)
        assert "to go on:" in stderr
        service.paused_until = 0.0  # the service is back
        service.retry_after = None
        service.tokens = service.burst = service.per_second = 1000
        resumed = start_cli(*args, "--output", output, "--resume", "--no-progress")
        _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(30))


def test_the_library_honours_throttled_on_processes(project, tmp_path):
    """run_map(rate=) on processes; the loop body's own Throttled(retry_after)."""
    code = f"""
import sys
from parallel_loop.parallel import run_map
import bodies

if __name__ == "__main__":
    results = run_map(bodies.throttled_once, [(r"{tmp_path}", n) for n in range(12)],
                      max_workers=2, rate="600/min", progress=False)
    print(results)
"""
    script = tmp_path / "script.py"
    script.write_text(code)
    import subprocess

    from rendering import ENGINE

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ENGINE)])}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(list(range(12)))
    assert sorted(os.listdir(tmp_path)) == [
        "script.py", "throttled-1", "throttled-5", "throttled-9"
    ]  # fmt: skip


def test_keep_going_goes_on_through_a_pause(tmp_path, start_cli):
    """In a run the service pauses, an item that fails for good (a 404) is said
    and written, and the others all finish, none inside a pause."""
    service = Service(per_second=20, burst=5, retry_after=1)
    with serving(service.handler()) as port:
        listing = urls(tmp_path, port, 40)
        with listing.open("a") as more:
            more.write(f"http://127.0.0.1:{port}/missing\n")
        args = ["--lines", listing, "--pool", "thread", "--workers", "8"]
        code, records, stderr = run_cli(start_cli, *args, "--keep-going")
    assert code == 1
    assert sorted(r["index"] for r in records if "result" in r) == list(range(40))
    (failed,) = [r for r in records if "error" in r]
    assert failed["index"] == 40 and "404" in failed["error"]
    assert service.pauses and service.during_pauses(grace=0.25) == []
