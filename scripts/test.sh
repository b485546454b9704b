#!/usr/bin/env bash
# Builds Keel and runs its tests with CTest. Usage (from any directory):
#   scripts/test.sh        regular suite in build/
#   scripts/test.sh asan   ASan+UBSan suite in build-asan/
#   scripts/test.sh tsan   TSan on the engine, agent, transport and cluster tests (labels "engine",
#                          "agent", "net", "cluster") in build-tsan/
#   scripts/test.sh tsa    Clang -Wthread-safety build in build-tsa/ (compile only)
# The mode may also come from the KEEL_TEST_MODE environment variable.
# With CI=true, warnings are errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-${KEEL_TEST_MODE:-default}}"
werror=OFF
[[ "${CI:-}" == "true" ]] && werror=ON
cmake_args=(-G Ninja -DKEEL_WERROR="$werror")  # explicit, so a cached ON does not linger
ctest_args=()

case "$mode" in
  default) build="build" ;;
  asan) build="build-asan"; cmake_args+=(-DKEEL_SANITIZE=address) ;;
  tsan) build="build-tsan"; cmake_args+=(-DKEEL_SANITIZE=thread); ctest_args+=(-L "engine|agent|net|cluster") ;;
  tsa)
    build="build-tsa"
    export CC=clang CXX=clang++
    cmake_args+=(-DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety")
    ;;
  *) echo "usage: $0 [asan|tsan|tsa]" >&2; exit 2 ;;
esac

scripts/setup.sh
cmake -S . -B "$build" "${cmake_args[@]}"
cmake --build "$build" -j"$(nproc)"
if [[ "$mode" == tsa ]]; then
  exit 0  # the thread-safety analysis is a compile-time check
fi
# --no-tests=error: a label filter that matches nothing is a failure, not a pass.
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600 --no-tests=error \
  "${ctest_args[@]}"
