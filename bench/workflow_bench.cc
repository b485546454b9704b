// keel_workflow_bench: durable functions (keel/workflow/workflow.h) and
// durable counters (keel/engine/durable.h) on the workloads of a published
// Restate measurement, each next to the raw synced-commit limit of the same
// journal backend, measured in the same run on the same disk.
//
//   keel_workflow_bench                     # full sizes, 3 repetitions, median, table
//   keel_workflow_bench --quick             # scaled down (CTest bench.workflow_quick)
//   keel_workflow_bench --long              # the 32-client rows run 15 s, as Restate's did
//   keel_workflow_bench --json              # JSON on stdout instead of the table
//   keel_workflow_bench --json-file out.json   # the table, and the JSON in a file
//   keel_workflow_bench --backend sqlite    # sqlite | rocksdb | both (default) | postgres
//   keel_workflow_bench --backend postgres --pg-url URL   # journals in schemas of their own on
//                                           # that server (or $KEEL_PG_URL), raw libpq beside them
//   keel_workflow_bench --dir /some/disk    # where the journals go (default $TMPDIR or /tmp)
//   keel_workflow_bench --only clients      # one workload (one, chain, clients, counter,
//                                           # counters, crash, startup), for profiling
//
// Per backend, each repetition measures, every part in its own forked child:
//  1. raw: 1-row synced commits (latency and rate): the limit of any
//     sequential workload whose every step must be durable before the next.
//  2. one: 1,000 one-step runs, started and awaited one after the other.
//  3. chain: one run of 200 sequential steps.
//  4. clients: 32 client threads, each starting a 10-step run and awaiting
//     its result, again and again, for 3 s (15 s with --long); then raw
//     synced commits of the group size (batches per commit) that reached.
//  5. counter: one durable counter, sequential asks from one thread.
//  6. counters: 32 durable counters, one client thread each, asking its own
//     counter for the same duration; then raw commits at its group size.
//  7. crash: a child runs a 2,000-step run; the parent SIGKILLs it after
//     1,000 steps (counted through a pipe); a full scan_lsn of the journal
//     it left (the raw read limit); then a new child opens the engine on it
//     and the run resumes and finishes. Every execution of a step function
//     appends a line to a side file, so the steps that ran twice are counted.
//  8. startup: journal, System and WorkflowEngine opened on an empty journal,
//     then the resident set when idle (/proc/self/statm).
// Repetitions interleave the backends; each row reports the repetition with
// the median Keel figure, next to the raw figure of that same repetition.
#include <fcntl.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "keel/engine/durable.h"
#include "keel/engine/engine.h"
#include "keel/journal/journal.h"
#include "keel/workflow/workflow.h"
#include "bench_backends.h"
#include "workflow_bench.h"
#include "raw_journal.h"

