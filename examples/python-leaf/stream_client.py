#!/usr/bin/env python3
"""A Scatter client in Python: calls scatter.v1.Root/QueryStream and prints each update.

Built only from the .proto files (compiled at start-up with grpcio-tools, see
examples/python-common/scatter_common/contract.py): the root answers with one
`progress` update each time a shard ends (coverage so far, and the merged
snapshot when the merge gives one), then one `done` update holding exactly
what Root/Query would have returned.

    python3 stream_client.py --addr 127.0.0.1:50000 hello world

prints, for example (with the builtin:concat merge; with a search merge each
update is one JSON result):

    progress: 1/2 shards ended, 1 answered
      shard 0: {"hits":[{"doc":"doc-0004","title":"...","score":1.9481,"shard":0}],"total_hits":3}
    done: 2/2 shards answered
      shard 0: {"hits":[{"doc":"doc-0004","title":"...","score":1.9481,"shard":0}],"total_hits":3}
      shard 1: {"hits":[{"doc":"doc-0007","title":"...","score":1.8324,"shard":1}],"total_hits":2}

Exits 0 after `done`; on an error status prints `error: CODE: message` to
stderr and exits 1.

Needs: pip install grpcio grpcio-tools
"""

import argparse
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-common"))

from scatter_common.contract import load_contract  # noqa: E402

CONCAT = "application/x-protobuf; messageType=scatter.v1.ConcatResult"


def show(v1, payload):
    """The lines a merged result (or snapshot) prints as."""
    if payload.content_type == CONCAT:
        concat = v1.merge_pb2.ConcatResult.FromString(payload.body)
        return [f"shard {p.shard}: {p.partial.body.decode('utf-8', 'replace')}" for p in concat.partials]
    return [payload.body.decode("utf-8", "replace")]


def ended(coverage):
    return coverage.answered + coverage.failed + coverage.timed_out + coverage.skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50000", help="the root, host:port")
    parser.add_argument("--deadline-ms", type=int, default=None, help="sent as grpc-timeout")
    parser.add_argument("--require-all", action="store_true", help="fail unless every shard answers")
    parser.add_argument("text", nargs="+", help="the query")
    args = parser.parse_args()

    v1 = load_contract()
    request = v1.root_pb2.QueryRequest(
        payload=v1.payload_pb2.Payload(content_type="text/plain", body=" ".join(args.text).encode()),
        policy=v1.root_pb2.Policy(require_all_shards=args.require_all),
    )
    timeout = args.deadline_ms / 1000 if args.deadline_ms else None
    with grpc.insecure_channel(args.addr) as channel:
        root = v1.root_pb2_grpc.RootStub(channel)
        try:
            for update in root.QueryStream(request, timeout=timeout):
                kind = update.WhichOneof("kind")
                if kind == "progress":
                    c = update.progress.coverage
                    print(f"progress: {ended(c)}/{c.total} shards ended, {c.answered} answered")
                    if update.progress.HasField("snapshot"):
                        for line in show(v1, update.progress.snapshot):
                            print(f"  {line}")
                elif kind == "done":
                    c = update.done.coverage
                    print(f"done: {c.answered}/{c.total} shards answered")
                    for line in show(v1, update.done.result):
                        print(f"  {line}")
                    for missing in c.missing:
                        print(f"  missing shard {missing.shard}: {missing.message}")
                    return 0
                sys.stdout.flush()
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print("error: the root ended the stream without a final answer", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
