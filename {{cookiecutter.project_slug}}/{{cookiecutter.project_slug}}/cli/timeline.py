"""--timeline FILE: a chart of the run, one row per worker, one bar per item.

It shows what the pool did: on threads, CPU-bound items take turns (the GIL);
on processes they overlap; waiting overlaps on both. Needs matplotlib, the
optional extra `timeline`: pip install -e ".[timeline]".
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass

MISSING = (
    "--timeline needs matplotlib, which is not installed: "
    'pip install -e ".[timeline]" (or pip install matplotlib)'
)


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


@dataclass
class Span:
    """An item's result, with when and where it ran."""

    value: object
    worker: str
    start: float
    end: float


@dataclass
class Timed:
    """Wraps the loop body so each call reports its Span. A dataclass of a
    module-level function, so worker processes can unpickle it."""

    func: object

    def __call__(self, *args):
        __tracebackhide__ = True  # not in an item's traceback
        start = time.time()  # wall-clock time: comparable across processes
        value = self.func(*args)
        worker = f"{os.getpid()}:{threading.get_ident()}"
        return Span(value, worker, start, time.time())


TYPES = (".png", ".svg", ".pdf")  # what the chart can be saved as


def draw(spans: list[Span], path, title: str) -> None:
    """Saves the chart to path (one of TYPES)."""
    import matplotlib

    matplotlib.use("Agg")  # no window: draw straight to the file
    import matplotlib.pyplot as plt

    rows = len({span.worker for span in spans})
    figure, axes = plt.subplots(figsize=(9, 0.5 + 0.45 * max(1, rows)))
    draw_on(axes, spans, title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def draw_on(axes, spans: list[Span], title: str) -> None:
    """Draws the spans on matplotlib axes: a row per worker, a bar per item."""
    from matplotlib import colormaps

    workers = list(dict.fromkeys(span.worker for span in spans))  # first come first
    origin = min((span.start for span in spans), default=0.0)
    colors = colormaps["tab10"].colors  # type: ignore[attr-defined]
    for row, worker in enumerate(workers):
        bars = [
            (s.start - origin, s.end - s.start) for s in spans if s.worker == worker
        ]
        for number, bar in enumerate(bars):
            axes.broken_barh([bar], (row - 0.4, 0.8), color=colors[number % 10])
    axes.set_yticks(
        range(len(workers)), [f"worker {n + 1}" for n in range(len(workers))]
    )
    axes.set_ylim(len(workers) - 0.5, -0.5)  # worker 1 on top
    axes.set_xlabel("seconds since the first item started")
    axes.set_title(title)
    axes.set_xlim(left=0)
