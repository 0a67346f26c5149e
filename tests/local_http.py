"""Local HTTP servers for the tests: a quiet handler and a server that takes many
connections at once, served on 127.0.0.1 for the length of a with block."""

import http.server
import threading
import time
from contextlib import contextmanager


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that answers with answer() and logs nothing."""

    def answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ManyAtOnce(http.server.ThreadingHTTPServer):
    request_queue_size = 512  # 128 connections at once: none waits to be accepted
    daemon_threads = True


@contextmanager
def serving(handler):
    """Yields the port of a server of `handler` on 127.0.0.1, shut down after."""
    server = ManyAtOnce(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class Service:
    """A service that takes `per_second` requests a second (a token bucket of
    `burst`) and answers the others 429 Too Many Requests, with a Retry-After
    header of `retry_after` seconds (None: no header), during which it answers
    every request 429. Records each request's arrival (time.monotonic()) and
    status, and each pause it asked for."""

    def __init__(self, per_second: float, burst: float = 1, retry_after=None):
        self.per_second = per_second
        self.burst = burst
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.tokens = burst
        self.refilled = time.monotonic()
        self.paused_until = 0.0
        self.arrivals: list[tuple[float, int]] = []  # (when, status)
        self.pauses: list[tuple[float, float]] = []  # (from, to)

    def answer(self) -> int:
        """The status for a request arriving now."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(
                self.burst, self.tokens + (now - self.refilled) * self.per_second
            )
            self.refilled = now
            if now >= self.paused_until and self.tokens >= 1:
                self.tokens -= 1
                status = 200
            else:
                status = 429
                if self.retry_after is not None and now >= self.paused_until:
                    self.paused_until = now + self.retry_after
                    self.pauses.append((now, self.paused_until))
            self.arrivals.append((now, status))
            return status

    def handler(self):
        service = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path.endswith("/missing"):  # a failure for good
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = service.answer()
                if status == 200:
                    self.answer(self.path.encode())
                    return
                self.send_response(status)
                if service.retry_after is not None:
                    self.send_header("Retry-After", str(service.retry_after))
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def count(self, status=None) -> int:
        return sum(1 for _, s in self.arrivals if status is None or s == status)

    def during_pauses(self, grace: float) -> list[float]:
        """Arrivals inside a pause, later than `grace` after it began: requests
        sent once the client could know of it (those in flight then may land)."""
        return [
            when
            for when, _ in self.arrivals
            for start, end in self.pauses
            if start + grace < when < end
        ]

    def check_kept_to(self, items: int, extra: float) -> None:
        """What a pool that heard this service did: it was throttled (else the
        test tests nothing), sent no request once it could know of a pause,
        and sent at most `extra` requests more than `items`."""
        assert self.pauses, "the service never throttled: the test tests nothing"
        assert self.during_pauses(grace=0.25) == []
        assert self.count() <= items + extra, self.count(429)
