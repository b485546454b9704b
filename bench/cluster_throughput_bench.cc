// keel_cluster_throughput_bench: durable messages per second with 1, 2 and
// 3 hosts on one PostgreSQL journal, next to a process that is the
// journal's only writer and to raw libpq commits, in the same run.
//
//   keel_cluster_throughput_bench [--pg-url URL] [--messages N] [--max-hosts H] [--workflow] [--json] [--quick]
//
// With --workflow, each host runs workflow runs instead of counters: a
// WorkflowEngine on its writer (recover_at_open = false, given its shards
// by the ClusterHost's callbacks) starts one run per key it holds, each N
// sequential durable steps, and its clock stops when every run's result is
// in (docs/workflow.md).
//
// Each host is a process of its own (this program with --host): a
// ClusterHost with a System on its writer of the journal. Once every host
// holds the shards placement gives it, each spawns the durable counters of
// the keys it holds (64 keys per host in all), and on the word "go" two
// threads tell them round-robin, N messages per counter, each accepted
// through the journal; a host's clock stops when each of its counters has
// handled all of them and answered one ask (so every commit is durable).
// Each host reports its messages, its seconds and its CPU time (user +
// system, from getrusage): the hosts share this machine's cores, so the
// CPU a host used says more than its rate. The "solo" row is one process
// whose journal claims every shard at open (no cluster: one round trip per
// commit instead of two). The raw row is libpq committing batches of 64
// rows, one round trip each (bench/raw_pg.h). A fresh schema per row,
// dropped afterwards. URL: --pg-url, $KEEL_PG_URL or the file
// $KEEL_PG_URL_FILE names.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "keel/cluster/cluster_host.h"
#include "keel/cluster/placement.h"
#include "keel/engine/durable.h"
#include "keel/engine/engine.h"
#include "keel/workflow/workflow.h"
#include "raw_pg.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "keel_cluster_throughput_bench: %s\n", why.c_str());
  std::exit(2);
}

constexpr int kKeysPerHost = 64;
constexpr int kSenders = 2;

struct Tally {
  std::int64_t n = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::n>("n"));
};

class Counter : public keel::DurableActor<Tally> {
 public:
  void add(std::int64_t v) { state().n += v; }
  std::int64_t count() const { return state().n; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::count>("count"));
};

// `steps` sequential durable steps.
keel::Task<keel::Result<std::int64_t>> chain(keel::WorkflowContext& ctx, std::int64_t steps) {
  std::int64_t sum = 0;
  for (std::int64_t k = 0; k < steps; ++k) {
    KEEL_CO_ASSIGN_OR_RETURN(std::int64_t v, ctx.step("s" + std::to_string(k), [k] { return k; }));
    sum += v;
  }
  co_return sum;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string read_line() {
  std::string line;
  for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar()) line.push_back(static_cast<char>(c));
  return line;
}

// Tells each of `counters` `messages` times from kSenders threads, then asks
// each once; prints "result MESSAGES SECONDS CPU_SECONDS".
void run_load(std::vector<keel::ActorRef<Counter>>& counters, std::int64_t messages) {
  const double cpu0 = cpu_seconds();
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      for (std::int64_t i = 0; i < messages; ++i) {
        for (std::size_t a = static_cast<std::size_t>(t); a < counters.size(); a += kSenders) {
          counters[a].tell<&Counter::add>(std::int64_t{1});
        }
      }
    });
  }
  for (std::thread& t : senders) t.join();
  for (keel::ActorRef<Counter>& c : counters) {
    // Behind every tell of its senders: once it answers, they are handled and committed.
    keel::Result<std::int64_t> n = c.ask<&Counter::count>().get();
    if (!n) die("count: " + n.status().to_string());
    if (*n != messages) die("a counter handled " + std::to_string(*n) + " of " + std::to_string(messages));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("result %lld %.6f %.6f\n", static_cast<long long>(messages * static_cast<std::int64_t>(counters.size())),
              seconds, cpu_seconds() - cpu0);
  std::fflush(stdout);
}

