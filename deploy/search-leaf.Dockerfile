# The example search leaf (`search-leaf`), from a static binary: build with
# deploy/build-images.sh. Configure it with SCATTER_SHARD (a number, or
# `ordinal` in a StatefulSet), SCATTER_SHARD_COUNT, SCATTER_DOCS,
# SCATTER_SEED or SCATTER_CORPUS_DIR; gRPC, /healthz, /readyz, /metrics and
# /status share port 50051.
FROM scratch
COPY search-leaf /search-leaf
USER 65532:65532
# Every interface: in a container, loopback would reach nobody.
ENV SCATTER_LISTEN=0.0.0.0:50051
EXPOSE 50051
ENTRYPOINT ["/search-leaf"]
