"""Our two patterns against the naive ones, tqdm.contrib.concurrent, joblib and mpire.

    python -m pip install -r benchmarks/requirements.txt
    python benchmarks/run.py            # about 5 minutes on 2 cores
    python benchmarks/run.py --quick    # fewer repeats, for a first look

Renders the template with its defaults, imports the generated project's parallel.py,
and runs every contender on the same workloads with the same worker count, taking
turns over the repeats (so a noisy moment hurts them all alike) and quoting medians.
Every contender shows a progress bar (to a null stream) and has its results checked.
Prints a table and our figures as ratios, and writes docs/benchmarks.md and
docs/benchmarks.png. Not a test: the figures are for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
DOCS = TEMPLATE / "docs"
sys.path.insert(0, str(HERE))

import contenders  # noqa: E402
import free_threading  # noqa: E402
import recycling  # noqa: E402
import workloads  # noqa: E402

PEERS = ["naive_submit", "naive_map", "tqdm_contrib", "joblib_generator", "mpire_map"]
OURS = ["ours_map", "ours_submit"]
WITH_TIMEOUT = ["ours_map_timeout", "ours_submit_timeout"]  # no item times out
# Skewed workloads: 400 items of 5 ms and 4 of 500 ms, at the start, at the end or
# spread out; 2 processes. The items sleep, so the machine's load does not blur
# the figure: what is measured is how well the work is spread over the workers.
SKEWED = ["start", "end", "spread"]
SKEW_CONTENDERS = ["ours_map", "ours_submit", "joblib_generator", "tqdm_contrib"]
SCALING_SIZES = [1_000, 10_000, 100_000, 1_000_000]


def render_project(into: Path, template: Path = TEMPLATE, answers=None) -> Path:
    """A render of `template` (this one by default) in `into`; answers: the
    prompts' answers (by default a Dask project, for the Dask contender)."""
    from cookiecutter.main import cookiecutter

    if answers is None:
        answers = {"distributed": "dask"}

    config = into / "config.yaml"
    config.write_text(
        json.dumps(
            {"cookiecutters_dir": str(into / "cc"), "replay_dir": str(into / "replay")}
        )
    )
    return Path(
        cookiecutter(
            str(template),
            no_input=True,
            output_dir=str(into / "out"),
            config_file=str(config),
            extra_context=answers,
        )
    )


def import_parallel(project: Path):
    sys.path.insert(0, str(project))
    return importlib.import_module(f"{project.name}.parallel")


