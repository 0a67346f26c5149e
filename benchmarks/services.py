"""A service that says "too many requests": run_map's throttling against a loop body
that retries by hand and against aiometer, and how close rate= keeps to its rate.

    python benchmarks/services.py                # about 4 minutes on 2 cores
    python benchmarks/services.py --write-docs   # and put the figures in the docs

Renders the template with its defaults and imports its parallel.py. The service is
tests/local_http.py's Service on 127.0.0.1: a token bucket of 20 requests a second
(a burst of 5) that answers the others 429, with a Retry-After header of 1 s (and
then answers everything 429 for that second) or without one. 300 URLs, 16 threads:
run_map without rate= and with rate=20; a ThreadPoolExecutor whose loop body
retries 429 itself, with exponential backoff and Retry-After; and aiometer over
httpx, retrying alike (a row says so if it is not installed). Each run has a fresh
service; the contenders of a repeat run at the same time, each in a process of its
own (one at a time, the repeats would take over ten minutes, mostly waiting), and
the figures come from the run of median wall time. Then rate=20 over 200 items
against a service that never throttles: the rate the requests arrived at, on
threads and on processes. Prints the tables; with --write-docs, puts them in
docs/benchmarks.md under their own heading. Not a test: the figures are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADING = "## Services: a 429 storm and rate accuracy"
ITEMS = 300
PER_SECOND = 20  # the service's, and rate= where it is given
BURST = 5
WORKERS = 16
REPEATS = 3
MODES = {"Retry-After: 1": 1, "no Retry-After": None}
# The hand-written backoff: 0.5 s, 1 s, 2 s ... at most 30 s, times 0.5 to 1.5.
FIRST_DELAY, LONGEST_DELAY, RETRIES = 0.5, 30.0, 10
RATE_ITEMS = 200
TIMEOUT = 60  # seconds a request may take


def fetch(url: str) -> bytes:
    """The loop body run_map runs: a 429 raises HTTPError, which the pool reads."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before retry number `attempt` (0 first): the service's
    Retry-After if it gave one, else exponential backoff with jitter."""
    if retry_after is not None:
        return float(retry_after)
    delay = min(LONGEST_DELAY, FIRST_DELAY * 2**attempt)
    return delay * random.uniform(0.5, 1.5)


def fetch_by_hand(url: str) -> bytes | None:
    """The loop body users write: retries a 429 in its own thread. None: it gave up."""
    for attempt in range(RETRIES + 1):
        try:
            return fetch(url)
        except urllib.error.HTTPError as error:
            if error.code != 429 or attempt == RETRIES:
                return None
            retry_after = error.headers.get("Retry-After")
            error.close()
            time.sleep(backoff(attempt, retry_after))
    return None


def ours(parallel, rate=None):
    def run(urls: list[str]) -> int:
        results = parallel.run_map(
            fetch,
            urls,
            pool="thread",
            max_workers=WORKERS,
            progress=False,
            keep_going=True,
            rate=rate,
        )
        return sum(isinstance(result, bytes) for result in results)

    return run


def by_hand(urls: list[str]) -> int:
    with ThreadPoolExecutor(WORKERS) as executor:
        results = list(executor.map(fetch_by_hand, urls))
    return sum(result is not None for result in results)


def with_aiometer(urls: list[str]) -> int:
    import aiometer
    import httpx

    async def fetch_async(client, url: str) -> bytes | None:
        for attempt in range(RETRIES + 1):
            response = await client.get(url)
            if response.status_code == 200:
                return response.content
            if response.status_code != 429 or attempt == RETRIES:
                return None
            await asyncio.sleep(backoff(attempt, response.headers.get("Retry-After")))
        return None

    async def run_all() -> list:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await aiometer.run_all(
                [functools.partial(fetch_async, client, url) for url in urls],
                max_at_once=WORKERS,
                max_per_second=PER_SECOND,
            )

    return sum(result is not None for result in asyncio.run(run_all()))


def aiometer_missing() -> str | None:
    """Why aiometer cannot run here (None: it can)."""
    try:
        import aiometer  # noqa: F401
        import httpx  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (pip install aiometer httpx)"
    return None


def contenders(parallel) -> dict:
    runs = {
        "run_map, no rate=": ours(parallel),
        f"run_map, rate={PER_SECOND}": ours(parallel, PER_SECOND),
        "ThreadPoolExecutor, retries by hand": by_hand,
    }
    if aiometer_missing() is None:
        runs[f"aiometer, max_per_second={PER_SECOND}, retries by hand"] = with_aiometer
    return runs


def one_run(local_http, run, retry_after) -> dict:
    service = local_http.Service(PER_SECOND, burst=BURST, retry_after=retry_after)
    with local_http.serving(service.handler()) as port:
        urls = [f"http://127.0.0.1:{port}/{n}" for n in range(ITEMS)]
        started = time.perf_counter()
        done = run(urls)
        seconds = time.perf_counter() - started
    sent = service.count()
    return {
        "seconds": seconds,
        "per_item": sent / ITEMS,
        "share_429": service.count(429) / sent,
        "got_200": min(done, service.count(200)),  # items that got one in the end
    }


def measured(project: str, mode: str, name: str) -> dict:
    """One run of a contender, in a worker process of its own."""
    for folder in (str(HERE.parent / "tests"), project):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    import local_http

    parallel = importlib.import_module(f"{Path(project).name}.parallel")
    return one_run(local_http, contenders(parallel)[name], MODES[mode])


def storm(project: Path, names: list[str]) -> dict:
    """{(mode, contender): the figures of its run of median wall time}. The
    contenders of one repeat and mode run at the same time, each in a process
    of its own against a service of its own: one at a time, the repeats would
    take over ten minutes, most of it waiting."""
    import services  # measured as services.measured, for the processes to import

    found: dict = {(mode, name): [] for mode in MODES for name in names}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(names), mp_context=spawn) as processes:
        for repeat in range(REPEATS):
            for mode in MODES:
                runs = {
                    name: processes.submit(services.measured, str(project), mode, name)
                    for name in names
                }
                for name, future in runs.items():
                    found[mode, name].append(future.result())
                    print(
                        f"  {repeat + 1}/{REPEATS} {mode}, {name}: "
                        f"{found[mode, name][-1]['seconds']:.1f} s",
                        file=sys.stderr,
                    )
    medians = {}
    for key, figures in found.items():
        ordered = sorted(figures, key=lambda run: run["seconds"])
        medians[key] = ordered[len(ordered) // 2]
    return medians


def rate_accuracy(local_http, parallel) -> dict:
    """{pool: the rate the requests arrived at, over the one asked}."""
    import services  # fetch as services.fetch, for worker processes to import

    ratios = {}
    for pool in ("thread", "process"):
        service = local_http.Service(1000, burst=1000)
        with local_http.serving(service.handler()) as port:
            urls = [f"http://127.0.0.1:{port}/{n}" for n in range(RATE_ITEMS)]
            results = parallel.run_map(
                services.fetch,
                urls,
                pool=pool,
                max_workers=WORKERS if pool == "thread" else 2,
                progress=False,
                rate=PER_SECOND,
            )
        assert len(results) == RATE_ITEMS and service.count(200) == RATE_ITEMS
        times = [when for when, _ in service.arrivals]
        measured = (len(times) - 1) / (max(times) - min(times))
        ratios[pool] = measured / PER_SECOND
    return ratios


def all_200(got: int) -> str:
    return "yes" if got == ITEMS else f"no: {got} of {ITEMS}"


def table(medians: dict, ratios: dict) -> str:
    made = (
        f"Made by `python benchmarks/services.py` on {date.today().isoformat()} "
        f"(Python {platform.python_version()}): {ITEMS} URLs, {WORKERS} threads or "
        f"{WORKERS} requests at once, a fresh service for each run; the figures are "
        f"those of the run of median wall time of {REPEATS} repeats. The contenders "
        "of a repeat run at the same time, each in a process of its own."
    )
    workload = (
        f"The service, on this machine, takes {PER_SECOND} requests a second (a "
        f"burst of {BURST}) and answers the others 429 Too Many Requests: with a "
        "Retry-After header, after which it answers every request 429 for that "
        "second, or without one. run_map runs the plain loop body (urlopen, which "
        "raises HTTPError on a 429) and handles the 429s itself. The others retry "
        "in the loop body, in that thread or task only: they wait for Retry-After, "
        f"else back off exponentially ({FIRST_DELAY:g} s, doubling, at most "
        f"{LONGEST_DELAY:g} s, times 0.5 to 1.5), {RETRIES} times at most. At "
        f"{PER_SECOND} a second, {ITEMS} items take "
        f"{(ITEMS - BURST) / PER_SECOND:.2f} s at best."
    )
    accuracy = (
        f"rate={PER_SECOND} over {RATE_ITEMS} items, against a service that never "
        "throttles: the rate the requests arrived at, (n - 1) / (last - first), "
        "over the rate asked."
    )
    lines = [HEADING, "", made, "", workload, ""]
    lines += [
        "| service | contender | requests per item | 429s | seconds | all 200 |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    names = list(dict.fromkeys(name for _, name in medians))
    missing = aiometer_missing()
    for mode in MODES:
        for name in names:
            figures = medians[mode, name]
            lines.append(
                f"| {mode} | {name} | {figures['per_item']:.2f} | "
                f"{figures['share_429']:.0%} | {figures['seconds']:.1f} | "
                f"{all_200(figures['got_200'])} |"
            )
        if missing is not None:
            lines.append(
                f"| {mode} | aiometer not installable here: {missing} | | | | |"
            )
    lines += ["", accuracy, ""]
    lines += ["| pool | asked /s | arrived /s | arrived / asked |"]
    lines += ["| --- | ---: | ---: | ---: |"]
    for pool, ratio in ratios.items():
        lines.append(
            f"| {pool} | {PER_SECOND} | {ratio * PER_SECOND:.2f} | {ratio:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="put the figures in docs/benchmarks.md, under their own heading",
    )
    arguments = parser.parse_args()
    started = time.perf_counter()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "tests"))
    import free_threading
    import local_http
    import run

    with tempfile.TemporaryDirectory() as scratch:
        project = run.render_project(Path(scratch))
        parallel = run.import_parallel(project)
        paths = [str(HERE), str(project), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        medians = storm(project, list(contenders(parallel)))
        ratios = rate_accuracy(local_http, parallel)
    section = table(medians, ratios)
    print(section)
    if arguments.write_docs:
        free_threading.write(section, HEADING)
        print(f"wrote {free_threading.DOCS}", file=sys.stderr)
    print(f"took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
