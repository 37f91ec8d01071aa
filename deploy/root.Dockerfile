# The Scatter root (`scatter`), from a static binary: build with
# deploy/build-images.sh, which gives this file a context holding only the
# binary. No shell, no CA certificates, no health-check tool: health is
# checked by whoever runs it (gRPC health or HTTP /readyz on the port).
FROM scratch
COPY scatter /scatter
# A non-root user by number (a scratch image has no /etc/passwd). To run the
# Docker runtime inside it, mount the engine's socket and run as root
# (`--user 0`), or add the socket's group.
USER 65532:65532
EXPOSE 50000
ENTRYPOINT ["/scatter"]
CMD ["serve", "--help"]
