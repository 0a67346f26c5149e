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
httpx, retrying alike (a row says so if it is not installed). A fresh service for
each run; the contenders take turns over the repeats, and the figures come from the
run of median wall time. Then rate=20 over 200 items against a service that never
throttles: the rate the requests arrived at, on threads and on processes. Not a
test: the figures are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
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
                [lambda url=url: fetch_async(client, url) for url in urls],
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
        runs[f"aiometer, max_per_second={PER_SECOND}, retries by hand"] = (
            with_aiometer
        )
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
        "all_200": done == ITEMS and service.count(200) >= ITEMS,
    }


def storm(local_http, parallel) -> dict:
    """{(mode, contender): the figures of its run of median wall time}."""
    runs = contenders(parallel)
    found: dict = {(mode, name): [] for mode in MODES for name in runs}
    for repeat in range(REPEATS):
        for mode, retry_after in MODES.items():
            for name, run in runs.items():
                measured = one_run(local_http, run, retry_after)
                found[mode, name].append(measured)
                print(
                    f"  {repeat + 1}/{REPEATS} {mode}, {name}: "
                    f"{measured['seconds']:.1f} s",
                    file=sys.stderr,
                )
    medians = {}
    for key, measured in found.items():
        ordered = sorted(measured, key=lambda figures: figures["seconds"])
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


def table(medians: dict, ratios: dict, started: float) -> str:
    lines = [
        HEADING,
        "",
        f"Made by `python benchmarks/services.py` on {date.today().isoformat()}, "
        f"Python {platform.python_version()}: {ITEMS} URLs, {WORKERS} threads (or "
        f"{WORKERS} requests at once), a fresh service for each run; the run of "
        f"median wall time of {REPEATS} interleaved repeats.",
        "",
        f"The service takes {PER_SECOND} requests a second (a burst of {BURST}) and "
        "answers the others 429 Too Many Requests, with or without a Retry-After "
        "header; with one, it answers everything 429 for that second. run_map is "
        "given the plain loop body (urlopen, which raises HTTPError on a 429) and "
        "handles the 429s itself; the others retry in the loop body, with "
        f"exponential backoff ({FIRST_DELAY:g} s, doubling, at most "
        f"{LONGEST_DELAY:g} s, times 0.5 to 1.5) and Retry-After, in that thread or "
        f"task only, {RETRIES} times at most. At {PER_SECOND} a second, "
        f"{ITEMS} items take {(ITEMS - BURST) / PER_SECOND:.1f} s at best.",
        "",
        "| service | contender | requests per item | 429s | seconds | all 200 |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    names = list(dict.fromkeys(name for _, name in medians))
    for mode in MODES:
        for name in names:
            figures = medians[mode, name]
            lines.append(
                f"| {mode} | {name} | {figures['per_item']:.2f} | "
                f"{figures['share_429']:.0%} | {figures['seconds']:.1f} | "
                f"{'yes' if figures['all_200'] else 'no'} |"
            )
    missing = aiometer_missing()
    if missing is not None:
        for mode in MODES:
            lines.append(f"| {mode} | aiometer not installable here: {missing} |||||")
    lines += [
        "",
        f"rate={PER_SECOND} over {RATE_ITEMS} items, against a service that never "
        "throttles: the rate the requests arrived at ((n - 1) / (last - first)) "
        "over the rate asked.",
        "",
        "| pool | arrived / asked |",
        "| --- | ---: |",
    ]
    for pool, ratio in ratios.items():
        lines.append(f"| {pool} | {ratio:.3f} |")
    lines += ["", f"The whole script took {time.perf_counter() - started:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write-docs", action="store_true", help="put the figures in the docs"
    )
    arguments = parser.parse_args()
    started = time.perf_counter()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "tests"))
    import free_threading
    import local_http
    import run

    project = run.render_project(Path(tempfile.mkdtemp()))
    parallel = run.import_parallel(project)
    paths = [str(HERE), str(project), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))  # for processes
    medians = storm(local_http, parallel)
    ratios = rate_accuracy(local_http, parallel)
    section = table(medians, ratios, started)
    print(section)
    if arguments.write_docs:
        free_threading.write(section, HEADING)


if __name__ == "__main__":
    main()
