// workflow_runs.h: journals of workflow runs made by the real workflow
// engine, for the `keel workflow` and `keel ui` tests. Each function closes
// the journal before it returns, so a `keel` process reads what it wrote.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"
#include "support/test_actors.h"

namespace keel::testing {

inline Task<Result<std::string>> order(WorkflowContext& ctx, std::string id) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string reserved, ctx.step("reserve", [&] { return "reserved " + id; }));
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t charged, ctx.step("charge", [] { return std::int64_t{120}; }));
  KEEL_CO_ASSIGN_OR_RETURN(std::string shipped, ctx.step("ship", [&] { return "shipped " + id; }));
  co_return reserved + ", " + std::to_string(charged) + ", " + shipped;
}

inline Task<Result<std::int64_t>> payment(WorkflowContext& ctx, std::int64_t amount) {
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t authorized, ctx.step("authorize", [&] { return amount; }));
  KEEL_CO_RETURN_IF_ERROR(ctx.step("capture", [] { return Status::failed_precondition("card declined"); }));
  co_return authorized;
}

inline Task<Result<std::string>> expense(WorkflowContext& ctx, std::string who) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string ticket, ctx.step("submit", [&] { return "ticket for " + who; }));
  KEEL_CO_ASSIGN_OR_RETURN(std::string approver, ctx.signal<std::string>("approve"));
  KEEL_CO_ASSIGN_OR_RETURN(std::string payer, ctx.signal<std::string>("pay"));
  co_return ticket + " approved by " + approver + ", paid by " + payer;
}

inline Task<Result<std::int64_t>> reminder(WorkflowContext& ctx, std::int64_t n) {
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t planned, ctx.step("plan", [&] { return n; }));
  KEEL_CO_RETURN_IF_ERROR(ctx.sleep(std::chrono::hours(1)));  // keel-allow-sleep: a durable sleep under test (manual clock)
  co_return planned;
}

// The four workflows above, defined.
inline void define_example_workflows(Workflows& workflows) {
  ASSERT_TRUE((workflows.define<std::string, std::string>("order", order)).is_ok());
  ASSERT_TRUE((workflows.define<std::int64_t, std::int64_t>("payment", payment)).is_ok());
  ASSERT_TRUE((workflows.define<std::string, std::string>("expense", expense)).is_ok());
  ASSERT_TRUE((workflows.define<std::int64_t, std::int64_t>("reminder", reminder)).is_ok());
}

template <class B>
WorkflowTestOptions backend_options() {
  WorkflowTestOptions options;
  options.open_journal = [](const std::string& path, const JournalOptions& o) { return B::open(path, o); };
  return options;
}

// Writes, then closes the journal at `path` (backend B):
//  - o-1 (order): three steps, completed;
//  - p-1 (payment): its second step fails, so the run fails (code 10);
//  - e-1 (expense): one step, took signal "approve", waits for "pay";
//  - s-1 (reminder): one step, then asleep for an hour (a pending TIMER).
template <class B>
void write_example_runs(const std::string& path) {
  Workflows workflows;
  define_example_workflows(workflows);
  auto env = WorkflowTestEnv::open(workflows, path, backend_options<B>());
  ASSERT_TRUE(env.is_ok()) << env.status();
  WorkflowEngine& engine = (*env)->engine();

  auto o1 = engine.start<std::string>("order", "o-1", std::string("o-1"));
  ASSERT_TRUE(o1.is_ok()) << o1.status();
  ASSERT_TRUE((*env)->run_to_completion(*o1).is_ok());
  auto p1 = engine.start<std::int64_t>("payment", "p-1", std::int64_t{250});
  ASSERT_TRUE(p1.is_ok()) << p1.status();
  ASSERT_EQ((*env)->run_to_completion(*p1).status().code(), StatusCode::kFailedPrecondition);

  auto e1 = engine.start<std::string>("expense", "e-1", std::string("bob"));
  ASSERT_TRUE(e1.is_ok()) << e1.status();
  ASSERT_TRUE(engine.wait_idle(kWait));
  ASSERT_TRUE(await(engine.signal("e-1", "approve", std::string("ann"))).is_ok());
  ASSERT_EQ((*env)->run_to_completion(*e1).status().code(), StatusCode::kFailedPrecondition);  // waits for "pay"

  // Not run_until_blocked: it would move the clock past the sleep.
  ASSERT_TRUE(engine.start<std::int64_t>("reminder", "s-1", std::int64_t{3}).is_ok());
  ASSERT_TRUE(engine.wait_idle(kWait));
  env->reset();
}

// Opens the journal at `path` again with `workflows` (its waiting runs
// resume and wait on), runs `run` of `workflow`, with the run id as its
// string input, to completion without moving the clock, then closes the
// journal. `*clock`, when given, is the env's clock while the run runs.
template <class B>
void append_run(const std::string& path, const Workflows& workflows, const std::string& workflow,
                const std::string& run, ManualClock** clock = nullptr) {
  auto env = WorkflowTestEnv::open(workflows, path, backend_options<B>());
  ASSERT_TRUE(env.is_ok()) << env.status();
  if (clock != nullptr) *clock = &(*env)->clock();
  WorkflowEngine& engine = (*env)->engine();
  Result<RunHandle<std::string>> handle = engine.start<std::string>(workflow, run, run);
  ASSERT_TRUE(handle.is_ok()) << handle.status();
  Result<std::string> result = await(handle->result());
  ASSERT_TRUE(result.is_ok()) << result.status();
  env->reset();
}

// One more completed order, `run`, in the journal at `path`.
template <class B>
void append_order_run(const std::string& path, const std::string& run) {
  Workflows workflows;
  define_example_workflows(workflows);
  append_run<B>(path, workflows, "order", run);
}

// One more completed run, `run`, of a workflow "fulfil" whose steps take
// time on the test's manual clock (each moves it on): pick 30 ms, pack
// 120 ms, ship 60 ms; its result is "fulfilled <run>".
template <class B>
void append_timed_run(const std::string& path, const std::string& run) {
  ManualClock* clock = nullptr;  // set by append_run before the run starts
  auto timed = [&clock](std::chrono::milliseconds d) {
    return [&clock, d] {
      clock->advance(d);
      return std::int64_t{d.count()};
    };
  };
  Workflows workflows;
  define_example_workflows(workflows);
  const Status defined = workflows.define<std::string, std::string>(
      "fulfil", [&timed](WorkflowContext& ctx, std::string id) -> Task<Result<std::string>> {
        KEEL_CO_RETURN_IF_ERROR(ctx.step("pick", timed(std::chrono::milliseconds(30))));
        KEEL_CO_RETURN_IF_ERROR(ctx.step("pack", timed(std::chrono::milliseconds(120))));
        KEEL_CO_RETURN_IF_ERROR(ctx.step("ship", timed(std::chrono::milliseconds(60))));
        co_return "fulfilled " + id;
      });
  ASSERT_TRUE(defined.is_ok()) << defined;
  append_run<B>(path, workflows, "fulfil", run, &clock);
}

}  // namespace keel::testing
