#!/usr/bin/env python3
"""A Scatter client that knows nothing but the root's address: it finds scatter.v1.Root by gRPC server reflection.

No .proto files and no generated code: grpcio-reflection's
ProtoReflectionDescriptorDatabase (which speaks grpc.reflection.v1alpha) lists
the services the root serves and fetches their descriptors; the request and
response classes are built from those descriptors at run time. The script
then calls Root/Query with the words given as a text/plain payload and prints
the coverage of the answer.

    python3 query.py --addr 127.0.0.1:50000 hello world

prints, for example:

    service: grpc.health.v1.Health
    service: grpc.reflection.v1.ServerReflection
    service: grpc.reflection.v1alpha.ServerReflection
    service: scatter.v1.Root
    coverage: 4/4 answered, 0 failed, 0 timed out, 0 skipped

On an error status prints `error: CODE: message` to stderr and exits 1.

Needs: pip install grpcio grpcio-reflection
"""

import argparse
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

ROOT = "scatter.v1.Root"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50000", help="the root, host:port")
    parser.add_argument("--deadline-ms", type=int, default=5000, help="sent as grpc-timeout")
    parser.add_argument("text", nargs="+", help="the query")
    args = parser.parse_args()

    with grpc.insecure_channel(args.addr) as channel:
        reflection = ProtoReflectionDescriptorDatabase(channel)
        try:
            services = sorted(reflection.get_services())
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        for service in services:
            print(f"service: {service}")
        if ROOT not in services:
            print(f"error: the server does not list {ROOT}", file=sys.stderr)
            return 1

        method = DescriptorPool(reflection).FindServiceByName(ROOT).FindMethodByName("Query")
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        request = request_class()
        request.payload.content_type = "text/plain"
        request.payload.body = " ".join(args.text).encode()

        query = channel.unary_unary(
            f"/{ROOT}/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        try:
            response = query(request, timeout=args.deadline_ms / 1000)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    c = response.coverage
    print(
        f"coverage: {c.answered}/{c.total} answered, {c.failed} failed, "
        f"{c.timed_out} timed out, {c.skipped} skipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
