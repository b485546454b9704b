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
#include "keel/journal/format.h"
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
  WorkflowTestEnv& open(std::string version = "1") { return open_with(workflows_, std::move(version)); }
  // An env whose engine runs `workflows` (which must outlive it).
  WorkflowTestEnv& open_with(const Workflows& workflows, std::string version = "1") {
    env_.reset();
    auto env = WorkflowTestEnv::open(workflows, Backend::journal_path(dir_.string()), options(version));
    EXPECT_TRUE(env.is_ok()) << env.status();
    env_ = std::move(*env);
    return *env_;
  }

  // Defines `name` as a body taking the fixture's effect counter.
  template <class In, class Out, class F>
  void define(const std::string& name, F body, Workflows* into = nullptr) {
    Effects* fx = &effects_;
    Status s = (into ? into : &workflows_)->template define<In, Out>(
        name, [fx, body](WorkflowContext& ctx, In in) { return body(*fx, ctx, std::move(in)); });
    ASSERT_TRUE(s.is_ok()) << s;
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


// A step that fails its first `fail_times` runs with kUnavailable.
Status flaky(Effects& fx, const std::string& name, int fail_times) {
  fx.hit(name);
  if (fx.count(name) <= fail_times) return Status::unavailable(name + " is down");
  return Status::ok();
}

TYPED_TEST(WorkflowTest, ACapturingLambdaCoroutineCanBeTheBody) {
  std::string greeting = "hello ";
  ASSERT_TRUE((this->workflows_.template define<std::string, std::string>(
                   "greet",
                   [greeting](WorkflowContext& ctx, std::string who) -> Task<Result<std::string>> {
                     KEEL_CO_RETURN_IF_ERROR(ctx.sleep(1min));  // keel-allow-sleep: durable; the lambda must outlive this wait
                     co_return greeting + who;
                   }))
                  .is_ok());
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<std::string>("greet", "r1", std::string("ann"));
  ASSERT_TRUE(run.is_ok());
  EXPECT_EQ(*env.run_to_completion(*run), "hello ann");
}

TYPED_TEST(WorkflowTest, FinishedStepsDoNotRunAgainAfterACrash) {
  this->template define<int, int>("three", three_steps);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.crash_after_steps(2).is_ok());
  auto run = env.engine().template start<int>("three", "r1", 4);
  ASSERT_TRUE(run.is_ok()) << run.status();
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->effects_.count("c"), 0);
  ASSERT_TRUE(env.restart().is_ok());
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 55);
  EXPECT_EQ(this->effects_.count("a"), 1);
  EXPECT_EQ(this->effects_.count("b"), 1);
  EXPECT_EQ(this->effects_.count("c"), 1);
}

// The first step's value differs on every execution; the result shows
// which one the run kept.
Task<Result<int>> draw_then_add(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(int drawn, ctx.step("draw", [&] {
    fx.hit("draw");
    return 100 * fx.count("draw");
  }));
  KEEL_CO_ASSIGN_OR_RETURN(int added, ctx.step("add", [&] { return drawn + 1; }));
  co_return added;
}

TYPED_TEST(WorkflowTest, ReplayReturnsTheJournaledResults) {
  this->template define<int, int>("draw", draw_then_add);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.crash_after_steps(1).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("draw", "r1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  ASSERT_TRUE(env.restart().is_ok());
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 101);  // the first draw, not a second one
  EXPECT_EQ(this->effects_.count("draw"), 1);
  // A finished run answers from its journaled result after a restart.
  ASSERT_TRUE(env.restart().is_ok());
  EXPECT_EQ(*env.engine().template handle<int>("r1").result().get(), 101);
}

Task<Result<int>> ab(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.step("a", [&] { fx.hit("a"); return 1; }));
  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [&] { fx.hit("b"); return 2; }));
  co_return a + b;
}
Task<Result<int>> xb(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(int x, ctx.step("x", [&] { fx.hit("x"); return 1; }));
  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [&] { fx.hit("b"); return 2; }));
  co_return x + b;
}

