// keel_cluster_ask_bench: asks of actors through a cluster of three
// keel-agents on one PostgreSQL journal, by a cluster client that routes
// each key to the host that holds its shard, beside raw asio ping-pong of
// the same bytes in the same run (docs/PERFORMANCE.md, "The cluster").
//
//   keel_cluster_ask_bench [--pg-url URL] [--quick] [--json]
//
// Three agents (in this process, each with one worker process: this
// program again with the worker flags) join one cluster on a fresh schema;
// once they share the shards, the client spawns plain counters and durable
// tallies over all three hosts and times, one call at a time:
//   cross-host ask (plain)      a handler returning an int: client -> the
//                               key's worker and back (the client calls
//                               workers directly once warmed up)
//   the same, through the agents   a client with direct calls off: client
//                               -> the key's agent -> its worker and back
//   cross-host ask (durable)    a handler that changes a durable actor's
//                               state: the same hops and a commit to
//                               PostgreSQL before the reply
//   cross-host send_to          a durable relay's handler that sends an add
//                               by key (its outbox) to a durable tally on
//                               another host: p50/p99 of the relay's
//                               answer (its OUTBOX record committed); the
//                               rate counts until every add is applied
//   raw asio ping-pong          one loopback socket pair, a frame of the
//                               plain ask's size each way
//   raw asio relay ping-pong    the same through a relay thread (the hops
//                               of an ask through an agent)
// URL: --pg-url, $KEEL_PG_URL or the file $KEEL_PG_URL_FILE names. The
// schema is dropped afterwards.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "keel/agent/agent.h"
#include "keel/client/client.h"
#include "keel/cluster/cluster_view.h"
#include "keel/engine/durable.h"
#include "raw_pg.h"
#include "remote_rows.h"

namespace {

using keel_bench::BenchCounter;
using keel_bench::BenchRelay;
using keel_bench::BenchTally;
using keel_bench::Row;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "keel_cluster_ask_bench: %s\n", what.c_str());
  std::exit(1);
}

// Waits until every shard is held by one of `hosts` live hosts.
void wait_shared(const std::string& url, std::size_t hosts) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until) {
    keel::Result<keel::ClusterView> v = keel::read_cluster(url);
    if (v.has_value()) {
      std::set<std::string> holding;
      bool all = true;
      for (const keel::ShardHolder& s : v->shards) {
        all = all && s.live;
        if (s.live) holding.insert(s.host);
      }
      if (all && holding.size() == hosts) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the keepers' rounds: polled
  }
  fail("the hosts did not share the shards within 60 s");
}

}  // namespace

