"""Draws the guide's timeline pictures from real runs.

    python -m pip install -r docs/requirements.txt
    python docs/make_pictures.py            # writes docs/images/timeline-*.png

The same 8 items run serially, on 2 threads and on 2 processes, for CPU-bound work
(pure-Python arithmetic) and for I/O-bound work (waiting), and each run is drawn
with the timeline of a generated project (`--timeline`): a row per worker, a bar
per item.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
ITEMS = 8
SECONDS = 0.1  # per item


def spin(loops):
    total = 0
    for i in range(loops):
        total += i * i
    return total


def wait(seconds):
    time.sleep(seconds)
    return seconds


def loops_for(seconds):
    started = time.perf_counter()
    spin(200_000)
    return int(200_000 * seconds / (time.perf_counter() - started))


def render_project(into: Path) -> Path:
    from cookiecutter.main import cookiecutter

    config = into / "config.yaml"
    config.write_text(json.dumps({"replay_dir": str(into / "replay")}))
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(into / "out"),
        config_file=str(config),
    )
    sys.path.insert(0, project)
    return Path(project)


def runs(parallel, timeline, func, items):
    """(title, spans) of the serial loop, 2 threads and 2 processes."""
    timed = timeline.Timed(func)
    options = {"progress": False}
    yield "serial loop", parallel.run_serial(timed, items, **options)
    for pool in ("thread", "process"):
        spans = parallel.run_map(timed, items, pool=pool, max_workers=2, **options)
        yield f"2 {pool}es" if pool == "process" else "2 threads", spans


def draw(parallel, timeline, func, items, kind: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 1, figsize=(9, 5.2), sharex=True)
    for row, (title, spans) in zip(
        axes, runs(parallel, timeline, func, items), strict=True
    ):
        took = max(s.end for s in spans) - min(s.start for s in spans)
        timeline.draw_on(row, spans, f"{kind}, {title}: {took:.2f} s")
        row.set_xlabel("")
    axes[-1].set_xlabel("seconds since the first item started")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TEMPLATE / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        project = render_project(Path(scratch))
        parallel = importlib.import_module(f"{project.name}.parallel")
        timeline = importlib.import_module(f"{project.name}.cli.timeline")
        cpu_items = [loops_for(SECONDS)] * ITEMS
        draw(
            parallel,
            timeline,
            spin,
            cpu_items,
            f"{ITEMS} CPU-bound items",
            args.out / "timeline-cpu.png",
        )
        draw(
            parallel,
            timeline,
            wait,
            [SECONDS] * ITEMS,
            f"{ITEMS} I/O-bound items",
            args.out / "timeline-io.png",
        )
    print(f"wrote {args.out / 'timeline-cpu.png'} and {args.out / 'timeline-io.png'}")


if __name__ == "__main__":
    main()
