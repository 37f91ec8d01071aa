#!/usr/bin/env python3
"""A Scatter search leaf in Python: the Rust search leaf's answers, from the .proto files alone.

It indexes its shard of a corpus directory (document i belongs to shard
i % shard_count) and answers a query with the shard's top k, exactly as
examples/search's search-leaf does: the same payloads, words, scores, tie
order and errors, so Python and Rust leaves can serve shards of one tree.
Unlike search-leaf it cannot generate a corpus: --corpus-dir is required.

It implements scatter.v1.Leaf (Answer and Info) and grpc.health.v1.Health,
counts its calls at work in the gauge scatter_leaf_in_flight (with
--metrics-listen), and drains on SIGTERM: health NOT_SERVING first, then
in-flight calls finish, then it exits 0.

    python3 leaf.py --corpus-dir DIR --shard 0 --shard-count 2 --listen 127.0.0.1:7001

Needs: pip install -r tests/python-requirements.txt
"""

import argparse
import os
import sys
import threading
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-common"))

from scatter_common import corpus, wire  # noqa: E402
from scatter_common.contract import load_contract  # noqa: E402
from scatter_common.index import Index  # noqa: E402
from scatter_common.metrics import InFlight  # noqa: E402
from scatter_common.serve import add_flags, serve  # noqa: E402


class SearchLeaf:
    """Answers for one shard: checks the shard, reads the query, waits if
    asked to, searches. Each step is a method, so a test fixture can break
    exactly one (tests/fixtures/broken_leaf.py)."""

    def __init__(self, v1, index, shard, shard_count, delay_ms, in_flight):
        self.v1 = v1
        self.index = index
        self.shard = shard
        self.shard_count = shard_count
        self.delay_ms = delay_ms
        self.in_flight = in_flight

    def Answer(self, request, context):
        with self.in_flight.call(context):
            if request.shard != self.shard or request.shard_count != self.shard_count:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"this leaf serves shard {self.shard} of {self.shard_count}, but was "
                              f"called for shard {request.shard} of {request.shard_count}")
            try:
                query = wire.read_query(request.payload.content_type, request.payload.body)
            except wire.PayloadError as error:
                self.refuse(context, error)
            if not self.wait((self.delay_ms + query.delay_ms) / 1000, context):
                return self.v1.leaf_pb2.LeafResponse()  # cancelled: nobody reads it
            hits, total_hits = self.index.results(query.query, query.k)
            partial = self.v1.payload_pb2.Payload(content_type=wire.APPLICATION_JSON,
                                                  body=wire.results_body(hits, total_hits))
            return self.v1.leaf_pb2.LeafResponse(partial=partial, load=self.load())

    def AnswerStream(self, request, context):
        """Answer with news first: this leaf has no queue, so a call's work
        starts as it arrives, and `started` (when asked for, for tied calls)
        goes out at once; then the answer."""
        if request.report_start:
            yield self.v1.leaf_pb2.LeafUpdate(started=self.v1.leaf_pb2.Started(load=self.load()))
        yield self.v1.leaf_pb2.LeafUpdate(answer=self.Answer(request, context))

    def load(self):
        """This leaf's load for the root's replica choice: calls at work, none queued."""
        return self.v1.leaf_pb2.LoadReport(in_flight=self.in_flight.working(), queued=0)

    def Info(self, request, context):
        return self.v1.leaf_pb2.LeafInfo(shard=self.shard, shard_count=self.shard_count)

    def refuse(self, context, error):
        """Ends the call with INVALID_ARGUMENT: the query is the caller's to fix."""
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def wait(self, seconds, context):
        """Waits `seconds`, but stops as soon as the call ends (cancelled by
        the root, or past its deadline); returns whether the call is still on."""
        if seconds <= 0:
            return True
        ended = threading.Event()
        context.add_callback(ended.set)
        return not ended.wait(seconds)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get
    add_flags(parser, default_listen="127.0.0.1:50051")
    parser.add_argument("--corpus-dir", default=env("SCATTER_CORPUS_DIR"), metavar="DIR",
                        help="index the text files of DIR, as search-leaf --corpus-dir does "
                             "(env SCATTER_CORPUS_DIR; required: this leaf does not generate a corpus)")
    parser.add_argument("--shard", type=int, default=env("SCATTER_SHARD", "0"),
                        help="the shard this leaf serves (env SCATTER_SHARD; default 0)")
    parser.add_argument("--shard-count", type=int, default=env("SCATTER_SHARD_COUNT", "1"),
                        help="how many shards make the corpus (env SCATTER_SHARD_COUNT; default 1)")
    parser.add_argument("--delay-ms", type=int, default=env("SCATTER_DELAY_MS", "0"),
                        help="wait this long before every answer, cancellably: a slow shard "
                             "(env SCATTER_DELAY_MS; default 0)")
    args = parser.parse_args(argv)
    if args.corpus_dir is None:
        parser.error("--corpus-dir (or SCATTER_CORPUS_DIR) is required")
    if not 0 <= args.shard < args.shard_count:
        parser.error(f"--shard {args.shard} must be below --shard-count {args.shard_count}")
    return args


def main(argv=None, leaf_class=SearchLeaf, **serve_options):
    """Runs the leaf; `leaf_class` and `serve_options` let a fixture change one behaviour."""
    args = parse_args(argv)
    v1 = load_contract()
    try:
        documents = corpus.read_dir(args.corpus_dir)
    except corpus.CorpusError as error:
        sys.exit(str(error))
    index = Index(args.shard, corpus.shard(documents, args.shard, args.shard_count))
    in_flight = InFlight("scatter_leaf_in_flight", "Leaf calls running now.")
    leaf = leaf_class(v1, index, args.shard, args.shard_count, args.delay_ms, in_flight)

    def add_services(server):
        v1.leaf_pb2_grpc.add_LeafServicer_to_server(leaf, server)

    banner = f"python leaf serving shard {args.shard} of {args.shard_count} ({len(index)} documents)"
    return serve(args, add_services, "scatter.v1.Leaf", in_flight, banner, **serve_options)


if __name__ == "__main__":
    sys.exit(main())
