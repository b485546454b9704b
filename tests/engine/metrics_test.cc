// System::metrics(): messages handled, inbox depth and durable commits.
// The in-memory tests run in deterministic mode (threads = 0), so the
// values are exact; the durable ones wait for a reply, which is released
// only after its commit is durable (and counted).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

#include "keel/engine/durable.h"
#include "keel/engine/engine.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

class Adder : public Actor {
 public:
  void add(int n) { value_ += n; }
  static constexpr auto kHandlers = handlers(handler<&Adder::add>("add"));

 private:
  int value_ = 0;
};

TEST(EngineMetrics, InboxDepthCountsQueuedMessagesUntilTheyAreHandled) {
  System system(system_config(0));
  auto a = system.spawn<Adder>().value();
  auto b = system.spawn<Adder>().value();
  a.tell<&Adder::add>(1);
  a.tell<&Adder::add>(2);
  b.tell<&Adder::add>(3);
  EngineMetrics m = system.metrics();
  EXPECT_EQ(m.inbox_depth, 3u);
  EXPECT_EQ(m.messages_handled, 0u);
  system.run_until_idle();
  m = system.metrics();
  EXPECT_EQ(m.inbox_depth, 0u);
  EXPECT_EQ(m.messages_handled, 3u);
}

TEST(EngineMetrics, MessagesHandledKeepsTheCountsOfStoppedActors) {
  System system(system_config(0));
  auto a = system.spawn<Adder>().value();
  for (int i = 0; i < 4; ++i) a.tell<&Adder::add>(i);
  system.run_until_idle();
  auto down = system.watch(a);
  system.stop(a);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  EXPECT_TRUE(system.snapshot().actors.empty());
  EXPECT_EQ(system.metrics().messages_handled, 4u);
}

TEST(EngineMetrics, AnInMemorySystemHasNoDurableCommits) {
  System system(system_config(0));
  auto a = system.spawn<Adder>().value();
  a.tell<&Adder::add>(1);
  system.run_until_idle();
  const EngineMetrics m = system.metrics();
  EXPECT_EQ(m.durable_commits, 0u);
  EXPECT_EQ(m.durable_records, 0u);
  EXPECT_EQ(m.commit_seconds.count(), 0u);
  EXPECT_EQ(m.commit_seconds.bounds, latency_buckets_seconds());
}

struct Total {
  std::int64_t value = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Total::value>("value"));
};

class DurableAdder : public DurableActor<Total> {
 public:
  void add(std::int64_t n) { state().value += n; }
  std::int64_t get() const { return state().value; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&DurableAdder::add>("add"), keel::handler<&DurableAdder::get>("get"));
};

class DurableMetricsTest : public testing::DurableJournalTest {};

TEST_P(DurableMetricsTest, DurableCommitsAreCountedWithTheirRecordsAndLatency) {
  System system(config());
  auto adder = system.spawn_durable<DurableAdder>("adder").value();
  for (int i = 1; i <= 5; ++i) adder.tell<&DurableAdder::add>(i);
  ASSERT_EQ(await(adder.ask<&DurableAdder::get>()).value(), 15);
  const EngineMetrics m = system.metrics();
  EXPECT_EQ(m.messages_handled, 6u);
  // Group commit may put several handlings in one write, so only bounds
  // hold: at least one write, and at least one record per write.
  EXPECT_GE(m.durable_commits, 1u);
  EXPECT_GE(m.durable_records, m.durable_commits);
  EXPECT_GE(m.commit_seconds.count(), 1u);
  EXPECT_TRUE(m.commit_seconds.is_well_formed());
  EXPECT_GE(m.commit_seconds.sum, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableMetricsTest, KEEL_DURABLE_BACKENDS);

}  // namespace
}  // namespace keel