TYPED_TEST(WorkflowTest, ADifferentPathOnReplayIsANonDeterminismErrorNamingStepRunAndVersion) {
  this->template define<int, int>("flow", ab);
  Workflows changed;
  this->template define<int, int>("flow", xb, &changed);
  WorkflowTestEnv& env = this->open("v1");
  ASSERT_TRUE(env.crash_after_steps(1).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("flow", "r1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  WorkflowTestEnv& env2 = this->open_with(changed, "v2");
  Result<int> out = env2.run_to_completion(env2.engine().template handle<int>("r1"));
  ASSERT_EQ(out.status().code(), StatusCode::kNonDeterministic);
  EXPECT_EQ(out.status().message(),
            "run 'r1' (workflow 'flow', started on code version 'v1', running 'v2'): step 0 is 'x' "
            "(step) in the code but 'a' (step) in the journal");
  EXPECT_EQ(this->effects_.count("x"), 0);
  EXPECT_EQ(env2.engine().describe("r1")->status, RunStatus::kFailed);
}

TYPED_TEST(WorkflowTest, ResultThatNoLongerDecodesIsCorruptionNamingRunAndStep) {
  Workflows v1, v2;
  // Step "b" waits for "a" to commit, so the crash lands between them.
  ASSERT_TRUE((v1.define<int, int>("f", [](WorkflowContext& ctx, int) -> Task<Result<int>> {
                  KEEL_CO_ASSIGN_OR_RETURN(std::string s, ctx.step("a", [] { return std::string("x"); }));
                  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [] { return 1; }));
                  co_return static_cast<int>(s.size()) + b;
                })).is_ok());
  ASSERT_TRUE((v2.define<int, int>("f", [](WorkflowContext& ctx, int) -> Task<Result<int>> {
                  KEEL_CO_ASSIGN_OR_RETURN(int n, ctx.step("a", [] { return 7; }));
                  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [] { return 1; }));
                  co_return n + b;
                })).is_ok());
  WorkflowTestEnv& env = this->open_with(v1);
  ASSERT_TRUE(env.crash_after_steps(1).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("f", "r1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  WorkflowTestEnv& env2 = this->open_with(v2);
  Result<int> out = env2.run_to_completion(env2.engine().template handle<int>("r1"));
  ASSERT_EQ(out.status().code(), StatusCode::kCorruption);
  EXPECT_NE(out.status().message().find("run 'r1', step 0 ('a')"), std::string_view::npos) << out.status();
}

TYPED_TEST(WorkflowTest, StartingAnExistingIdReturnsTheExistingRun) {
  this->template define<int, int>("three", three_steps);
  this->template define<int, int>("other", ab);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.engine().template start<int>("three", "r1", 4).is_ok());
  auto again = env.engine().template start<int>("three", "r1", 99);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*env.run_to_completion(*again), 55);
  EXPECT_EQ(this->effects_.count("a"), 1);
  EXPECT_EQ(env.engine().template start<int>("other", "r1", 0).status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(env.restart().is_ok());
  ASSERT_TRUE(env.engine().template start<int>("three", "r1", 7).is_ok());
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<int>("r1")), 55);
  EXPECT_EQ(this->effects_.count("a"), 1);
  EXPECT_EQ(env.engine().template start<int>("nope", "r2", 0).status().code(), StatusCode::kNotFound);
}

Task<Result<std::string>> two_signals(Effects&, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.sleep(1h));  // keel-allow-sleep: the durable sleep under test (manual clock)
  KEEL_CO_ASSIGN_OR_RETURN(std::string a, ctx.template signal<std::string>("first"));
  KEEL_CO_ASSIGN_OR_RETURN(std::string b, ctx.template signal<std::string>("second"));
  co_return a + "+" + b;
}

