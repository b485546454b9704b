#!/usr/bin/env bash
# A cluster on one machine: three hosts, each a network namespace with a
# loopback-range address (scripts/test_hosts.sh), each running keel-agent
# as a host of one cluster on a PostgreSQL server in the hub's namespace.
# A client spawns durable ledgers and a gang of three trainers, host 2 is
# killed with SIGKILL, and the client goes on: the dead host's ledgers
# answer from the other hosts once its lease has ended, with every deposit
# applied once, and the gang reports its dead member
# (examples/cluster/, docs/cluster.md "A cluster on one machine").
#
#   sudo scripts/cluster_demo.sh [--build-dir DIR] [--no-build]
#
# Needs root (network namespaces). Without --no-build it runs
# scripts/setup.sh and builds the programs into DIR (default build/).
# Everything it makes (namespaces, server, processes) goes when it exits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=build
do_build=1
while (($#)); do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--no-build]" >&2; exit 2 ;;
  esac
done
((EUID == 0)) || { echo "cluster_demo.sh: the hosts are network namespaces: run it as root" >&2; exit 1; }
if ((do_build)); then
  scripts/setup.sh
  cmake -S . -B "$build" -G Ninja -DKEEL_BUILD_EXAMPLES=ON
  cmake --build "$build" --target keel_agent_exe keel keel_example_cluster_worker keel_example_cluster_client
fi
agent=$(realpath "$build/agent/keel-agent")
keel=$(realpath "$build/tools/keel")
worker=$(realpath "$build/examples/cluster/keel_example_cluster_worker")
client=$(realpath "$build/examples/cluster/keel_example_cluster_client")

set_name="cd$((RANDOM % 100000))"
work=$(mktemp -d)
declare -A pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/pg_test_server.sh stop "$work/pg" >/dev/null 2>&1 || true
  scripts/test_hosts.sh down "$set_name" || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/test_hosts.sh up "$set_name" 3
hub=$(scripts/test_hosts.sh addr "$set_name" 0)
scripts/test_hosts.sh exec "$set_name" 0 env KEEL_PG_LISTEN="$hub" scripts/pg_test_server.sh start "$work/pg"
url="$(cat "$work/pg/tcp_url")?keel_schema=cluster_demo"
echo "PostgreSQL on $hub in namespace $(scripts/test_hosts.sh netns "$set_name" 0): $url"

export KEEL_SECRET=cluster-demo-agent-secret
export KEEL_CLUSTER_SECRET=cluster-demo-cluster-secret
agents=""
for i in 1 2 3; do
  addr=$(scripts/test_hosts.sh addr "$set_name" "$i")
  # `ip netns exec` execs the agent: $! is the agent's own pid.
  ip netns exec "$(scripts/test_hosts.sh netns "$set_name" "$i")" "$agent" --listen "$addr:7700" --worker "$worker" \
    --cluster "$url" --host-id "host-$i" --cluster-name demo --lease-ms 2000 \
    >"$work/agent-$i.out" 2>"$work/agent-$i.err" &
  pids[$i]=$!
  agents+="${agents:+,}$addr:7700"
done

# Waits up to $2 seconds for the command $1 to succeed, trying every 100 ms.
wait_for() {
  local tries=$(($2 * 10))
  until eval "$1"; do
    ((--tries > 0)) || return 1
    sleep 0.1
  done
}
for i in 1 2 3; do
  wait_for "grep -q 'ready on' '$work/agent-$i.out'" 30 ||
    { echo "agent $i did not start:"; cat "$work/agent-$i.err"; exit 1; }
  cat "$work/agent-$i.out"
done
balanced() {
  local s
  s=$(scripts/test_hosts.sh exec "$set_name" 0 "$keel" cluster status -j "$url" 2>/dev/null) || return 1
  [[ $(grep -cE '^host-[123] +live +[1-9]' <<<"$s") == 3 ]] && grep -qE '^shards +([0-9]+) held by live hosts of \1 ' <<<"$s"
}
wait_for balanced 30 || { echo "the hosts did not share the shards"; exit 1; }
scripts/test_hosts.sh exec "$set_name" 0 "$keel" cluster status -j "$url"

echo
echo "== a client spawns 12 durable ledgers and a gang of 3 trainers"
out=$(scripts/test_hosts.sh exec "$set_name" 0 "$client" "$agents" start)
echo "$out"
ticket=$(sed -n 's/^gang: //p' <<<"$out")

echo
echo "== host-2 is killed (SIGKILL)"
kill -KILL "${pids[2]}"
wait "${pids[2]}" 2>/dev/null || true
unset 'pids[2]'

echo
echo "== the client goes on: host-2's ledgers answer from the others once its lease has ended"
start=$(date +%s%N)
scripts/test_hosts.sh exec "$set_name" 0 "$client" "$agents" continue "$ticket"
echo "(took $((($(date +%s%N) - start) / 1000000)) ms)"
scripts/test_hosts.sh exec "$set_name" 0 "$keel" cluster status -j "$url"
