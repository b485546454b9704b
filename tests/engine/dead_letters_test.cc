// The dead-letter channel: every reason, what a letter records, counts,
// bounded history and subscriptions. Deterministic mode (threads = 0) keeps
// messages queued until the test steps the system.
#include "keel/engine/dead_letters.h"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::system_config;

class Sink : public Actor {
 public:
  void put(int v) { last_ = v; }
  int get() const { return last_; }
  void boom() { throw std::runtime_error("boom"); }
  // Sends through an empty ref from inside this actor's turn.
  void send_to_nobody() { ActorRef<Sink>().tell<&Sink::put>(1); }
  // Sets the value to the reply of `f`, in a later turn of this incarnation.
  void put_later(Future<int> f) {
    continue_with(std::move(f), [this](Result<int> r) { last_ = r.value_or(-1); });
  }

  static constexpr auto kHandlers =
      handlers(handler<&Sink::put>("put"), handler<&Sink::get>("get"), handler<&Sink::boom>("boom"),
               handler<&Sink::send_to_nobody>("send_to_nobody"),
               handler<&Sink::put_later>("put_later"));

 private:
  int last_ = 0;
};

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

DeadLetter last_letter(System& system) {
  std::vector<DeadLetter> h = system.dead_letters().history();
  if (h.empty()) {
    ADD_FAILURE() << "no dead letter";
    return DeadLetter{};
  }
  return h.back();
}

// Stops `ref` and waits until it has stopped (deterministic mode).
void stop_now(System& system, const AnyRef& ref) {
  Future<Down> down = system.watch(ref);
  system.stop(ref);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
}

// ---- kUnknownTarget ----------------------------------------------------------------------

TEST(DeadLetters, TellToAnUnknownNameIsAnUnknownTargetLetter) {
  System system(system_config(0));
  Status s = system.tell_named<Sink, &Sink::put>("nobody", 1);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kUnknownTarget), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kUnknownTarget);
  EXPECT_EQ(d.method, "put");
  EXPECT_EQ(d.target, kNoActor);
  EXPECT_EQ(d.sender, kNoActor);
  EXPECT_TRUE(contains(d.detail, "nobody")) << d.detail;
}

TEST(DeadLetters, TellToARegisteredNameIsDelivered) {
  System system(system_config(0));
  SpawnOptions o;
  o.name = "sink";
  auto sink = system.spawn_with<Sink>(o).value();
  EXPECT_TRUE((system.tell_named<Sink, &Sink::put>("sink", 5)).is_ok());
  Future<int> f = sink.ask<&Sink::get>();
  system.run_until_idle();
  EXPECT_EQ(f.get().value(), 5);
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(DeadLetters, SendThroughAnEmptyRefInsideAnActorIsAnUnknownTargetLetter) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  sink.tell<&Sink::send_to_nobody>();
  system.run_until_idle();
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kUnknownTarget), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kUnknownTarget);
  EXPECT_EQ(d.method, "put");
  EXPECT_EQ(d.target, kNoActor);
  EXPECT_EQ(d.sender, sink.id());
}

// ---- kStopped ------------------------------------------------------------------------------

TEST(DeadLetters, SendToAStoppedActorIsAStoppedLetter) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  stop_now(system, sink);
  EXPECT_EQ(sink.try_tell<&Sink::put>(SendOptions{}, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStopped), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kStopped);
  EXPECT_EQ(d.target, sink.id());
  EXPECT_EQ(d.target_generation, 1u);
  EXPECT_EQ(d.method, "put");
  EXPECT_TRUE(contains(d.target_type, "Sink")) << d.target_type;
}

TEST(DeadLetters, AskToAStoppedActorFailsWithNotFound) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  stop_now(system, sink);
  Future<int> f = sink.ask<&Sink::get>();
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(last_letter(system).method, "get");
}

TEST(DeadLetters, MessagesQueuedAtStopAreStoppedLetters) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  sink.tell<&Sink::put>(1);
  sink.tell<&Sink::put>(2);
  Future<int> asked = sink.ask<&Sink::get>();
  stop_now(system, sink);  // the stop is handled before the queued messages
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStopped), 3u);
  EXPECT_EQ(system.snapshot().actors.size(), 0u);
  ASSERT_TRUE(asked.is_ready());
  EXPECT_EQ(asked.get().status().code(), StatusCode::kNotFound);
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].method, "put");
  EXPECT_EQ(h[1].method, "put");
  EXPECT_EQ(h[2].method, "get");
}

