#!/usr/bin/env bash
# Installs a Keel build tree and builds a separate consumer project against it.
# Usage: run_install_test.sh <build-dir> <consumer-src> <work-dir> <config>
#                            <cxx-compiler> <generator> [<sanitize>]
# <sanitize> is KEEL_SANITIZE of the build ('', address or thread): the
# consumer is built with the same sanitizer so it links against the libraries.
set -euo pipefail

build_dir=$1 consumer_src=$2 work=$3 config=$4 cxx=$5 generator=$6 sanitize=${7:-}
prefix="$work/prefix"
consumer_build="$work/consumer-build"

case "$sanitize" in
  "") flags="" ;;
  address) flags="-fsanitize=address,undefined" ;;
  thread) flags="-fsanitize=thread" ;;
  *) echo "unknown sanitizer '$sanitize'" >&2; exit 1 ;;
esac

# Start clean so that a stale install cannot hide a broken one.
rm -rf "$prefix" "$consumer_build"

cmake --install "$build_dir" --prefix "$prefix" --config "$config"
cmake -S "$consumer_src" -B "$consumer_build" -G "$generator" \
  -DCMAKE_BUILD_TYPE="$config" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$consumer_build" --config "$config"
"$consumer_build/keel_consumer"
