// Bounded mailboxes (every overflow policy), message TTLs, and control
// messages that bypass a full mailbox. Most tests run in deterministic mode
// (threads = 0), where messages stay queued until the test steps the system.
#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;
using testing::kWait;
using testing::system_config;

class Sink : public Actor {
 public:
  void put(int v) { got_.push_back(v); }
  int put_and_reply(int v) {
    got_.push_back(v);
    return v;
  }
  std::vector<int> got() const { return got_; }

  static constexpr auto kHandlers =
      handlers(handler<&Sink::put>("put"), handler<&Sink::put_and_reply>("put_and_reply"),
               handler<&Sink::got>("got"));

 private:
  std::vector<int> got_;
};

SpawnOptions bounded(std::size_t capacity, OverflowPolicy policy, Duration block_timeout = kWait) {
  SpawnOptions o;
  o.mailbox.capacity = capacity;
  o.mailbox.policy = policy;
  o.mailbox.block_timeout = block_timeout;
  return o;
}

// Runs the queued messages and returns what the sink has handled, in
// deterministic mode. (Running first leaves room for the ask.)
std::vector<int> handled(System& system, const ActorRef<Sink>& sink) {
  system.run_until_idle();
  Future<std::vector<int>> f = sink.ask<&Sink::got>();
  system.run_until_idle();
  if (!f.is_ready()) return {-1};
  return f.get().value_or(std::vector<int>{-1});
}

Status put(const ActorRef<Sink>& sink, int v) { return sink.try_tell<&Sink::put>(SendOptions{}, v); }

// ---- kFail ------------------------------------------------------------------------------

TEST(Mailbox, FailPolicyRefusesAMessageToAFullMailboxWithOverloaded) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(2, OverflowPolicy::kFail)).value();
  EXPECT_TRUE(put(sink, 1).is_ok());
  EXPECT_TRUE(put(sink, 2).is_ok());
  EXPECT_EQ(put(sink, 3).code(), StatusCode::kOverloaded);
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1, 2}));
}

TEST(Mailbox, FailPolicyReportsTheRefusedMessageAsDropped) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kFail)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  ASSERT_EQ(put(sink, 2).code(), StatusCode::kOverloaded);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
  EXPECT_EQ(system.dead_letters().total(), 1u);
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].reason, DeadLetterReason::kDropped);
  EXPECT_EQ(h[0].target, sink.id());
  EXPECT_EQ(h[0].method, "put");
}

TEST(Mailbox, FailPolicyFailsARefusedAskWithOverloaded) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kFail)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  Future<int> f = sink.ask<&Sink::put_and_reply>(2);
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kOverloaded);
}

TEST(Mailbox, FullMailboxAcceptsAgainOnceTheActorMadeRoom) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kFail)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  ASSERT_EQ(put(sink, 2).code(), StatusCode::kOverloaded);
  ASSERT_TRUE(system.run_one());
  EXPECT_TRUE(put(sink, 3).is_ok());
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1, 3}));
}

TEST(Mailbox, UnboundedMailboxAcceptsEverything) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(put(sink, i).is_ok());
  EXPECT_EQ(system.snapshot().actors.at(0).mailbox_depth, 1000u);
  EXPECT_EQ(handled(system, sink).size(), 1000u);
}

TEST(Mailbox, RefusedAskCancelsItsTimeoutTimer) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kFail)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  AskOptions o;
  o.timeout = 1s;
  Future<int> f = sink.ask_with<&Sink::put_and_reply>(o, 2);
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kOverloaded);
  EXPECT_EQ(system.snapshot().pending_timers, 0u);
}

// ---- kDropNewest ----------------------------------------------------------------------------

TEST(Mailbox, DropNewestDropsTheNewMessageAndTheSendSucceeds) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(2, OverflowPolicy::kDropNewest)).value();
  EXPECT_TRUE(put(sink, 1).is_ok());
  EXPECT_TRUE(put(sink, 2).is_ok());
  EXPECT_TRUE(put(sink, 3).is_ok());  // options.h: "the send succeeds"
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1, 2}));
}

TEST(Mailbox, DropNewestFailsADroppedAskWithOverloaded) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kDropNewest)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  Future<int> f = sink.ask<&Sink::put_and_reply>(2);
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kOverloaded);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
}

// ---- kDropOldest ------------------------------------------------------------------------------

TEST(Mailbox, DropOldestQueuesTheNewMessageAndDropsTheOldest) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(2, OverflowPolicy::kDropOldest)).value();
  EXPECT_TRUE(put(sink, 1).is_ok());
  EXPECT_TRUE(put(sink, 2).is_ok());
  EXPECT_TRUE(put(sink, 3).is_ok());
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
  EXPECT_EQ(handled(system, sink), (std::vector<int>{2, 3}));
}

