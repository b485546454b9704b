#!/usr/bin/env bash
# Smoke test of a durable example: runs <program> twice on a fresh journal in a
# temp directory (its first argument, then [args...]), and passes when both
# runs exit 0 and the second one printed a line matching <pattern>, that is,
# recovered what the first run committed. The directory is removed either way.
# Usage: run_twice.sh <program> <pattern> [args...]
set -euo pipefail
program=$1 pattern=$2
shift 2
dir=$(mktemp -d /tmp/keel-example-XXXXXX)
trap 'rm -rf "$dir"' EXIT

"$program" "$dir/journal.db" "$@"
second=$("$program" "$dir/journal.db" "$@")
printf '%s\n' "$second"
if ! grep -Eq -- "$pattern" <<<"$second"; then
  echo "the second run did not print /$pattern/" >&2
  exit 1
fi