TYPED_TEST(WorkflowTest, SignalsSentBeforeOrAfterTheWaitAreDelivered) {
  this->template define<int, std::string>("signals", two_signals);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<std::string>("signals", "r1", 0);
  ASSERT_TRUE(run.is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));  // asleep: the signal comes before the wait
  ASSERT_TRUE(testing::await(env.engine().signal("r1", "first", std::string("early"))).is_ok());
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(env.engine().describe("r1")->current_step, "second");
  ASSERT_TRUE(env.restart().is_ok());  // the waiting run and its inbox survive
  ASSERT_TRUE(testing::await(env.engine().signal("r1", "second", std::string("late"))).is_ok());
  Result<std::string> out = env.run_to_completion(env.engine().template handle<std::string>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, "early+late");
  EXPECT_EQ(testing::await(env.engine().signal("r1", "second", std::string("x"))).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(testing::await(env.engine().signal("nope", "second", std::string("x"))).code(),
            StatusCode::kNotFound);
}

Task<Result<std::string>> approval(Effects&, WorkflowContext& ctx, int) {
  Result<std::string> who = co_await ctx.template signal<std::string>("approve", 2h);
  if (!who && who.status().code() == StatusCode::kTimeout) co_return std::string("timed out");
  if (!who) co_return who.status();
  co_return "approved by " + *who;
}

TYPED_TEST(WorkflowTest, ASignalWaitWithADeadlineTimesOutDurably) {
  this->template define<int, std::string>("approval", approval);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.engine().template start<std::string>("approval", "late", 0).is_ok());
  ASSERT_TRUE(env.engine().template start<std::string>("approval", "on-time", 0).is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  ASSERT_TRUE(testing::await(env.engine().signal("on-time", "approve", std::string("ann"))).is_ok());
  ASSERT_TRUE(env.restart(1h).is_ok());  // the deadline keeps its journaled time
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  ASSERT_TRUE(env.engine().next_timer().has_value());
  EXPECT_EQ(*env.engine().next_timer() - env.clock().now(), Duration(1h));
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<std::string>("on-time")), "approved by ann");
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<std::string>("late")), "timed out");
  EXPECT_EQ(testing::await(env.engine().signal("late", "approve", std::string("bob"))).code(),
            StatusCode::kFailedPrecondition);
}

Task<Result<int>> sleep_then_step(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.sleep(1h));  // keel-allow-sleep: a durable sleep (manual clock)
  KEEL_CO_ASSIGN_OR_RETURN(int v, ctx.step("after", [&] { fx.hit("after"); return 7; }));
  co_return v;
}

TYPED_TEST(WorkflowTest, DurableSleepKeepsItsFireTimeAcrossRestarts) {
  this->template define<int, int>("sleeper", sleep_then_step);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.engine().template start<int>("sleeper", "r1", 0).is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  ASSERT_TRUE(env.engine().next_timer().has_value());
  EXPECT_EQ(*env.engine().next_timer() - env.clock().now(), Duration(1h));
  EXPECT_EQ(env.engine().describe("r1")->current_step, "sleep");
  ASSERT_TRUE(env.restart(20min).is_ok());  // down for 20 minutes
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  ASSERT_TRUE(env.engine().next_timer().has_value());
  EXPECT_EQ(*env.engine().next_timer() - env.clock().now(), Duration(40min));
  EXPECT_EQ(this->effects_.count("after"), 0);
  // Down past the fire time: the sleep ends at once on restart.
  ASSERT_TRUE(env.restart(2h).is_ok());
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 7);
  EXPECT_EQ(this->effects_.count("after"), 1);
}

