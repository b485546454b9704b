#!/usr/bin/env bash
# Builds and runs the Keel demo (examples/engine/demo.cc, target keel_demo).
# Usage: scripts/demo.sh   (from any directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DKEEL_BUILD_EXAMPLES=ON
cmake --build build --target keel_demo -j"$(nproc)"
exec build/examples/keel_demo
