// Fenced runs: once the journal refuses a run's commit with kOwnershipLost
// (another writer owns the run now), the run stops here at once: whoever
// waits for its result gets that code, no later step runs, and nothing of
// the refused batch is in the journal. Both journal backends.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "support/fencing_journal.h"
#include "support/test_actors.h"
#include "workflow_env_test.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::FencingJournal;

template <class Backend>
class FencingTest : public WorkflowEnvTest<Backend> {
 protected:
  void SetUp() override {
    // Waits for the signal "go", then runs step "after".
    std::atomic<int>* after = &after_runs_;
    ASSERT_TRUE((this->workflows_.template define<int, int>(
                     "gated",
                     [after](WorkflowContext& ctx, int) -> Task<Result<int>> {
                       KEEL_CO_ASSIGN_OR_RETURN(std::string go, ctx.template signal<std::string>("go"));
                       auto step = [after] { return after->fetch_add(1) + 1; };
                       KEEL_CO_ASSIGN_OR_RETURN(int n, ctx.step("after", step));
                       co_return n;
                     }))
                    .is_ok());
    // Sleeps an hour, then runs step "after".
    ASSERT_TRUE((this->workflows_.template define<int, int>(
                     "sleeper",
                     [after](WorkflowContext& ctx, int) -> Task<Result<int>> {
                       KEEL_CO_RETURN_IF_ERROR(ctx.sleep(1h));  // keel-allow-sleep: durable timer
                       auto step = [after] { return after->fetch_add(1) + 1; };
                       KEEL_CO_ASSIGN_OR_RETURN(int n, ctx.step("after", step));
                       co_return n;
                     }))
                    .is_ok());
    WorkflowTestOptions o;
    FencingJournal** slot = &fencing_;
    o.open_journal = [slot](const std::string& path, const JournalOptions& jo) -> Result<std::unique_ptr<Journal>> {
      KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Journal> inner, Backend::open(path, jo));
      auto fencing = std::make_unique<FencingJournal>(std::move(inner));
      *slot = fencing.get();
      return std::unique_ptr<Journal>(std::move(fencing));
    };
    this->open_env("fencing", o);
  }
  std::size_t step_records(const std::string& run_id) {
    std::size_t n = 0;
    EXPECT_TRUE(fencing_->inner().scan_owner("workflow/" + run_id, 1, [&](const Record& r) {
      n += r.kind == RecordKind::kStep;
      return true;
    }).is_ok());
    return n;
  }

  FencingJournal* fencing_ = nullptr;
  std::atomic<int> after_runs_{0};
};

TYPED_TEST_SUITE(FencingTest, testing::Backends, testing::BackendNames);

TYPED_TEST(FencingTest, ARefusedSignalStopsTheRunWithOwnershipLost) {
  WorkflowEngine& engine = this->env_->engine();
  auto run = engine.template start<int>("gated", "g1", 0);
  ASSERT_TRUE(run.is_ok()) << run.status();
  ASSERT_TRUE(engine.wait_idle(keel::testing::kWait));  // waiting for "go"
  this->fencing_->fence("workflow/g1");

  Status signalled = keel::testing::await(engine.signal("g1", "go", std::string("now")));
  EXPECT_EQ(signalled.code(), StatusCode::kOwnershipLost) << signalled;
  Result<int> out = keel::testing::await(run->result());
  EXPECT_EQ(out.status().code(), StatusCode::kOwnershipLost) << out.status();
  EXPECT_EQ(this->after_runs_.load(), 0);
  Result<RunInfo> info = engine.describe("g1");
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->error.code(), StatusCode::kOwnershipLost);
}

TYPED_TEST(FencingTest, ARefusedStepCommitStopsTheRunAndLeavesNoStepRecord) {
  WorkflowEngine& engine = this->env_->engine();
  auto run = engine.template start<int>("sleeper", "s1", 0);
  ASSERT_TRUE(run.is_ok()) << run.status();
  ASSERT_TRUE(engine.wait_idle(keel::testing::kWait));  // asleep
  this->fencing_->fence("workflow/s1");

  Result<int> out = this->env_->run_to_completion(*run);  // the timer fires; the step's commit is refused
  EXPECT_EQ(out.status().code(), StatusCode::kOwnershipLost) << out.status();
  EXPECT_EQ(this->step_records("s1"), 0u);
  EXPECT_GE(this->fencing_->refused(), 1);
}

TYPED_TEST(FencingTest, OtherRunsGoOnWhenOneIsFenced) {
  WorkflowEngine& engine = this->env_->engine();
  auto fenced = engine.template start<int>("gated", "f1", 0);
  auto free = engine.template start<int>("gated", "f2", 0);
  ASSERT_TRUE(fenced.is_ok() && free.is_ok());
  ASSERT_TRUE(engine.wait_idle(keel::testing::kWait));
  this->fencing_->fence("workflow/f1");

  EXPECT_EQ(keel::testing::await(engine.signal("f1", "go", std::string("x"))).code(), StatusCode::kOwnershipLost);
  ASSERT_TRUE(keel::testing::await(engine.signal("f2", "go", std::string("x"))).is_ok());
  Result<int> out = this->env_->run_to_completion(*free);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 1);
  EXPECT_EQ(this->step_records("f2"), 2u);  // the signal taken, then "after"
  EXPECT_EQ(this->step_records("f1"), 0u);
}

}  // namespace
}  // namespace keel
