#!/usr/bin/env python3
"""A Scatter search merge in Python: the Rust search merge's top k, from the .proto files alone.

It folds the partials of the search leaves (Rust or Python) into the top k
of the whole corpus, exactly as examples/search's search-merge does: hits
ranked by score, then document id, then shard; total_hits summed; k read
from the client's query. Fewer partials than shards is normal: the answer
holds what came.

It implements scatter.v1.Merge (Merge, and MergeProgressive with a snapshot
after each partial) and grpc.health.v1.Health, refuses a malformed stream
with INVALID_ARGUMENT as the Rust merge SDK does, counts its merges at work
in the gauge scatter_merge_in_flight (with --metrics-listen), and drains on
SIGTERM: health NOT_SERVING first, then in-flight merges finish, then exit 0.

    python3 merge.py --listen 127.0.0.1:7000

Needs: pip install -r tests/python-requirements.txt
"""

import argparse
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-common"))

from scatter_common import rank, wire  # noqa: E402
from scatter_common.contract import load_contract  # noqa: E402
from scatter_common.metrics import InFlight  # noqa: E402
from scatter_common.serve import add_flags, serve  # noqa: E402

_U64_MAX = 2**64 - 1


class TopK:
    """The best hits of one request so far."""

    def __init__(self, k):
        self.k = k
        self.hits = []
        self.total_hits = 0

    def accept(self, shard, partial):
        """Keeps the best k of the hits so far and adds up total_hits."""
        try:
            hits, total_hits = wire.read_results(partial.content_type, partial.body)
        except wire.PayloadError as error:
            raise wire.PayloadError(f"shard {shard} sent a partial the merge cannot read: {error}") from None
        self.total_hits = min(self.total_hits + total_hits, _U64_MAX)
        self.hits = rank.keep_top(self.hits + hits, self.k)

    def body(self):
        return wire.results_body(self.hits, self.total_hits)


class SearchMerge:
    """scatter.v1.Merge over TopK, with the stream protocol of the Rust merge SDK."""

    def __init__(self, v1, in_flight):
        self.v1 = v1
        self.in_flight = in_flight

    def Merge(self, request_iterator, context):
        with self.in_flight.call(context):
            top = self.begin(request_iterator, context)
            for _ in self.partials(top, request_iterator, context):
                pass
            return self.v1.merge_pb2.MergeResponse(result=self.payload(top))

    def MergeProgressive(self, request_iterator, context):
        with self.in_flight.call(context):
            top = self.begin(request_iterator, context)
            for _ in self.partials(top, request_iterator, context):
                yield self.v1.merge_pb2.MergeUpdate(snapshot=self.payload(top))
            yield self.v1.merge_pb2.MergeUpdate(result=self.payload(top))

    def begin(self, messages, context):
        """Reads the `begin` message and the k of the client's query."""
        first = next(messages, None)
        kind = first.WhichOneof("kind") if first is not None else None
        if kind == "partial":
            self.refuse(context, "the first message of a merge stream must be `begin`, got a partial")
        if kind is None:
            # An empty first message counts as no begin, as in the Rust merge SDK.
            self.refuse(context, "the merge stream ended before its `begin` message")
        if not first.begin.HasField("request"):
            self.refuse(context, "the merge's begin message carries no request payload")
        request = first.begin.request
        try:
            query = wire.read_query(request.content_type, request.body)
        except wire.PayloadError as error:
            self.refuse(context, str(error))
        return TopK(query.k)

    def partials(self, top, messages, context):
        """Folds each partial into `top` as it comes; yields after each one."""
        for message in messages:
            kind = message.WhichOneof("kind")
            if kind == "begin":
                self.refuse(context, "a merge stream carries one `begin` message, and it came again")
            if kind is None:
                self.refuse(context, "a merge message with no content")
            try:
                top.accept(message.partial.shard, message.partial.partial)
            except wire.PayloadError as error:
                self.refuse(context, str(error))
            yield

    def payload(self, top):
        return self.v1.payload_pb2.Payload(content_type=wire.APPLICATION_JSON, body=top.body())

    @staticmethod
    def refuse(context, message):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def main(argv=None, merge_class=SearchMerge):
    """Runs the merge; `merge_class` lets a test fixture change one behaviour."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_flags(parser, default_listen="127.0.0.1:50050")
    args = parser.parse_args(argv)
    v1 = load_contract()
    in_flight = InFlight("scatter_merge_in_flight", "Merges running now.")
    merge = merge_class(v1, in_flight)

    def add_services(server):
        v1.merge_pb2_grpc.add_MergeServicer_to_server(merge, server)

    return serve(args, add_services, "scatter.v1.Merge", in_flight, "python merge serving")


if __name__ == "__main__":
    sys.exit(main())
