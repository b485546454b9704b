// Crash safety of workflow runs: a child process runs chains of journaled
// steps while the parent SIGKILLs it at a random point (after a random
// number of finished steps, read from a pipe: no sleeps), and starts it
// again on the same journal, which resumes the runs. Every step function
// appends "E <run> <step>" to a side-channel file when it executes. A step
// runs only once the step before it is durable, so the parent checks that
//   - no step executes again once the next one started (no E of step k
//     after an E of step k + 1): only the step in flight at a kill re-runs;
//   - every step of every run executed, at most once more than the kills
//     (a run whose start was not durable at the kill never existed);
//   - a last, unkilled child finds every run completed with the right sum
//     ("R <run>" lines), and a run that is not in the journal (killed before
//     its start committed) never finished a step;
//   - Journal::verify() then reports no problem.
// Both embedded journal backends; built with KEEL_JOURNAL_TEST_POSTGRES
// (workflow_pg_crash_test), the PostgreSQL journal in a schema of its own on
// the test server. The seed is printed (KEEL_CRASH_SEED=<seed>
// replays a run). The child is this binary re-executed through
// /proc/self/exe, selected by the KEEL_WORKFLOW_CRASH_CHILD variable.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backends.h"
#include "keel/workflow/workflow.h"
#include "support/child_process.h"


