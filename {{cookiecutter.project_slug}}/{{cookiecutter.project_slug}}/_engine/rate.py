"""A rate limit the whole pool obeys, and the service's word on throttling.

The calling thread starts every item (Pool.send), so one Limiter there paces
them all, whatever runs them: threads, processes or a cluster. Starts are spread
evenly, 1/rate apart, with no burst at the start; retries are starts too. When
the service throttles (a 429 or 503, or the loop body's Throttled), no item
starts for the delay the service gave (Retry-After), and the rate is halved,
then added back step by step while calls go well (additive increase,
multiplicative decrease): without rate=, from the rate measured then. The pause
obeys the service; the halving keeps the pool from passing its limit again at
once.
"""

from __future__ import annotations

import re
import time
from collections import deque
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple

# A throttled item is tried again this many times by default (throttle_retries).
THROTTLE_RETRIES = 10
# The HTTP statuses that mean "too many requests": throttled, not failed.
THROTTLE_STATUSES = (429, 503)
# Once the rate was halved, each call that goes well adds 1/STEPS_TO_RECOVER of
# the rate asked back (without one, of the halved rate): after that many calls
# it is back.
STEPS_TO_RECOVER = 50
# The rate never drops below this (items a second), however often it is halved.
SLOWEST_RATE = 0.1
# Without rate=, the limit starts from the rate of the starts in this window.
MEASURED_OVER = 5.0

# The longest pause a service's delay brings: a Retry-After of days is a
# misconfigured service, not a plan (the pool would sleep past any deadline).
LONGEST_PAUSE = 3600.0
# The slowest rate asked for: one item a day.
SLOWEST_ASKED = 1 / 86400
UNITS = {
    **dict.fromkeys(("s", "sec", "second"), 1.0),
    **dict.fromkeys(("m", "min", "minute"), 60.0),
    **dict.fromkeys(("h", "hour"), 3600.0),
}
RATE_FORMS = "a number per second (20, 0.5), or 600/min, 1000/h"


class Throttled(Exception):
    """Raise it in the loop body when the service says "too many requests": the
    whole pool waits `retry_after` seconds (None: the service gave no delay, and
    the pool halves its rate instead), then the item is tried again.

        if response.status == 429:
            raise Throttled(retry_after=30)
    """

    def __init__(self, retry_after: float | str | None = None, message: str = ""):
        super().__init__(message or "the service asked to wait")
        self.retry_after = retry_after  # seconds, or a Retry-After header as is


class Throttle(NamedTuple):
    """What a worker read from an error that means "too many requests": the
    status (429, 503; 0 for Throttled) and the delay asked for, if any."""

    status: int
    retry_after: float | None


def still_throttled(attempts: int) -> str:
    """What a throttled item's failure says once its tries ran out."""
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    return f" (still throttled after {tries}: lower rate=, or raise throttle_retries=)"


def parse_rate(value) -> float | None:
    """Items a second from a rate: None, a number, or a text such as "20",
    "0.5", "600/min", "1000/h". Raises ValueError naming the forms."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"rate must be {RATE_FORMS}, not {value!r}")
    if isinstance(value, (int, float)):
        per_second = float(value)
    else:
        match = re.fullmatch(
            r"\s*\+?([0-9.]+(?:e[-+]?[0-9]+)?)\s*(?:/\s*([a-z]+))?\s*",
            str(value).lower(),
        )
        unit = match and (match.group(2) or "s")
        if not match or unit not in UNITS:
            raise ValueError(f"rate must be {RATE_FORMS}, not {value!r}")
        try:
            per_second = float(match.group(1)) / UNITS[unit]
        except ValueError:
            raise ValueError(f"rate must be {RATE_FORMS}, not {value!r}") from None
    if not SLOWEST_ASKED <= per_second < float("inf"):
        raise ValueError(
            f"rate must be from one item a day up ({RATE_FORMS}), not {value!r}"
        )
    return per_second


def describe_rate(per_second: float) -> str:
    """20/s, 0.5/s; below one a second, per minute or per hour: 10/min."""
    if per_second >= 1:
        return f"{per_second:.3g}/s"
    if per_second * 60 >= 1:
        return f"{per_second * 60:.3g}/min"
    return f"{per_second * 3600:.3g}/h"


def throttle_of(exc: BaseException) -> Throttle | None:
    """The Throttle an error says, if it means "too many requests": Throttled,
    urllib's HTTPError (its .code and .headers), or an error whose .response has
    .status_code and .headers (requests', httpx'), with status 429 or 503. The
    libraries are not imported: their errors are read by their fields."""
    if isinstance(exc, Throttled):
        return Throttle(0, retry_after_seconds(exc.retry_after))
    status, headers = getattr(exc, "code", None), getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        status, headers = response.status_code, getattr(response, "headers", None)
    if not isinstance(status, int) or status not in THROTTLE_STATUSES:
        return None
    header = None
    if headers is not None and hasattr(headers, "get"):
        header = headers.get("Retry-After")
    return Throttle(status, retry_after_seconds(header))


def retry_after_seconds(header, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds, or an
    HTTP date. None for no header, or one that is neither."""
    if header is None or isinstance(header, bool):
        return None
    text = str(header).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # nan
        return None
    return min(max(0.0, seconds), LONGEST_PAUSE)