namespace workflow_bench {
namespace {

using Clock = std::chrono::steady_clock;
using keel_bench::seconds_since;

// ---- Workflows ---------------------------------------------------------------------

// Crash run side channels (the crash children only; -1 elsewhere).
int g_side_fd = -1;   // one line per execution of a step function
int g_pipe_fd = -1;   // one byte per finished step, for the parent's kill point
std::atomic<std::int64_t> g_first_live_ns{0};  // first step function run by this process

void note_execution(std::int64_t k) {
  std::int64_t expected = 0;
  const std::int64_t now = Clock::now().time_since_epoch().count();
  g_first_live_ns.compare_exchange_strong(expected, now, std::memory_order_relaxed);
  if (g_side_fd < 0) return;
  const std::string line = std::to_string(k) + "\n";
  if (::write(g_side_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(21);
}

// `steps` sequential durable steps; returns the sum of k for k < steps.
keel::Task<keel::Result<std::int64_t>> chain(keel::WorkflowContext& ctx, std::int64_t steps) {
  std::int64_t sum = 0;
  for (std::int64_t k = 0; k < steps; ++k) {
    KEEL_CO_ASSIGN_OR_RETURN(std::int64_t v, ctx.step("s" + std::to_string(k), [k] {
      note_execution(k);
      return k;
    }));
    sum += v;
    if (g_pipe_fd >= 0) (void)!::write(g_pipe_fd, "x", 1);
  }
  co_return sum;
}

std::int64_t chain_sum(std::int64_t steps) { return steps * (steps - 1) / 2; }

// ---- The durable counter -----------------------------------------------------------

struct CounterState {
  std::int64_t value = 0;
  static constexpr auto kFields = keel::fields(keel::field<&CounterState::value>("value"));
};

class Counter : public keel::DurableActor<CounterState> {
 public:
  std::int64_t increment(std::int64_t by) { return state().value += by; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Counter::increment>("increment"));
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "keel_workflow_bench: %s\n", why.c_str());
  std::exit(1);
}

keel::Result<std::unique_ptr<keel::Journal>> open_journal(const std::string& where) {
  return keel_bench::open_bench_journal(where);
}

// The journal's counters; zeros when unreadable (the figures then show it).
keel::JournalStats stats_of(keel::Journal& journal) {
  auto s = journal.stats();
  return s.has_value() ? *s : keel::JournalStats{};
}

// A journal, a System on it and a workflow engine with `chain` defined:
// what every workflow child builds. Members are destroyed engine first.
struct Stack {
  std::unique_ptr<keel::Journal> journal;
  std::unique_ptr<keel::System> system;
  keel::Workflows workflows;
  std::unique_ptr<keel::WorkflowEngine> engine;

  keel::Status open(const std::string& path) {
    KEEL_ASSIGN_OR_RETURN(journal, open_journal(path));
    keel::SystemConfig config;
    config.threads = 2;
    config.journal = journal.get();
    system = std::make_unique<keel::System>(config);
    KEEL_RETURN_IF_ERROR((workflows.define<std::int64_t, std::int64_t>("chain", chain)));
    keel::WorkflowEngineOptions options;
    options.system = system.get();
    options.journal = journal.get();
    KEEL_ASSIGN_OR_RETURN(engine, keel::WorkflowEngine::open(workflows, options));
    return keel::Status::ok();
  }
  ~Stack() {
    engine.reset();
    system.reset();
  }
  keel::JournalStats stats() const { return stats_of(*journal); }
  // Starts run `id` of `steps` steps and waits for its result.
  keel::Status run(const std::string& id, std::int64_t steps) {
    KEEL_ASSIGN_OR_RETURN(auto handle, engine->start<std::int64_t>("chain", id, steps));
    KEEL_ASSIGN_OR_RETURN(std::int64_t sum, handle.result().get());
    if (sum != chain_sum(steps)) return keel::Status::internal("run " + id + " returned a wrong sum");
    return keel::Status::ok();
  }
};

// ---- Raw limits ------------------------------------------------------------------------

// rate: commits/s; more: [0] p50 us, [1] p99 us, [2] rows per commit.
Sample raw_commits(const keel_bench::Backends& places, const std::string& backend, const std::string& tag, int batch,
                   int commits) {
  keel_bench::RawCommits r = places.raw_commits(backend, tag, batch, commits);
  Sample s;
  s.ok = true;
  s.seconds = r.seconds;
  s.ops = r.commits;
  s.more[0] = r.p50_us();
  s.more[1] = r.p99_us();
  s.more[2] = batch;
  return s;
}

// The raw commits at the group size a concurrent workload reached.
Sample raw_at_group(const Config& cfg, const keel_bench::Backends& places, const std::string& backend,
                    const std::string& tag, const Sample& keel) {
  const int group = keel.ok ? std::max(1, static_cast<int>(keel.more[2] + 0.5)) : 1;
  const int commits = std::max(50, cfg.sizes.raw_group_rows / group);
  return keel_bench::run_isolated([&] { return raw_commits(places, backend, tag, group, commits); });
}

// Fills more[2] (batches per commit) and more[3] (commits per op) from two stats.
void journal_figures(Sample& s, const keel::JournalStats& before, const keel::JournalStats& after) {
  const double commits = static_cast<double>(after.commits - before.commits);
  const double batches = static_cast<double>(after.batches - before.batches);
  s.more[2] = commits > 0 ? batches / commits : 0;
  s.more[3] = s.ops > 0 ? commits / s.ops : 0;
}

// ---- Workloads ---------------------------------------------------------------------------

constexpr int kNoLimit = std::numeric_limits<int>::max();

// `clients` threads each call `op(client, i)` (i = 0, 1, ...) until
// `duration_s` has passed or it made `max_calls` calls, timing every call.
// ops: calls; more: [0] p50 us, [1] p99 us.
Sample closed_loop(int clients, double duration_s, int max_calls, const std::function<keel::Status(int, int)>& op) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  std::vector<keel::Status> errors(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = lat[static_cast<std::size_t>(c)];
      for (int i = 0; i < max_calls && Clock::now() < end; ++i) {
        auto c0 = Clock::now();
        keel::Status s = op(c, i);
        if (!s.is_ok()) {
          errors[static_cast<std::size_t>(c)] = s;
          return;
        }
        mine.push_back(seconds_since(c0) * 1e6);
      }
    });
  }
  for (auto& t : threads) t.join();
  Sample s;
  s.seconds = seconds_since(t0);
  for (const keel::Status& e : errors) {
    if (!e.is_ok()) return Sample::failure(e.to_string());
  }
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  s.ok = true;
  s.ops = static_cast<double>(all.size());
  s.more[0] = keel_bench::percentile(all, 0.5);
  s.more[1] = keel_bench::percentile(all, 0.99);
  return s;
}