TEST(Mailbox, DropOldestFailsTheDroppedAskWithOverloaded) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kDropOldest)).value();
  Future<int> oldest = sink.ask<&Sink::put_and_reply>(1);
  ASSERT_TRUE(put(sink, 2).is_ok());
  ASSERT_TRUE(oldest.is_ready());
  EXPECT_EQ(oldest.get().status().code(), StatusCode::kOverloaded);
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].reason, DeadLetterReason::kDropped);
  EXPECT_EQ(h[0].method, "put_and_reply");
  EXPECT_EQ(handled(system, sink), (std::vector<int>{2}));
}

// ---- kBlock ---------------------------------------------------------------------------------

TEST(Mailbox, BlockedSenderProceedsWhenTheConsumerMakesRoom) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kBlock)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());

  Promise<void> sent_promise;
  Future<void> sent = sent_promise.future();
  std::latch sending(1);
  std::thread sender([&] {
    sending.count_down();
    Status s = put(sink, 2);  // waits: the mailbox is full and nothing runs
    if (s.is_ok()) sent_promise.set_value(); else sent_promise.set_error(s);
  });
  sending.wait();
  // The mailbox stays full until the step below, and block_timeout is kWait,
  // so the send cannot have completed yet.
  EXPECT_FALSE(sent.is_ready());
  EXPECT_TRUE(system.run_one());  // handles 1: room for 2
  Status s = await(std::move(sent));
  sender.join();
  EXPECT_TRUE(s.is_ok()) << s;
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1, 2}));
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(Mailbox, BlockedSenderIsReleasedWithNotFoundWhenTheActorStops) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kBlock)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());

  Promise<void> sent_promise;
  Future<void> sent = sent_promise.future();
  std::thread sender([&] {
    Status s = put(sink, 2);  // waits for room until the actor stops
    if (s.is_ok()) sent_promise.set_value(); else sent_promise.set_error(s);
  });
  Future<Down> down = system.watch(sink);
  system.stop(sink);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  Status s = await(std::move(sent));
  sender.join();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  // Both the queued message and the blocked one.
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStopped), 2u);
}

TEST(Mailbox, BlockPolicyKeepsOrderAndLosesNothingUnderSustainedPressure) {
  System system(system_config(1));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kBlock)).value();
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(put(sink, i).is_ok()) << "message " << i;
  Result<std::vector<int>> got = await(sink.ask<&Sink::got>());
  ASSERT_TRUE(got.has_value()) << got.status();
  ASSERT_EQ(got->size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ((*got)[i], i);
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(Mailbox, BlockedSenderTimesOutWithTimeoutAndADroppedLetter) {
  System system(system_config(0));
  // Nothing ever consumes: the short real-time block_timeout must expire.
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kBlock, 1ms)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  EXPECT_EQ(put(sink, 2).code(), StatusCode::kTimeout);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].target, sink.id());
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1}));
}

// ---- TTL --------------------------------------------------------------------------------------

TEST(Ttl, MessageHandledWithinItsTtlIsDelivered) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto sink = system.spawn<Sink>().value();
  SendOptions o;
  o.ttl = 10ms;
  sink.tell_with<&Sink::put>(o, 1);
  clock.advance(10ms);  // not yet past the TTL
  EXPECT_EQ(handled(system, sink), (std::vector<int>{1}));
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(Ttl, MessagePastItsTtlIsADeadLetterAsExpired) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto sink = system.spawn<Sink>().value();
  SendOptions o;
  o.ttl = 10ms;
  sink.tell_with<&Sink::put>(o, 1);
  sink.tell<&Sink::put>(2);  // no TTL
  clock.advance(11ms);
  EXPECT_EQ(handled(system, sink), (std::vector<int>{2}));
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kExpired), 1u);
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].method, "put");
  EXPECT_EQ(h[0].target, sink.id());
}

TEST(Ttl, AskPastItsTtlFailsWithTimeout) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto sink = system.spawn<Sink>().value();
  AskOptions o;
  o.ttl = 10ms;
  Future<int> f = sink.ask_with<&Sink::put_and_reply>(o, 1);
  clock.advance(11ms);
  system.run_until_idle();
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kTimeout);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kExpired), 1u);
  EXPECT_EQ(handled(system, sink), (std::vector<int>{}));
}

// ---- Control messages ---------------------------------------------------------------------------

TEST(Mailbox, FullMailboxStillAcceptsAStop) {
  System system(system_config(0));
  auto sink = system.spawn_with<Sink>(bounded(1, OverflowPolicy::kFail)).value();
  ASSERT_TRUE(put(sink, 1).is_ok());
  ASSERT_EQ(put(sink, 2).code(), StatusCode::kOverloaded);  // full
  Future<Down> down = system.watch(sink);
  system.stop(sink);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  Result<Down> d = down.get();
  ASSERT_TRUE(d.has_value()) << d.status();
  EXPECT_TRUE(d->reason.is_ok()) << d->reason;
  EXPECT_TRUE(sink.is_stopped());
  // The queued message was not handled: it is a dead letter of the stop.
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStopped), 1u);
}

}  // namespace
}  // namespace keel
