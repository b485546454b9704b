#!/usr/bin/env bash
# Installs the Debian packages Keel needs to build and test. Idempotent: when
# every package is already installed it returns without calling apt.
set -euo pipefail

# Debian packages needed to build, test and benchmark Keel. Later modules
# append their dependencies here (one group per line).
KEEL_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang  # thread-safety analysis build (scripts/test.sh tsa)
  libcaf-dev  # benchmark reference only (CAF 0.17 column of keel_engine_bench)
  libsqlite3-dev sqlite3 librocksdb-dev  # journal backends (sqlite3: the shell the docs use)
  postgresql libpq-dev  # the PostgreSQL journal: libpq, and the throwaway server its tests start
  libcapnp-dev capnproto  # wire: envelope schemas and codecs
  libasio-dev libssl-dev  # net: TCP transport (asio), HMAC authentication and TLS (OpenSSL)
  libibverbs-dev librdmacm-dev  # net: the RDMA transport (rdma-core)
  chromium  # keel ui: the headless-browser test of the web view
  iproute2 nftables  # test hosts: network namespaces and partitions (scripts/test_hosts.sh)
)

missing=()
for pkg in "${KEEL_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

# Run apt as root directly, or through sudo when available.
sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "setup.sh: missing packages (${missing[*]}) and not root; install them first" >&2
    exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
