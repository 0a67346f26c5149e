"""The rate's forms, and how the engine reads a service's "too many requests"
from the errors people raise, without importing their libraries."""

import email.utils
import io
import urllib.error
from datetime import datetime, timedelta, timezone

import pytest


def test_the_forms_of_a_rate(project):
    from parallel_loop._engine import parse_rate

    assert parse_rate(20) == 20
    assert parse_rate("0.5") == 0.5
    assert parse_rate("600/min") == 10
    assert parse_rate("1000/h") == pytest.approx(1000 / 3600)
    assert parse_rate(None) is None
    assert parse_rate(" +5 / MIN ") == parse_rate("5/minute") == 5 / 60
    assert parse_rate("1E2/hour") == pytest.approx(100 / 3600)
    for bad in ("fast", "0", "-3", "10/week", "", True, float("inf"), "nan"):
        with pytest.raises(ValueError, match="600/min, 1000/h"):
            parse_rate(bad)
    with pytest.raises(ValueError, match="from one item a day up"):
        parse_rate(1e-10)  # it would sleep past what time.sleep takes


def test_a_bad_rate_is_a_usage_error_naming_the_forms(start_cli):
    run = start_cli("--rate", "10/week", "--no-progress")
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 2
    assert "--rate: must be a number of items a second (20, 0.5)" in stderr
    assert "(600/min, 1000/h), not '10/week'" in stderr


class Response:  # as requests' and httpx' responses have them
    def __init__(self, status_code, headers):
        self.status_code = status_code
        self.headers = headers


class LibraryError(Exception):  # requests.HTTPError, httpx.HTTPStatusError
    def __init__(self, response):
        super().__init__(f"{response.status_code}")
        self.response = response


def test_the_errors_that_say_too_many_requests(project):
    from parallel_loop._engine.rate import throttle_of
    from parallel_loop.parallel import Throttled

    def http_error(code, headers):
        return urllib.error.HTTPError("http://x", code, "", headers, io.BytesIO())

    assert throttle_of(http_error(429, {"Retry-After": "7"})) == (429, 7.0)
    assert throttle_of(http_error(503, {})) == (503, None)
    assert throttle_of(http_error(404, {"Retry-After": "7"})) is None
    assert throttle_of(LibraryError(Response(429, {"Retry-After": "2.5"}))) == (
        429,
        2.5,
    )
    assert throttle_of(LibraryError(Response(500, {}))) is None
    assert throttle_of(Throttled(retry_after=3)) == (0, 3)
    assert throttle_of(ValueError("429")) is None


def test_retry_after_as_an_http_date(project):
    from parallel_loop._engine.rate import retry_after_seconds

    now = datetime(2026, 12, 6, 12, 0, 0, tzinfo=timezone.utc)  # noqa: UP017
    later = email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now) == 90
    earlier = email.utils.format_datetime(now - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(earlier, now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_starts_are_spread_evenly_and_a_late_one_keeps_the_schedule(project):
    from parallel_loop._engine import Limiter

    clock = Clock()
    limiter = Limiter(10, clock)
    assert limiter.wait() == 0  # the first starts at once: no burst after it
    limiter.started()
    assert limiter.wait() == pytest.approx(0.1)
    clock.now += 0.13  # started 0.03 s late: the next is still due on schedule
    limiter.started()
    assert limiter.wait() == pytest.approx(0.07)
    clock.now += 5  # idle: the schedule starts again from now, with no burst
    limiter.started()
    assert limiter.wait() == pytest.approx(0.1)


def test_the_service_pauses_halves_and_the_rate_climbs_back(project):
    from parallel_loop._engine import Limiter
    from parallel_loop._engine.rate import STEPS_TO_RECOVER, Throttle

    clock = Clock()
    limiter = Limiter(20, clock)
    sent = clock.now
    clock.now += 0.01
    limiter.heard(Throttle(429, 3.0), sent)  # Retry-After: 3
    assert limiter.wait() == pytest.approx(3.0)
    assert limiter.rate == 10
    limiter.heard(Throttle(429, None), sent)  # sent before the halving: once only
    assert limiter.rate == 10
    clock.now += 3
    limiter.heard(Throttle(503, None), clock.now)  # sent after: halved again
    assert limiter.rate == 5
    limiter.went_well(5)  # each adds 1/STEPS_TO_RECOVER of the rate asked
    assert limiter.rate == pytest.approx(5 + 5 * 20 / STEPS_TO_RECOVER)
    limiter.went_well(10 * STEPS_TO_RECOVER)
    assert limiter.rate == 20  # back to the rate asked, not past it
    said = limiter.summary()
    assert "throttled 3 time(s) (2 429, 1 503)" in said
    assert "paused 3.0 s in all" in said and "ended at 20/s" in said


def test_without_a_rate_the_limit_starts_from_the_rate_measured(project):
    from parallel_loop._engine import Limiter
    from parallel_loop._engine.rate import Throttle

    clock = Clock()
    limiter = Limiter(None, clock)
    assert not limiter.in_force
    for _ in range(200):  # 100 a second for 2 s
        limiter.started()
        clock.now += 0.01
    limiter.heard(Throttle(429, None), clock.now)
    assert limiter.in_force
    assert limiter.rate == pytest.approx(50, rel=0.02)  # half of what was measured


def test_a_throttle_never_raises_a_slow_rate(project):
    from parallel_loop._engine import Limiter
    from parallel_loop._engine.rate import Throttle

    clock = Clock()
    limiter = Limiter(3 / 60, clock)
    limiter.heard(Throttle(429, None), clock.now)
    assert limiter.rate <= 3 / 60


def test_the_delays_a_loop_body_or_a_service_gives_are_read_safely(project):
    """A header passed on as it is, a delay of years, nan: none stops the run."""
    from parallel_loop._engine.rate import LONGEST_PAUSE, throttle_of
    from parallel_loop.parallel import Throttled

    assert throttle_of(Throttled(retry_after="3")).retry_after == 3
    assert throttle_of(Throttled(retry_after=float("inf"))).retry_after == LONGEST_PAUSE
    assert throttle_of(Throttled(retry_after=1e10)).retry_after == LONGEST_PAUSE
    assert throttle_of(Throttled(retry_after=float("nan"))).retry_after is None
    assert throttle_of(Throttled(retry_after="soon")).retry_after is None