TYPED_TEST(WorkflowTest, ADamagedRunIsFailedWithCorruptionAndTheOthersResume) {
  this->template define<int, int>("sleeper", sleep_then_step);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.engine().template start<int>("sleeper", "bad", 0).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("sleeper", "good", 0).is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  Lsn timer = kNoLsn;
  ASSERT_TRUE(env.journal()
                  .scan_owner(workflow_owner("bad"), 1,
                              [&](const Record& r) {
                                if (r.kind == RecordKind::kTimer) timer = r.lsn;
                                return true;
                              })
                  .is_ok());
  ASSERT_NE(timer, kNoLsn);
  this->env_.reset();
  const std::string path = TypeParam::journal_path(this->dir_.string());
  ASSERT_TRUE(TypeParam::corrupt_payload(path, timer));
  WorkflowTestEnv& env2 = this->open();
  Result<RunInfo> bad = env2.engine().describe("bad");
  ASSERT_TRUE(bad.is_ok());
  EXPECT_EQ(bad->status, RunStatus::kFailed);
  EXPECT_EQ(bad->error.code(), StatusCode::kCorruption);
  EXPECT_NE(bad->error.message().find("run 'bad'"), std::string_view::npos) << bad->error;
  EXPECT_NE(bad->error.message().find("lsn " + std::to_string(timer)), std::string_view::npos) << bad->error;
  Result<int> good = env2.run_to_completion(env2.engine().template handle<int>("good"));
  ASSERT_TRUE(good.is_ok()) << good.status();
  EXPECT_EQ(*good, 7);
}

TYPED_TEST(WorkflowTest, CancelReachesTheBodyAsAnErrorAtItsAwait) {
  this->template define<int, std::string>("signals", two_signals);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<std::string>("signals", "r1", 0);
  ASSERT_TRUE(run.is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  ASSERT_TRUE(testing::await(env.engine().cancel("r1")).is_ok());
  Result<std::string> out = env.run_to_completion(*run);
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(env.engine().describe("r1")->status, RunStatus::kCancelled);
  EXPECT_EQ(testing::await(env.engine().cancel("r1")).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(env.restart().is_ok());
  EXPECT_EQ(env.engine().describe("r1")->status, RunStatus::kCancelled);
}

Task<Result<int>> retried_step(Effects& fx, WorkflowContext& ctx, int fail_times) {
  StepOptions o;
  o.retry.max_attempts = 3;
  o.retry.initial_backoff = 1s;
  o.retry.retry_on = {StatusCode::kUnavailable};
  KEEL_CO_RETURN_IF_ERROR(ctx.step("flaky", [&] { return flaky(fx, "flaky", fail_times); }, o));
  co_return fx.count("flaky");
}

TYPED_TEST(WorkflowTest, RetryPolicyRunsAFailingStepAgainWithBackoff) {
  this->template define<int, int>("retry", retried_step);
  WorkflowTestEnv& env = this->open();
  auto ok = env.engine().template start<int>("retry", "twice", 2);
  ASSERT_TRUE(ok.is_ok());
  TimePoint t0 = env.clock().now();
  Result<int> out = env.run_to_completion(*ok);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 3);
  EXPECT_EQ(env.clock().now() - t0, Duration(3s));  // backoff 1s, then 2s
  auto failing = env.engine().template start<int>("retry", "always", 10);
  ASSERT_TRUE(failing.is_ok());
  EXPECT_EQ(env.run_to_completion(*failing).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->effects_.count("flaky"), 6);  // 3 + 3 attempts
}

TYPED_TEST(WorkflowTest, ARestartKeepsTheAttemptCountAndTheBackoffOfARetryingStep) {
  this->template define<int, int>("retry", retried_step);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("retry", "r1", 10);
  ASSERT_TRUE(run.is_ok());
  // The first attempt failed; the run waits out its 1 s backoff.
  ASSERT_TRUE(env.engine().wait_idle(30s));
  ASSERT_EQ(this->effects_.count("flaky"), 1);
  TimePoint t0 = env.clock().now();
  ASSERT_TRUE(env.restart().is_ok());
  auto again = env.engine().template handle<int>("r1");
  // Attempts 2 and 3 only (max_attempts 3), the first after the rest of
  // the journaled backoff, the second 2 s later.
  EXPECT_EQ(env.run_to_completion(again).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->effects_.count("flaky"), 3);
  EXPECT_EQ(env.clock().now() - t0, Duration(3s));
  // A retry of the failed run gives the step its whole budget again.
  ASSERT_TRUE(testing::await(env.engine().retry("r1")).is_ok());
  EXPECT_EQ(env.run_to_completion(again).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->effects_.count("flaky"), 6);
}

Task<Result<int>> retried_at_once(Effects& fx, WorkflowContext& ctx, int) {
  StepOptions o;
  o.retry.max_attempts = 2;
  o.retry.initial_backoff = Duration::zero();
  KEEL_CO_RETURN_IF_ERROR(ctx.step("flaky", [&] { return flaky(fx, "flaky", 1); }, o));
  co_return fx.count("flaky");
}

TYPED_TEST(WorkflowTest, RetryWithoutBackoffRunsAgainAtOnce) {
  this->template define<int, int>("retry", retried_at_once);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("retry", "r1", 0);
  ASSERT_TRUE(run.is_ok());
  EXPECT_EQ(*env.run_to_completion(*run), 2);
}

Task<Result<int>> trip(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.step("hotel", [&] { fx.hit("hotel"); }));
  ctx.compensate("cancel hotel", [&fx] { fx.hit("cancel hotel"); return Status::ok(); });
  KEEL_CO_RETURN_IF_ERROR(ctx.step("car", [&] { fx.hit("car"); }));
  ctx.compensate("cancel car", [&fx] { fx.hit("cancel car"); return Status::ok(); });
  KEEL_CO_RETURN_IF_ERROR(ctx.step("pay", [&] { fx.hit("pay"); return Status::failed_precondition("card declined"); }));
  co_return 0;
}

