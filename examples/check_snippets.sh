#!/usr/bin/env bash
# Checks that the code quoted in README.md and docs/*.md is the code of the
# examples, which build and run under CTest. A quote is a fenced block right
# after a marker line naming the example and, optionally, a region:
#
#   <!-- snippet: examples/engine/hello_actor.cc -->          region "[snippet]"
#   <!-- snippet: examples/engine/timers.cc idle -->          region "[snippet idle]"
#
# In the example the region lies between "// [snippet NAME]" and
# "// [/snippet NAME]" lines (no NAME for the unnamed region). The quote must
# equal the region with its common indentation removed. Fails when a quote
# differs, a region is missing, or no quote is found at all.
# Usage: check_snippets.sh <source-dir>
set -euo pipefail
root=$1

# The region NAME ('' for the unnamed one) of FILE, dedented.
region() {
  awk -v name="$2" '
    BEGIN { open_tag = "// [snippet" (name == "" ? "" : " " name) "]"; close_tag = "// [/" substr(open_tag, 5) }
    { t = $0; sub(/^[ \t]+/, "", t) }
    t == open_tag { inside = 1; found = 1; next }
    t == close_tag { inside = 0; next }
    !inside { next }
    t ~ /^\/\/ \[\/?snippet[^]]*\]$/ { next }  # markers of other regions
    {
      lines[n++] = $0
      if (t != "") { match($0, /^ */); if (min == "" || RLENGTH < min) min = RLENGTH }
    }
    END { if (!found) exit 3; for (i = 0; i < n; i++) print substr(lines[i], min + 1) }
  ' "$1"
}

# The fenced block that starts on the line after LINE in FILE.
quote() {
  awk -v start="$2" '
    NR == start + 1 { if ($0 !~ /^```/) exit 2; inside = 1; next }
    inside && /^```[ \t]*$/ { closed = 1; exit }
    inside { print }
    END { if (!closed) exit 2 }
  ' "$1"
}

checked=0 failed=0
for md in "$root"/README.md "$root"/docs/*.md; do
  [[ -f "$md" ]] || continue
  while IFS=: read -r line marker; do
    spec=${marker#<!-- snippet: }
    spec=${spec% -->}
    read -r path name <<<"$spec"
    where="${md#"$root"/}:$line"
    if ! want=$(region "$root/$path" "${name:-}"); then
      echo "$where: no region '${name:-}' in $path"; failed=$((failed + 1)); continue
    fi
    if ! got=$(quote "$md" "$line"); then
      echo "$where: the marker is not followed by a complete fenced block"; failed=$((failed + 1)); continue
    fi
    if [[ "$got" != "$want" ]]; then
      echo "$where: differs from $path ${name:-} (< doc, > example):"
      diff <(printf '%s\n' "$got") <(printf '%s\n' "$want") || true
      failed=$((failed + 1))
    fi
    checked=$((checked + 1))
  done < <(grep -n '^<!-- snippet: .* -->$' "$md" || true)
done

echo "snippets: $checked checked, $failed failed"
((checked > 0 && failed == 0))
