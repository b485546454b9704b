// Refs that name no incarnation (AnyRef::any_incarnation): their messages
// reach whichever incarnation is current when handled, across restarts.
// Deterministic: no worker threads (the test steps the system) and a
// ManualClock for the restart backoff.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;

class Counter : public Actor {
 public:
  int add(int n) { return value_ += n; }
  int get() const { return value_; }
  int boom() { throw std::runtime_error("boom"); }
  static constexpr auto kHandlers =
      handlers(handler<&Counter::add>("add"), handler<&Counter::get>("get"), handler<&Counter::boom>("boom"));

 private:
  int value_ = 0;
};

class AnyIncarnation : public ::testing::Test {
 protected:
  // Top-level actors are restarted after `backoff` on the manual clock.
  SystemConfig config() {
    SystemConfig c = testing::system_config(0, &clock_);
    c.root_strategy.backoff.initial = backoff_;
    return c;
  }

  template <class T>
  auto settle(Future<T> f) {
    sys_.run_until_idle();
    return await(std::move(f));
  }

  // Spawns a Counter holding `value`, then makes it throw: it is suspended
  // until the backoff has passed.
  ActorRef<Counter> failed_counter(int value) {
    auto c = sys_.spawn<Counter>();
    EXPECT_TRUE(c.is_ok()) << c.status();
    EXPECT_EQ(settle(c->ask<&Counter::add>(value)).value_or(-1), value);
    EXPECT_EQ(settle(c->ask<&Counter::boom>()).status().code(), StatusCode::kInternal);
    return c.value_or(ActorRef<Counter>());
  }

  const Duration backoff_ = 100ms;
  ManualClock clock_;
  System sys_{config()};
};

TEST_F(AnyIncarnation, ItsGenerationIsAnyAndItKeepsTheActorsId) {
  auto c = sys_.spawn<Counter>().value();
  AnyRef any = c.any_incarnation();
  EXPECT_EQ(any.generation(), kAnyGeneration);
  EXPECT_EQ(any.id(), c.id());
  EXPECT_EQ(any.current().generation(), 1u);
  EXPECT_FALSE(AnyRef().any_incarnation().valid());
}

TEST_F(AnyIncarnation, AskSentWhileTheActorWaitsToRestartReachesTheNewInstance) {
  ActorRef<Counter> first = failed_counter(5);
  ActorRef<Counter> any(first.any_incarnation());
  auto pinned = first.ask<&Counter::add>(1);  // addressed to generation 1
  auto followed = any.ask<&Counter::add>(3);
  sys_.run_until_idle();
  EXPECT_FALSE(followed.is_ready()) << "handled before the restart";

  clock_.advance(backoff_);
  EXPECT_EQ(settle(std::move(followed)).value_or(-1), 3);  // the new instance starts from 0
  EXPECT_EQ(await(std::move(pinned)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(first.current().generation(), 2u);
}

TEST_F(AnyIncarnation, AskAfterARestartReachesTheNewInstance) {
  ActorRef<Counter> first = failed_counter(5);
  clock_.advance(backoff_);
  sys_.run_until_idle();
  ASSERT_EQ(first.current().generation(), 2u);

  ActorRef<Counter> any(first.any_incarnation());
  EXPECT_EQ(settle(any.ask<&Counter::add>(2)).value_or(-1), 2);
  EXPECT_EQ(settle(first.ask<&Counter::get>()).status().code(), StatusCode::kNotFound);  // stale
}

TEST_F(AnyIncarnation, SendsFailOnceTheActorHasStoppedAndTheLetterNamesItsLastGeneration) {
  ActorRef<Counter> first = failed_counter(5);
  clock_.advance(backoff_);
  sys_.run_until_idle();
  ActorRef<Counter> any(first.any_incarnation());
  sys_.stop(any);
  ASSERT_TRUE(settle(sys_.watch(any)).is_ok());

  EXPECT_EQ(any.try_tell<&Counter::add>(SendOptions{}, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(settle(any.ask<&Counter::get>()).status().code(), StatusCode::kNotFound);
  auto history = sys_.dead_letters().history();
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().reason, DeadLetterReason::kStopped);
  EXPECT_EQ(history.back().target, first.id());
  EXPECT_EQ(history.back().target_generation, 2u);
}

}  // namespace
}  // namespace keel