// ---- kExpired ------------------------------------------------------------------------------

TEST(DeadLetters, MessagePastItsTtlIsAnExpiredLetter) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto sink = system.spawn<Sink>().value();
  SendOptions o;
  o.ttl = 5ms;
  sink.tell_with<&Sink::put>(o, 1);
  clock.advance(6ms);
  system.run_until_idle();
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kExpired), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kExpired);
  EXPECT_EQ(d.target, sink.id());
  EXPECT_EQ(d.method, "put");
  EXPECT_EQ(d.time, clock.now());
}

// ---- kDropped ------------------------------------------------------------------------------

TEST(DeadLetters, MessageRefusedByAFullMailboxIsADroppedLetter) {
  System system(system_config(0));
  SpawnOptions o;
  o.mailbox.capacity = 1;
  o.mailbox.policy = OverflowPolicy::kFail;
  auto sink = system.spawn_with<Sink>(o).value();
  sink.tell<&Sink::put>(1);
  sink.tell<&Sink::put>(2);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kDropped), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kDropped);
  EXPECT_EQ(d.target, sink.id());
  EXPECT_EQ(d.method, "put");
  EXPECT_TRUE(contains(d.detail, "capacity 1")) << d.detail;
}

// ---- kStale --------------------------------------------------------------------------------

TEST(DeadLetters, SendThroughARefToARestartedIncarnationIsAStaleLetter) {
  System system(system_config(0));
  auto old_ref = system.spawn<Sink>().value();
  old_ref.tell<&Sink::boom>();  // the root strategy restarts the actor
  system.run_until_idle();
  ASSERT_EQ(old_ref.current().generation(), 2u);

  EXPECT_EQ(old_ref.try_tell<&Sink::put>(SendOptions{}, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStale), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.reason, DeadLetterReason::kStale);
  EXPECT_EQ(d.target, old_ref.id());
  EXPECT_EQ(d.target_generation, 1u);
  EXPECT_EQ(d.method, "put");
}

TEST(DeadLetters, RefToTheCurrentIncarnationDeliversAfterARestart) {
  System system(system_config(0));
  auto old_ref = system.spawn<Sink>().value();
  old_ref.tell<&Sink::boom>();
  system.run_until_idle();
  ActorRef<Sink> now(old_ref.current());
  ASSERT_EQ(now.generation(), 2u);
  EXPECT_TRUE(now.try_tell<&Sink::put>(SendOptions{}, 4).is_ok());
  Future<int> f = now.ask<&Sink::get>();
  system.run_until_idle();
  EXPECT_EQ(f.get().value(), 4);
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(DeadLetters, MessagesQueuedForTheFailedIncarnationAreStaleLetters) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  sink.tell<&Sink::boom>();
  sink.tell<&Sink::put>(1);  // queued for generation 1, handled after the restart
  system.run_until_idle();
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStale), 1u);
  EXPECT_EQ(last_letter(system).target_generation, 1u);
}

TEST(DeadLetters, ContinuationForARestartedIncarnationIsAStaleLetter) {
  System system(system_config(0));
  auto sink = system.spawn<Sink>().value();
  Promise<int> reply;
  sink.tell<&Sink::put_later>(reply.future());
  sink.tell<&Sink::boom>();
  system.run_until_idle();
  ASSERT_EQ(sink.current().generation(), 2u);
  reply.set_value(9);  // the continuation is addressed to generation 1
  system.run_until_idle();
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStale), 1u);
  DeadLetter d = last_letter(system);
  EXPECT_EQ(d.method, "continuation");
  EXPECT_EQ(d.target_generation, 1u);
  Future<int> f = ActorRef<Sink>(sink.current()).ask<&Sink::get>();
  system.run_until_idle();
  EXPECT_EQ(f.get().value(), 0);  // the new incarnation never saw the reply
}

// ---- Counts, history, subscriptions -----------------------------------------------------------

