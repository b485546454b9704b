// agent_bench: keel-agent and keel::Client on loopback, beside raw asio
// ping-pong of the same bytes in the same run.
//
//   keel_agent_bench            full run, prints a table
//   keel_agent_bench --quick    a smoke run (CTest: bench.agent_quick)
//   keel_agent_bench --json     the same figures as one JSON object
//
// Workloads:
//   agent startup to ready    Agent::start with one worker process (fork,
//                             exec, journal, connect, handshake) until it
//                             is ready; again without a journal
//   spawn to ack              Client::spawn of a plain actor until its ack
//   durable spawn to ack      the same for a durable actor (journal open
//                             and an empty recovery on the worker)
//   remote ask, direct        Client::call of a handler returning an int:
//                             client -> worker and back (docs/
//                             distribution.md, "Direct calls")
//   remote ask through agent  the same with ClientOptions::direct_calls
//                             off: client -> agent -> worker and back
//   pipelined remote calls    the same call with `window` calls in flight
//                             per client (each completion is followed by a
//                             new call), from one client and from four
//                             (one connection each)
//   raw asio ping-pong        one blocking loopback socket pair, a message
//                             of the remote call's frame size each way
//   raw asio relay ping-pong  the same through a relay thread, the hops of
//                             a remote call (client -> agent -> worker)
//
// Then the sizes of the binaries, as built and stripped (`strip` from
// binutils, into a temporary file): keel-agent and this worker program
// stripped of all symbols, the Keel static libraries of debug symbols only
// (what linking needs stays).
//
// This executable is also the worker: the agent starts it again with the
// worker flags (--keel-agent ...), which main() hands to WorkerHost.
#include <unistd.h>

#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "remote_rows.h"
#include "keel/agent/agent.h"
#include "keel/client/client.h"
#include "keel/engine/durable.h"
#include "keel/wire/envelope.h"

namespace {

using Clock = std::chrono::steady_clock;
using keel_bench::call_frame_bytes;
using keel_bench::measure;
using keel_bench::raw_ping_pong;
using keel_bench::BenchCounter;
using keel_bench::BenchTally;
using keel_bench::Row;

struct Sizes {
  int startups = 10;
  int spawns = 2'000;
  int durable_spawns = 300;
  int calls = 20'000;
  static Sizes quick() { return {2, 100, 20, 500}; }
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "keel_agent_bench: %s\n", what.c_str());
  std::exit(1);
}

