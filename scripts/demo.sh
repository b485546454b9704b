#!/usr/bin/env bash
# Builds and runs the Keel demo: the restart-safe inference pipeline
# (examples/pipeline/pipeline.cc, target keel_pipeline; docs/pipeline.md),
# plus the `keel` tool that inspects its journal. Arguments go to the
# pipeline: [docs-dir [out-dir [journal]]] [--journal PATH|URL] [--workers N].
# The engine demo (examples/engine/demo.cc) is target keel_demo:
#   cmake --build build --target keel_demo && build/examples/keel_demo
# Usage: scripts/demo.sh [args]   (from any directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DKEEL_BUILD_EXAMPLES=ON
cmake --build build --target keel_pipeline keel -j"$(nproc)"
exec build/examples/keel_pipeline "$@"
