"""What the Python examples share: the contract, the search, and serving a process.

Read in this order:
- contract: the scatter.v1 .proto files compiled at start-up;
- corpus, index, rank, wire: the search of examples/search, ported so that
  Python and Rust leaves and merges can serve one tree and answer alike;
- metrics: the in-flight gauge and its Prometheus endpoint;
- serve: a gRPC server with health, flags from the environment, and the
  drain on SIGTERM.

A script puts examples/python-common on sys.path and imports
`scatter_common.<module>`.
"""
