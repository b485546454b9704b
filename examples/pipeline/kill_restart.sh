#!/usr/bin/env bash
# Kill-and-restart test of keel_pipeline (registered in CTest as
# example.pipeline_kill_restart):
#   1. runs the pipeline on the corpus uninterrupted into out-a;
#   2. runs it on a fresh journal into out-b, SIGKILLs it once a few results
#      have been printed, and starts it again on the same journal;
#   3. passes when out-a and out-b are byte-identical (diff -r) and the
#      restart scored fewer documents than the corpus holds (finished model
#      steps came from the journal).
# One worker per stage keeps the second run slow enough to be killed mid-way.
# Usage: kill_restart.sh <keel_pipeline> <corpus-dir>
set -euo pipefail
bin=$1
corpus=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$bin" "$corpus" "$dir/out-a" "$dir/a.db" --workers 1 >"$dir/a.log"
total=$(ls "$corpus"/*.txt | wc -l)

"$bin" "$corpus" "$dir/out-b" "$dir/b.db" --workers 1 >"$dir/b1.log" &
pid=$!
# Poll (bounded: 60 s) until 3 results are out, then kill without warning.
for _ in $(seq 1 6000); do
  if [ "$(grep -c '^\[' "$dir/b1.log" || true)" -ge 3 ]; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.01
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
killed_at=$(grep -c '^\[' "$dir/b1.log" || true)
if grep -q '^done:' "$dir/b1.log"; then
  echo "FAIL: the run finished before it could be killed"
  exit 1
fi
echo "killed after $killed_at of $total results"

"$bin" "$corpus" "$dir/out-b" "$dir/b.db" --workers 1 >"$dir/b2.log"
tail -n 12 "$dir/b2.log"

diff -r "$dir/out-a" "$dir/out-b"
computed=$(sed -n 's/^model computed \([0-9]*\) documents this run.*/\1/p' "$dir/b2.log")
if [ -z "$computed" ] || [ "$computed" -ge "$total" ]; then
  echo "FAIL: the restart computed the model for ${computed:-?} of $total documents"
  exit 1
fi
echo "PASS: outputs identical; the restart computed $computed of $total models"
