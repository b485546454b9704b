// Stopping a durable actor whose commits are still in the journal: it is
// stopped (its watchers hear Down, its key is free) only once they are
// durable, so whoever spawns the key again on that Down recovers all of
// them. The journal holds the actor's commit until the test releases it.
// Every journal backend (support/durable_fixture.h).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "keel/engine/durable.h"
#include "keel/journal/format.h"
#include "support/durable_fixture.h"
#include "support/fencing_journal.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

struct Tally {
  std::int64_t total = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::total>("total"));
};

class Counter : public DurableActor<Tally> {
 public:
  std::int64_t add(std::int64_t n) { return state().total += n; }
  std::int64_t total() const { return state().total; }
  // Adds `n` and stops, in the same handler (and so the same commit).
  void add_and_stop(std::int64_t n) {
    state().total += n;
    stop();
  }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::total>("total"),
                     keel::handler<&Counter::add_and_stop>("add_and_stop"));
};

using DurableStopTest = testing::FencedDurableTest;

TEST_P(DurableStopTest, AStoppedActorsCommitsAreDurableBeforeItsWatchersHearDown) {
  System system(fenced_config());
  auto counter = system.spawn_durable<Counter>("c").value();
  ASSERT_EQ(await(counter.ask<&Counter::add>(std::int64_t{1})).value(), 1);

  // Down runs this on the stopping actor's thread: a batch of the actor
  // still held then is one that a new spawn of the key would not recover.
  std::atomic<std::size_t> held_at_down{99};
  auto down = system.watch(counter).then([&](Result<Down>) {
    held_at_down = fencing_->held();
    return 0;
  });
  fencing_->hold(actor_owner("c"));
  counter.tell<&Counter::add_and_stop>(std::int64_t{2});
  ASSERT_TRUE(fencing_->wait_held(1)) << "the actor's commit never reached the journal";
  fencing_->release();
  ASSERT_TRUE(await(std::move(down)).is_ok());
  EXPECT_EQ(held_at_down.load(), 0u);

  auto again = system.spawn_durable<Counter>("c");
  ASSERT_TRUE(again.is_ok()) << again.status();
  EXPECT_EQ(await(again->ask<&Counter::total>()).value(), 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableStopTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