// ops: runs; more: [0] p50 us, [1] p99 us, [2] batches/commit, [3] commits/run.
Sample one_step_runs(const std::string& path, int runs) {
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  for (int i = 0; i < 10; ++i) {  // warm-up
    if (auto s = st.run("warm-" + std::to_string(i), 1); !s.is_ok()) return Sample::failure(s.to_string());
  }
  const keel::JournalStats before = st.stats();
  Sample s = closed_loop(1, 1e9, runs, [&](int, int i) { return st.run("one-" + std::to_string(i), 1); });
  if (s.ok) journal_figures(s, before, st.stats());
  return s;
}

// ops: steps; more: [2] batches/commit, [3] commits/step.
Sample one_long_run(const std::string& path, std::int64_t steps) {
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  if (auto s = st.run("warm", 5); !s.is_ok()) return Sample::failure(s.to_string());
  const keel::JournalStats before = st.stats();
  auto t0 = Clock::now();
  if (auto s = st.run("chain", steps); !s.is_ok()) return Sample::failure(s.to_string());
  Sample s;
  s.seconds = seconds_since(t0);
  s.ok = true;
  s.ops = static_cast<double>(steps);
  journal_figures(s, before, st.stats());
  return s;
}

// ops: runs; more: [0] p50 us, [1] p99 us, [2] batches/commit, [3] commits/run.
Sample concurrent_runs(const std::string& path, const Config& cfg) {
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  const keel::JournalStats before = st.stats();
  Sample s = closed_loop(cfg.clients, cfg.sizes.duration_s, kNoLimit, [&](int c, int i) {
    return st.run("c" + std::to_string(c) + "-" + std::to_string(i), cfg.client_steps);
  });
  if (s.ok) journal_figures(s, before, st.stats());
  return s;
}

struct CounterStack {
  std::unique_ptr<keel::Journal> journal;
  std::unique_ptr<keel::System> system;
  std::vector<keel::ActorRef<Counter>> counters;

  keel::Status open(const std::string& path, int n) {
    KEEL_ASSIGN_OR_RETURN(journal, open_journal(path));
    keel::SystemConfig config;
    config.threads = 2;
    config.journal = journal.get();
    system = std::make_unique<keel::System>(config);
    for (int k = 0; k < n; ++k) {
      KEEL_ASSIGN_OR_RETURN(auto ref, system->spawn_durable<Counter>("counter-" + std::to_string(k)));
      counters.push_back(ref);
    }
    return keel::Status::ok();
  }
  ~CounterStack() {
    counters.clear();
    system.reset();
  }
  keel::Status increment(int k, std::int64_t expect) {
    KEEL_ASSIGN_OR_RETURN(std::int64_t v, counters[static_cast<std::size_t>(k)].ask<&Counter::increment>(std::int64_t{1}).get());
    if (v != expect) return keel::Status::internal("counter " + std::to_string(k) + " lost an increment");
    return keel::Status::ok();
  }
};