// Starts a run of `chain` with `steps` steps for each of `ids` on `engine`
// and waits for every result; prints "result STEPS SECONDS CPU_SECONDS".
void run_workflows(keel::WorkflowEngine& engine, const std::vector<std::string>& ids, std::int64_t steps) {
  const double cpu0 = cpu_seconds();
  const Clock::time_point t0 = Clock::now();
  std::vector<keel::RunHandle<std::int64_t>> runs;
  for (const std::string& id : ids) {
    auto r = engine.start<std::int64_t>("chain", id, steps);
    if (!r) die(id + ": " + r.status().to_string());
    runs.push_back(*r);
  }
  for (auto& r : runs) {
    keel::Result<std::int64_t> sum = r.result().get();
    if (!sum) die(r.id() + ": " + sum.status().to_string());
    if (*sum != steps * (steps - 1) / 2) die(r.id() + ": a wrong sum");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("result %lld %.6f %.6f\n", static_cast<long long>(steps * static_cast<std::int64_t>(ids.size())), seconds,
              cpu_seconds() - cpu0);
  std::fflush(stdout);
}

// The workflow engine of a host, on `journal` and `system`; for a cluster
// host, it hosts no run until given shards.
std::unique_ptr<keel::WorkflowEngine> open_engine(const keel::Workflows& workflows, keel::System& system,
                                                  keel::Journal& journal, bool cluster) {
  keel::WorkflowEngineOptions o;
  o.system = &system;
  o.journal = &journal;
  o.admin_endpoint = false;
  o.recover_at_open = !cluster;
  auto engine = keel::WorkflowEngine::open(workflows, o);
  if (!engine) die("workflow engine: " + engine.status().to_string());
  return std::move(*engine);
}

// A host process: `hosts` hosts in all, this one `id`; or, with id "solo",
// the journal's only writer. With `workflow`, runs instead of counters.
int run_host(const std::string& url, const std::string& id, int hosts, std::int64_t messages, bool workflow) {
  keel::Workflows workflows;
  if (!workflows.define<std::int64_t, std::int64_t>("chain", chain).is_ok()) die("define chain");
  std::vector<std::string> keys;
  for (int i = 0; i < kKeysPerHost * hosts; ++i) keys.push_back("counter-" + std::to_string(i));
  std::vector<keel::ActorRef<Counter>> counters;
  if (id == "solo") {
    auto journal = keel::open_pg_journal(url, keel::JournalOptions{});
    if (!journal) die("solo: " + journal.status().to_string());
    keel::SystemConfig config;
    config.journal = journal->get();
    keel::System system(config);
    if (workflow) {
      auto engine = open_engine(workflows, system, **journal, /*cluster=*/false);
      std::printf("ready\n");
      std::fflush(stdout);
      if (read_line() != "go") die("solo: no go");
      run_workflows(*engine, keys, messages);
      engine.reset();
      system.shutdown(keel::ShutdownMode::kDrain).ignore();
      return 0;
    }
    for (const std::string& key : keys) {
      auto c = system.spawn_durable<Counter>(key);
      if (!c) die(key + ": " + c.status().to_string());
      counters.push_back(*c);
    }
    std::printf("ready\n");
    std::fflush(stdout);
    if (read_line() != "go") die("solo: no go");
    run_load(counters, messages);
    counters.clear();
    system.shutdown(keel::ShutdownMode::kDrain).ignore();
    return 0;
  }
  keel::ClusterHostOptions o;
  o.membership.cluster = "bench";
  o.membership.secret = "keel_cluster_throughput_bench secret";
  auto host = keel::ClusterHost::join(url, keel::HostSpec{id, {}, {}}, o);
  if (!host) die(id + ": " + host.status().to_string());
  keel::SystemConfig config;
  config.journal = &(*host)->journal();
  keel::System system(config);
  std::unique_ptr<keel::WorkflowEngine> engine;
  if (workflow) engine = open_engine(workflows, system, (*host)->journal(), /*cluster=*/true);
  std::mutex mu;
  std::condition_variable cv;
  keel::ClusterHost::Callbacks cb;
  cb.gained = [&](const std::vector<keel::PgShardEpoch>& shards) {
    if (engine) {
      std::vector<std::uint32_t> numbers;
      for (const keel::PgShardEpoch& e : shards) numbers.push_back(e.shard);
      if (keel::Status s = engine->resume_shards(numbers); !s.is_ok()) die(id + ": " + s.to_string());
    }
    cv.notify_all();
  };
  cb.losing = [&](const std::vector<std::uint32_t>& shards, bool) {
    if (engine) engine->release_shards(shards).ignore();
    cv.notify_all();
  };
  if (keel::Status s = (*host)->start(std::move(cb)); !s.is_ok()) die(id + ": " + s.to_string());
  // Settled: every host is live, and this one holds exactly its share.
  auto settled = [&] {
    auto live = (*host)->membership().live_hosts();
    if (!live || static_cast<int>(live->size()) != hosts) return false;
    const std::vector<std::string> map = keel::shard_map(keel::kPgShards, *live);
    std::set<std::uint32_t> want, have;
    for (std::uint32_t s = 0; s < map.size(); ++s) {
      if (map[s] == id) want.insert(s);
    }
    for (const keel::PgShardEpoch& e : (*host)->held()) have.insert(e.shard);
    return want == have;
  };
  {
    std::unique_lock<std::mutex> lock(mu);
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(120);
    // Another host's join changes nothing here until a round: look again now and then.
    while (!settled()) {
      if (Clock::now() > deadline) die(id + ": the shards never settled");
      cv.wait_for(lock, std::chrono::milliseconds(100));
    }
  }
  if (workflow) {
    std::vector<std::string> mine;
    for (const std::string& key : keys) {
      if ((*host)->holds("workflow/" + key)) mine.push_back(key);
    }
    std::printf("ready\n");
    std::fflush(stdout);
    if (read_line() != "go") die(id + ": no go");
    run_workflows(*engine, mine, messages);
    if (read_line() != "leave") die(id + ": no leave");
    (*host)->stop();
    engine.reset();
    system.shutdown(keel::ShutdownMode::kDrain).ignore();
    (*host)->leave().ignore();
    return 0;
  }
  for (const std::string& key : keys) {
    if (!(*host)->holds("actor/" + key)) continue;
    auto c = system.spawn_durable<Counter>(key);
    if (!c) die(key + ": " + c.status().to_string());
    counters.push_back(*c);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  if (read_line() != "go") die(id + ": no go");
  run_load(counters, messages);
  // Stays a member until told, so that nothing moves while the others run.
  if (read_line() != "leave") die(id + ": no leave");
  counters.clear();
  (*host)->stop();
  system.shutdown(keel::ShutdownMode::kDrain).ignore();
  (*host)->leave().ignore();
  return 0;
}

struct Child {
  pid_t pid = -1;
  FILE* in = nullptr;   // its stdin
  FILE* out = nullptr;  // its stdout
};

Child spawn_host(const std::string& self, const std::string& url, const std::string& id, int hosts,
                 std::int64_t messages, bool workflow) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  posix_spawn_file_actions_addclose(&actions, to_child[1]);
  posix_spawn_file_actions_addclose(&actions, from_child[0]);
  const std::string n = std::to_string(hosts), m = std::to_string(messages);
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), const_cast<char*>("--host"),
                             const_cast<char*>(url.c_str()),  const_cast<char*>(id.c_str()),
                             const_cast<char*>(n.c_str()),    const_cast<char*>(m.c_str()),
                             const_cast<char*>(workflow ? "workflow" : "actors"), nullptr};
  Child c;
  if (posix_spawn(&c.pid, self.c_str(), &actions, nullptr, argv.data(), environ) != 0) die("spawn a host");
  posix_spawn_file_actions_destroy(&actions);
  close(to_child[0]);
  close(from_child[1]);
  c.in = fdopen(to_child[1], "w");
  c.out = fdopen(from_child[0], "r");
  return c;
}

