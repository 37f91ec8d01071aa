"""The scatter.v1 contract for Python, compiled from the .proto files at run time.

Scatter's contract is plain gRPC + protobuf: this module runs grpcio-tools'
protoc over proto/proto/scatter/v1/*.proto into a temporary package and
imports it, so the Python examples carry no generated code that could drift.

    from scatter_common.contract import load_contract
    v1 = load_contract()
    v1.root_pb2.QueryRequest(...)
"""

import importlib
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto" / "proto"


def load_contract():
    """Compiles the scatter.v1 .proto files; returns their *_pb2 and *_pb2_grpc modules by name."""
    out = tempfile.mkdtemp(prefix="scatter-proto-")
    protos = sorted((PROTO_ROOT / "scatter" / "v1").glob("*.proto"))
    files = [str(p.relative_to(PROTO_ROOT)) for p in protos]
    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out}",
                        f"--grpc_python_out={out}", *files])
    if code != 0:
        sys.exit(f"cannot compile the contract in {PROTO_ROOT}")
    sys.path.insert(0, out)
    modules = {}
    for proto in protos:
        for suffix in ("_pb2", "_pb2_grpc"):
            name = proto.stem + suffix
            modules[name] = importlib.import_module(f"scatter.v1.{name}")
    # Every module is loaded now: the generated files are not needed again.
    sys.path.remove(out)
    shutil.rmtree(out, ignore_errors=True)
    return SimpleNamespace(**modules)
