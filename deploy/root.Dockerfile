# The Scatter root (`scatter`), from a static binary: build with
# deploy/build-images.sh, which gives this file a context holding only the
# binary. No shell, no CA certificates, no health-check tool: health is
# checked by whoever runs it (gRPC health or HTTP /readyz on the port).
FROM scratch
COPY scatter /scatter
# OCI labels: deploy/build-images.sh passes the workspace's version, licence
# and repository, the commit and the build time.
ARG VERSION=unknown
ARG LICENSES=unknown
ARG SOURCE=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="scatter-root" \
      org.opencontainers.image.description="Scatter root: sends each request to one replica of every shard and merges the partials" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED"
# A non-root user by number (a scratch image has no /etc/passwd). To run the
# Docker runtime inside it, mount the engine's socket and run as root
# (`--user 0`), or add the socket's group.
USER 65532:65532
EXPOSE 50000
# The engine's health check (Compose, Swarm): `scatter probe` asks the root
# on SCATTER_LISTEN (else 127.0.0.1:50000) for its gRPC health.
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s \
    CMD ["/scatter", "probe"]
ENTRYPOINT ["/scatter"]
CMD ["serve", "--help"]
