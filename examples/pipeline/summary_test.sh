#!/usr/bin/env bash
# Summary test of keel_pipeline (registered in CTest as
# example.pipeline_summary): what the closing summary says is true.
#   1. four documents, one of which cannot be written (a directory stands
#      where its output file goes): 3/4 done, 1 failed, named; 4 scored;
#   2. the same again: the failed run stays failed and is not counted as
#      "from the journal"; the 3 others are;
#   3. a new output folder on the same journal: the outputs are reported in
#      the folder the runs were started with, not the new one;
#   and no progress line shows a rate or ETA before five documents finished.
# Usage: summary_test.sh <keel_pipeline> <corpus-dir>
set -euo pipefail
bin=$1
corpus=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mkdir "$dir/docs"
mapfile -t docs < <(ls "$corpus"/*.txt | sort | head -n 4)
cp "${docs[@]}" "$dir/docs/"
bad=$(basename "${docs[0]}")
mkdir -p "$dir/out-a/$bad.json"

expect() {  # expect <log> <extended regex>: the log has a line matching it
  if ! grep -Eq -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") has no line matching: $2"
    cat "$1"
    exit 1
  fi
}
reject() {  # reject <log> <extended regex>: no line of the log matches it
  if grep -Eq -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") has a line matching: $2"
    cat "$1"
    exit 1
  fi
}
run() {  # run <log> <out>: the pipeline on the four documents; it must fail (exit 1)
  local rc=0
  "$bin" "$dir/docs" "$2" "$dir/journal.db" --workers 1 >"$dir/$1" 2>&1 || rc=$?
  if [[ $rc -ne 1 ]]; then
    echo "FAIL: $1: exit $rc, expected 1 (a document failed)"
    cat "$dir/$1"
    exit 1
  fi
}

run first.log "$dir/out-a"
expect "$dir/first.log" "^done: 3/4 documents in [0-9.]+s, 1 failed$"
expect "$dir/first.log" "^  failed: $bad: "
expect "$dir/first.log" "^outputs: 3 in $dir/out-a$"
expect "$dir/first.log" "^model computed 4 documents this run, 0 from the journal$"
reject "$dir/first.log" "ETA"

run second.log "$dir/out-a"
expect "$dir/second.log" "^done: 3/4 documents in [0-9.]+s, 1 failed$"
expect "$dir/second.log" "^model computed 0 documents this run, 3 from the journal$"

run third.log "$dir/out-b"
expect "$dir/third.log" "^outputs: 3 in $dir/out-a \\(not $dir/out-b: "
reject "$dir/third.log" "^outputs: .* in $dir/out-b"
if [[ -n "$(ls -A "$dir/out-b")" ]]; then
  echo "FAIL: out-b is not empty"
  exit 1
fi
echo "PASS: the summaries count failed, scored and journaled documents apart and name where the outputs are"
