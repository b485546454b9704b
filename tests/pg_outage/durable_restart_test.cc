// A durable actor on a PostgreSQL journal whose server is stopped at once
// (pg_ctl stop -m immediate) mid-traffic and started again: every call in
// flight succeeds or fails with kUnavailable within its deadline (none
// hangs), the actor takes new work once the server is back, and a system
// restarted on the journal finds each acknowledged message handled exactly
// once, takes new work, and the journal verifies. The test runs its own
// server (support/pg_test_server.h), since it stops it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "keel/engine/durable.h"
#include "support/pg_outage.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

// seen[id] counts the handlings of message `id`.
struct Tally {
  std::string seen;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::seen>("seen"));
};

class Counter : public DurableActor<Tally> {
 public:
  // Notes message `id`; returns how many times it was handled.
  int add(std::uint64_t id) {
    std::string& seen = state().seen;
    if (seen.size() <= id) seen.resize(id + 1, '\0');
    return ++seen[id];
  }
  std::string seen() const { return state().seen; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::seen>("seen"));
};

class DurablePgRestartTest : public testing::OwnPgServerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OwnPgServerTest::SetUp());
    path_ = testing::with_schema(server_->url(), "durable");
    options_.pg_timeout = std::chrono::seconds(2);
  }
  std::unique_ptr<Journal> open() {
    auto j = open_journal(path_, options_);
    EXPECT_TRUE(j.is_ok()) << j.status();
    return j.is_ok() ? std::move(*j) : nullptr;
  }
  SystemConfig config(Journal* journal) {
    SystemConfig c = testing::system_config(2);
    c.journal = journal;
    c.log = [](std::string_view) {};  // failed commits and rebuilds are expected here
    return c;
  }

  std::string path_;
  JournalOptions options_;
};

// Odd ids are asks (answered once their handling is committed), even ones
// tell_durable (accepted once journaled); both wait at most testing::kWait.
Status call(ActorRef<Counter>& c, std::uint64_t id) {
  if (id % 2 == 1) return await(c.ask<&Counter::add>(id)).status();
  return await(c.tell_durable<&Counter::add>(id));
}

TEST_F(DurablePgRestartTest, CallsFailWithUnavailableWhileTheServerIsAwayAndEachAcknowledgedOneIsHandledOnce) {
  std::unique_ptr<Journal> journal = open();
  ASSERT_NE(journal, nullptr);
  testing::PgOutage outage;
  {
    System system(config(journal.get()));
    auto counter = system.spawn_durable<Counter>("counter");
    ASSERT_TRUE(counter.is_ok()) << counter.status();
    ASSERT_NO_FATAL_FAILURE(
        testing::call_through_outage(*server_, [&](std::uint64_t id) { return call(*counter, id); }, &outage));
    // The actor may be waiting to retry its rebuild (the server was away):
    // it stops all the same.
    const Status stopped = system.shutdown(ShutdownMode::kStop);
    EXPECT_TRUE(stopped.is_ok()) << "the system does not stop: " << stopped;
  }
  journal.reset();

  journal = open();
  ASSERT_NE(journal, nullptr);
  System system(config(journal.get()));
  auto counter = system.spawn_durable<Counter>("counter");
  ASSERT_TRUE(counter.is_ok()) << counter.status();
  for (std::uint64_t id = outage.calls + 1; id <= outage.calls + 10; ++id) {
    ASSERT_TRUE(call(*counter, id).is_ok()) << "new work after the restart";
  }
  auto seen = await(counter->ask<&Counter::seen>());
  ASSERT_TRUE(seen.is_ok()) << seen.status();
  for (std::uint64_t id : outage.acked) {
    ASSERT_LT(id, seen->size()) << id << " was acknowledged";
    EXPECT_EQ((*seen)[id], 1) << id << " was acknowledged";
  }
  for (std::uint64_t id = 1; id < seen->size(); ++id) EXPECT_LE((*seen)[id], 1) << id << " was handled twice";
  Status v = journal->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(v.is_ok()) << v;
}

}  // namespace
}  // namespace keel
