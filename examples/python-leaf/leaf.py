#!/usr/bin/env python3
"""A Scatter leaf in Python: proof that the contract is plain gRPC + protobuf.

Each leaf holds one shard of a small line-oriented corpus (line i belongs to
shard i % shard_count) and answers a query with the number of its lines that
contain the query text, as JSON: {"shard": 0, "matches": 12, "lines": 250}.

It implements scatter.v1.Leaf (Answer and Info) and grpc.health.v1.Health,
and drains on SIGTERM: health NOT_SERVING first, then in-flight calls finish.

    python3 leaf.py --listen 127.0.0.1:7001 --shard 0 --shard-count 2 [--delay-ms 300]

Needs: pip install grpcio grpcio-tools grpcio-health-checking
"""

import argparse
import json
import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from contract import load_contract


def corpus(shard, shard_count, size=1000):
    """A deterministic corpus: line i names i and its remainders."""
    return [f"line {i} is {'even' if i % 2 == 0 else 'odd'} and {'fizz' if i % 3 == 0 else 'plain'}"
            for i in range(size) if i % shard_count == shard]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=os.environ.get("SCATTER_LISTEN", "127.0.0.1:50051"))
    parser.add_argument("--shard", type=int, default=int(os.environ.get("SCATTER_SHARD", "0")))
    parser.add_argument("--shard-count", type=int, default=int(os.environ.get("SCATTER_SHARD_COUNT", "1")))
    parser.add_argument("--grace-ms", type=int, default=int(os.environ.get("SCATTER_GRACE_MS", "10000")))
    parser.add_argument("--delay-ms", type=int, default=int(os.environ.get("SCATTER_DELAY_MS", "0")),
                        help="wait this long before answering: a slow shard, to watch QueryStream progress")
    args, _ = parser.parse_known_args()
    if not 0 <= args.shard < args.shard_count:
        sys.exit(f"--shard {args.shard} must be below --shard-count {args.shard_count}")

    v1 = load_contract()
    leaf_pb2, leaf_pb2_grpc, payload_pb2 = v1.leaf_pb2, v1.leaf_pb2_grpc, v1.payload_pb2
    lines = corpus(args.shard, args.shard_count)

    class Leaf(leaf_pb2_grpc.LeafServicer):
        def Answer(self, request, context):
            if request.shard != args.shard or request.shard_count != args.shard_count:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"this leaf serves shard {args.shard} of {args.shard_count}")
            try:
                needle = request.payload.body.decode("utf-8").strip()
            except UnicodeDecodeError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the query is not UTF-8 text")
            if not needle:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty query: send some text to look for")
            if args.delay_ms > 0:
                # Wait, but stop as soon as the root cancels the call (its
                # deadline passed, or its client went away).
                cancelled = threading.Event()
                context.add_callback(cancelled.set)
                if cancelled.wait(args.delay_ms / 1000):
                    return leaf_pb2.LeafResponse()  # nobody reads it
            matches = sum(1 for line in lines if needle in line)
            body = json.dumps({"shard": args.shard, "matches": matches, "lines": len(lines)})
            partial = payload_pb2.Payload(content_type="application/json", body=body.encode())
            return leaf_pb2.LeafResponse(partial=partial)

        def Info(self, request, context):
            return leaf_pb2.LeafInfo(shard=args.shard, shard_count=args.shard_count)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    leaf_pb2_grpc.add_LeafServicer_to_server(Leaf(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(args.listen) == 0:
        sys.exit(f"cannot listen on {args.listen}")
    server.start()
    for name in ("", "scatter.v1.Leaf"):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"python leaf serving shard {args.shard} of {args.shard_count} on {args.listen}",
          file=sys.stderr, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    health_servicer.enter_graceful_shutdown()  # NOT_SERVING first
    server.stop(args.grace_ms / 1000).wait()


if __name__ == "__main__":
    main()
