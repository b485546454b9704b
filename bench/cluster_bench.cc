// keel_cluster_bench: how long the durable actors of a killed host take to
// answer again on another host.
//
//   keel_cluster_bench --pg-url URL [--kills N] [--lease MS] [--actors N] [--json] [--quick]
//
// Each kill: a victim process (this program with --victim) joins the
// cluster as a ClusterHost with a System on its writer of the journal,
// spawns N durable counters (it holds every shard then) and increments
// each once. This process, the survivor, joins the same way; the keepers
// hand it its share of the shards, and their counters move to it (stopped
// on the victim, recovered here). Then the victim is killed with SIGKILL.
// Three times are taken from the kill: until the survivor holds every shard
// (its `gained` callback, once the victim's lease has run out), until the
// first of the victim's counters recovered here answers an ask, and until
// all of them have (each must answer 1: nothing lost, nothing twice). The
// floor is the victim's lease; the table shows it, with the default
// MembershipOptions and ShardKeeperOptions unless --lease is given. URL is
// the server (KEEL_PG_URL, or the file KEEL_PG_URL_FILE names, by default);
// each kill uses a fresh schema, dropped afterwards.
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
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bench_support.h"
#include "keel/cluster/cluster_host.h"
#include "keel/engine/durable.h"
#include "keel/engine/engine.h"

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

keel::ClusterHostOptions host_options(long lease_ms) {
  keel::ClusterHostOptions o;
  o.membership.cluster = "bench";
  o.membership.secret = "keel_cluster_bench secret";
  if (lease_ms > 0) o.membership.lease = std::chrono::milliseconds(lease_ms);
  return o;
}

struct Count {
  std::int64_t value = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Count::value>("value"));
};

class Counter : public keel::DurableActor<Count> {
 public:
  std::int64_t add(std::int64_t n) { return state().value += n; }
  std::int64_t get() { return state().value; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::get>("get"));
};

std::string key_of(int i) { return "counter-" + std::to_string(i); }

// A host of counters: a ClusterHost, a System on its journal, the counters
// of the shards it gains recovered and those of the shards it loses
// stopped (waiting for their commits). `held` counts its shards.
class CounterHost {
 public:
  // `actors`: the counters are "counter-0" .. "counter-<actors - 1>".
  CounterHost(const std::string& url, const std::string& id, long lease_ms, int actors) : actors_(actors) {
    auto host = keel::ClusterHost::join(url, keel::HostSpec{id, {}, {}}, host_options(lease_ms));
    if (!host) die(id + ": " + host.status().to_string());
    host_ = std::move(*host);
    keel::SystemConfig config;
    config.journal = &host_->journal();
    system_ = std::make_unique<keel::System>(config);
    keel::ClusterHost::Callbacks cb;
    cb.gained = [this](const std::vector<keel::PgShardEpoch>& shards) {
      auto owners = host_->owners_in(shards);
      if (!owners) die("owners: " + owners.status().to_string());
      for (const std::string& owner : *owners) {
        if (owner.rfind("actor/", 0) == 0) system_->spawn_durable<Counter>(owner.substr(6)).status().ignore();
      }
      std::lock_guard<std::mutex> lock(mu_);
      held_ += shards.size();
      cv_.notify_all();
    };
    cb.losing = [this](const std::vector<std::uint32_t>& shards, bool) {
      const std::set<std::uint32_t> going(shards.begin(), shards.end());
      for (int i = 0; i < actors_; ++i) {
        if (going.count(keel::pg_shard_of("actor/" + key_of(i))) == 0) continue;
        auto c = system_->lookup<Counter>(key_of(i));
        if (!c) continue;
        keel::Future<keel::Down> down = system_->watch(*c);
        system_->stop(*c);
        static_cast<void>(down.get());  // its commits are in
      }
      std::lock_guard<std::mutex> lock(mu_);
      held_ -= shards.size();
      cv_.notify_all();
    };
    if (keel::Status s = host_->start(std::move(cb)); !s.is_ok()) die(id + ": " + s.to_string());
  }
  ~CounterHost() {
    host_->stop();
    system_->shutdown(keel::ShutdownMode::kStop).ignore();
    system_.reset();
    host_.reset();
  }