TYPED_TEST(WorkflowTest, SagaRunsCompensationsInReverseOrderWhenTheBodyFails) {
  this->template define<int, int>("trip", trip);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("trip", "r1", 0);
  ASSERT_TRUE(run.is_ok());
  Result<int> out = env.run_to_completion(*run);
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(out.status().message(), "card declined");
  EXPECT_EQ(this->effects_.order(),
            (std::vector<std::string>{"hotel", "car", "pay", "cancel car", "cancel hotel"}));
  EXPECT_EQ(env.engine().describe("r1")->status, RunStatus::kFailed);
}

Task<Result<int>> abc_v1(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.step("a", [&] { fx.hit("a"); }));
  KEEL_CO_RETURN_IF_ERROR(ctx.step("b", [&] { fx.hit("b"); }));
  KEEL_CO_RETURN_IF_ERROR(ctx.step("c", [&] { fx.hit("c"); }));
  co_return 1;
}
Task<Result<int>> abc_v2(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.step("a", [&] { fx.hit("a"); }));
  if (ctx.patched("new-b")) {
    KEEL_CO_RETURN_IF_ERROR(ctx.step("b2", [&] { fx.hit("b2"); }));
  } else {
    KEEL_CO_RETURN_IF_ERROR(ctx.step("b", [&] { fx.hit("b"); }));
  }
  KEEL_CO_RETURN_IF_ERROR(ctx.step("c", [&] { fx.hit("c"); }));
  co_return 2;
}