def start_dask_clusters() -> tuple[dict, dict, list]:
    """Local Dask clusters for the Dask contender: addresses by pool, start-up
    seconds, and the clusters (to close)."""
    import logging

    from dask.distributed import LocalCluster

    shapes = {"process": (2, 1), "thread": (1, 16)}  # (processes, threads each)
    addresses, startup, clusters = {}, {}, []
    for pool, (processes, threads) in shapes.items():
        started = time.perf_counter()
        cluster = LocalCluster(
            n_workers=processes,
            threads_per_worker=threads,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        startup[pool] = time.perf_counter() - started
        addresses[pool] = cluster.scheduler_address
        clusters.append(cluster)
    return addresses, startup, clusters


def all_contenders(parallel) -> dict:
    runs = {
        "serial": contenders.serial,
        "naive_submit": contenders.naive_submit,
        "naive_map": contenders.naive_map,
        "tqdm_contrib": contenders.tqdm_contrib,
        "joblib_generator": contenders.joblib_generator,
        "mpire_map": contenders.mpire_map,
    }
    for pattern in ("map", "submit"):
        runs[f"ours_{pattern}"] = contenders.ours(pattern, parallel)
    return runs


def skewed_items(where: str) -> list[float]:
    fast, slow = [0.005] * 400, [0.5] * 4
    if where == "start":
        return slow + fast
    if where == "end":
        return fast + slow
    items = list(fast)
    for number, position in enumerate((50, 150, 250, 350)):
        items.insert(position + number, 0.5)
    return items


def skew(runs: dict, repeats: int) -> dict:
    """Makespan / ideal (total work / workers) of each contender, per layout."""
    figures = {}
    for where in SKEWED:
        items = skewed_items(where)
        ideal = sum(items) / 2
        chosen = {name: runs[name] for name in SKEW_CONTENDERS}
        seconds = measure(chosen, workloads.wait, items, "process", 2, repeats)
        figures[where] = {name: value / ideal for name, value in seconds.items()}
    return figures


def measure(runs: dict, func, items, pool, workers, repeats) -> dict:
    """Median seconds of each contender; they take turns within each repeat."""
    expected = [func(item) for item in items]
    times = {name: [] for name in runs}
    names = list(runs)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            results = runs[name](func, items, pool, workers)
            times[name].append(time.perf_counter() - started)
            if list(results) != expected:
                raise AssertionError(f"{name} returned wrong results")
    return {name: statistics.median(values) for name, values in times.items()}


def one_scaling_run(name: str, size: int, project: str) -> None:
    """Runs in a fresh process: prints seconds and the peak memory of this process."""
    parallel = import_parallel(Path(project))
    run = all_contenders(parallel)[name]
    items = list(range(size))
    started = time.perf_counter()
    results = run(workloads.trivial, items, "process", 2)
    seconds = time.perf_counter() - started
    assert results == items
    print(json.dumps({"seconds": seconds, "peak_mb": peak_memory_mb()}))


def peak_memory_mb() -> float:
    """This process's peak resident memory. (ru_maxrss would also count the memory
    of the parent that forked us before exec.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kilobytes / (1024 * 1024 if sys.platform == "darwin" else 1024)


def scaling(project: Path, repeats: int) -> dict:
    figures = {}
    names = ["serial", *OURS]
    for size in SCALING_SIZES:
        runs = {name: [] for name in names}
        for _ in range(repeats):
            for name in names:
                done = subprocess.run(
                    [sys.executable, __file__, "--one", name, str(size), str(project)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(done.stdout))
        for name, found in runs.items():
            figures[(name, size)] = {
                "seconds": statistics.median(r["seconds"] for r in found),
                "peak_mb": statistics.median(r["peak_mb"] for r in found),
            }
    return figures


def template_speed(project: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch, "config.yaml")
        config.write_text(json.dumps({"replay_dir": str(Path(scratch, "replay"))}))
        render = []
        for number in range(repeats):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cookiecutter",
                    "--no-input",
                    "--config-file",
                    str(config),
                    "-o",
                    str(Path(scratch, str(number))),
                    str(TEMPLATE),
                ],
                check=True,
                capture_output=True,
            )
            render.append(time.perf_counter() - started)
    help_times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", project.name, "--help"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        help_times.append(time.perf_counter() - started)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - started
    return {
        "render_s": statistics.median(render),
        "help_s": statistics.median(help_times),
        "python_startup_s": bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, size, project = args.one
        one_scaling_run(name, int(size), project)
        return

    repeats = 3 if args.quick else 7
    few = max(3, repeats // 2)  # for the workloads that take seconds per run
    with tempfile.TemporaryDirectory() as scratch:
        project = render_project(Path(scratch))
        parallel = import_parallel(project)
        report = Report(repeats)
        workloads_to_run = {
            "overhead": (workloads.trivial, list(range(20_000)), "process", 2, repeats),
            "cpu": (
                workloads.spin,
                [workloads.loops_for(0.05)] * 40,
                "process",
                2,
                few,
            ),
            "io": (workloads.wait, [0.02] * 400, "thread", 16, 3),
            "payload": (
                workloads.reverse,
                [os.urandom(1_000_000) for _ in range(200)],
                "process",
                2,
                few,
            ),
        }
        runs = all_contenders(parallel)
        for name, (func, items, pool, workers, times) in workloads_to_run.items():
            print(f"{name}: {len(items)} items, {workers} {pool} workers", flush=True)
            setattr(report, name, measure(runs, func, items, pool, workers, times))

        print("skewed: 400 × 5 ms and 4 × 500 ms, 2 processes", flush=True)
        report.skew = skew(runs, few)

        print("the cost of --timeout when no item times out", flush=True)
        timed = {
            "ours_map": runs["ours_map"],
            "ours_submit": runs["ours_submit"],
            "ours_map_timeout": contenders.ours("map", parallel, timeout=60),
            "ours_submit_timeout": contenders.ours("submit", parallel, timeout=60),
        }
        func, items, pool, workers, times = workloads_to_run["overhead"]
        report.timeout_cost = measure(timed, func, items, pool, workers, times)
        # On threads, items are timed one by one from this process: no batches.
        report.thread_timeout_cost = {
            "trivial": measure(timed, func, items, "thread", 2, few),
            "1 ms": measure(timed, workloads.wait, [0.001] * 2_000, "thread", 16, few),
        }

        print("scaling: 1,000 to 1,000,000 trivial items, fresh processes", flush=True)
        report.scaling = scaling(project, 3 if not args.quick else 1)

        # Dask apart: its idle clusters would slow the other contenders down.
        print("Dask: the same workloads on local clusters", flush=True)
        addresses, report.dask_startup, clusters = start_dask_clusters()
        dask_runs = {
            "serial": runs["serial"],
            "ours_map": runs["ours_map"],
            "ours_map_dask": contenders.ours_on_dask(parallel, addresses),
        }
        for name, (func, items, pool, workers, times) in workloads_to_run.items():
            report.dask[name] = measure(dask_runs, func, items, pool, workers, times)
        for cluster in clusters:
            cluster.close()

        print("the template's own speed", flush=True)
        report.template = template_speed(project, 5)

    print()
    print(report.markdown())
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.md").write_text(report.markdown(with_plot=report.plot()))
    free_threading.main()  # its own section of the page, from every Python build
    recycling.main()  # and so has recycling
    print(f"\nwrote {DOCS / 'benchmarks.md'} and {DOCS / 'benchmarks.png'}")


class Report:
    def __init__(self, repeats: int):
        self.repeats = repeats
        self.overhead = self.cpu = self.io = self.payload = {}
        self.scaling = {}
        self.template = {}
        self.dask_startup = {}
        self.dask = {}  # workload -> {contender: median seconds}, measured apart
        self.skew = {}  # layout -> {contender: makespan / ideal}
        self.timeout_cost = {}  # contender -> median seconds, overhead workload
        self.thread_timeout_cost = {}  # workload -> the same, on threads

    def overhead_us(self, name: str) -> float:
        return (self.overhead[name] - self.overhead["serial"]) / 20_000 * 1e6

    def targets(self) -> list[tuple[str, str, str, str]]:
        """(target, floor, aim, measured) rows."""
        best_peer = min(PEERS, key=self.overhead_us)
        ours_map, ours_submit = (
            self.overhead_us("ours_map"),
            self.overhead_us("ours_submit"),
        )
        peer = self.overhead_us(best_peer)
        million = {name: self.scaling[(name, 1_000_000)] for name in ["serial", *OURS]}
        best_payload = min(PEERS, key=self.payload.get)
        return [
            (
                f"run_map overhead / best peer's ({best_peer}, {peer:.2f} µs)",
                "≤ 0.5",
                "0.25",
                f"{ours_map / peer:.2f} ({ours_map:.2f} µs)",
            ),
            (
                "run_submit overhead / run_map's",
                "≤ 2",
                "1",
                f"{ours_submit / ours_map:.2f} ({ours_submit:.2f} µs)",
            ),
            *[
                (
                    f"1,000,000 items: {name} time / serial's",
                    "≤ 3",
                    "2",
                    f"{million[name]['seconds'] / million['serial']['seconds']:.2f}",
                )
                for name in OURS
            ],
            *[
                (
                    f"CPU-bound speedup, {name}",
                    "≥ 1.85",
                    "1.9",
                    f"{self.cpu['serial'] / self.cpu[name]:.2f}",
                )
                for name in OURS
            ],
            *[
                (
                    f"I/O-bound speedup, {name} (16 threads)",
                    "≥ 15",
                    "16",
                    f"{self.io['serial'] / self.io[name]:.2f}",
                )
                for name in OURS
            ],
            *[
                (
                    f"payload MB/s, {name} / best peer's ({best_payload})",
                    "≥ 1",
                    "",
                    f"{self.payload[best_payload] / self.payload[name]:.2f}",
                )
                for name in OURS
            ],
            *[
                (
                    f"skewed ({where}): {name} makespan / ideal (joblib: "
                    f"{self.skew[where]['joblib_generator']:.2f})",
                    "≤ 1.25",
                    "1.1",
                    f"{self.skew[where][name]:.2f}",
                )
                for where in SKEWED
                for name in OURS
            ],
            *[
                (
                    f"overhead workload, {name} with timeout=60 / without",
                    "",
                    "1",
                    f"{self.timeout_cost[f'{name}_timeout'] / self.timeout_cost[name]:.2f}",
                )
                for name in OURS
            ],
            *[
                (
                    f"thread pool, {work} items, {name} with timeout=60 / without",
                    "",
                    "",
                    f"{cost[f'{name}_timeout'] / cost[name]:.2f}",
                )
                for work, cost in self.thread_timeout_cost.items()
                for name in OURS
            ],
            (
                "peak memory at 1,000,000: run_submit / run_map",
                "≤ 1.5",
                "",
                f"{million['ours_submit']['peak_mb'] / million['ours_map']['peak_mb']:.2f}",
            ),
        ]

    def markdown(self, with_plot: str | None = None) -> str:
        names = list(self.overhead)
        lines = [
            "# Benchmarks",
            "",
            f"Made by `python benchmarks/run.py` on {time.strftime('%Y-%m-%d')}: "
            f"medians of {self.repeats} interleaved repeats (CPU and payload: "
            f"{max(3, self.repeats // 2)}, I/O: 3).",
            "",
            f"- machine: {platform.platform()}, {os.cpu_count()} CPUs "
            f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
            " usable), Python " + platform.python_version(),
            "- versions: "
            + ", ".join(
                f"{package} {version(package)}"
                for package in ("tqdm", "joblib", "mpire", "cookiecutter")
            ),
            "",
            "## Workloads",
            "",
            "ours_map and ours_submit run on one `reusable_pool()` that their runs "
            "share, as a program that makes many runs would (joblib keeps its "
            "workers likewise; the others start theirs at each run). A plain call "
            "starts and ends its own workers: the scaling rows below, a fresh "
            "process each, pay that start.",
            "",
            "| contender | overhead µs/item (20,000 trivial, 2 processes) "
            "| CPU speedup (40 × 50 ms, 2 processes) | I/O speedup (400 × 20 ms, "
            "16 threads) | payload MB/s (200 × 1 MB, 2 processes) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name in names:
            lines.append(
                f"| {name} | {self.overhead_us(name):.2f} "
                f"| {self.cpu['serial'] / self.cpu[name]:.2f} "
                f"| {self.io['serial'] / self.io[name]:.2f} "
                f"| {200 / self.payload[name]:.0f} |"
            )
        lines += [
            "",
            "## Scaling (trivial items, process pool, 2 workers, fresh process each)",
            "",
            "| items | "
            + " | ".join(f"{n} s | {n} peak MB" for n in ["serial", *OURS])
            + " |",
            "| ---: |" + " ---: |" * 6,
        ]
        for size in SCALING_SIZES:
            cells = []
            for name in ["serial", *OURS]:
                figure = self.scaling[(name, size)]
                cells += [f"{figure['seconds']:.3f}", f"{figure['peak_mb']:.0f}"]
            lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "## Skewed workloads (makespan / ideal; 1.00 is perfect)",
            "",
            "400 items of 5 ms and 4 of 500 ms on 2 processes; the 4 slow ones at the "
            "start, at the end, or spread out. Ideal: total work / 2.",
            "",
            "| contender | " + " | ".join(SKEWED) + " |",
            "| --- |" + " ---: |" * len(SKEWED),
        ]
        for name in SKEW_CONTENDERS:
            cells = " | ".join(f"{self.skew[where][name]:.2f}" for where in SKEWED)
            lines.append(f"| {name} | {cells} |")
        lines += [
            "",
            "## Targets (ratios from this run)",
            "",
            "| target | floor | aim | measured |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {t} | {f} | {a} | {m} |" for t, f, a, m in self.targets()]
        if self.dask:
            lines += self.dask_markdown()
        lines += [
            "",
            "## The template's own speed",
            "",
            f"- `cookiecutter --no-input` renders the defaults in "
            f"{self.template['render_s']:.2f} s (a bare Python start: "
            f"{self.template['python_startup_s']:.2f} s)",
            f"- `python -m parallel_loop --help`: {self.template['help_s']:.2f} s",
        ]
        if with_plot:
            lines += ["", f"![scaling and speedups]({with_plot})"]
        return "\n".join(lines) + "\n"

    def dask_markdown(self) -> list[str]:
        dask = self.dask

        def overhead(name):
            trivial = dask["overhead"]
            return (trivial[name] - trivial["serial"]) / 20_000 * 1e6

        rows = []
        for name in ("ours_map", "ours_map_dask"):
            rows.append(
                f"| {name} | {overhead(name):.2f} "
                f"| {dask['cpu']['serial'] / dask['cpu'][name]:.2f} "
                f"| {dask['io']['serial'] / dask['io'][name]:.2f} "
                f"| {200 / dask['payload'][name]:.0f} |"
            )
        added = overhead("ours_map_dask") - overhead("ours_map")
        return [
            "",
            "## Dask (measured after the others, against a running local cluster)",
            "",
            "| contender | overhead µs/item | CPU speedup | I/O speedup | payload MB/s |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"- a local cluster starts in {self.dask_startup['process']:.2f} s (2 "
            f"processes) and {self.dask_startup['thread']:.2f} s (16 threads), not "
            "counted above; each run also connects to the scheduler",
            f"- Dask adds {added:.0f} µs per item to the process pool's overhead; with "
            f"2 workers it beats the serial loop once an item takes more than about "
            f"{2 * overhead('ours_map_dask'):.0f} µs. On one machine the process "
            "pool is always cheaper: Dask pays off when a cluster adds machines",
        ]

    def plot(self) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in ["serial", *OURS]:
            sizes = SCALING_SIZES
            left.plot(
                sizes,
                [self.scaling[(name, s)]["seconds"] for s in sizes],
                marker="o",
                label=name,
            )
        left.set(
            xscale="log",
            yscale="log",
            xlabel="items",
            ylabel="seconds",
            title="Scaling: trivial items, 2 processes",
        )
        left.legend()
        names = list(self.cpu)
        positions = range(len(names))
        right.barh(
            [p + 0.2 for p in positions],
            [self.cpu["serial"] / self.cpu[n] for n in names],
            0.4,
            label="CPU-bound, 2 processes (limit 2)",
        )
        right.barh(
            [p - 0.2 for p in positions],
            [self.io["serial"] / self.io[n] / 8 for n in names],
            0.4,
            label="I/O-bound, 16 threads (limit 16), ÷ 8",
        )
        right.set_yticks(list(positions), names)
        right.set(xlabel="speedup over the serial loop", title="Speedups")
        right.legend(loc="lower right", fontsize="small")
        figure.tight_layout()
        figure.savefig(DOCS / "benchmarks.png", dpi=110)
        return "benchmarks.png"


if __name__ == "__main__":
    main()
