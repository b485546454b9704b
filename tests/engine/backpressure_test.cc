// Blocking back-pressure (OverflowPolicy::kBlock) when the senders are
// actors: a sender blocked on a full mailbox runs other actors' turns while
// it waits, so a small worker pool (or the deterministic stepper) cannot
// deadlock, and memory stays bounded by the capacity.
#include <gtest/gtest.h>

#include <cstdint>

#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

class Sink : public Actor {
 public:
  Sink(std::int64_t target, Promise<std::int64_t>* done) : target_(target), done_(done) {}
  void hit(int) {
    if (++count_ == target_) done_->set_value(count_);
  }
  std::int64_t count() const { return count_; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Sink::hit>("hit"), keel::handler<&Sink::count>("count"));

 private:
  std::int64_t target_;
  Promise<std::int64_t>* done_;
  std::int64_t count_ = 0;
};

// Sends `n` messages to the sink in one handler call, so the sender's own
// turn is what blocks when the sink's mailbox is full.
class Flood : public Actor {
 public:
  Status flood(ActorRef<Sink> sink, int n) {
    for (int i = 0; i < n; ++i) KEEL_RETURN_IF_ERROR(sink.try_tell<&Sink::hit>(SendOptions{}, 1));
    return Status::ok();
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Flood::flood>("flood"));
};

SpawnOptions bounded_blocking(std::size_t capacity) {
  SpawnOptions o;
  o.mailbox.capacity = capacity;
  o.mailbox.policy = OverflowPolicy::kBlock;
  o.mailbox.block_timeout = testing::kWait;
  return o;
}

TEST(Backpressure, ActorSendersOnTwoWorkersDeliverEverythingThroughASmallBlockingMailbox) {
  System system(system_config(2));
  constexpr int kSenders = 4;
  constexpr int kEach = 20'000;
  Promise<std::int64_t> done;
  auto all = done.future();
  auto sink = system.spawn_with<Sink>(bounded_blocking(16), kSenders * kEach, &done).value();
  std::vector<Future<void>> sent;
  for (int i = 0; i < kSenders; ++i) {
    auto flood = system.spawn<Flood>().value();
    sent.push_back(flood.ask<&Flood::flood>(sink, kEach));
  }
  for (auto& f : sent) EXPECT_TRUE(await(std::move(f)).is_ok());
  auto total = await(std::move(all));
  ASSERT_TRUE(total.is_ok());
  EXPECT_EQ(*total, kSenders * kEach);
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(Backpressure, DeterministicSenderBlockedOnAFullMailboxRunsTheReceiver) {
  System system(system_config(0));
  Promise<std::int64_t> done;
  auto all = done.future();
  auto sink = system.spawn_with<Sink>(bounded_blocking(4), 100, &done).value();
  auto flood = system.spawn<Flood>().value();
  auto sent = flood.ask<&Flood::flood>(sink, 100);
  system.run_until_idle();
  ASSERT_TRUE(sent.is_ready());
  EXPECT_TRUE(sent.get().is_ok());
  ASSERT_TRUE(all.is_ready());
  EXPECT_EQ(all.get().value(), 100);
}

TEST(Backpressure, MailboxNeverHoldsMoreThanItsCapacity) {
  System system(system_config(0));
  Promise<std::int64_t> done;
  auto sink = system.spawn_with<Sink>(bounded_blocking(8), 1000, &done).value();
  std::size_t deepest = 0;
  auto flood = system.spawn<Flood>().value();
  auto sent = flood.ask<&Flood::flood>(sink, 1000);
  while (system.run_one()) {
    for (const auto& a : system.snapshot().actors) deepest = std::max(deepest, a.mailbox_depth);
  }
  EXPECT_TRUE(sent.get().is_ok());
  EXPECT_LE(deepest, 8u);
}

TEST(Backpressure, ExternalSenderBlockedPastTheTimeoutGetsTimeoutAndADeadLetter) {
  System system(system_config(0));  // nothing drains the mailbox
  Promise<std::int64_t> done;
  SpawnOptions o = bounded_blocking(1);
  o.mailbox.block_timeout = std::chrono::milliseconds(1);
  auto sink = system.spawn_with<Sink>(o, 10, &done).value();
  EXPECT_TRUE(sink.try_tell<&Sink::hit>(SendOptions{}, 1).is_ok());
  Status s = sink.try_tell<&Sink::hit>(SendOptions{}, 2);
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
}

}  // namespace
}  // namespace keel
