// A WorkflowEngine on a PostgreSQL journal whose server is stopped at once
// (pg_ctl stop -m immediate) mid-traffic and started again: every run
// started meanwhile completes or fails with kUnavailable within its
// deadline (none hangs), and once the server is back new runs complete. An
// engine reopened on the journal afterwards finds every acknowledged run
// completed with its result and its one step journaled once, takes new
// runs, and the journal verifies. The test runs its own server
// (support/pg_test_server.h), since it stops it.
#include <gtest/gtest.h>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "keel/workflow/workflow.h"
#include "support/pg_outage.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

std::string run_id(std::uint64_t id) { return "run-" + std::to_string(id); }

// One journaled step that returns its input.
Task<Result<std::int64_t>> echo(WorkflowContext& ctx, std::int64_t id) {
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t v, ctx.step("echo", [id] { return id; }));
  co_return v;
}

// A system and a workflow engine on a journal; the journal must outlive it.
struct Engine {
  explicit Engine(Journal* journal) : system(testing::system_config(2)) {
    const Status defined = workflows.define<std::int64_t, std::int64_t>("echo", echo);
    EXPECT_TRUE(defined.is_ok()) << defined;
    WorkflowEngineOptions o;
    o.system = &system;
    o.journal = journal;
    o.admin_endpoint = false;  // no admin verbs here
    o.log = [](std::string_view) {};  // runs stopped by the outage are expected here
    auto e = WorkflowEngine::open(workflows, o);
    EXPECT_TRUE(e.is_ok()) << e.status();
    if (e.is_ok()) engine = std::move(*e);
  }
  // Starts run `id` and waits (testing::kWait) for its result.
  Status run(std::uint64_t id) {
    auto h = engine->start<std::int64_t>("echo", run_id(id), static_cast<std::int64_t>(id));
    if (!h.is_ok()) return h.status();
    auto r = await(h->result());
    if (r.is_ok() && *r != static_cast<std::int64_t>(id)) return Status::internal("wrong result " + std::to_string(*r));
    return r.status();
  }

  System system;
  Workflows workflows;
  std::unique_ptr<WorkflowEngine> engine;
};

using WorkflowPgRestart = testing::OwnPgServerTest;

TEST_F(WorkflowPgRestart, RunsFailWithUnavailableWhileTheServerIsAwayAndEachAcknowledgedOneCompletedOnce) {
  const std::string path = testing::with_schema(server_->url(), "workflow");
  JournalOptions options;
  options.pg_timeout = std::chrono::seconds(2);

  auto journal = open_journal(path, options);
  ASSERT_TRUE(journal.is_ok()) << journal.status();
  testing::PgOutage outage;
  {
    Engine e(journal->get());
    ASSERT_NE(e.engine, nullptr);
    ASSERT_NO_FATAL_FAILURE(
        testing::call_through_outage(*server_, [&](std::uint64_t id) { return e.run(id); }, &outage));
  }
  journal->reset();

  journal = open_journal(path, options);
  ASSERT_TRUE(journal.is_ok()) << journal.status();
  {
    Engine e(journal->get());
    ASSERT_NE(e.engine, nullptr);
    for (std::uint64_t id : outage.acked) {
      auto info = e.engine->describe(run_id(id));
      ASSERT_TRUE(info.is_ok()) << run_id(id) << " was acknowledged: " << info.status();
      EXPECT_EQ(info->status, RunStatus::kCompleted) << run_id(id);
      EXPECT_EQ(info->steps, 1u) << run_id(id);
    }
    for (std::uint64_t id = outage.calls + 1; id <= outage.calls + 10; ++id) {
      ASSERT_TRUE(e.run(id).is_ok()) << "new runs after the restart";
    }
  }
  Status v = (*journal)->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(v.is_ok()) << v;
  journal->reset();
}

}  // namespace
}  // namespace keel