TEST(DeadLetters, CountsAreKeptPerReason) {
  ManualClock clock;
  System system(system_config(0, &clock));
  SpawnOptions bounded;
  bounded.mailbox.capacity = 1;
  auto full = system.spawn_with<Sink>(bounded).value();
  auto stopped = system.spawn<Sink>().value();
  auto restarted = system.spawn<Sink>().value();
  auto slow = system.spawn<Sink>().value();

  system.tell_named<Sink, &Sink::put>("nobody", 1).ignore();  // unknown target
  restarted.tell<&Sink::boom>();
  SendOptions ttl;
  ttl.ttl = 1ms;
  slow.tell_with<&Sink::put>(ttl, 1);
  clock.advance(2ms);
  system.run_until_idle();                   // expired; restarted gets generation 2
  restarted.tell<&Sink::put>(1);             // stale
  restarted.tell<&Sink::put>(2);             // stale
  full.tell<&Sink::put>(1);
  full.tell<&Sink::put>(2);                  // dropped
  stop_now(system, stopped);
  stopped.tell<&Sink::put>(1);               // stopped

  const DeadLetterChannel& dl = system.dead_letters();
  EXPECT_EQ(dl.count(DeadLetterReason::kUnknownTarget), 1u);
  EXPECT_EQ(dl.count(DeadLetterReason::kStopped), 1u);
  EXPECT_EQ(dl.count(DeadLetterReason::kExpired), 1u);
  EXPECT_EQ(dl.count(DeadLetterReason::kDropped), 1u);
  EXPECT_EQ(dl.count(DeadLetterReason::kStale), 2u);
  EXPECT_EQ(dl.total(), 6u);
  SystemSnapshot s = system.snapshot();
  EXPECT_EQ(s.dead_letters_total, 6u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kStale)], 2u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kDropped)], 1u);
}

TEST(DeadLetters, HistoryKeepsTheNewestLettersUpToItsCapacity) {
  SystemConfig config = system_config(0);
  config.dead_letter_history = 3;
  System system(config);
  for (int i = 1; i <= 5; ++i)
    system.tell_named<Sink, &Sink::put>("name" + std::to_string(i), i).ignore();
  std::vector<DeadLetter> h = system.dead_letters().history();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_TRUE(contains(h[0].detail, "'name3'")) << h[0].detail;
  EXPECT_TRUE(contains(h[1].detail, "'name4'")) << h[1].detail;
  EXPECT_TRUE(contains(h[2].detail, "'name5'")) << h[2].detail;  // newest last
  EXPECT_EQ(system.dead_letters().total(), 5u);                  // counts are not bounded
}

TEST(DeadLetters, SubscriberSeesEachLetterAsItIsPublished) {
  std::vector<DeadLetter> seen;  // outlives the system; deterministic mode: published on this thread
  System system(system_config(0));
  system.dead_letters().subscribe([&](const DeadLetter& d) { seen.push_back(d); });
  system.tell_named<Sink, &Sink::put>("a", 1).ignore();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].reason, DeadLetterReason::kUnknownTarget);
  EXPECT_EQ(seen[0].method, "put");
  system.tell_named<Sink, &Sink::get>("b").ignore();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "get");
}

TEST(DeadLetters, EverySubscriberSeesTheLetter) {
  int first = 0;  // outlive the system, which may publish while it shuts down
  int second = 0;
  System system(system_config(0));
  system.dead_letters().subscribe([&](const DeadLetter&) { ++first; });
  system.dead_letters().subscribe([&](const DeadLetter&) { ++second; });
  system.tell_named<Sink, &Sink::put>("a", 1).ignore();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
}

TEST(DeadLetters, UnsubscribedSubscriberSeesNoMoreLetters) {
  int kept = 0;
  int dropped = 0;
  System system(system_config(0));
  system.dead_letters().subscribe([&](const DeadLetter&) { ++kept; });
  const std::uint64_t handle = system.dead_letters().subscribe([&](const DeadLetter&) { ++dropped; });
  system.tell_named<Sink, &Sink::put>("a", 1).ignore();
  system.dead_letters().unsubscribe(handle);
  system.tell_named<Sink, &Sink::put>("b", 2).ignore();
  EXPECT_EQ(kept, 2);
  EXPECT_EQ(dropped, 1);
}

TEST(DeadLetters, ReasonsHaveStableNames) {
  EXPECT_EQ(dead_letter_reason_name(DeadLetterReason::kUnknownTarget), "unknown_target");
  EXPECT_EQ(dead_letter_reason_name(DeadLetterReason::kStopped), "stopped");
  EXPECT_EQ(dead_letter_reason_name(DeadLetterReason::kExpired), "expired");
  EXPECT_EQ(dead_letter_reason_name(DeadLetterReason::kDropped), "dropped");
  EXPECT_EQ(dead_letter_reason_name(DeadLetterReason::kStale), "stale");
}

}  // namespace
}  // namespace keel
