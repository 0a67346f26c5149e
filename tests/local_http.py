"""Local HTTP servers for the tests: a quiet handler and a server that takes many
connections at once, served on 127.0.0.1 for the length of a with block."""

import http.server
import threading
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