TYPED_TEST(WorkflowTest, PatchedLetsNewRunsTakeTheNewPathWhileOldRunsReplayTheOld) {
  Workflows v2;
  this->template define<int, int>("abc", abc_v1);
  this->template define<int, int>("abc", abc_v2, &v2);
  WorkflowTestEnv& env = this->open("v1");
  ASSERT_TRUE(env.crash_after_steps(2).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("abc", "old", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  WorkflowTestEnv& env2 = this->open_with(v2, "v2");
  Result<int> old_out = env2.run_to_completion(env2.engine().template handle<int>("old"));
  ASSERT_TRUE(old_out.is_ok()) << old_out.status();
  auto fresh = env2.engine().template start<int>("abc", "new", 0);
  ASSERT_TRUE(fresh.is_ok());
  ASSERT_TRUE(env2.run_to_completion(*fresh).is_ok());
  EXPECT_EQ(this->effects_.count("b"), 1);   // the old run's, never again
  EXPECT_EQ(this->effects_.count("b2"), 1);  // the new run's
  EXPECT_EQ(this->effects_.count("c"), 2);
  ASSERT_TRUE(env2.restart().is_ok());       // both replay cleanly
  EXPECT_EQ(env2.engine().describe("new")->status, RunStatus::kCompleted);
}

Task<Result<int>> then_flaky(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_RETURN_IF_ERROR(ctx.step("a", [&] { fx.hit("a"); }));
  KEEL_CO_RETURN_IF_ERROR(ctx.step("flaky", [&] { return flaky(fx, "flaky", 1); }));
  co_return fx.count("flaky");
}

TYPED_TEST(WorkflowTest, RetryRunsAFailedRunAgainFromItsFailedStep) {
  this->template define<int, int>("f", then_flaky);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("f", "r1", 0);
  ASSERT_TRUE(run.is_ok());
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(testing::await(env.engine().retry("r1")).code(), StatusCode::kOk);
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  ASSERT_TRUE(env.restart().is_ok());  // the retried run answers from the journal
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 2);
  EXPECT_EQ(this->effects_.count("a"), 1);
  EXPECT_EQ(testing::await(env.engine().retry("r1")).code(), StatusCode::kFailedPrecondition);
}

Task<Result<int>> branch(Effects& fx, WorkflowContext& ctx, int i) {
  KEEL_CO_RETURN_IF_ERROR(ctx.sleep(std::chrono::minutes(10 * (3 - i))));  // keel-allow-sleep: durable (manual clock)
  KEEL_CO_ASSIGN_OR_RETURN(int v, ctx.step("square", [&] { fx.hit("square"); return i * i; }));
  co_return v;
}
Task<Result<int>> fan_out(Effects& fx, WorkflowContext& ctx, int n) {
  std::vector<Branch<int>> branches;
  for (int i = 0; i < n; ++i) {
    branches.push_back([&fx, i](WorkflowContext& c) { return branch(fx, c, i); });
  }
  KEEL_CO_ASSIGN_OR_RETURN(std::vector<int> squares, ctx.all(std::move(branches)));
  int sum = 0;
  for (int v : squares) sum = sum * 100 + v;
  co_return sum;
}

TYPED_TEST(WorkflowTest, AllRunsBranchesSideBySideAndJoinsInOrder) {
  this->template define<int, int>("fan", fan_out);
  WorkflowTestEnv& env = this->open();
  // Branches 2 and 1 finish (two step records each: the sleep, the
  // square); the crash lands at branch 0's sleep, before its square starts.
  ASSERT_TRUE(env.crash_after_steps(5).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("fan", "r1", 3).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  EXPECT_EQ(this->effects_.count("square"), 2);
  ASSERT_TRUE(env.restart().is_ok());
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 104);  // 0, 1, 4
  EXPECT_EQ(this->effects_.count("square"), 3);
}

Task<Result<std::int64_t>> now_and_random(Effects& fx, WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(WallTime t, ctx.now());
  KEEL_CO_ASSIGN_OR_RETURN(std::uint64_t r, ctx.random());
  std::string seen = std::to_string(t.time_since_epoch().count()) + "/" + std::to_string(r);
  KEEL_CO_RETURN_IF_ERROR(ctx.step("first", [&] { fx.hit("first " + seen); }));
  KEEL_CO_RETURN_IF_ERROR(ctx.step("second", [&] { fx.hit("second " + seen); }));
  co_return 0;
}

TYPED_TEST(WorkflowTest, NowAndRandomReplayTheSameValues) {
  this->template define<int, std::int64_t>("nr", now_and_random);
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.crash_after_steps(3).is_ok());
  ASSERT_TRUE(env.engine().template start<std::int64_t>("nr", "r1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  ASSERT_TRUE(env.restart(1h).is_ok());
  ASSERT_TRUE(env.run_to_completion(env.engine().template handle<std::int64_t>("r1")).is_ok());
  std::vector<std::string> order = this->effects_.order();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0].substr(6), order[1].substr(7));  // the same "time/random" both times
}

