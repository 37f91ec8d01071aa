#!/usr/bin/env bash
# Builds Scatter's images here, without a registry: static binaries (glibc,
# +crt-static) copied into FROM-scratch images.
#
#   deploy/build-images.sh [TAG]      # TAG defaults to "dev"
#
# gives scatter-root:TAG, scatter-search-leaf:TAG and scatter-search-merge:TAG.
# The static build has its own target directory (target/static), so it does
# not invalidate the normal one; the first build takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-dev}"
triple="$(uname -m)-unknown-linux-gnu"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
    --target "$triple" --target-dir target/static \
    -p scatter-root -p scatter-example-search
bin="target/static/$triple/release"

# Each image's context holds its binary only: nothing else is sent to the engine.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
for pair in root:scatter search-leaf:search-leaf search-merge:search-merge; do
    image="${pair%%:*}"
    binary="${pair#*:}"
    if ldd "$bin/$binary" 2>/dev/null | grep -q '=>'; then
        echo "error: $bin/$binary is dynamically linked; it would not run FROM scratch" >&2
        exit 1
    fi
    rm -f "$context"/*
    cp "$bin/$binary" "$context/"
    # Quiet unless it fails (the engine's legacy builder warns on every build).
    if ! log="$(docker build --quiet --file "deploy/$image.Dockerfile" --tag "scatter-$image:$tag" "$context" 2>&1)"; then
        echo "$log" >&2
        exit 1
    fi
    echo "built scatter-$image:$tag"
done
