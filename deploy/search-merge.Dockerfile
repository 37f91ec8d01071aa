# The example search merge (`search-merge`), from a static binary: build
# with deploy/build-images.sh. As a sidecar of the root (same network
# namespace) set SCATTER_LISTEN=127.0.0.1:50050 so only the root reaches it.
FROM scratch
COPY search-merge /search-merge
# OCI labels: deploy/build-images.sh passes the workspace's version, licence
# and repository, the commit and the build time.
ARG VERSION=unknown
ARG LICENSES=unknown
ARG SOURCE=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="scatter-search-merge" \
      org.opencontainers.image.description="Scatter example search merge: folds the top hits of every shard into the top k of the corpus" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED"
USER 65532:65532
ENV SCATTER_LISTEN=0.0.0.0:50050
EXPOSE 50050
# The engine's health check (Compose, Swarm): the binary asks the process
# on SCATTER_LISTEN for its gRPC health; there is no shell or client here.
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s \
    CMD ["/search-merge", "--probe"]
ENTRYPOINT ["/search-merge"]