int main(int argc, char** argv) {
  if (std::optional<int> worker = keel_bench::run_as_worker(argc, argv)) return *worker;
  std::string server = keel_bench::pg_url_from_env();
  bool quick = false, json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--pg-url" && i + 1 < argc) {
      server = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--pg-url URL] [--quick] [--json]\n", argv[0]);
      return 2;
    }
  }
  if (server.empty()) fail("no PostgreSQL server: give --pg-url, or set KEEL_PG_URL or KEEL_PG_URL_FILE");
  const int calls = quick ? 300 : 10'000, keys = quick ? 30 : 300;
  const std::string schema = "bench_ask_" + std::to_string(getpid());
  const std::string url = server + (server.find('?') == std::string::npos ? "?" : "&") + "keel_schema=" + schema;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();

  std::vector<Row> rows;
  {
    std::vector<std::unique_ptr<keel::Agent>> agents;
    std::vector<keel::AgentEndpoint> endpoints;
    for (int h = 1; h <= 3; ++h) {
      keel::AgentOptions o;
      o.secret = "bench-secret";
      o.worker_argv = {self};
      o.log = [](std::string_view) {};
      o.cluster.url = url;
      o.cluster.host.id = "host-" + std::to_string(h);
      o.cluster.membership.cluster = "bench";
      o.cluster.membership.secret = "bench cluster secret";
      auto a = keel::Agent::start(o);
      if (!a) fail("agent start: " + a.status().to_string());
      endpoints.push_back({"127.0.0.1", (*a)->port()});
      agents.push_back(std::move(*a));
    }
    wait_shared(url, 3);
    keel::ClientOptions co;
    co.secret = "bench-secret";
    co.cluster = true;
    auto client = keel::Client::connect(endpoints, co);
    if (!client) fail("connect: " + client.status().to_string());
    keel::Client& c = **client;
    std::set<std::size_t> hosts_used;
    std::vector<std::size_t> tally_host, relay_host;
    for (int i = 0; i < keys; ++i) {
      auto p = c.spawn("BenchCounter", "c-" + std::to_string(i)).get();
      if (!p) fail("spawn: " + p.status().to_string());
      hosts_used.insert(p->agent);
      auto d = c.spawn("BenchTally", "t-" + std::to_string(i)).get();
      if (!d) fail("spawn: " + d.status().to_string());
      tally_host.push_back(d->agent);
      auto r = c.spawn("BenchRelay", "r-" + std::to_string(i)).get();
      if (!r) fail("spawn: " + r.status().to_string());
      relay_host.push_back(r->agent);
    }
    if (hosts_used.size() != 3) fail("the keys did not spread over the three hosts");
    // Warm-up: the client learns each key's worker and connects to it.
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < keys; ++i) {
        if (!c.call<&BenchCounter::get>("c-" + std::to_string(i)).get()) fail("warm-up call");
        if (!c.call<&BenchTally::get>("t-" + std::to_string(i)).get()) fail("warm-up call");
      }
    }
    rows.push_back(keel_bench::measure("cross-host ask (plain)", calls, [&](int i) {
      auto r = c.call<&BenchCounter::get>("c-" + std::to_string(i % keys)).get();
      if (!r) fail("call: " + r.status().to_string());
    }));
    {
      keel::ClientOptions through = co;
      through.direct_calls = false;
      auto via = keel::Client::connect(endpoints, through);
      if (!via) fail("connect: " + via.status().to_string());
      rows.push_back(keel_bench::measure("cross-host ask (plain, via agents)", calls, [&](int i) {
        auto r = (*via)->call<&BenchCounter::get>("c-" + std::to_string(i % keys)).get();
        if (!r) fail("call: " + r.status().to_string());
      }));
    }
    rows.push_back(keel_bench::measure("cross-host ask (durable)", calls / 5, [&](int i) {
      auto r = c.call<&BenchTally::add>("t-" + std::to_string(i % keys), std::int64_t{1}).get();
      if (!r) fail("durable call: " + r.status().to_string());
    }));
    // Relay r-i sends to the first tally after t-i on another host; every
    // add is 1, so the tallies' sum says when all were applied.
    std::vector<std::string> target(static_cast<std::size_t>(keys));
    for (int i = 0; i < keys; ++i) {
      for (int k = 1; k <= keys && target[static_cast<std::size_t>(i)].empty(); ++k) {
        const int j = (i + k) % keys;
        if (tally_host[static_cast<std::size_t>(j)] != relay_host[static_cast<std::size_t>(i)]) {
          target[static_cast<std::size_t>(i)] = "t-" + std::to_string(j);
        }
      }
    }
    auto tallies_sum = [&] {
      std::int64_t sum = 0;
      for (int i = 0; i < keys; ++i) {
        auto v = c.call<&BenchTally::get>("t-" + std::to_string(i)).get();
        if (!v) fail("get: " + v.status().to_string());
        sum += *v;
      }
      return sum;
    };
    const std::int64_t before = tallies_sum();
    const int sends = calls / 5;
    const auto start = keel_bench::RemoteClock::now();
    Row sent = keel_bench::measure("cross-host send_to (durable)", sends, [&](int i) {
      auto r = c.call<&BenchRelay::relay>("r-" + std::to_string(i % keys), target[static_cast<std::size_t>(i % keys)],
                                          std::int64_t{1}).get();
      if (!r) fail("relay: " + r.status().to_string());
    });
    const auto applied_by = keel_bench::RemoteClock::now() + std::chrono::seconds(60);
    while (tallies_sum() - before < sends) {
      if (keel_bench::RemoteClock::now() > applied_by) fail("the relayed adds were not applied within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the deliveries are polled
    }
    sent.ops = sends / std::chrono::duration<double>(keel_bench::RemoteClock::now() - start).count();
    rows.push_back(sent);
  }
  keel_bench::drop_pg_schemas(server, schema);
  const std::size_t bytes = keel_bench::call_frame_bytes();
  rows.push_back(keel_bench::raw_ping_pong("raw asio ping-pong " + std::to_string(bytes) + " B", calls, bytes, false));
  rows.push_back(
      keel_bench::raw_ping_pong("raw asio relay ping-pong " + std::to_string(bytes) + " B", calls, bytes, true));
  const double vs_raw = rows[0].p50_us / rows[4].p50_us, agents_vs_relay = rows[1].p50_us / rows[5].p50_us;
  if (json) {
    std::printf("{\"quick\":%s,\"results\":[", quick ? "true" : "false");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::printf("%s{\"name\":\"%s\",\"rate\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f}", i ? "," : "",
                  rows[i].name.c_str(), rows[i].ops, rows[i].p50_us, rows[i].p99_us);
    }
    std::printf("],\"ask_p50_vs_raw\":%.2f,\"agents_ask_p50_vs_relay\":%.2f}\n", vs_raw, agents_vs_relay);
    return 0;
  }
  std::printf("keel_cluster_ask_bench%s: three agents on loopback, one worker each, one PostgreSQL journal\n",
              quick ? " --quick" : "");
  std::printf("%-40s %12s %10s %10s\n", "workload", "per second", "p50 us", "p99 us");
  for (const Row& r : rows) std::printf("%-40s %12.0f %10.1f %10.1f\n", r.name.c_str(), r.ops, r.p50_us, r.p99_us);
  std::printf("cross-host ask p50, direct / raw ping-pong p50: %.2fx; through the agents / raw relay ping-pong p50: %.2fx\n",
              vs_raw, agents_vs_relay);
  return 0;
}