  // Waits (up to `limit`) until `done(held shards)`.
  template <class Done>
  bool wait(Done done, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return done(held_); });
  }
  keel::ClusterHost& host() { return *host_; }
  keel::System& system() { return *system_; }

  static constexpr int kMaxActors = 4096;

 private:
  const int actors_;
  std::unique_ptr<keel::ClusterHost> host_;
  std::unique_ptr<keel::System> system_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t held_ = 0;
};

// The victim: holds every shard, spawns `actors` counters and adds 1 to
// each, says "ready", then keeps its shards until it is killed.
int run_victim(const std::string& url, long lease_ms, int actors) {
  CounterHost victim(url, "victim", lease_ms, actors);
  if (!victim.wait([](std::size_t held) { return held == keel::kPgShards; }, std::chrono::seconds(60))) {
    die("victim: it never held every shard");
  }
  for (int i = 0; i < actors; ++i) {
    auto c = victim.system().spawn_durable<Counter>(key_of(i));
    if (!c) die("victim: " + c.status().to_string());
    auto added = c->ask<&Counter::add>(std::int64_t{1}).get();
    if (!added) die("victim: " + added.status().to_string());
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

struct Takeover {
  double shards = -1;  // seconds from the kill until every shard is held here
  double first = -1;   // ... until the first of the victim's counters answered here
  double all = -1;     // ... until all of them had
  std::size_t moved = 0;  // the victim's counters, recovered here
};

// One kill.
Takeover one_kill(const std::string& self, const std::string& url, long lease_ms, int actors) {
  int out[2];
  if (pipe(out) != 0) die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string lease = std::to_string(lease_ms);
  const std::string count = std::to_string(actors);
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), const_cast<char*>("--victim"),
                             const_cast<char*>(url.c_str()),  const_cast<char*>(lease.c_str()),
                             const_cast<char*>(count.c_str()), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ) != 0) die("spawn the victim");
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  char buf[16] = {};
  const ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  if (n <= 0) {
    waitpid(pid, nullptr, 0);
    die("the victim did not start");
  }
  Takeover t;
  {
    CounterHost survivor(url, "survivor", lease_ms, actors);
    // Both hold their share: the survivor some, not all.
    if (!survivor.wait([](std::size_t held) { return held > 0 && held < keel::kPgShards; },
                       std::chrono::seconds(60))) {
      die("the survivor never got its share");
    }
    std::vector<std::string> victims;  // the counters the victim holds
    for (int i = 0; i < actors; ++i) {
      if (!survivor.host().holds("actor/" + key_of(i))) victims.push_back(key_of(i));
    }
    const Clock::time_point killed = Clock::now();
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    if (!survivor.wait([](std::size_t held) { return held == keel::kPgShards; }, std::chrono::seconds(120))) {
      die("the survivor never took the victim's shards over");
    }
    t.shards = std::chrono::duration<double>(Clock::now() - killed).count();
    std::vector<keel::Future<std::int64_t>> answers;
    for (const std::string& key : victims) {
      auto c = survivor.system().lookup<Counter>(key);
      if (!c) die(key + " was not recovered: " + c.status().to_string());
      answers.push_back(c->ask<&Counter::get>());
    }
    for (std::size_t i = 0; i < answers.size(); ++i) {
      auto value = answers[i].get();
      if (!value) die(victims[i] + ": " + value.status().to_string());
      if (*value != 1) die(victims[i] + " answered " + std::to_string(*value) + ", not 1");
      const double now = std::chrono::duration<double>(Clock::now() - killed).count();
      if (i == 0) t.first = now;
      t.all = now;
    }
    if (victims.empty()) t.first = t.all = t.shards;
    t.moved = victims.size();
    survivor.host().leave().ignore();
  }
  return t;
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