namespace keel {
namespace {

using testing::Child;
using testing::spawn_self;

constexpr int kSteps = 12;
constexpr int kCycles = 12;
constexpr int kNewRunsPerCycle = 3;

// ---- The child ----------------------------------------------------------------

struct ChildIo {
  int side = -1;  // the side-channel file, O_APPEND: each line one write
  int pipe = -1;  // one byte per finished step, for the parent's kill point
};
ChildIo g_io;

void side_line(char kind, const std::string& run, int step) {
  std::string line = std::string(1, kind) + " " + run + " " + std::to_string(step) + "\n";
  if (write(g_io.side, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(21);
}

std::int64_t expected_sum(int input) {
  std::int64_t sum = 0;
  for (int k = 0; k < kSteps; ++k) sum += k * k + input;
  return sum;
}

Task<Result<std::int64_t>> chain(WorkflowContext& ctx, int input) {
  std::int64_t sum = 0;
  for (int k = 0; k < kSteps; ++k) {
    const std::string run = ctx.run_id();
    KEEL_CO_ASSIGN_OR_RETURN(std::int64_t v, ctx.step("s" + std::to_string(k), [&run, k, input] {
      side_line('E', run, k);
      return static_cast<std::int64_t>(k * k + input);
    }));
    sum += v;
    (void)!write(g_io.pipe, "x", 1);
    if (k % 5 == 4) KEEL_CO_RETURN_IF_ERROR(ctx.sleep(std::chrono::milliseconds(1)));  // keel-allow-sleep: a durable timer the kills must cross
  }
  co_return sum;
}

[[noreturn]] void run_child(const char* spec) {
  char backend[16] = {};
  char path[2048] = {};
  char side[2048] = {};
  int fd = -1, cycle = 0, new_runs = 0;
  if (std::sscanf(spec, "%15s %2047s %2047s %d %d %d", backend, path, side, &cycle, &new_runs, &fd) != 6) _exit(10);
  g_io.pipe = fd;
  g_io.side = open(side, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (g_io.side < 0) _exit(11);
  auto journal = testing::open_backend_named(backend, path, JournalOptions{});
  if (!journal) {
    std::fprintf(stderr, "child: %s\n", journal.status().to_string().c_str());
    _exit(12);
  }
  Workflows workflows;
  if (!workflows.define<int, std::int64_t>("chain", chain).is_ok()) _exit(13);
  SystemConfig config;
  config.threads = 2;
  System system(config);
  WorkflowEngineOptions options;
  options.system = &system;
  options.journal = journal->get();
  auto engine = WorkflowEngine::open(workflows, options);
  if (!engine) {
    std::fprintf(stderr, "child: %s\n", engine.status().to_string().c_str());
    _exit(14);
  }
  for (int i = 0; i < new_runs; ++i) {
    const int input = cycle * 10 + i;
    if (!(*engine)->start<std::int64_t>("chain", "run-" + std::to_string(input), input).is_ok()) _exit(15);
  }
  for (const RunInfo& info : (*engine)->list()) {
    Future<std::int64_t> f = (*engine)->handle<std::int64_t>(info.id).result();
    if (!f.wait_for(std::chrono::seconds(60))) _exit(16);
    Result<std::int64_t> r = f.get();
    const int input = std::atoi(info.id.substr(4).c_str());
    if (!r || *r != expected_sum(input)) {
      std::fprintf(stderr, "child: run %s: %s\n", info.id.c_str(), r ? std::to_string(*r).c_str()
                                                                      : r.status().to_string().c_str());
      _exit(17);
    }
    side_line('R', info.id, 0);  // completed, as the parent expects
  }
  engine->reset();
  _exit(system.shutdown(ShutdownMode::kStop).is_ok() ? 0 : 18);
}

class ChildEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* spec = std::getenv("KEEL_WORKFLOW_CRASH_CHILD");
    if (spec != nullptr) run_child(spec);
  }
};
[[maybe_unused]] ::testing::Environment* const kChildEnv =
    ::testing::AddGlobalTestEnvironment(new ChildEnvironment);

// ---- The parent ---------------------------------------------------------------

Child spawn_child(const std::string& spec) { return spawn_self("KEEL_WORKFLOW_CRASH_CHILD", spec); }

// Reads up to `n` progress bytes (60 s deadline each); returns how many
// came before the end of the pipe.
int read_progress(int fd, int n) {
  int got = 0;
  while (got < n) {
    pollfd pfd{fd, POLLIN, 0};
    const int k = poll(&pfd, 1, 60000);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return got;
    char buf[64];
    const ssize_t r = read(fd, buf, std::min<std::size_t>(sizeof buf, static_cast<std::size_t>(n - got)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got;
    got += static_cast<int>(r);
  }
  return got;
}

template <class Backend>
class WorkflowCrashTest : public ::testing::Test {};
TYPED_TEST_SUITE(WorkflowCrashTest, testing::Backends, testing::BackendNames);

TYPED_TEST(WorkflowCrashTest, KilledRunsResumeAndNeverRunAFinishedStepAgain) {
  const char* fixed = std::getenv("KEEL_CRASH_SEED");
  const unsigned seed = fixed != nullptr ? static_cast<unsigned>(std::strtoul(fixed, nullptr, 10))
                                         : std::random_device{}();
  std::printf("KEEL_CRASH_SEED=%u (%s)\n", seed, TypeParam::kName);
  std::mt19937 rng(seed);
  SCOPED_TRACE("KEEL_CRASH_SEED=" + std::to_string(seed));
  char tmpl[] = "/tmp/keel-workflow-crash-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = TypeParam::journal_path(dir);
  const std::string side = dir + "/side.txt";
  const std::string base = std::string(TypeParam::kName) + " " + path + " " + side + " ";

  int kills = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    Child c = spawn_child(base + std::to_string(cycle) + " " + std::to_string(kNewRunsPerCycle));
    ASSERT_GE(c.pid, 0);
    read_progress(c.fd, 1 + static_cast<int>(rng() % 40));
    kill(c.pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
    close(c.fd);
    if (WIFSIGNALED(status)) {
      ++kills;
    } else {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "cycle " << cycle << ": exit " << status;
    }
  }
  Child last = spawn_child(base + std::to_string(kCycles) + " 0");
  ASSERT_GE(last.pid, 0);
  read_progress(last.fd, 1 << 30);
  int status = 0;
  ASSERT_EQ(waitpid(last.pid, &status, 0), last.pid);
  close(last.fd);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the last child: status " << status;

  std::ifstream in(side);
  std::map<std::pair<std::string, int>, int> executed;
  std::set<std::pair<std::string, int>> done;
  std::set<std::string> completed;  // reported by the last child
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    char kind = 0;
    std::string run;
    int step = -1;
    ls >> kind >> run >> step;
    auto key = std::make_pair(run, step);
    if (kind == 'E') {
      EXPECT_EQ(done.count(key), 0u) << run << " step " << step << " ran again after it finished";
      ++executed[key];
      // A step runs only once the one before it is durable: from here on
      // that one must never run again.
      if (step > 0) done.insert({run, step - 1});
    } else {
      completed.insert(run);
    }
  }
  // A run killed before its start was durable never existed (its first
  // step may have run, but never finished); every other one completed and
  // executed each of its steps.
  std::map<std::string, int> steps_of;
  for (const auto& [key, n] : executed) {
    EXPECT_LE(n, 1 + kills) << key.first << " step " << key.second;
    ++steps_of[key.first];
  }
  for (const auto& [run, n] : steps_of) {
    if (completed.count(run)) {
      EXPECT_EQ(n, kSteps) << run;
    } else {
      EXPECT_EQ(done.count({run, 0}), 0u) << run << " finished a step but is not in the journal";
    }
  }
  for (const std::string& run : completed) EXPECT_EQ(steps_of.count(run), 1u) << run;
  EXPECT_GT(completed.size(), 0u);
  JournalOptions read_only;
  read_only.read_only = true;
  auto journal = TypeParam::open(path, read_only);
  ASSERT_TRUE(journal.is_ok()) << journal.status();
  Status verified = (*journal)->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(verified.is_ok()) << verified;
  journal->reset();
  std::printf("%s: %d kills, %zu runs completed, %zu steps executed\n", TypeParam::kName, kills,
              completed.size(), executed.size());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel
