"""Time that counts is time that ran: while a process stands stopped (Ctrl-Z,
SIGSTOP) its clock runs on, and an item would fail as late because of the stop.
The SIGCONT that continues the process tells of each stop, and the timeouts leave
them out. (A suspended machine needs nothing: time.monotonic() stands still
meanwhile on Linux and macOS.)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

# A thread that wakes this much later than it meant to was stopped (or starved).
LATE_WAKE = 1.0


class Stops:
    """When this process stood stopped: from the last moment a thread of it was
    seen awake (awake()) to the SIGCONT that continued it (continued())."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []  # (from, to), time.monotonic()
        self.awake_at = time.monotonic()
        self.previous_handler: Callable[..., Any] | int | None = None

    def awake(self, slept: float | None = None) -> None:
        """This process ran just now: a stop, if one comes, begins after this.
        `slept`: how long the caller meant to sleep since its last call; waking
        LATE_WAKE later than that counts as a stop too. (The timeout watch of a
        worker process may wake before the SIGCONT handler has run.)"""
        now = time.monotonic()
        if slept is not None and now - self.awake_at > slept + LATE_WAKE:
            self.add(self.awake_at, now)
        self.awake_at = now

    def continued(self, signum, frame) -> None:
        """The SIGCONT handler: the stop that ended now began after awake_at."""
        now = time.monotonic()
        self.add(self.awake_at, now)
        self.awake_at = now
        if callable(self.previous_handler):
            self.previous_handler(signum, frame)

    def add(self, begin: float, end: float) -> None:
        """A stop from begin to end, merged with one it overlaps."""
        if self.gaps and begin <= self.gaps[-1][1]:
            begin = min(begin, self.gaps[-1][0])
            end = max(end, self.gaps[-1][1])
            self.gaps.pop()
        self.gaps.append((begin, end))

    def since(self, start: float) -> float:
        """Seconds this process stood stopped since `start` (time.monotonic())."""
        return sum(end - max(begin, start) for begin, end in self.gaps if end > start)

    def ran_for(self, start: float) -> float:
        """Seconds since `start` that this process did not stand stopped."""
        return time.monotonic() - start - self.since(start)


@contextmanager
def stops_noted(timed: bool):
    """Stops of this process for a timed run, told by SIGCONT (handled only in
    the main thread, and only where there are such signals: not on Windows)."""
    stops = Stops()
    noted = timed and hasattr(signal, "SIGCONT")
    noted = noted and threading.current_thread() is threading.main_thread()
    if noted:
        stops.previous_handler = signal.signal(signal.SIGCONT, stops.continued)
    try:
        yield stops
    finally:
        if noted:
            signal.signal(signal.SIGCONT, stops.previous_handler or signal.SIG_DFL)
