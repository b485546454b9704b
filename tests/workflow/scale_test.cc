// 10,000 runs asleep in one process: they cost memory, not threads. The
// test prints the heap bytes per sleeping run (measured, never asserted),
// checks that the thread count did not grow, then wakes them all.
#include <malloc.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "backends.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"
#include "support/test_actors.h"

namespace keel {
namespace {

constexpr int kRuns = 10000;

std::size_t heap_in_use() { return mallinfo2().uordblks; }

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

Task<Result<int>> nap(WorkflowContext& ctx, int i) {
  KEEL_CO_RETURN_IF_ERROR(ctx.sleep(std::chrono::hours(1)));  // keel-allow-sleep: durable, the runs under test
  co_return i;
}

template <class Backend>
class WorkflowScaleTest : public ::testing::Test {};
TYPED_TEST_SUITE(WorkflowScaleTest, testing::Backends, testing::BackendNames);

TYPED_TEST(WorkflowScaleTest, TenThousandSleepingRunsCostMemoryNotThreads) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              ("keel_wf_scale_" + std::string(TypeParam::kName));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Workflows workflows;
  ASSERT_TRUE((workflows.define<int, int>("nap", nap)).is_ok());
  WorkflowTestOptions options;
  options.open_journal = [](const std::string& p, const JournalOptions& o) { return TypeParam::open(p, o); };
  auto env = WorkflowTestEnv::open(workflows, TypeParam::journal_path(dir.string()), options);
  ASSERT_TRUE(env.is_ok()) << env.status();
  WorkflowEngine& engine = (*env)->engine();

  ASSERT_TRUE(engine.wait_idle(testing::kWait));
  const std::size_t threads_before = thread_count();
  const std::size_t heap_before = heap_in_use();
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(engine.start<int>("nap", "nap-" + std::to_string(i), i).is_ok());
  }
  ASSERT_TRUE(engine.wait_idle(std::chrono::seconds(120)));
  const std::size_t heap_after = heap_in_use();
  const double per_run = (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / kRuns;
  std::printf("[ MEMORY   ] %s: %d sleeping runs, heap +%zu bytes, %.0f bytes per run, threads %zu -> %zu\n",
              TypeParam::kName, kRuns, heap_after - heap_before, per_run, threads_before, thread_count());
  EXPECT_EQ(thread_count(), threads_before);
  std::size_t sleeping = 0;
  for (const RunInfo& info : engine.list()) sleeping += info.current_step == "sleep";
  EXPECT_EQ(sleeping, static_cast<std::size_t>(kRuns));

  ASSERT_TRUE((*env)->run_until_blocked().is_ok());  // an hour passes at once
  std::size_t completed = 0;
  for (const RunInfo& info : engine.list()) completed += info.status == RunStatus::kCompleted;
  EXPECT_EQ(completed, static_cast<std::size_t>(kRuns));
  env->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel
