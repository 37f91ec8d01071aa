#!/usr/bin/env bash
# Every test of the workspace, with what the tests need made first:
#
#   scripts/test.sh [CARGO TEST ARGS...]
#
# - a Python virtual environment in target/python-venv with the packages of
#   tests/python-requirements.txt (the Python leaf, merge and clients, the
#   conformance fixtures, kubernetes-validate), made or updated when the list
#   changes;
# - the Docker images of deploy/build-images.sh, built (or brought up to date)
#   when a Docker engine answers;
# then `cargo test --workspace`. A test that cannot run here (no Docker
# engine, no Chromium, no promtool, no Python) records why; the run ends with
# a summary of every skip, so none passes silently. With SCATTER_REQUIRE_ALL=1
# (as CI sets) a skip is a failure instead.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target"

export SCATTER_SKIP_LOG="$target/scatter-skipped.txt"
: >"$SCATTER_SKIP_LOG"
setup_notes=()

# Python: a venv of our own, so the system's packages are never touched.
venv="$target/python-venv"
requirements="tests/python-requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if ! command -v python3 >/dev/null; then
    setup_notes+=("python3 is not installed: the Python tests will skip")
elif [[ ! -x "$venv/bin/python3" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "scripts/test.sh: making the Python environment in $venv" >&2
    if python3 -m venv "$venv" >/dev/null 2>"$target/python-venv.log" &&
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
            -r "$requirements" >>"$target/python-venv.log" 2>&1; then
        echo "$want" >"$stamp"
    else
        setup_notes+=("cannot make the Python environment (see $target/python-venv.log; on Debian: apt-get install python3-venv)")
    fi
fi
if [[ -x "$venv/bin/python3" ]]; then
    export SCATTER_PYTHON="$venv/bin/python3"
    export PATH="$venv/bin:$PATH"
fi

# Docker: the images the container tests and `scatter check --image` run.
if docker version >/dev/null 2>&1; then
    if ! deploy/build-images.sh; then
        echo "scripts/test.sh: deploy/build-images.sh failed" >&2
        exit 1
    fi
else
    setup_notes+=("no Docker engine answers: the container tests will skip")
fi

cargo test --workspace --no-fail-fast "$@"
status=$?

skipped="$(sort -u "$SCATTER_SKIP_LOG")"
if [[ -n "$skipped" || ${#setup_notes[@]} -gt 0 ]]; then
    echo
    echo "================================ NOT RUN HERE ================================"
    for note in "${setup_notes[@]}"; do echo "setup: $note"; done
    if [[ -n "$skipped" ]]; then
        echo "$(wc -l <<<"$skipped") test(s) skipped:"
        sed 's/^/  /' <<<"$skipped"
    fi
    echo "(install what is named above, or set SCATTER_REQUIRE_ALL=1 to make a skip fail)"
fi
exit "$status"
