// Crash safety: a writer process is SIGKILLed at a random point while
// appending; the reopened journal must hold every acknowledged record, have
// no LSN or sequence gaps, and accept appends again. The seed is printed so
// a failure can be replayed (KEEL_CRASH_SEED=<seed>). Built with
// KEEL_JOURNAL_TEST_POSTGRES (journal_pg_crash_test), over the PostgreSQL
// journal in a schema of its own on the test server.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "backends.h"
#include "journal_test_util.h"

extern char** environ;

namespace keel::testing {
namespace {

// The child: appends random batches forever, reporting each acknowledged
// batch's last LSN on a pipe, until it is killed.
int run_crash_child_if_asked() {
  const char* spec = std::getenv("KEEL_JOURNAL_CRASH_CHILD");
  if (spec == nullptr) return 0;
  char backend[32] = {};
  char path[4096] = {};
  int to_parent = -1;
  unsigned seed = 0;
  if (std::sscanf(spec, "%31s %4095s %d %u", backend, path, &to_parent, &seed) != 4) _exit(10);
  auto j = open_backend_named(backend, path, JournalOptions{});
  if (!j.has_value()) {
    std::fprintf(stderr, "crash child: %s\n", j.status().to_string().c_str());
    _exit(11);
  }
  std::mt19937 rng(seed);
  for (;;) {
    std::vector<NewRecord> batch;
    int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      batch.push_back(rec("owner/" + std::to_string(rng() % 5), RecordKind::kEvent,
                          std::string(rng() % 300, 'p')));
    }
    auto r = (*j)->append(std::move(batch));
    if (!r.has_value()) {
      std::fprintf(stderr, "crash child: %s\n", r.status().to_string().c_str());
      _exit(12);
    }
    Lsn lsn = r->last;
    if (write(to_parent, &lsn, sizeof lsn) != sizeof lsn) _exit(13);
  }
}
[[maybe_unused]] const int kCrashChildRan = run_crash_child_if_asked();

template <class Backend>
class JournalCrashTest : public ::testing::Test {};

TYPED_TEST_SUITE(JournalCrashTest, Backends, BackendNames);

TYPED_TEST(JournalCrashTest, KilledWriterLosesNoAcknowledgedRecord) {
  const char* fixed = std::getenv("KEEL_CRASH_SEED");
  unsigned seed = fixed != nullptr ? static_cast<unsigned>(std::strtoul(fixed, nullptr, 10))
                                   : std::random_device{}();
  std::printf("KEEL_CRASH_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  TempDir dir;
  const std::string path = TypeParam::journal_path(dir.path());
  Lsn acked_before = kNoLsn;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " + std::to_string(seed));
    int up[2];
    ASSERT_EQ(pipe(up), 0);
    std::string env_entry = "KEEL_JOURNAL_CRASH_CHILD=" + std::string(TypeParam::kName) + " " +
                            path + " " + std::to_string(up[1]) + " " + std::to_string(rng());
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
    env.push_back(env_entry.data());
    env.push_back(nullptr);
    std::string exe = "/proc/self/exe";
    char* argv[] = {exe.data(), nullptr};
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, env.data()), 0);
    close(up[1]);

    // Let it acknowledge a random number of batches, then kill it mid-stride.
    const int kill_after = 5 + static_cast<int>(rng() % 60);
    Lsn acked = acked_before;
    for (int i = 0; i < kill_after; ++i) {
      ASSERT_EQ(read(up[0], &acked, sizeof acked), static_cast<ssize_t>(sizeof acked)) << "child died";
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exit code " << WEXITSTATUS(status);
    // Acknowledgements already in the pipe were given before the kill.
    Lsn more;
    while (read(up[0], &more, sizeof more) == static_cast<ssize_t>(sizeof more)) acked = more;
    close(up[0]);

    // The counters' checkpoint was committed with records, and readers
    // count the records after it: exact before any writer's open.
    const Lsn counted = TypeParam::counters_as_of(path);
    {
      JournalOptions read_only;
      read_only.read_only = true;
      auto reader = TypeParam::open(path, read_only);
      ASSERT_OK(reader);
      expect_summaries_match_a_scan(**reader);
    }
    auto j = TypeParam::open(path, JournalOptions{});
    ASSERT_OK(j);
    auto last = (*j)->last_lsn();
    ASSERT_OK(last);
    EXPECT_GE(*last, acked);
    EXPECT_EQ(all_records(**j).size(), *last);  // LSNs 1..last, each once
    for (const JournalProblem& p : problems(**j)) ADD_FAILURE() << p.status;
    EXPECT_LE(counted, *last);
    expect_summaries_match_a_scan(**j);
    auto r = (*j)->append(one("owner/0", "after the crash"));
    ASSERT_OK(r);
    EXPECT_EQ(r->first, *last + 1);
    acked_before = r->last;
  }
}

}  // namespace
}  // namespace keel::testing
