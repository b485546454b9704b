#!/usr/bin/env bash
# Checks that every C++ block of README.md compiles as shown: each fenced
# ```cpp block is written to a file of its own and compiled on its own
# (-fsyntax-only) against the Keel headers, with nothing added before or
# after it. A block quoted from an example (a snippet marker on the line
# before it) may include headers that sit beside that example.
# Usage: check_readme_compiles.sh <source-dir> <c++ compiler> <flags file>
# The flags file holds the include directories and definitions of the Keel
# targets, one argument per line (examples/CMakeLists.txt generates it).
set -euo pipefail
root=$1 cxx=$2 flags_file=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mapfile -t flags < "$flags_file"
readme="$root/README.md"
# Each block as "<line of its fence>\t<example path or ->", its text in
# $work/block-<line>.cc.
blocks=$(awk -v dir="$work" '
  /^<!-- snippet: .* -->$/ { marker = $3; marker_line = NR; next }
  /^```cpp[ \t]*$/ && !inside {
    inside = 1; start = NR; file = dir "/block-" NR ".cc"
    printf "" > file
    printf "%d\t%s\n", NR, (marker_line == NR - 1 ? marker : "-")
    next
  }
  inside && /^```[ \t]*$/ { inside = 0; close(file); next }
  inside { print > file }
' "$readme")

checked=0 failed=0
while IFS=$'\t' read -r line example; do
  [[ -n "$line" ]] || continue
  extra=()
  [[ "$example" != "-" ]] && extra=(-I "$root/$(dirname "$example")")
  if ! out=$("$cxx" -std=c++20 -fsyntax-only "${flags[@]}" "${extra[@]}" -x c++ "$work/block-$line.cc" 2>&1); then
    echo "README.md:$line: the C++ block does not compile as shown:"
    printf '%s\n' "$out" | head -20
    failed=$((failed + 1))
  fi
  checked=$((checked + 1))
done <<<"$blocks"

echo "README C++ blocks: $checked compiled, $failed failed"
((checked > 0 && failed == 0))
