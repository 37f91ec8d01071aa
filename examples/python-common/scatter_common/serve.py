"""Serving a Python leaf or merge: flags from the environment, a gRPC server
with grpc.health.v1, the in-flight metric, and the drain on SIGTERM.

The drain, in the order of the Rust SDKs (management/src/serve.rs): health
NOT_SERVING (watchers of Health/Watch get the update); keep answering for
--drain-delay-ms; refuse new calls; let in-flight calls finish, at most
--grace-ms; end the remaining streams (health watches); exit 0.
"""

import os
import signal
import sys
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from scatter_common.metrics import serve_metrics

#: The largest message accepted, as the Rust SDKs' default --max-message-bytes.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 64 * 1024
#: Calls served at once; each one holds a thread while it works.
WORKERS = 64


def add_flags(parser, default_listen):
    """The flags every Python process takes, each with its environment variable."""
    env = os.environ.get
    parser.add_argument("--listen", default=env("SCATTER_LISTEN", default_listen),
                        help=f"host:port to serve gRPC on (env SCATTER_LISTEN; default {default_listen})")
    parser.add_argument("--grace-ms", type=int, default=env("SCATTER_GRACE_MS", "10000"),
                        help="how long in-flight calls may run once the drain starts "
                             "(env SCATTER_GRACE_MS; default 10000)")
    parser.add_argument("--drain-delay-ms", type=int, default=env("SCATTER_DRAIN_DELAY_MS", "0"),
                        help="how long to keep answering after reporting NOT_SERVING "
                             "(env SCATTER_DRAIN_DELAY_MS; default 0)")
    parser.add_argument("--metrics-listen", default=env("SCATTER_METRICS_LISTEN") or None,
                        metavar="ADDR", help="serve Prometheus metrics at http://ADDR/metrics "
                                             "(env SCATTER_METRICS_LISTEN; default off)")


def serve(args, add_services, service_name, in_flight, banner,
          stop_signals=(signal.SIGTERM, signal.SIGINT)):
    """Serves until one of `stop_signals`, then drains; returns the exit code.

    `add_services(server)` adds the process's own servicers; `service_name`
    (e.g. scatter.v1.Leaf) is reported in health beside the overall "";
    `banner` is printed to stderr, with the address, once it serves.
    """
    stopped_by = stop_signal_waiter(stop_signals)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
    )
    add_services(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(args.listen) == 0:
        sys.exit(f"cannot listen on {args.listen}")
    if args.metrics_listen:
        serve_metrics(args.metrics_listen, in_flight)
    server.start()
    for name in ("", service_name):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"{banner} on {args.listen}", file=sys.stderr, flush=True)

    stopped_by()

    print("draining: NOT_SERVING", file=sys.stderr, flush=True)
    health_servicer.enter_graceful_shutdown()
    if args.drain_delay_ms > 0:
        time.sleep(args.drain_delay_ms / 1000)
    grace = args.grace_ms / 1000
    stopped = server.stop(grace)  # new calls are refused from here on
    if not in_flight.wait_idle(grace):
        print(f"grace period of {args.grace_ms} ms over: abandoning in-flight calls",
              file=sys.stderr, flush=True)
    server.stop(None)  # what is left: health watches, or calls past the grace period
    stopped.wait()
    return 0


def stop_signal_waiter(stop_signals):
    """Takes `stop_signals` from now on; returns a function that returns once
    one of them arrives.

    A process signal reaches whichever thread the kernel picks, and grpc
    runs many; Python runs its handlers only in the main thread, between
    bytecodes, so a main thread blocked on a lock or an event may never
    learn of a signal another thread took. The wakeup fd is written by the
    C-level handler whichever thread that is, so the main thread waits on
    it instead. Installed before the server starts: a signal sent as soon
    as the process serves is not lost either.
    """
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    for signum in stop_signals:
        signal.signal(signum, lambda *_: None)
    stops = {int(signum) for signum in stop_signals}

    def wait():
        while os.read(wake_read, 1)[0] not in stops:
            pass

    return wait
