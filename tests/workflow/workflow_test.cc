// Durable functions on both journal backends: steps, replay, determinism,
// signals, sleeps, cancel, retries, sagas, versioning.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

// Counts how often each step function ran, across engine restarts.
class Effects {
 public:
  void hit(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    ++counts_[name];
    order_.push_back(name);
  }
  int count(const std::string& name) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = counts_.find(name);
    return it == counts_.end() ? 0 : it->second;
  }
  std::vector<std::string> order() const {
    std::lock_guard<std::mutex> l(mu_);
    return order_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
  std::vector<std::string> order_;
};

template <class Backend>
class WorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("keel_wf_" + std::string(Backend::kName) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    env_.reset();
    std::filesystem::remove_all(dir_);
  }
  WorkflowTestOptions options(std::string version = "1") {
    WorkflowTestOptions o;
    o.code_version = std::move(version);
    o.open_journal = [](const std::string& path, const JournalOptions& jo) { return Backend::open(path, jo); };
    return o;
  }
  WorkflowTestEnv& open(std::string version = "1") {
    env_.reset();
    auto env = WorkflowTestEnv::open(workflows_, Backend::journal_path(dir_.string()), options(version));
    EXPECT_TRUE(env.is_ok()) << env.status();
    env_ = std::move(*env);
    return *env_;
  }

  std::filesystem::path dir_;
  Workflows workflows_;
  Effects effects_;
  std::unique_ptr<WorkflowTestEnv> env_;
};
TYPED_TEST_SUITE(WorkflowTest, testing::Backends, testing::BackendNames);

// A body of three steps whose functions count their runs.
Task<Result<int>> three_steps(Effects& fx, WorkflowContext& ctx, int x) {
  KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.step("a", [&] { fx.hit("a"); return x + 1; }));
  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [&] { fx.hit("b"); return a * 10; }));
  KEEL_CO_ASSIGN_OR_RETURN(int c, ctx.step("c", [&] { fx.hit("c"); return b + 5; }));
  co_return c;
}

TYPED_TEST(WorkflowTest, RunsStepsAndReturnsTheResult) {
  Effects& fx = this->effects_;
  ASSERT_TRUE((this->workflows_.template define<int, int>(
                   "three", [&fx](WorkflowContext& ctx, int x) { return three_steps(fx, ctx, x); }))
                  .is_ok());
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("three", "r1", 4);
  ASSERT_TRUE(run.is_ok()) << run.status();
  Result<int> out = env.run_to_completion(*run);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 55);
  EXPECT_EQ(fx.count("a"), 1);
  Result<RunInfo> info = env.engine().describe("r1");
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->status, RunStatus::kCompleted);
  EXPECT_EQ(info->steps, 3u);
}

}  // namespace
}  // namespace keel