// `total` calls of BenchCounter::get spread over `clients`, each keeping
// `window` in flight from its own thread. Rate only (no per-call latency).
Row pipelined_calls(std::string name, const std::vector<keel::Client*>& clients, int total, int window,
                    int keys) {
  const int per_client = total / static_cast<int>(clients.size());
  const auto a = Clock::now();
  std::vector<std::thread> threads;
  for (keel::Client* c : clients) {
    threads.emplace_back([c, per_client, window, keys] {
      std::deque<keel::Future<int>> in_flight;
      for (int i = 0; i < per_client; ++i) {
        if (static_cast<int>(in_flight.size()) == window) {
          auto r = in_flight.front().get();
          if (!r) fail("pipelined call: " + r.status().to_string());
          in_flight.pop_front();
        }
        in_flight.push_back(c->call<&BenchCounter::get>("c-" + std::to_string(i % keys)));
      }
      for (auto& f : in_flight) {
        auto r = f.get();
        if (!r) fail("pipelined call: " + r.status().to_string());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - a).count();
  return Row{std::move(name), per_client * static_cast<double>(clients.size()) / s, 0, 0};
}

struct Size {
  std::string name;
  std::uintmax_t bytes = 0;
  std::uintmax_t stripped = 0;  // 0: strip failed or is not installed
};

// The size of `path`, and of a copy stripped with `strip_flag`.
Size binary_size(std::string name, const std::string& path, const std::string& strip_flag,
                 const std::filesystem::path& dir) {
  Size s{std::move(name), std::filesystem::file_size(path), 0};
  const std::filesystem::path out = dir / "stripped";
  const std::string cmd = "strip " + strip_flag + " -o '" + out.string() + "' '" + path + "' 2>/dev/null";
  if (std::system(cmd.c_str()) == 0) s.stripped = std::filesystem::file_size(out);
  std::filesystem::remove(out);
  return s;
}

std::vector<Size> binary_sizes(const std::string& self, const std::filesystem::path& dir) {
  std::vector<Size> sizes;
  sizes.push_back(binary_size("keel-agent", KEEL_BENCH_AGENT_EXE, "--strip-all", dir));
  sizes.push_back(binary_size("worker program (this benchmark)", self, "--strip-all", dir));
  Size libs{"Keel static libraries, together", 0, 0};
  bool all_stripped = true;
  std::string_view list = KEEL_BENCH_LIBS;
  while (!list.empty()) {
    const std::size_t colon = list.find(':');
    const Size one = binary_size("", std::string(list.substr(0, colon)), "--strip-debug", dir);
    libs.bytes += one.bytes;
    libs.stripped += one.stripped;
    all_stripped = all_stripped && one.stripped != 0;
    list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
  }
  if (!all_stripped) libs.stripped = 0;
  sizes.push_back(libs);
  return sizes;
}

keel::AgentOptions agent_options(const std::string& self, const std::string& journal) {
  keel::AgentOptions o;
  o.secret = "bench-secret";
  o.worker_argv = {self};
  o.journal_dir = journal;
  o.log = [](std::string_view) {};
  return o;
}

std::vector<Row> run(const Sizes& sizes, const std::string& self, const std::filesystem::path& dir) {
  std::vector<Row> rows;
  // The agents started are kept until both startup rows are measured, so
  // the time of stopping them is not counted as startup.
  std::vector<std::unique_ptr<keel::Agent>> started;
  rows.push_back(measure("agent startup to ready (1 worker)", sizes.startups, [&](int i) {
    auto a = keel::Agent::start(agent_options(self, (dir / ("startup-" + std::to_string(i))).string()));
    if (!a) fail("agent start: " + a.status().to_string());
    started.push_back(std::move(*a));
  }));
  rows.push_back(measure("agent startup, no journal", sizes.startups, [&](int) {
    auto a = keel::Agent::start(agent_options(self, ""));
    if (!a) fail("agent start: " + a.status().to_string());
    started.push_back(std::move(*a));
  }));
  started.clear();

  auto agent = keel::Agent::start(agent_options(self, (dir / "journal").string()));
  if (!agent) fail("agent start: " + agent.status().to_string());
  keel::ClientOptions co;
  co.secret = "bench-secret";
  auto client = keel::Client::connect("127.0.0.1", (*agent)->port(), co);
  if (!client) fail("connect: " + client.status().to_string());
  keel::Client& c = **client;
  rows.push_back(measure("spawn to ack (plain)", sizes.spawns, [&](int i) {
    auto r = c.spawn("BenchCounter", "c-" + std::to_string(i)).get();
    if (!r) fail("spawn: " + r.status().to_string());
  }));
  rows.push_back(measure("spawn to ack (durable)", sizes.durable_spawns, [&](int i) {
    auto r = c.spawn("BenchTally", "t-" + std::to_string(i)).get();
    if (!r) fail("durable spawn: " + r.status().to_string());
  }));
  // Warm-up: the client learns each key's worker and connects to it.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < sizes.spawns; ++i) {
      if (!c.call<&BenchCounter::get>("c-" + std::to_string(i)).get()) fail("warm-up call");
    }
  }
  rows.push_back(measure("remote ask, direct (client -> worker)", sizes.calls, [&](int i) {
    auto r = c.call<&BenchCounter::get>("c-" + std::to_string(i % sizes.spawns)).get();
    if (!r) fail("call: " + r.status().to_string());
  }));
  {
    keel::ClientOptions through = co;
    through.direct_calls = false;
    auto via = keel::Client::connect("127.0.0.1", (*agent)->port(), through);
    if (!via) fail("connect: " + via.status().to_string());
    rows.push_back(measure("remote ask through the agent", sizes.calls, [&](int i) {
      auto r = (*via)->call<&BenchCounter::get>("c-" + std::to_string(i % sizes.spawns)).get();
      if (!r) fail("call: " + r.status().to_string());
    }));
  }
  rows.push_back(pipelined_calls("pipelined remote calls, 1 client", {&c}, sizes.calls * 5, 256, sizes.spawns));
  {
    std::vector<std::unique_ptr<keel::Client>> more;
    std::vector<keel::Client*> four{&c};
    for (int i = 0; i < 3; ++i) {
      auto extra = keel::Client::connect("127.0.0.1", (*agent)->port(), co);
      if (!extra) fail("connect: " + extra.status().to_string());
      four.push_back(extra->get());
      more.push_back(std::move(*extra));
    }
    rows.push_back(pipelined_calls("pipelined remote calls, 4 clients", four, sizes.calls * 5, 256, sizes.spawns));
  }
  const std::size_t bytes = call_frame_bytes();
  rows.push_back(raw_ping_pong("raw asio ping-pong " + std::to_string(bytes) + " B", sizes.calls, bytes, false));
  rows.push_back(
      raw_ping_pong("raw asio relay ping-pong " + std::to_string(bytes) + " B", sizes.calls, bytes, true));
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (std::optional<int> worker = keel_bench::run_as_worker(argc, argv)) return *worker;
  keel_bench::QuickJson flags;
  if (!keel_bench::parse_quick_json(argc, argv, &flags)) return 2;
  const bool quick = flags.quick, json = flags.json;
  const Sizes sizes = quick ? Sizes::quick() : Sizes{};
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto dir = std::filesystem::temp_directory_path() / ("keel-agent-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<Row> rows = run(sizes, self, dir);
  const std::vector<Size> binaries = binary_sizes(self, dir);
  std::filesystem::remove_all(dir);

  const double ask_vs_raw = rows[4].p50_us / rows[8].p50_us;
  const double agent_ask_vs_relay = rows[5].p50_us / rows[9].p50_us;
  if (json) {
    std::printf("{\"quick\":%s,\"results\":[", quick ? "true" : "false");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::printf("%s{\"name\":\"%s\",\"rate\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f}", i ? "," : "",
                  rows[i].name.c_str(), rows[i].ops, rows[i].p50_us, rows[i].p99_us);
    }
    std::printf("],\"binaries\":[");
    for (std::size_t i = 0; i < binaries.size(); ++i) {
      std::printf("%s{\"name\":\"%s\",\"bytes\":%ju,\"stripped_bytes\":%ju}", i ? "," : "",
                  binaries[i].name.c_str(), binaries[i].bytes, binaries[i].stripped);
    }
    std::printf("],\"ask_p50_vs_raw\":%.2f,\"agent_ask_p50_vs_relay\":%.2f}\n", ask_vs_raw, agent_ask_vs_relay);
    return 0;
  }
  std::printf("keel_agent_bench%s: loopback, one worker process\n", quick ? " --quick" : "");
  std::printf("%-40s %12s %10s %10s\n", "workload", "per second", "p50 us", "p99 us");
  for (const Row& r : rows) {
    if (r.p50_us == 0) {
      std::printf("%-40s %12.0f %10s %10s\n", r.name.c_str(), r.ops, "-", "-");  // a rate only
    } else {
      std::printf("%-40s %12.0f %10.1f %10.1f\n", r.name.c_str(), r.ops, r.p50_us, r.p99_us);
    }
  }
  std::printf("direct remote ask p50 / raw ping-pong p50: %.2fx; through the agent / raw relay ping-pong p50: %.2fx\n",
              ask_vs_raw, agent_ask_vs_relay);
  std::printf("\n%-40s %12s %12s\n", "binary", "bytes", "stripped");
  for (const Size& b : binaries) {
    std::printf("%-40s %12ju %12s\n", b.name.c_str(), b.bytes,
                b.stripped != 0 ? std::to_string(b.stripped).c_str() : "(no strip)");
  }
  return 0;
}
