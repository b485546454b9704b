#!/usr/bin/env bash
# run_remote.sh AGENT WORKER CLIENT POOL_CLIENT: the remote quick start as a
# smoke test. Starts keel-agent with the example worker on a fresh journal,
# runs the client twice against it (the second run finds the first run's
# actor and deposits: 6000 cents in 6 entries) and the pool client (three
# shards with 2000 cents each), restarts the agent on the same journal and
# runs the client again: it must find the earlier deposits (9000 cents in 9
# entries), recovered by the durable Ledger.
set -euo pipefail
agent=$1 worker=$2 client=$3 pool_client=$4
dir=$(mktemp -d)
pid=""
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
export KEEL_SECRET=example-secret

start_agent() {
  rm -f "$dir/ready"
  mkfifo "$dir/ready"
  "$agent" --listen 127.0.0.1:0 --worker "$worker" --journal "$dir/journal" > "$dir/ready" &
  pid=$!
  exec 3< "$dir/ready"
  local line
  read -r -t 30 -u 3 line || { echo "the agent did not get ready"; exit 1; }
  echo "$line"
  port=${line##*127.0.0.1:}
  port=${port%% *}
}

stop_agent() {
  kill -TERM "$pid"
  wait "$pid"
  pid=""
  exec 3<&-
}

start_agent
"$client" "$port"
out=$("$client" "$port")
echo "$out"
grep -q '^balance: 6000 cents in 6 entries$' <<< "$out"
pool_out=$("$pool_client" "$port")
echo "$pool_out"
stop_agent
[[ $(grep -c '^shard-[0-2]: 2000 cents in 2 entries$' <<< "$pool_out") == 3 ]]
start_agent
out=$("$client" "$port")
echo "$out"
stop_agent
grep -q '^balance: 9000 cents in 9 entries$' <<< "$out"