std::string line_of(Child& c) {
  char buf[256] = {};
  if (std::fgets(buf, sizeof buf, c.out) == nullptr) die("a host ended early");
  std::string s(buf);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void say(Child& c, const char* word) {
  std::fprintf(c.in, "%s\n", word);
  std::fflush(c.in);
}

struct Row {
  std::string name;
  int hosts = 0;
  double messages = 0;
  double seconds = 0;  // the slowest host's
  std::vector<double> cpu;  // per host
  double per_s() const { return seconds > 0 ? messages / seconds : 0; }
};

// One row: `hosts` host processes (or the solo writer) on a fresh schema.
Row run_row(const std::string& self, const std::string& server, int hosts, bool solo, std::int64_t messages,
            bool workflow) {
  const std::string schema = "bench_tput_" + std::to_string(getpid()) + "_" + (solo ? "solo" : std::to_string(hosts));
  const std::string url = server + (server.find('?') == std::string::npos ? "?" : "&") + "keel_schema=" + schema;
  std::vector<Child> children;
  for (int h = 0; h < (solo ? 1 : hosts); ++h) {
    children.push_back(spawn_host(self, url, solo ? "solo" : "host-" + std::to_string(h), hosts, messages, workflow));
  }
  for (Child& c : children) {
    if (line_of(c) != "ready") die("a host was not ready");
  }
  for (Child& c : children) say(c, "go");
  Row row;
  row.name = solo ? "one writer (no cluster)" : std::to_string(hosts) + (hosts == 1 ? " host" : " hosts");
  row.hosts = hosts;
  for (Child& c : children) {
    long long n = 0;
    double seconds = 0, cpu = 0;
    if (std::sscanf(line_of(c).c_str(), "result %lld %lf %lf", &n, &seconds, &cpu) != 3) die("a host's result");
    row.messages += static_cast<double>(n);
    row.seconds = std::max(row.seconds, seconds);
    row.cpu.push_back(cpu);
  }
  for (Child& c : children) {
    if (!solo) say(c, "leave");
    fclose(c.in);
    int status = 0;
    waitpid(c.pid, &status, 0);
    fclose(c.out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a host failed");
  }
  keel_bench::drop_pg_schemas(server, schema);
  return row;
}


}  // namespace

int main(int argc, char** argv) {
  if (argc == 7 && std::string(argv[1]) == "--host") {
    return run_host(argv[2], argv[3], std::atoi(argv[4]), std::atoll(argv[5]), std::string(argv[6]) == "workflow");
  }
  bool workflow = false;
  std::string pg_url = keel_bench::pg_url_from_env();
  std::int64_t messages = 200;
  int max_hosts = 3;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pg-url" && i + 1 < argc) {
      pg_url = argv[++i];
    } else if (a == "--messages" && i + 1 < argc) {
      messages = std::atoll(argv[++i]);
    } else if (a == "--max-hosts" && i + 1 < argc) {
      max_hosts = std::atoi(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else if (a == "--workflow") {
      workflow = true;
    } else if (a == "--quick") {
      messages = 10;
      max_hosts = 2;
    } else {
      die("usage: keel_cluster_throughput_bench [--pg-url URL] [--messages N] [--max-hosts H] [--workflow] [--json] "
          "[--quick]");
    }
  }
  if (pg_url.empty()) die("no server: give --pg-url URL or set KEEL_PG_URL (or KEEL_PG_URL_FILE)");
  if (messages < 1 || max_hosts < 1 || max_hosts > 8) die("--messages >= 1 and --max-hosts 1..8");
  std::vector<Row> rows;
  rows.push_back(run_row(argv[0], pg_url, 1, /*solo=*/true, messages, workflow));
  for (int h = 1; h <= max_hosts; ++h) rows.push_back(run_row(argv[0], pg_url, h, /*solo=*/false, messages, workflow));
  const keel_bench::RawCommits raw = keel_bench::raw_pg_commits(pg_url, 64, 300);
  if (json) {
    std::printf("{\"bench\":\"cluster_throughput\",\"unit\":\"%s\",\"messages_per_counter\":%lld,"
                "\"raw_rows_per_s_at_64\":%.1f,\"rows\":[",
                workflow ? "workflow steps" : "durable messages", static_cast<long long>(messages), raw.rows_per_s());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s{\"name\":\"%s\",\"hosts\":%d,\"messages\":%.0f,\"seconds\":%.3f,\"msgs_per_s\":%.1f,\"cpu_s\":[",
                  i ? "," : "", r.name.c_str(), r.hosts, r.messages, r.seconds, r.per_s());
      for (std::size_t c = 0; c < r.cpu.size(); ++c) std::printf("%s%.3f", c ? "," : "", r.cpu[c]);
      std::printf("]}");
    }
    std::printf("]}\n");
    return 0;
  }
  if (workflow) {
    std::printf("workflow steps on one PostgreSQL journal, %d runs per host, %lld sequential steps each\n", kKeysPerHost,
                static_cast<long long>(messages));
  } else {
    std::printf("durable messages on one PostgreSQL journal, %d counters per host, %lld messages each, %d senders per host\n",
                kKeysPerHost, static_cast<long long>(messages), kSenders);
  }
  std::printf("%-26s %10s %9s %12s %10s  %s\n", "row", workflow ? "steps" : "messages", "seconds",
              workflow ? "steps/s" : "msgs/s", "vs raw", "CPU s per host");
  for (const Row& r : rows) {
    std::string cpu;
    for (double c : r.cpu) cpu += (cpu.empty() ? "" : " / ") + std::to_string(c).substr(0, 5);
    std::printf("%-26s %10.0f %9.3f %12.1f %9.2fx  %s\n", r.name.c_str(), r.messages, r.seconds, r.per_s(),
                r.per_s() / raw.rows_per_s(), cpu.c_str());
  }
  std::printf("%-26s %10d %9.3f %12.1f %9.2fx\n", "raw libpq, 64-row commits", 64 * raw.commits, raw.seconds,
              raw.rows_per_s(), 1.0);
  return 0;
}
