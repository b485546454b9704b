// Recovery while the PostgreSQL server is down: a durable actor's journal,
// or a WorkflowEngine's, with records in it cannot be opened (nor an actor
// or engine recovered from a handle opened before the server went away):
// the attempt fails with kUnavailable within the journal's deadline, with a
// message that names the server and never the password; once the server
// is started again the same open succeeds and recovers everything. The
// test runs its own server (support/pg_test_server.h), since it stops it.
#include <gtest/gtest.h>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include "keel/engine/durable.h"
#include "keel/workflow/workflow.h"
#include "support/pg_test_server.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

constexpr const char* kPassword = "pw-not-to-be-shown";

struct Total {
  std::int64_t sum = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Total::sum>("sum"));
};

class Adder : public DurableActor<Total> {
 public:
  void add(std::int64_t n) { state().sum += n; }
  std::int64_t sum() const { return state().sum; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Adder::add>("add"), keel::handler<&Adder::sum>("sum"));
};

// Waits for the signal "go", then returns its input plus the signal.
Task<Result<std::int64_t>> wait_for_go(WorkflowContext& ctx, std::int64_t n) {
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t go, ctx.signal<std::int64_t>("go"));
  co_return n + go;
}

class PgRecoveryOutageTest : public testing::OwnPgServerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OwnPgServerTest::SetUp());
    // The test server trusts local connections, so any password does; it
    // is there to be kept out of messages.
    path_ = testing::with_schema(server_->url() + "&password=" + kPassword, "recovery");
    const std::size_t h = server_->url().find("host=") + 5;
    host_ = server_->url().substr(h, server_->url().find('&', h) - h);
    options_.pg_timeout = std::chrono::seconds(1);
    const Status defined = workflows_.define<std::int64_t, std::int64_t>("wait_for_go", wait_for_go);
    ASSERT_TRUE(defined.is_ok()) << defined;
  }
  // Opens the journal, on another thread, waiting for it at most 60 s (the
  // deadline is options_.pg_timeout; the margin is for a slow machine).
  Result<std::unique_ptr<Journal>> open() {
    auto f = std::async(std::launch::async, [&] { return open_journal(path_, options_); });
    if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "open_journal hangs while the server is away";
      f.wait();  // std::async's future waits in its destructor anyway
    }
    return f.get();
  }
  // Checks that `s` is kUnavailable naming the server, without the password.
  void expect_unavailable_naming_the_server(const Status& s) {
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
    EXPECT_NE(s.message().find(host_), std::string_view::npos) << "the message does not name the server: " << s;
    EXPECT_EQ(s.to_string().find(kPassword), std::string::npos) << "the message shows the password: " << s;
  }
  // With the server away, an open of the journal fails (as checked above);
  // once it is started again, the same open succeeds.
  void reopen_once_the_server_is_back(std::unique_ptr<Journal>* journal) {
    auto refused = open();
    ASSERT_FALSE(refused.is_ok());
    expect_unavailable_naming_the_server(refused.status());
    ASSERT_TRUE(server_->start());
    auto j = open();
    ASSERT_TRUE(j.is_ok()) << j.status();
    *journal = std::move(*j);
  }
  WorkflowEngineOptions engine_options(System* system, Journal* journal) {
    WorkflowEngineOptions o;
    o.system = system;
    o.journal = journal;
    o.admin_endpoint = false;  // no admin verbs here
    o.log = [](std::string_view) {};
    return o;
  }

  std::string path_;
  std::string host_;  // the server's socket directory
  JournalOptions options_;
  Workflows workflows_;
};

