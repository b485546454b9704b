#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL server for Keel's tests (the
# PostgreSQL journal's). Usage:
#   scripts/pg_test_server.sh start DIR   initdb (first time) and start; DIR/url gets the URL
#   scripts/pg_test_server.sh kill DIR    stop at once (pg_ctl stop -m immediate), keep the data
#   scripts/pg_test_server.sh stop DIR    stop and remove the server and DIR
#
# The server listens on a unix socket only (no TCP), in a directory it owns
# under $TMPDIR (socket paths are short, and the server's user must reach
# it); DIR/run names that directory. PostgreSQL refuses to run as root, so as
# root the server runs as the `postgres` user (Debian's `postgresql` package
# creates it). Local connections are trusted: the server is for tests only.
# `start` on a DIR whose server was killed starts it again on the same data.
# With KEEL_PG_TLS_PORT=N, `start` also listens on 127.0.0.1:N with TLS only
# there (a self-signed certificate that openssl makes in the run directory
# the first time), and DIR/tls_url gets a URL with sslmode=require; the
# unix socket then carries port N too.
# With KEEL_PG_LISTEN=ADDR (a 127.0.0.0/8 address), `start` also listens on
# ADDR:5432 over TCP, trusting clients from 127.0.0.0/8, and DIR/tcp_url gets
# its URL: how hosts in network namespaces (scripts/test_hosts.sh) reach a
# server started in the hub's namespace.
# Exits non-zero, saying why on stderr, when no server can be started.
set -euo pipefail

die() { echo "pg_test_server.sh: $*" >&2; exit 1; }

cmd="${1:-}"
dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || die "usage: $0 start|kill|stop DIR"

bindir="${KEEL_PG_BINDIR:-}"
if [[ -z "$bindir" ]]; then
  for v in 17 16 15 14; do
    if [[ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]]; then bindir="/usr/lib/postgresql/$v/bin"; break; fi
  done
fi
[[ -n "$bindir" && -x "$bindir/initdb" ]] ||
  die "no PostgreSQL server binaries (initdb, pg_ctl) found; install Debian's postgresql (scripts/setup.sh) or set KEEL_PG_BINDIR"

# Runs a server binary as the server's user.
as_server() {
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "running as root, but there is no 'postgres' user to run the server as"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  mkdir -p "$dir"
  local run=""
  [[ -f "$dir/run" ]] && run="$(cat "$dir/run")"
  if [[ -z "$run" || ! -d "$run/data" ]]; then
    run="$(mktemp -d "${TMPDIR:-/tmp}/keel-pg.XXXXXX")"
    echo "$run" >"$dir/run"
    ((EUID == 0)) && chown postgres: "$run"
    chmod 700 "$run"
    as_server "$bindir/initdb" -D "$run/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
      >"$run/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$run/initdb.log")"
  fi
  local port=5432 listen="''" tls=""
  if [[ -n "${KEEL_PG_TLS_PORT:-}" ]]; then
    port="$KEEL_PG_TLS_PORT"
    listen="'127.0.0.1'"
    if [[ ! -f "$run/server.crt" ]]; then
      command -v openssl >/dev/null || die "KEEL_PG_TLS_PORT is set, but there is no openssl to make a certificate"
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -keyout "$run/server.key" -out "$run/server.crt" >"$run/openssl.log" 2>&1 ||
        die "openssl could not make a certificate: $(tail -n 5 "$run/openssl.log")"
      chmod 600 "$run/server.key"
      ((EUID == 0)) && chown postgres: "$run/server.key" "$run/server.crt"
    fi
    tls="-c ssl=on -c ssl_cert_file='$run/server.crt' -c ssl_key_file='$run/server.key'"
  fi
  if [[ -n "${KEEL_PG_LISTEN:-}" ]]; then
    [[ "$KEEL_PG_LISTEN" =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KEEL_PG_LISTEN=$KEEL_PG_LISTEN: give a 127.0.0.0/8 address"
    [[ -z "${KEEL_PG_TLS_PORT:-}" ]] || die "give KEEL_PG_LISTEN or KEEL_PG_TLS_PORT, not both"
    listen="'$KEEL_PG_LISTEN'"
    grep -q '^host all all 127.0.0.0/8 trust' "$run/data/pg_hba.conf" ||
      echo 'host all all 127.0.0.0/8 trust' >>"$run/data/pg_hba.conf"
  fi
  as_server "$bindir/pg_ctl" -D "$run/data" -l "$run/server.log" -w -t 60 \
    -o "-c listen_addresses=$listen -c port=$port -c unix_socket_directories='$run' -c max_connections=200 $tls" \
    start >/dev/null || die "the server did not start: $(tail -n 5 "$run/server.log" 2>/dev/null)"
  echo "postgresql:///postgres?host=$run&port=$port&user=postgres" >"$dir/url"
  if [[ -n "$tls" ]]; then
    echo "postgresql://postgres@127.0.0.1:$port/postgres?sslmode=require" >"$dir/tls_url"
  fi
  if [[ -n "${KEEL_PG_LISTEN:-}" ]]; then
    echo "postgresql://postgres@$KEEL_PG_LISTEN:$port/postgres" >"$dir/tcp_url"
  fi
}

case "$cmd" in
  start) start ;;
  kill)
    run="$(cat "$dir/run" 2>/dev/null)" || die "no server recorded in $dir"
    as_server "$bindir/pg_ctl" -D "$run/data" -m immediate stop >/dev/null || die "pg_ctl stop -m immediate failed"
    ;;
  stop)
    if [[ -f "$dir/run" ]]; then
      run="$(cat "$dir/run")"
      if [[ -d "$run/data" ]]; then
        # Immediate: the data goes with the directory, so skip the shutdown checkpoint.
        as_server "$bindir/pg_ctl" -D "$run/data" -m immediate stop >/dev/null 2>&1 || true
      fi
      rm -rf "$run"
    fi
    rm -rf "$dir"
    ;;
  *) die "unknown command '$cmd' (start, kill or stop)" ;;
esac