class Limiter:
    """When the next item may start, in the calling thread. `rate`: items a
    second at most (None: no limit until the service throttles)."""

    def __init__(self, rate: float | None = None, clock=time.monotonic):
        self.clock = clock
        self.asked = rate  # rate=, as given
        self.rate = rate  # in force now: lower than asked after throttling
        self.highest = rate  # what additive increase climbs back to
        self.next_start = 0.0  # the earliest the next item may start
        self.paused_until = 0.0
        self.recent_starts: deque[float] = deque()  # to measure the rate: see slow_down
        self.halved_at = float("-inf")
        self.step = 0.0  # what each call that goes well adds back: see slow_down
        self.throttled = 0  # items the service throttled
        self.paused = 0.0  # seconds the pool waited for a service's delay
        self.statuses: dict[int, int] = {}  # status -> how often

    @property
    def in_force(self) -> bool:
        """Whether starts are paced (a rate asked, or the service throttled)."""
        return self.rate is not None or self.throttled > 0

    def wait(self) -> float:
        """Seconds until the next item may start (0: now)."""
        now = self.clock()
        return max(0.0, self.next_start - now, self.paused_until - now)

    def started(self, count: int = 1) -> None:
        """`count` items started now: the next one waits its turn."""
        now = self.clock()
        if self.rate is not None:
            interval = 1 / self.rate
            # A start late by less than one interval keeps to the schedule, so the
            # rate holds over a long run; one after an idle spell starts it again.
            on_time = self.next_start if now - self.next_start < interval else now
            self.next_start = on_time + count * interval
        if self.highest is None:  # measured, for a service that throttles
            self.recent_starts.extend([now] * min(count, 1000))
            while self.recent_starts and self.recent_starts[0] < now - MEASURED_OVER:
                self.recent_starts.popleft()

    def heard(self, throttle: Throttle, sent_at: float) -> float:
        """The service throttled an item sent at `sent_at` (this clock): pauses
        every start for its delay, if it gave one, and halves the rate (once for
        the calls sent before the last halving). Returns when the item may be
        tried again."""
        now = self.clock()
        self.throttled += 1
        self.statuses[throttle.status] = self.statuses.get(throttle.status, 0) + 1
        if throttle.retry_after is not None:
            until = now + throttle.retry_after
            self.paused += max(0.0, until - max(now, self.paused_until))
            self.paused_until = max(self.paused_until, until)
        if sent_at >= self.halved_at:  # those sent before the last halving: once
            self.slow_down(now)
        return max(self.paused_until, self.next_start)

    def slow_down(self, now: float) -> None:
        if self.highest is None:  # no rate asked: start from what was measured
            window = (
                min(MEASURED_OVER, now - self.recent_starts[0])
                if self.recent_starts
                else 0
            )
            measured = len(self.recent_starts) / window if window > 0 else None
            self.highest = max(measured or 1.0, SLOWEST_RATE)
            self.rate = self.highest
        rate = self.rate or self.highest
        self.rate = max(min(SLOWEST_RATE, rate), rate / 2)  # never above
        # Back to the rate asked in STEPS_TO_RECOVER calls; without one asked,
        # back to where it was before this halving.
        self.step = (self.asked or self.rate) / STEPS_TO_RECOVER
        self.halved_at = now

    def went_well(self, count: int = 1) -> None:
        """`count` calls went well: the rate climbs back toward the highest."""
        if (
            self.rate is not None
            and self.highest is not None
            and self.rate < self.highest
        ):
            self.rate = min(self.highest, self.rate + count * self.step)

    def describe(self) -> str:
        """The rate in force, for the bar: "20/s", or "paused 3 s"."""
        pause = self.paused_until - self.clock()
        if pause > 0:
            return f"paused {pause:.0f} s"
        return f"rate {describe_rate(self.rate)}" if self.rate else ""

    def summary(self) -> str:
        """What the service did, for the end of a run ("" if it never throttled)."""
        if not self.throttled:
            return ""
        statuses = ", ".join(
            f"{n} {'Throttled' if status == 0 else status}"
            for status, n in sorted(self.statuses.items())
        )
        waited = self.paused - max(0.0, self.paused_until - self.clock())
        said = f"the service throttled {self.throttled} time(s) ({statuses})"
        said += f"; the pool paused {waited:.1f} s in all"
        if self.rate is not None:
            said += f"; the rate ended at {describe_rate(self.rate)}"
            if self.asked is not None and self.rate < self.asked:
                said += f" (asked: {describe_rate(self.asked)})"
        return said


# --- In a worker: the threads of one process wait together ---

# run -> until when (time.monotonic()) the service asked this process to wait:
# the threads of a thread pool start no item meanwhile, even one queued before
# the calling thread heard of it (call_batch).
PAUSED_UNTIL: dict[int, float] = {}


def pause_here(run: int, seconds: float | None) -> None:
    """The service asked this worker to wait: so do the others of this process."""
    if seconds:
        until = time.monotonic() + seconds
        PAUSED_UNTIL[run] = max(until, PAUSED_UNTIL.get(run, 0.0))


def paused(run: int) -> bool:
    return PAUSED_UNTIL.get(run, 0.0) > time.monotonic()
