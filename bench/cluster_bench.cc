// keel_cluster_bench: how long the shards of a killed host take to move.
//
//   keel_cluster_bench --pg-url URL [--kills N] [--lease MS] [--json] [--quick]
//
// Each kill: a victim process (this program with --victim) joins the
// cluster and keeps its share of the shards (ShardKeeper); this process, the
// survivor, does the same. Once both hold their placement's shards, the
// victim is killed with SIGKILL, and the takeover time is the time from the
// kill until the survivor holds every shard (its `gained` callback), the
// point from which it can recover the victim's actors and runs. The floor
// is the victim's lease, which the survivor must let run out; the table
// shows both, with the default MembershipOptions and ShardKeeperOptions
// unless --lease is given. URL is the server (KEEL_PG_URL, or the file
// KEEL_PG_URL_FILE names, by default); each
// kill uses a fresh schema, dropped afterwards.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "bench_support.h"
#include "keel/cluster/membership.h"
#include "keel/cluster/shard_keeper.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "keel_cluster_bench: %s\n", why.c_str());
  std::exit(2);
}

std::string with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "keel_schema=" + schema;
}

keel::MembershipOptions membership_options(long lease_ms) {
  keel::MembershipOptions o;
  o.cluster = "bench";
  o.secret = "keel_cluster_bench secret";
  if (lease_ms > 0) o.lease = std::chrono::milliseconds(lease_ms);
  return o;
}

// The victim: joins, keeps its shards, says "ready" once it holds some,
// then waits to be killed.
int run_victim(const std::string& url, long lease_ms) {
  auto m = keel::Membership::join(url, keel::HostSpec{"victim", {}, {}}, membership_options(lease_ms));
  if (!m) die("victim: " + m.status().to_string());
  std::mutex mu;
  std::condition_variable cv;
  bool holds = false;
  keel::ShardKeeper::Callbacks cb;
  cb.gained = [&](const std::vector<keel::PgShardEpoch>&) {
    std::lock_guard<std::mutex> lock(mu);
    holds = true;
    cv.notify_all();
  };
  auto keeper = keel::ShardKeeper::start(url, **m, std::move(cb));
  if (!keeper) die("victim: " + keeper.status().to_string());
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return holds; });
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

// One kill; returns the takeover time in seconds (negative on failure).
double one_kill(const std::string& self, const std::string& url, long lease_ms) {
  int out[2];
  if (pipe(out) != 0) die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string lease = std::to_string(lease_ms);
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), const_cast<char*>("--victim"),
                             const_cast<char*>(url.c_str()), const_cast<char*>(lease.c_str()), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ) != 0) die("spawn the victim");
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  char buf[16] = {};
  const ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  if (n <= 0) {
    waitpid(pid, nullptr, 0);
    std::fprintf(stderr, "keel_cluster_bench: the victim did not start\n");
    return -1;
  }
  auto m = keel::Membership::join(url, keel::HostSpec{"survivor", {}, {}}, membership_options(lease_ms));
  if (!m) die("survivor: " + m.status().to_string());
  std::mutex mu;
  std::condition_variable cv;
  std::size_t held = 0;
  Clock::time_point all_held{};
  keel::ShardKeeper::Callbacks cb;
  cb.gained = [&](const std::vector<keel::PgShardEpoch>& shards) {
    std::lock_guard<std::mutex> lock(mu);
    held += shards.size();
    if (held == keel::kPgShards) all_held = Clock::now();
    cv.notify_all();
  };
  cb.losing = [&](const std::vector<std::uint32_t>& shards, bool) {
    std::lock_guard<std::mutex> lock(mu);
    held -= shards.size();
  };
  auto keeper = keel::ShardKeeper::start(url, **m, std::move(cb));
  if (!keeper) die("survivor: " + keeper.status().to_string());
  {
    // Both hold their share: the survivor holds some, not all.
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return held > 0 && held < keel::kPgShards; })) {
      die("the survivor never got its share");
    }
  }
  const Clock::time_point killed = Clock::now();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  double seconds = -1;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, std::chrono::seconds(120), [&] { return held == keel::kPgShards; })) {
      seconds = std::chrono::duration<double>(all_held - killed).count();
    }
  }
  (*keeper)->leave().ignore();
  return seconds;
}

