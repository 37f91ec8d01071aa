# The example search merge (`search-merge`), from a static binary: build
# with deploy/build-images.sh. As a sidecar of the root (same network
# namespace) set SCATTER_LISTEN=127.0.0.1:50050 so only the root reaches it.
FROM scratch
COPY search-merge /search-merge
USER 65532:65532
ENV SCATTER_LISTEN=0.0.0.0:50050
EXPOSE 50050
ENTRYPOINT ["/search-merge"]
