"""The in-flight gauge of a Python leaf or merge, served as Prometheus text.

The gauge counts handler calls whose work has not ended: up when a call
starts, down when its work really ends. A call whose work stops when it is
cancelled drops at once; one whose work goes on after the caller left stays
counted until it stops, so the gauge tells whether cancellation is observed.
"""

import socket
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class InFlight:
    """A gauge of calls at work, and of calls whose RPC is still open (for the drain)."""

    def __init__(self, name, help_text):
        self.name = name
        self.help = help_text
        self._changed = threading.Condition()
        self._working = 0
        self._open = 0

    @contextmanager
    def call(self, context):
        """Counts the work of one call while the `with` block runs, and the
        call as open until gRPC ends its RPC (answered, failed or cancelled)."""
        with self._changed:
            self._working += 1
            self._open += 1
        if not context.add_callback(self._closed):
            self._closed()  # the RPC had already ended
        try:
            yield
        finally:
            with self._changed:
                self._working -= 1
                self._changed.notify_all()

    def working(self):
        """Calls at work now."""
        with self._changed:
            return self._working

    def _closed(self):
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def value(self):
        """Calls at work now."""
        with self._changed:
            return self._working

    def wait_idle(self, timeout):
        """Waits until no call is at work or open, at most `timeout` seconds;
        returns whether that happened."""
        with self._changed:
            return self._changed.wait_for(lambda: self._working == 0 and self._open == 0, timeout)

    def exposition(self):
        """The gauge in the Prometheus text format."""
        return (f"# HELP {self.name} {self.help}\n"
                f"# TYPE {self.name} gauge\n"
                f"{self.name} {self.value()}\n")


def serve_metrics(address, gauge):
    """Serves `gauge` at GET /metrics on `address` (host:port) from a daemon
    thread; returns the server, or exits when it cannot listen."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            body = gauge.exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass  # one line per scrape is noise

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("MetricsServer", (ThreadingHTTPServer,),
                        {"address_family": family, "daemon_threads": True})
    try:
        server = server_class((host, int(port)), Handler)
    except (OSError, ValueError) as error:
        sys.exit(f"cannot serve metrics on {address}: {error}")
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