TEST_F(PgRecoveryOutageTest, ADurableActorRecoversOnceTheServerIsBackAndNotBefore) {
  {
    auto journal = open();
    ASSERT_TRUE(journal.is_ok()) << journal.status();
    SystemConfig config = testing::system_config(2);
    config.journal = journal->get();
    System system(config);
    auto adder = system.spawn_durable<Adder>("adder").value();
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(await(adder.tell_durable<&Adder::add>(i)).is_ok());
    ASSERT_EQ(await(adder.ask<&Adder::sum>()).value(), 55);
  }
  // A handle opened before the server went away: spawning the actor reads
  // its records, which fails.
  auto early = open();
  ASSERT_TRUE(early.is_ok()) << early.status();
  ASSERT_TRUE(server_->kill());
  {
    SystemConfig config = testing::system_config(2);
    config.journal = early->get();
    config.log = [](std::string_view) {};
    System system(config);
    auto adder = system.spawn_durable<Adder>("adder");
    ASSERT_FALSE(adder.is_ok()) << "an actor recovered from a journal whose server is away";
    expect_unavailable_naming_the_server(adder.status());
  }
  early->reset();
  std::unique_ptr<Journal> journal;
  ASSERT_NO_FATAL_FAILURE(reopen_once_the_server_is_back(&journal));
  SystemConfig config = testing::system_config(2);
  config.journal = journal.get();
  System system(config);
  auto adder = system.spawn_durable<Adder>("adder");
  ASSERT_TRUE(adder.is_ok()) << adder.status();
  EXPECT_EQ(await(adder->ask<&Adder::sum>()).value(), 55);
  ASSERT_TRUE(await(adder->tell_durable<&Adder::add>(45)).is_ok());
  EXPECT_EQ(await(adder->ask<&Adder::sum>()).value(), 100);
  Status v = journal->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(v.is_ok()) << v;
}

TEST_F(PgRecoveryOutageTest, AWorkflowEngineRecoversItsRunsOnceTheServerIsBackAndNotBefore) {
  {
    auto journal = open();
    ASSERT_TRUE(journal.is_ok()) << journal.status();
    System system(testing::system_config(2));
    auto engine = WorkflowEngine::open(workflows_, engine_options(&system, journal->get()));
    ASSERT_TRUE(engine.is_ok()) << engine.status();
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE((*engine)->start<std::int64_t>("wait_for_go", "run-" + std::to_string(i), i).is_ok());
    }
    // Two finish; two wait for their signal across the outage.
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(await((*engine)->signal("run-" + std::to_string(i), "go", std::int64_t{100})).is_ok());
      EXPECT_EQ(await((*engine)->handle<std::int64_t>("run-" + std::to_string(i)).result()).value(), 100 + i);
    }
    ASSERT_TRUE((*engine)->wait_idle(testing::kWait));
  }
  auto early = open();
  ASSERT_TRUE(early.is_ok()) << early.status();
  ASSERT_TRUE(server_->kill());
  {
    System system(testing::system_config(2));
    auto engine = WorkflowEngine::open(workflows_, engine_options(&system, early->get()));
    ASSERT_FALSE(engine.is_ok()) << "an engine recovered from a journal whose server is away";
    expect_unavailable_naming_the_server(engine.status());
  }
  early->reset();
  std::unique_ptr<Journal> journal;
  ASSERT_NO_FATAL_FAILURE(reopen_once_the_server_is_back(&journal));
  {
    System system(testing::system_config(2));
    auto engine = WorkflowEngine::open(workflows_, engine_options(&system, journal.get()));
    ASSERT_TRUE(engine.is_ok()) << engine.status();
    ASSERT_EQ((*engine)->list().size(), 4u);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(await((*engine)->handle<std::int64_t>("run-" + std::to_string(i)).result()).value(), 100 + i);
    }
    for (int i = 2; i < 4; ++i) {
      ASSERT_TRUE(await((*engine)->signal("run-" + std::to_string(i), "go", std::int64_t{200})).is_ok());
      EXPECT_EQ(await((*engine)->handle<std::int64_t>("run-" + std::to_string(i)).result()).value(), 200 + i);
    }
  }
  Status v = journal->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(v.is_ok()) << v;
}

}  // namespace
}  // namespace keel