// Drops the schema a kill used (best effort: a leftover schema is named
// bench_failover_*).
void drop_schema(const std::string& server_url, const std::string& schema) {
  PGconn* c = PQconnectdb(server_url.c_str());
  if (PQstatus(c) == CONNECTION_OK) {
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    PQclear(PQexec(c, ("DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str()));
  }
  PQfinish(c);
}

// The server: --pg-url, else $KEEL_PG_URL, else the first line of the file
// $KEEL_PG_URL_FILE names (the CTest fixture keel_pg's).
std::string default_url() {
  if (const char* url = std::getenv("KEEL_PG_URL"); url != nullptr && *url != '\0') return url;
  std::string line;
  if (const char* file = std::getenv("KEEL_PG_URL_FILE"); file != nullptr) {
    std::ifstream in(file);
    std::getline(in, line);
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--victim") return run_victim(argv[2], std::atol(argv[3]));
  std::string pg_url = default_url();
  int kills = 20;
  long lease_ms = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pg-url" && i + 1 < argc) {
      pg_url = argv[++i];
    } else if (a == "--kills" && i + 1 < argc) {
      kills = std::atoi(argv[++i]);
    } else if (a == "--lease" && i + 1 < argc) {
      lease_ms = std::atol(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else if (a == "--quick") {
      kills = 2;
      if (lease_ms == 0) lease_ms = 1000;
    } else {
      die("usage: keel_cluster_bench [--pg-url URL] [--kills N] [--lease MS] [--json] [--quick]");
    }
  }
  if (pg_url.empty()) die("no server: give --pg-url URL or set KEEL_PG_URL (or KEEL_PG_URL_FILE)");
  if (kills < 1) die("--kills must be 1 or more");
  const keel::MembershipOptions used = membership_options(lease_ms);
  const keel::ShardKeeperOptions rounds;
  std::vector<double> takeover;
  for (int k = 0; k < kills; ++k) {
    const std::string schema = "bench_failover_" + std::to_string(getpid()) + "_" + std::to_string(k);
    const double s = one_kill(argv[0], with_schema(pg_url, schema), lease_ms);
    drop_schema(pg_url, schema);
    if (s < 0) die("kill " + std::to_string(k) + ": the survivor never took the victim's shards over");
    takeover.push_back(s);
  }
  std::sort(takeover.begin(), takeover.end());
  const double p50 = keel_bench::median(takeover);
  const double p99 = takeover[std::min(takeover.size() - 1, static_cast<std::size_t>(0.99 * takeover.size()))];
  const double lease_s = std::chrono::duration<double>(used.lease).count();
  if (json) {
    std::printf("{\"bench\":\"cluster_failover\",\"kills\":%d,\"lease_s\":%.3f,\"rebalance_s\":%.3f,"
                "\"takeover_p50_s\":%.3f,\"takeover_p99_s\":%.3f,\"takeover_max_s\":%.3f}\n",
                kills, lease_s, std::chrono::duration<double>(rounds.rebalance_every).count(), p50, p99,
                takeover.back());
    return 0;
  }
  std::printf("failover: %d kills (SIGKILL), 2 hosts, %u shards\n", kills, keel::kPgShards);
  std::printf("%-34s %10s\n", "figure", "seconds");
  std::printf("%-34s %10.3f\n", "lease (the floor)", lease_s);
  std::printf("%-34s %10.3f\n", "rebalance round", std::chrono::duration<double>(rounds.rebalance_every).count());
  std::printf("%-34s %10.3f\n", "takeover p50", p50);
  std::printf("%-34s %10.3f\n", "takeover p99", p99);
  std::printf("%-34s %10.3f\n", "takeover max", takeover.back());
  std::printf("%-34s %10.2f\n", "takeover p50 / lease", p50 / lease_s);
  return 0;
}