Task<Result<int>> doubler(Effects&, WorkflowContext& ctx, int x) {
  KEEL_CO_ASSIGN_OR_RETURN(int v, ctx.step("double", [x] { return 2 * x; }));
  co_return v;
}
Task<Result<int>> parent(Effects&, WorkflowContext& ctx, int x) {
  KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.template child<int>("double", ctx.run_id() + "/child", x));
  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.template child<int>("double", ctx.run_id() + "/child2", a));
  co_return b;
}

TYPED_TEST(WorkflowTest, ChildWorkflowsRunAsRunsOfTheirOwn) {
  this->template define<int, int>("double", doubler);
  this->template define<int, int>("parent", parent);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("parent", "p", 5);
  ASSERT_TRUE(run.is_ok());
  Result<int> out = env.run_to_completion(*run);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 20);
  EXPECT_EQ(env.engine().describe("p/child")->status, RunStatus::kCompleted);
  EXPECT_EQ(env.engine().list().size(), 3u);
}

Task<Result<std::string>> waits_for_child(Effects&, WorkflowContext& ctx, int) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string v, ctx.template child<std::string>("signals", ctx.run_id() + "/child", 0));
  co_return v;
}

TYPED_TEST(WorkflowTest, CancellingAParentCancelsTheChildItWaitsFor) {
  this->template define<int, std::string>("signals", two_signals);
  this->template define<int, std::string>("parent", waits_for_child);
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<std::string>("parent", "p", 0);
  ASSERT_TRUE(run.is_ok());
  ASSERT_TRUE(env.engine().wait_idle(testing::kWait));
  EXPECT_EQ(env.engine().describe("p/child")->status, RunStatus::kRunning);
  ASSERT_TRUE(testing::await(env.engine().cancel("p")).is_ok());
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(env.engine().describe("p")->status, RunStatus::kCancelled);
  EXPECT_EQ(env.engine().describe("p/child")->status, RunStatus::kCancelled);
}

class Adder : public Actor {
 public:
  int add(int x) { return total_ += x; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Adder::add>("add"));

 private:
  int total_ = 0;
};

Task<Result<int>> calls(ActorRef<Adder> adder, WorkflowContext& ctx) {
  KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.template call<&Adder::add>(adder, 5));
  KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.template call<&Adder::add>(adder, 10));
  co_return a * 100 + b;
}

TYPED_TEST(WorkflowTest, CallsAskActorsOnceAndJournalTheirReplies) {
  Workflows w;  // defined once the actor exists; crash_after_steps reopens the engine
  WorkflowTestEnv& env = this->open_with(w);
  auto adder = env.system().template spawn<Adder>();
  ASSERT_TRUE(adder.is_ok());
  ActorRef<Adder> ref = *adder;
  ASSERT_TRUE((w.define<int, int>("calls", [ref](WorkflowContext& ctx, int) { return calls(ref, ctx); })).is_ok());
  ASSERT_TRUE(env.crash_after_steps(1).is_ok());
  ASSERT_TRUE(env.engine().template start<int>("calls", "r1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  ASSERT_TRUE(env.restart().is_ok());
  Result<int> out = env.run_to_completion(env.engine().template handle<int>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, 515);  // the first reply replayed: the actor saw 5 once
}

}  // namespace
}  // namespace keel
