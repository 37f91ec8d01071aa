#!/usr/bin/env bash
# Builds Scatter's images here, without a registry: static binaries (glibc,
# +crt-static) copied into FROM-scratch images.
#
#   deploy/build-images.sh [TAG]      # TAG defaults to "dev"
#
# gives scatter-root:TAG, scatter-search-leaf:TAG and scatter-search-merge:TAG.
# The static build has its own target directory (target/static), so it does
# not invalidate the normal one; the first build takes several minutes.
#
# The binaries come from an `image` profile defined here, not in Cargo.toml:
# the release profile keeps its line tables and its build speed for the
# benchmarks, while an image wants the smallest binary that runs as fast —
# whole-program LTO in one codegen unit, symbols and debug info stripped.
# It fails when a binary outgrows its budget below, so growth is a decision.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-dev}"
triple="$(uname -m)-unknown-linux-gnu"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image \
    --config 'profile.image.inherits="release"' \
    --config 'profile.image.debug=false' \
    --config 'profile.image.strip=true' \
    --config 'profile.image.lto="fat"' \
    --config 'profile.image.codegen-units=1' \
    --target "$triple" --target-dir target/static \
    -p scatter-root -p scatter-example-search
bin="target/static/$triple/image"

# What the labels say: the workspace's version, licence and repository, and
# the commit built. The time is the commit's for a clean checkout, so
# rebuilding the same commit gives the same image; a tree with changes says
# "-dirty" and the time now.
workspace() {
    sed -n "/^\[workspace.package\]/,/^\[/s/^$1 *= *\"\(.*\)\"/\1/p" Cargo.toml
}
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ "$revision" != unknown ]; then
    if git diff --quiet HEAD 2>/dev/null; then
        created="$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd)"
    else
        revision="$revision-dirty"
    fi
fi

# Each image's context holds its binary only: nothing else is sent to the engine.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
# image:binary:budget in bytes (the root carries the Docker runtime and the
# checker; a leaf or merge is an SDK and its user's code).
for entry in root:scatter:15000000 search-leaf:search-leaf:8000000 search-merge:search-merge:8000000; do
    IFS=: read -r image binary budget <<<"$entry"
    if ldd "$bin/$binary" 2>/dev/null | grep -q '=>'; then
        echo "error: $bin/$binary is dynamically linked; it would not run FROM scratch" >&2
        exit 1
    fi
    size="$(stat --format %s "$bin/$binary")"
    printf '%-14s %9d bytes (budget %d)\n' "$binary" "$size" "$budget"
    if [ "$size" -gt "$budget" ]; then
        echo "error: $bin/$binary is $size bytes, over its budget of $budget" >&2
        exit 1
    fi
    rm -f "$context"/*
    cp "$bin/$binary" "$context/"
    # Quiet unless it fails (the engine's legacy builder warns on every build).
    if ! log="$(docker build --quiet --file "deploy/$image.Dockerfile" \
        --build-arg "VERSION=$(workspace version)" --build-arg "LICENSES=$(workspace license)" \
        --build-arg "SOURCE=$(workspace repository)" --build-arg "REVISION=$revision" \
        --build-arg "CREATED=$created" \
        --tag "scatter-$image:$tag" "$context" 2>&1)"; then
        echo "$log" >&2
        exit 1
    fi
    echo "built scatter-$image:$tag"
done
