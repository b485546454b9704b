#!/usr/bin/env bash
# Test hosts on one machine: network namespaces joined by a bridge and
# addressed only from the loopback range, so that tests can run several
# hosts, cut the network between them, and never send a packet to any other
# address. Needs root (CI runs as root).
#
#   scripts/test_hosts.sh up NAME N          hub + hosts 1..N of the set NAME
#   scripts/test_hosts.sh down NAME          removes them (and their cuts)
#   scripts/test_hosts.sh addr NAME I        prints host I's address (0: the hub)
#   scripts/test_hosts.sh netns NAME I       prints host I's namespace name
#   scripts/test_hosts.sh exec NAME I CMD... runs CMD inside host I
#   scripts/test_hosts.sh partition NAME I J drops traffic between hosts I and J
#   scripts/test_hosts.sh isolate NAME I     drops all of host I's traffic to others
#   scripts/test_hosts.sh cut NAME I ADDR    drops traffic between host I and ADDR (127.10.0.0/16)
#   scripts/test_hosts.sh heal NAME I        removes host I's cuts
#
# Layout of a set NAME (a short word: [a-z0-9], at most 8 characters):
# namespace keel-NAME-0 is the hub, with bridge br0 at 127.10.0.1/16, where
# a shared service (PostgreSQL) listens; namespace keel-NAME-I is host I,
# with eth0 at 127.10.0.(10+I)/16, a veth to the hub's bridge. In every
# namespace route_localnet is on and the local route of 127.0.0.0/8 is
# narrowed to 127.0.0.1, so 127.10/16 goes over the veth, not to lo. Sets are
# separate network stacks: two sets may run at once with the same addresses.
# Cuts are nftables rules in the host's own namespace (table inet keel_cut).
set -euo pipefail

die() {
  echo "test_hosts.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

(($# >= 2)) || usage
verb=$1
name=$2
[[ "$name" =~ ^[a-z0-9]{1,8}$ ]] || die "set name '$name': use 1-8 characters of [a-z0-9]"

ns() { echo "keel-$name-$1"; }
addr() {
  if (($1 == 0)); then echo 127.10.0.1; else echo "127.10.0.$((10 + $1))"; fi
}
in_ns() {
  local n=$1
  shift
  ip netns exec "$(ns "$n")" "$@"
}
host_index() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 0 && $1 <= 200)) || die "host '$1': a number from 0 to 200"
  echo "$1"
}
exists() { ip netns list | awk '{print $1}' | grep -qx "$(ns "$1")"; }

# Loopback-range addressing inside namespace $1 on interface $2.
localnet() {
  local n=$1 dev=$2
  in_ns "$n" sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.default.route_localnet=1 \
    "net.ipv4.conf.$dev.route_localnet=1"
  in_ns "$n" ip link set lo up
  in_ns "$n" ip route del local 127.0.0.0/8 dev lo table local 2>/dev/null || true
  in_ns "$n" ip route replace local 127.0.0.1 dev lo table local
}

down() {
  local n
  for n in $(ip netns list | awk '{print $1}' | grep -E "^keel-$name-[0-9]+$" || true); do
    ip netns del "$n"
  done
}

up() {
  local count=$1 i
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 200)) || die "host count '$count': 1 to 200"
  command -v ip >/dev/null || die "the ip command (iproute2) is missing: run scripts/setup.sh"
  ((EUID == 0)) || die "network namespaces need root"
  down
  trap 'down' ERR
  ip netns add "$(ns 0)" || die "cannot create network namespace $(ns 0)"
  in_ns 0 ip link add br0 type bridge
  in_ns 0 ip link set br0 up
  localnet 0 br0
  in_ns 0 ip addr add "$(addr 0)/16" dev br0
  for ((i = 1; i <= count; i++)); do
    ip netns add "$(ns "$i")"
    # Both ends are made inside the namespaces: no name in the root namespace.
    ip link add eth0 netns "$(ns "$i")" type veth peer name "h$i" netns "$(ns 0)"
    in_ns 0 ip link set "h$i" master br0
    in_ns 0 ip link set "h$i" up
    localnet "$i" eth0
    in_ns "$i" ip addr add "$(addr "$i")/16" dev eth0
    in_ns "$i" ip link set eth0 up
  done
  trap - ERR
}

# Adds a rule dropping traffic between host $1 and address $2 (or all of
# 127.10.0.0/16 but its own address), in host $1's namespace.
cut() {
  local n=$1 peer=$2
  command -v nft >/dev/null || die "the nft command (nftables) is missing: run scripts/setup.sh"
  in_ns "$n" nft -f - <<EOF
table inet keel_cut {
  chain input { type filter hook input priority 0; policy accept; ip saddr $peer drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr $peer drop; }
}
EOF
}

case "$verb" in
  up)
    (($# == 3)) || usage
    up "$3"
    ;;
  down) down ;;
  addr)
    (($# == 3)) || usage
    addr "$(host_index "$3")"
    ;;
  netns)
    (($# == 3)) || usage
    ns "$(host_index "$3")"
    ;;
  exec)
    (($# >= 4)) || usage
    i=$(host_index "$3")
    exists "$i" || die "host $i of set $name does not exist"
    shift 3
    in_ns "$i" "$@"
    ;;
  partition)
    (($# == 4)) || usage
    a=$(host_index "$3")
    b=$(host_index "$4")
    exists "$a" && exists "$b" || die "host $a or $b of set $name does not exist"
    cut "$a" "$(addr "$b")"
    cut "$b" "$(addr "$a")"
    ;;
  isolate)
    (($# == 3)) || usage
    i=$(host_index "$3")
    exists "$i" || die "host $i of set $name does not exist"
    for n in $(ip netns list | awk '{print $1}' | grep -E "^keel-$name-[0-9]+$"); do
      j=${n##*-}
      ((j == i)) || cut "$i" "$(addr "$j")"
    done
    ;;
  cut)
    (($# == 4)) || usage
    i=$(host_index "$3")
    exists "$i" || die "host $i of set $name does not exist"
    [[ "$4" =~ ^127\.10\.[0-9]+\.[0-9]+$ ]] || die "address '$4': one of 127.10.0.0/16"
    cut "$i" "$4"
    ;;
  heal)
    (($# == 3)) || usage
    i=$(host_index "$3")
    exists "$i" || die "host $i of set $name does not exist"
    in_ns "$i" nft delete table inet keel_cut 2>/dev/null || true
    ;;
  *) usage ;;
esac