// ops: asks; more: [0] p50 us, [1] p99 us, [2] batches/commit, [3] commits/ask.
Sample counter_asks(const std::string& path, int asks) {
  CounterStack st;
  if (auto s = st.open(path, 1); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  for (int i = 0; i < 10; ++i) {
    if (auto s = st.increment(0, i + 1); !s.is_ok()) return Sample::failure(s.to_string());
  }
  const keel::JournalStats before = stats_of(*st.journal);
  Sample s = closed_loop(1, 1e9, asks, [&](int, int i) { return st.increment(0, 11 + i); });
  if (s.ok) journal_figures(s, before, stats_of(*st.journal));
  return s;
}

// ops: asks; more: [0] p50 us, [1] p99 us, [2] batches/commit, [3] commits/ask.
Sample counters_concurrently(const std::string& path, const Config& cfg) {
  CounterStack st;
  if (auto s = st.open(path, cfg.counters); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  const keel::JournalStats before = stats_of(*st.journal);
  Sample s = closed_loop(cfg.counters, cfg.sizes.duration_s, kNoLimit, [&](int c, int i) { return st.increment(c, i + 1); });
  if (s.ok) journal_figures(s, before, stats_of(*st.journal));
  return s;
}

// The first crash child: runs the long run until the parent kills it.
[[noreturn]] void crash_victim(const std::string& path, const std::string& side,
                               std::int64_t steps, int pipe_fd) {
  g_pipe_fd = pipe_fd;
  g_side_fd = ::open(side.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (g_side_fd < 0) ::_exit(11);
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) ::_exit(12);
  (void)st.run("long", steps);
  ::_exit(13);  // not reached when the parent kills in time
}

// ops: steps of the run; seconds: restart (journal open) to finished; more:
// [0] seconds to engine ready (open returned), [1] seconds to the first
// step function run live (the run resumed), [2] journal records at restart,
// [4] steps executed before the kill, [5] step functions that ran twice.
Sample crash_restart(const std::string& path, const std::string& side,
                     std::int64_t steps) {
  g_side_fd = ::open(side.c_str(), O_WRONLY | O_APPEND, 0644);
  if (g_side_fd < 0) return Sample::failure("side file missing");
  auto t0 = Clock::now();
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  Sample s;
  s.more[0] = seconds_since(t0);
  auto result = st.engine->handle<std::int64_t>("long").result();
  keel::Result<std::int64_t> sum = result.get();
  s.seconds = seconds_since(t0);
  if (!sum.has_value()) return Sample::failure("resumed run: " + sum.status().to_string());
  if (*sum != chain_sum(steps)) return Sample::failure("resumed run returned a wrong sum");
  const std::int64_t first = g_first_live_ns.load();
  s.more[1] = first == 0 ? 0 : std::chrono::duration<double>(Clock::duration(first) - t0.time_since_epoch()).count();
  s.more[2] = static_cast<double>(st.stats().records);
  s.ok = true;
  s.ops = static_cast<double>(steps);
  return s;
}

// ops: records; seconds: open + full scan_lsn.
Sample scan_journal(const std::string& path) {
  auto t0 = Clock::now();
  auto journal = open_journal(path);
  if (!journal.has_value()) return Sample::failure(journal.status().to_string());
  auto last = (*journal)->last_lsn();
  if (!last.has_value()) return Sample::failure(last.status().to_string());
  std::uint64_t n = 0;
  keel::Status st = (*journal)->scan_lsn(1, *last, [&](const keel::Record&) { return ++n, true; });
  if (!st.is_ok()) return Sample::failure("scan: " + st.to_string());
  Sample s;
  s.seconds = seconds_since(t0);
  s.ok = true;
  s.ops = static_cast<double>(n);
  return s;
}

// Kills a child running the long run after `kill_at` steps, then scans and
// restarts. Returns {scan, restart}.
std::pair<Sample, Sample> crash(const Config& cfg, const std::string& path,
                                const std::string& side) {
  int fds[2];
  if (::pipe(fds) != 0) return {Sample::failure("pipe"), Sample::failure("pipe")};
  const pid_t pid = ::fork();
  if (pid < 0) return {Sample::failure("fork"), Sample::failure("fork")};
  if (pid == 0) {
    ::close(fds[0]);
    crash_victim(path, side, cfg.sizes.crash_steps, fds[1]);
  }
  ::close(fds[1]);
  std::int64_t seen = 0;
  char buf[256];
  while (seen < cfg.sizes.crash_kill_at) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    seen += n;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  if (seen < cfg.sizes.crash_kill_at || !WIFSIGNALED(status)) {
    const Sample f = Sample::failure("the crash child ended before the kill (" + std::to_string(seen) + " steps)");
    return {f, f};
  }
  Sample scan = keel_bench::run_isolated([&] { return scan_journal(path); });
  std::int64_t before_kill = 0;
  {
    std::ifstream in(side);
    for (std::string line; std::getline(in, line);) ++before_kill;
  }
  Sample restart = keel_bench::run_isolated([&] { return crash_restart(path, side, cfg.sizes.crash_steps); });
  if (!restart.ok) return {scan, restart};
  std::map<std::int64_t, int> runs;
  std::ifstream in(side);
  for (std::string line; std::getline(in, line);) ++runs[std::atoll(line.c_str())];
  int twice = 0;
  for (auto& [k, n] : runs) twice += n > 1 ? n - 1 : 0;
  if (static_cast<std::int64_t>(runs.size()) != cfg.sizes.crash_steps) return {scan, Sample::failure("a step never ran")};
  restart.more[4] = static_cast<double>(before_kill);
  restart.more[5] = twice;
  return {scan, restart};
}

double statm_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  double size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// seconds: start to ready; more: [0] idle RSS bytes (statm), [1] seconds to open the journal alone.
Sample startup(const std::string& path) {
  auto t0 = Clock::now();
  Stack st;
  if (auto s = st.open(path); !s.is_ok()) return Sample::failure("open: " + s.to_string());
  Sample s;
  s.seconds = seconds_since(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  s.more[0] = statm_rss_bytes();
  s.ok = true;
  s.ops = 1;
  return s;
}

Sample journal_open(const std::string& path) {
  auto t0 = Clock::now();
  auto journal = open_journal(path);
  if (!journal.has_value()) return Sample::failure(journal.status().to_string());
  Sample s;
  s.seconds = seconds_since(t0);
  s.ok = true;
  s.ops = 1;
  return s;
}

// ---- Driver ---------------------------------------------------------------------------------

Rep run_rep(const Config& cfg, const std::string& backend, int rep) {
  int n = 0;
  const keel_bench::Backends places{cfg.dir, cfg.pg_url};
  auto tag = [&] { return "r" + std::to_string(rep) + "_" + std::to_string(n++); };
  auto fresh = [&] { return places.fresh(backend, tag()); };
  auto want = [&](const char* name) { return cfg.only.empty() || cfg.only == name; };
  Rep r;
  const Sample skipped = Sample::failure("skipped (--only)");
  for (Sample* s : {&r.raw1, &r.one, &r.chain, &r.clients, &r.raw_clients, &r.counter, &r.counters,
                    &r.raw_counters, &r.scan, &r.crash, &r.startup, &r.raw_open}) {
    *s = skipped;
  }
  const std::string t_raw1 = tag(), p_one = fresh(), p_chain = fresh(), p_clients = fresh(),
                    t_raw_clients = tag(), p_counter = fresh(), p_counters = fresh(), t_raw_counters = tag(),
                    p_crash = fresh(), side = cfg.dir + "/crash-" + tag() + ".side", p_start = fresh(),
                    p_open = fresh();
  r.raw1 = keel_bench::run_isolated([&] { return raw_commits(places, backend, t_raw1, 1, cfg.sizes.raw_commits); });
  if (want("one")) r.one = keel_bench::run_isolated([&] { return one_step_runs(p_one, cfg.sizes.one_step_runs); });
  if (want("chain")) r.chain = keel_bench::run_isolated([&] { return one_long_run(p_chain, cfg.sizes.chain_steps); });
  if (want("clients")) {
    r.clients = keel_bench::run_isolated([&] { return concurrent_runs(p_clients, cfg); });
    r.raw_clients = raw_at_group(cfg, places, backend, t_raw_clients, r.clients);
  }
  if (want("counter")) {
    r.counter = keel_bench::run_isolated([&] { return counter_asks(p_counter, cfg.sizes.counter_asks); });
  }
  if (want("counters")) {
    r.counters = keel_bench::run_isolated([&] { return counters_concurrently(p_counters, cfg); });
    r.raw_counters = raw_at_group(cfg, places, backend, t_raw_counters, r.counters);
  }
  if (want("crash")) std::tie(r.scan, r.crash) = crash(cfg, p_crash, side);
  if (want("startup")) {
    r.startup = keel_bench::run_isolated([&] { return startup(p_start); });
    r.raw_open = keel_bench::run_isolated([&] { return journal_open(p_open); });
  }
  places.clean_up();  // postgres: the repetition's schemas
  std::error_code ec;
  std::filesystem::remove_all(cfg.dir, ec);
  std::filesystem::create_directories(cfg.dir, ec);
  return r;
}

Config parse(int argc, char** argv) {
  Config cfg;
  std::string base = keel_bench::default_scratch_base();
  bool long_run = false;
  if (const char* url = std::getenv("KEEL_PG_URL")) cfg.pg_url = url;
  const std::map<std::string, std::function<void()>> flags = {
      {"--quick", [&] { cfg.quick = true; }},
      {"--long", [&] { long_run = true; }},
      {"--json", [&] { cfg.json = true; }},
  };
  const std::map<std::string, std::function<void(const std::string&)>> options = {
      {"--reps", [&](const std::string& v) { cfg.reps = std::max(1, std::atoi(v.c_str())); }},
      {"--dir", [&](const std::string& v) { base = v; }},
      {"--json-file", [&](const std::string& v) { cfg.json_file = v; }},
      {"--only", [&](const std::string& v) { cfg.only = v; }},
      {"--backend",
       [&](const std::string& v) {
         cfg.backends = keel_bench::parse_backends(v);
         if (cfg.backends.empty()) die("--backend takes sqlite, rocksdb, both or postgres");
       }},
      {"--pg-url", [&](const std::string& v) { cfg.pg_url = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    if (auto flag = flags.find(argv[i]); flag != flags.end()) {
      flag->second();
    } else if (auto option = options.find(argv[i]); option != options.end() && i + 1 < argc) {
      option->second(argv[++i]);
    } else {
      die("usage: keel_workflow_bench [--quick] [--long] [--json] [--reps N] [--backend sqlite|rocksdb|both|postgres] "
          "[--pg-url URL] "
          "[--dir DIR] [--json-file PATH] [--only one|chain|clients|counter|counters|crash|startup]");
    }
  }
  if (cfg.quick) cfg.sizes = kQuickSizes;
  if (long_run) cfg.sizes.duration_s = 15;
  if (cfg.reps == 0) cfg.reps = cfg.sizes.reps;
  cfg.dir = keel_bench::make_scratch_dir(base, "keel-workflow-bench");
  if (cfg.dir.empty()) die("cannot create a directory under " + base);
  struct statfs sf {};
  if (::statfs(cfg.dir.c_str(), &sf) == 0) {
    const auto type = static_cast<unsigned long>(sf.f_type);
    cfg.fs = type == 0xEF53 ? "ext2/3/4" : type == 0x01021994 ? "tmpfs" : type == 0x58465342 ? "xfs" : "other";
  }
  return cfg;
}

}  // namespace
}  // namespace workflow_bench

int main(int argc, char** argv) {
  using namespace workflow_bench;
  const Config cfg = parse(argc, argv);
  std::vector<std::vector<Rep>> all(cfg.backends.size());
  bool ok = true;
  for (int rep = 0; rep < cfg.reps; ++rep) {
    for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
      all[b].push_back(run_rep(cfg, cfg.backends[b], rep));
      const Rep& r = all[b].back();
      for (const Sample* s : {&r.raw1, &r.one, &r.chain, &r.clients, &r.raw_clients, &r.counter, &r.counters,
                              &r.raw_counters, &r.scan, &r.crash, &r.startup, &r.raw_open}) {
        if (s->ok || std::strcmp(s->error, "skipped (--only)") == 0) continue;
        ok = false;
        std::fprintf(stderr, "keel_workflow_bench: rep %d %s: %s\n", rep + 1, cfg.backends[b].c_str(), s->error);
      }
      if (!cfg.json) {
        std::fprintf(stderr, "rep %d %s: one-step p50 %.0f us (raw %.0f), chain %.0f steps/s (raw %.0f), "
                     "clients %.0f runs/s, counter %.0f ops/s, counters %.0f ops/s, resumed %.1f ms\n",
                     rep + 1, cfg.backends[b].c_str(), r.one.more[0], r.raw1.more[0], r.chain.rate(), r.raw1.rate(),
                     r.clients.rate(), r.counter.rate(), r.counters.rate(), r.crash.more[1] * 1e3);
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(cfg.dir, ec);
  print_report(cfg, all, stdout, cfg.json);
  if (!cfg.json_file.empty()) {
    FILE* out = std::fopen(cfg.json_file.c_str(), "w");
    if (out == nullptr) die("cannot write " + cfg.json_file);
    print_report(cfg, all, out, true);
    std::fclose(out);
  }
  return ok ? 0 : 1;  // a failed workload fails the smoke test; missed targets do not
}
