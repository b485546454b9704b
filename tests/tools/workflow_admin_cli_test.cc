// `keel workflow signal | cancel | retry | fork` run as a subprocess, on
// journals written by the real workflow engine, on both embedded backends
// or on PostgreSQL (built with KEEL_JOURNAL_TEST_POSTGRES): against
// a live engine in this process (its admin endpoint) and against a closed
// journal; and their errors, which write nothing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "journal/backends.h"
#include "tools/cli_process.h"
#include "tools/workflow_runs.h"

namespace keel::testing {
namespace {

template <class B>
class WorkflowAdminCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-wadmin-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = B::journal_path(dir_);
    write_example_runs<B>(path_);
    define_example_workflows(workflows_);
  }
  void TearDown() override {
    env_.reset();
    std::filesystem::remove_all(dir_);
  }
  // `keel workflow <verb> --journal <path> args...`
  CliRun keel(const std::string& verb, std::vector<std::string> args = {}) {
    std::vector<std::string> all = {"workflow", verb, "--journal", path_};
    all.insert(all.end(), args.begin(), args.end());
    return run_keel(all);
  }
  // A live engine on the journal (its admin endpoint open).
  WorkflowEngine& open() {
    auto env = WorkflowTestEnv::open(workflows_, path_, backend_options<B>());
    EXPECT_TRUE(env.is_ok()) << env.status();
    env_ = std::move(*env);
    return env_->engine();
  }
  std::uint64_t records() {
    JournalOptions o;
    o.read_only = true;
    auto j = B::open(path_, o);
    EXPECT_TRUE(j.is_ok()) << j.status();
    auto stats = (*j)->stats();
    EXPECT_TRUE(stats.is_ok());
    return stats->last_lsn;
  }

  std::string dir_;
  std::string path_;
  Workflows workflows_;
  std::unique_ptr<WorkflowTestEnv> env_;
};
TYPED_TEST_SUITE(WorkflowAdminCliTest, Backends, BackendNames);

TYPED_TEST(WorkflowAdminCliTest, SignalAWaitingRunOfTheLiveProcess) {
  WorkflowEngine& engine = this->open();
  CliRun r = this->keel("signal", {"e-1", "pay", "\"carol\""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "signal 'pay' delivered to run 'e-1' by the live process")) << r.out;
  Result<std::string> out = await(engine.handle<std::string>("e-1").result());
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, "ticket for bob approved by ann, paid by carol");
}

TYPED_TEST(WorkflowAdminCliTest, SignalWithoutALiveProcessWaitsInTheJournal) {
  CliRun r = this->keel("signal", {"e-1", "pay", "\"dave\"", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"command\":\"signal\",\"run\":\"e-1\",\"via\":\"journal\"}\n");
  WorkflowEngine& engine = this->open();
  Result<std::string> out = await(engine.handle<std::string>("e-1").result());
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, "ticket for bob approved by ann, paid by dave");
}

TYPED_TEST(WorkflowAdminCliTest, CancelRetryAndForkLiveAndOffline) {
  CliRun r = this->keel("cancel", {"s-1"});  // asleep: offline
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "in the journal")) << r.out;
  WorkflowEngine& engine = this->open();
  EXPECT_EQ(await(engine.handle<std::int64_t>("s-1").result()).status().code(), StatusCode::kCancelled);
  r = this->keel("retry", {"s-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "run 's-1' retried from its failed steps by the live process")) << r.out;
  r = this->keel("fork", {"o-1", "--from-step", "2", "--as", "o-2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "run 'o-2' forked from 'o-1' reusing 2 step results")) << r.out;
  Result<std::string> forked = await(engine.handle<std::string>("o-2").result());
  ASSERT_TRUE(forked.is_ok()) << forked.status();
  EXPECT_EQ(*forked, "reserved o-1, 120, shipped o-1");  // the same input as its source
  this->env_.reset();
  r = this->keel("fork", {"o-1", "--from-step", "3", "--as", "o-3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"command\":\"fork\",\"run\":\"o-3\",\"via\":\"journal\"}\n");
  r = this->keel("ls");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "o-3 ")) << r.out;
}

TYPED_TEST(WorkflowAdminCliTest, BadCommandsNameTheProblemAndWriteNothing) {
  const std::uint64_t before = this->records();
  struct Case {
    std::string verb;
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"signal", {"nope", "pay", "1"}, 7, "no run 'nope'"},
      {"signal", {"e-1", "pay", "{\"a\":"}, 2, "the signal's value: JSON at byte 5"},
      {"signal", {"o-1", "pay", "1"}, 11, "run 'o-1' has finished"},
      {"cancel", {"p-1"}, 11, "run 'p-1' has finished"},
      {"retry", {"o-1"}, 11, "is completed, not failed or cancelled"},
      {"fork", {"o-1"}, 2, "fork needs --from-step N"},
      {"fork", {"o-1", "--from-step", "9", "--as", "x"}, 2, "3 journaled step results, fewer than 9"},
      {"fork", {"o-1", "--from-step", "1", "--as", "p-1"}, 11, "run 'p-1' exists"},
      {"fork", {"o-1", "--from-step", "x"}, 2, "--from-step must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    CliRun r = this->keel(c.verb, c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.verb << " " << r.err;
    EXPECT_TRUE(has(r.err, c.says)) << c.verb << ": " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  EXPECT_EQ(this->records(), before);
  CliRun r = run_keel({"workflow", "cancel", "--journal", this->dir_ + "/missing.db", "e-1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TYPED_TEST(WorkflowAdminCliTest, ALiveProcessWithoutAnEndpointIsNamed) {
  auto options = backend_options<TypeParam>();
  options.admin_endpoint = false;
  auto env = WorkflowTestEnv::open(this->workflows_, this->path_, options);
  ASSERT_TRUE(env.is_ok()) << env.status();
  CliRun r = this->keel("signal", {"e-1", "pay", "\"x\""});
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_TRUE(has(r.err, "announces no admin endpoint")) << r.err;
}

#ifdef KEEL_JOURNAL_TEST_POSTGRES
using PgWorkflowAdminCliTest = WorkflowAdminCliTest<PgBackend>;

// The endpoint's socket is reachable on its own host only: an engine
// announced on another one is named, and keeps the journal.
TEST_F(PgWorkflowAdminCliTest, AnEngineOnAnotherHostIsNamedAndKeepsTheJournal) {
  WorkflowEngine& engine = open();
  ASSERT_TRUE(PgRaw(path_).exec("UPDATE S.admin SET host = 'elsewhere.example'"));
  CliRun r = keel("signal", {"e-1", "pay", "\"x\""});
  EXPECT_EQ(r.exit_code, 8) << r.err;
  EXPECT_TRUE(has(r.err, "runs on host elsewhere.example")) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  ASSERT_TRUE(await(engine.signal("e-1", "pay", std::string("carol"))).is_ok());
  Result<std::string> out = await(engine.handle<std::string>("e-1").result());
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, "ticket for bob approved by ann, paid by carol");
}
#endif

}  // namespace
}  // namespace keel::testing
