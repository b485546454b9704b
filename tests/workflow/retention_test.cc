// Retention of finished runs (WorkflowEngineOptions::finished_run_retention)
// on both journal backends: the engine's sweep removes a finished run's
// records once its final status is older than the retention, never a
// running run's, and the id can then start a new run. Time moves only by
// the env's ManualClock.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "workflow_env_test.h"
#include "keel/journal/format.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

Task<Result<int>> doubled(WorkflowContext& ctx, int x) {
  KEEL_CO_ASSIGN_OR_RETURN(int y, ctx.step("double", [x] { return 2 * x; }));
  co_return y;
}

Task<Result<int>> failing(WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(int y, ctx.step("fail", []() -> Result<int> { return Status::invalid_argument("no"); }));
  co_return y;
}

Task<Result<std::string>> waiting(WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string go, ctx.template signal<std::string>("go"));
  co_return go;
}

template <class Backend>
class RetentionTest : public WorkflowEnvTest<Backend> {
 protected:
  using WorkflowEnvTest<Backend>::dir_;
  using WorkflowEnvTest<Backend>::workflows_;
  using WorkflowEnvTest<Backend>::env_;

  void SetUp() override {
    ASSERT_TRUE((workflows_.template define<int, int>("double", doubled)).is_ok());
    ASSERT_TRUE((workflows_.template define<int, int>("fail", failing)).is_ok());
    ASSERT_TRUE((workflows_.template define<int, std::string>("wait", waiting)).is_ok());
    WorkflowTestOptions o;
    o.finished_run_retention = 1h;
    o.retention_sweep_every = 10min;
    this->open_env("retention", o);
  }
  // Moves the clock (sweeps due by then are posted) and waits until the
  // engine has done what they started.
  void advance(Duration d) {
    env_->clock().advance(d);
    ASSERT_TRUE(env_->engine().wait_idle(30s));
  }
  bool in_journal(const std::string& run_id) {
    auto owners = env_->journal().owners();
    EXPECT_TRUE(owners.is_ok()) << owners.status();
    for (const OwnerInfo& o : *owners) {
      if (o.owner == workflow_owner(run_id)) return true;
    }
    return false;
  }
};

TYPED_TEST_SUITE(RetentionTest, testing::Backends, testing::BackendNames);

TYPED_TEST(RetentionTest, FinishedRunsPastRetentionAreRemovedAndRunningOnesStay) {
  WorkflowEngine& engine = this->env_->engine();
  auto done = engine.template start<int>("double", "done-1", 4);
  ASSERT_TRUE(done.is_ok()) << done.status();
  ASSERT_EQ(this->env_->run_to_completion(*done).value(), 8);
  auto failed = engine.template start<int>("fail", "failed-1", 0);
  ASSERT_TRUE(failed.is_ok()) << failed.status();
  EXPECT_EQ(this->env_->run_to_completion(*failed).status().code(), StatusCode::kInvalidArgument);
  auto open = engine.template start<std::string>("wait", "open-1", 0);
  ASSERT_TRUE(open.is_ok()) << open.status();
  ASSERT_TRUE(this->env_->run_until_blocked().is_ok());

  this->advance(50min);  // five sweeps, none past retention yet
  EXPECT_TRUE(engine.describe("done-1").is_ok());
  EXPECT_TRUE(this->in_journal("done-1"));

  this->advance(1h);
  EXPECT_EQ(engine.describe("done-1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine.describe("failed-1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(this->in_journal("done-1"));
  EXPECT_FALSE(this->in_journal("failed-1"));
  EXPECT_EQ(engine.retry("failed-1").get().code(), StatusCode::kNotFound);
  // The waiting run is untouched, and goes on.
  Result<RunInfo> info = engine.describe("open-1");
  ASSERT_TRUE(info.is_ok()) << info.status();
  EXPECT_EQ(info->status, RunStatus::kRunning);
  EXPECT_TRUE(this->in_journal("open-1"));
  ASSERT_TRUE(engine.signal("open-1", "go", std::string("now")).get().is_ok());
  EXPECT_EQ(this->env_->run_to_completion(*open).value(), "now");

  std::vector<JournalProblem> problems;
  ASSERT_TRUE(this->env_->journal().verify([&](const JournalProblem& p) { problems.push_back(p); }).is_ok());
  EXPECT_TRUE(problems.empty()) << problems.front().status;
  auto stats = this->env_->journal().stats();
  ASSERT_TRUE(stats.is_ok()) << stats.status();
  EXPECT_EQ(stats->owners, 1u);
}

TYPED_TEST(RetentionTest, StartOfARemovedRunIdStartsANewRun) {
  WorkflowEngine& engine = this->env_->engine();
  auto first = engine.template start<int>("double", "r", 4);
  ASSERT_TRUE(first.is_ok()) << first.status();
  ASSERT_EQ(this->env_->run_to_completion(*first).value(), 8);
  // A later record, so that the run's final status is not the journal's
  // newest (which stays until something follows it).
  auto other = engine.template start<std::string>("wait", "other", 0);
  ASSERT_TRUE(other.is_ok()) << other.status();
  ASSERT_TRUE(this->env_->run_until_blocked().is_ok());
  this->advance(2h);
  ASSERT_EQ(engine.describe("r").status().code(), StatusCode::kNotFound);
  auto again = engine.template start<int>("double", "r", 21);
  ASSERT_TRUE(again.is_ok()) << again.status();
  EXPECT_EQ(this->env_->run_to_completion(*again).value(), 42);
  // Its records start over.
  std::uint64_t first_seq = 0;
  ASSERT_TRUE(this->env_->journal()
                  .scan_owner(workflow_owner("r"), 1,
                              [&](const Record& r) {
                                first_seq = r.seq;
                                return false;
                              })
                  .is_ok());
  EXPECT_EQ(first_seq, 1u);
}

TYPED_TEST(RetentionTest, ARunWhoseFinalStatusIsTheNewestRecordIsRemovedOnceSomethingFollows) {
  WorkflowEngine& engine = this->env_->engine();
  auto done = engine.template start<int>("double", "last", 1);
  ASSERT_TRUE(done.is_ok()) << done.status();
  ASSERT_EQ(this->env_->run_to_completion(*done).value(), 2);
  this->advance(2h);
  EXPECT_TRUE(engine.describe("last").is_ok());  // kept: no LSN is ever given twice
  auto next = engine.template start<std::string>("wait", "next", 0);
  ASSERT_TRUE(next.is_ok()) << next.status();
  ASSERT_TRUE(this->env_->run_until_blocked().is_ok());
  this->advance(10min);
  EXPECT_EQ(engine.describe("last").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(this->in_journal("last"));
}

}  // namespace
}  // namespace keel