double p99_of(const std::vector<double>& sorted) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(0.99 * sorted.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--victim") {
    return run_victim(argv[2], std::atol(argv[3]), std::atoi(argv[4]));
  }
  std::string pg_url = keel_bench::pg_url_from_env();
  int kills = 20;
  int actors = 64;
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
    } else if (a == "--actors" && i + 1 < argc) {
      actors = std::atoi(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else if (a == "--quick") {
      kills = 2;
      actors = 16;
      if (lease_ms == 0) lease_ms = 1000;
    } else {
      die("usage: keel_cluster_bench [--pg-url URL] [--kills N] [--lease MS] [--actors N] [--json] [--quick]");
    }
  }
  if (pg_url.empty()) die("no server: give --pg-url URL or set KEEL_PG_URL (or KEEL_PG_URL_FILE)");
  if (kills < 1) die("--kills must be 1 or more");
  if (actors < 1 || actors > CounterHost::kMaxActors) die("--actors must be 1 to 4096");
  const keel::ClusterHostOptions used = host_options(lease_ms);
  std::vector<double> shards, first, all;
  std::size_t moved = 0;
  for (int k = 0; k < kills; ++k) {
    const std::string schema = "bench_failover_" + std::to_string(getpid()) + "_" + std::to_string(k);
    const Takeover t = one_kill(argv[0], with_schema(pg_url, schema), lease_ms, actors);
    drop_schema(pg_url, schema);
    shards.push_back(t.shards);
    first.push_back(t.first);
    all.push_back(t.all);
    moved += t.moved;
  }
  const double moved_mean = static_cast<double>(moved) / kills;
  for (auto* v : {&shards, &first, &all}) std::sort(v->begin(), v->end());
  const double lease_s = std::chrono::duration<double>(used.membership.lease).count();
  const double rebalance_s = std::chrono::duration<double>(used.keeper.rebalance_every).count();
  if (json) {
    std::printf("{\"bench\":\"cluster_failover\",\"kills\":%d,\"actors\":%d,\"lease_s\":%.3f,\"rebalance_s\":%.3f,"
                "\"shards_p50_s\":%.3f,\"shards_p99_s\":%.3f,\"first_actor_p50_s\":%.3f,\"first_actor_p99_s\":%.3f,"
                "\"all_actors_p50_s\":%.3f,\"all_actors_p99_s\":%.3f,\"all_actors_max_s\":%.3f,"
                "\"recovered_per_kill\":%.1f}\n",
                kills, actors, lease_s, rebalance_s, keel_bench::median(shards), p99_of(shards),
                keel_bench::median(first), p99_of(first), keel_bench::median(all), p99_of(all), all.back(), moved_mean);
    return 0;
  }
  std::printf("failover: %d kills (SIGKILL), 2 hosts, %u shards, %d durable counters\n", kills, keel::kPgShards,
              actors);
  std::printf("%-40s %10s %10s\n", "from the kill until", "p50 s", "p99 s");
  std::printf("%-40s %10.3f %10.3f\n", "every shard held by the survivor", keel_bench::median(shards), p99_of(shards));
  std::printf("%-40s %10.3f %10.3f\n", "first recovered counter answered", keel_bench::median(first), p99_of(first));
  std::printf("%-40s %10.3f %10.3f\n", "all recovered counters answered", keel_bench::median(all), p99_of(all));
  std::printf("%-40s %10.1f\n", "counters recovered per kill (mean)", moved_mean);
  std::printf("%-40s %10.3f\n", "lease (the floor)", lease_s);
  std::printf("%-40s %10.3f\n", "rebalance round", rebalance_s);
  std::printf("%-40s %10.2f\n", "first answered p50 / lease", keel_bench::median(first) / lease_s);
  return 0;
}
