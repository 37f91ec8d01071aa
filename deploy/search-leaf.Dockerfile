# The example search leaf (`search-leaf`), from a static binary: build with
# deploy/build-images.sh. Configure it with SCATTER_SHARD (a number, or
# `ordinal` in a StatefulSet), SCATTER_SHARD_COUNT, SCATTER_DOCS,
# SCATTER_SEED or SCATTER_CORPUS_DIR; gRPC, /healthz, /readyz, /metrics and
# /status share port 50051.
FROM scratch
COPY search-leaf /search-leaf
# OCI labels: deploy/build-images.sh passes the workspace's version, licence
# and repository, the commit and the build time.
ARG VERSION=unknown
ARG LICENSES=unknown
ARG SOURCE=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="scatter-search-leaf" \
      org.opencontainers.image.description="Scatter example search leaf: top-k text search over one shard of a corpus" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED"
USER 65532:65532
# Every interface: in a container, loopback would reach nobody.
ENV SCATTER_LISTEN=0.0.0.0:50051
EXPOSE 50051
# The engine's health check (Compose, Swarm): the binary asks the process
# on SCATTER_LISTEN for its gRPC health; there is no shell or client here.
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s \
    CMD ["/search-leaf", "--probe"]
ENTRYPOINT ["/search-leaf"]
