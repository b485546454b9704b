// System::snapshot(): what it reports about actors and the system. Runs in
// deterministic mode (threads = 0) so the values are exact.
#include "keel/engine/diagnostics.h"

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

class Child : public Actor {
 public:
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&Child::ping>("ping"));
};

class Counter : public Actor {
 public:
  void add(int n) { value_ += n; }
  int get() const { return value_; }
  void boom() { throw std::runtime_error("boom"); }
  ActorId spawn_child() { return spawn<Child>().value().id(); }

  static constexpr auto kHandlers =
      handlers(handler<&Counter::add>("add"), handler<&Counter::get>("get"),
               handler<&Counter::boom>("boom"), handler<&Counter::spawn_child>("spawn_child"));

 private:
  int value_ = 0;
};

class FailingStop : public Actor {
 public:
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&FailingStop::ping>("ping"));

 protected:
  Status on_stop() override { return Status::io_error("flush failed"); }
};

const ActorSnapshot* find(const SystemSnapshot& s, ActorId id) {
  for (const auto& a : s.actors)
    if (a.id == id) return &a;
  return nullptr;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

TEST(Snapshot, ListsEveryLiveActorOrderedById) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  auto b = system.spawn<Child>().value();
  auto c = system.spawn<Counter>().value();
  SystemSnapshot s = system.snapshot();
  ASSERT_EQ(s.actors.size(), 3u);
  EXPECT_EQ(s.actors[0].id, a.id());
  EXPECT_EQ(s.actors[1].id, b.id());
  EXPECT_EQ(s.actors[2].id, c.id());
  EXPECT_LT(a.id(), b.id());
  EXPECT_LT(b.id(), c.id());
  EXPECT_EQ(s.worker_threads, 0);
}

TEST(Snapshot, ReportsTheDemangledTypeName) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  const std::string type = system.snapshot().actors.at(0).type;
  EXPECT_TRUE(ends_with(type, "::Counter")) << type;
  EXPECT_EQ(type.rfind("keel::", 0), 0u) << type;
  EXPECT_EQ(a.type_name(), type);
}

TEST(Snapshot, ReportsTheRegisteredName) {
  System system(system_config(0));
  SpawnOptions named;
  named.name = "counter";
  auto a = system.spawn_with<Counter>(named).value();
  auto b = system.spawn<Counter>().value();
  auto c = system.spawn<Counter>().value();
  ASSERT_TRUE(system.register_name("late", c).is_ok());
  SystemSnapshot s = system.snapshot();
  EXPECT_EQ(find(s, a.id())->name, "counter");
  EXPECT_EQ(find(s, b.id())->name, "");
  EXPECT_EQ(find(s, c.id())->name, "late");
}

TEST(Snapshot, ReportsTheParentOfAChild) {
  System system(system_config(0));
  auto parent = system.spawn<Counter>().value();
  Future<ActorId> child = parent.ask<&Counter::spawn_child>();
  system.run_until_idle();
  const ActorId child_id = child.get().value();
  SystemSnapshot s = system.snapshot();
  ASSERT_EQ(s.actors.size(), 2u);
  ASSERT_NE(find(s, child_id), nullptr);
  EXPECT_EQ(find(s, child_id)->parent, parent.id());
  EXPECT_TRUE(ends_with(find(s, child_id)->type, "::Child")) << find(s, child_id)->type;
  EXPECT_EQ(find(s, parent.id())->parent, kNoActor);
}

TEST(Snapshot, ReportsTheMailboxDepth) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  auto b = system.spawn<Counter>().value();
  for (int i = 0; i < 3; ++i) a.tell<&Counter::add>(1);
  b.tell<&Counter::add>(1);
  SystemSnapshot s = system.snapshot();
  EXPECT_EQ(find(s, a.id())->mailbox_depth, 3u);
  EXPECT_EQ(find(s, b.id())->mailbox_depth, 1u);
  ASSERT_TRUE(system.run_one());  // one message of a
  EXPECT_EQ(find(system.snapshot(), a.id())->mailbox_depth, 2u);
  system.run_until_idle();
  s = system.snapshot();
  EXPECT_EQ(find(s, a.id())->mailbox_depth, 0u);
  EXPECT_EQ(find(s, b.id())->mailbox_depth, 0u);
}

TEST(Snapshot, CountsProcessedMessages) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  auto b = system.spawn<Counter>().value();
  for (int i = 0; i < 4; ++i) a.tell<&Counter::add>(1);
  b.tell<&Counter::add>(1);
  EXPECT_EQ(find(system.snapshot(), a.id())->processed, 0u);
  system.run_until_idle();
  SystemSnapshot s = system.snapshot();
  EXPECT_EQ(find(s, a.id())->processed, 4u);
  EXPECT_EQ(find(s, b.id())->processed, 1u);
}

TEST(Snapshot, CountsRestartsAndFailuresAcrossIncarnations) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  a.tell<&Counter::add>(1);
  a.tell<&Counter::boom>();  // the root strategy restarts it
  system.run_until_idle();
  ActorRef<Counter>(a.current()).tell<&Counter::add>(1);
  system.run_until_idle();
  const SystemSnapshot snap = system.snapshot();
  const ActorSnapshot* s = find(snap, a.id());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->restarts, 1u);
  EXPECT_EQ(s->failures, 1u);
  EXPECT_EQ(s->generation, 2u);
  EXPECT_EQ(s->status, ActorStatus::kRunning);
  EXPECT_EQ(s->processed, 3u);  // the failed message counts as handled
}

TEST(Snapshot, ReportsAFailedActorAsSuspendedUntilItsRestart) {
  ManualClock clock;
  SystemConfig config = system_config(0, &clock);
  config.root_strategy.backoff.initial = 1s;  // the restart waits for the clock
  System system(config);
  auto a = system.spawn<Counter>().value();
  a.tell<&Counter::boom>();
  system.run_until_idle();
  SystemSnapshot snap = system.snapshot();
  const ActorSnapshot* s = find(snap, a.id());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, ActorStatus::kSuspended);
  EXPECT_EQ(s->failures, 1u);
  EXPECT_EQ(s->restarts, 0u);
  EXPECT_EQ(snap.pending_timers, 1u);  // the backoff

  clock.advance(1s);
  system.run_until_idle();
  snap = system.snapshot();
  s = find(snap, a.id());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, ActorStatus::kRunning);
  EXPECT_EQ(s->restarts, 1u);
}

TEST(Snapshot, StoppedActorsLeaveTheSnapshot) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  auto b = system.spawn<Counter>().value();
  Future<Down> down = system.watch(a);
  system.stop(a);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  SystemSnapshot s = system.snapshot();
  ASSERT_EQ(s.actors.size(), 1u);
  EXPECT_EQ(s.actors[0].id, b.id());
}

TEST(Snapshot, CountsDeadLettersByReason) {
  System system(system_config(0));
  auto a = system.spawn<Counter>().value();
  system.tell_named<Counter, &Counter::add>("nobody", 1).ignore();
  system.tell_named<Counter, &Counter::add>("nobody", 2).ignore();
  Future<Down> down = system.watch(a);
  system.stop(a);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  a.tell<&Counter::add>(1);
  SystemSnapshot s = system.snapshot();
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kUnknownTarget)], 2u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kStopped)], 1u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kExpired)], 0u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kDropped)], 0u);
  EXPECT_EQ(s.dead_letters[static_cast<std::size_t>(DeadLetterReason::kStale)], 0u);
  EXPECT_EQ(s.dead_letters_total, 3u);
}

TEST(Snapshot, CountsPendingTimers) {
  ManualClock clock;
  System system(system_config(0, &clock));
  auto a = system.spawn<Counter>().value();
  system.send_after<&Counter::add>(1s, a, 1);
  system.send_every<&Counter::add>(1s, a, 1);
  EXPECT_EQ(system.snapshot().pending_timers, 2u);
  clock.advance(1s);  // the one-shot fired; the periodic one stays
  EXPECT_EQ(system.snapshot().pending_timers, 1u);
}

TEST(Snapshot, CountsStopHookFailures) {
  std::vector<std::string> logged;  // outlives the system
  SystemConfig config = system_config(0);
  config.log = [&](std::string_view line) { logged.emplace_back(line); };
  System system(config);
  auto a = system.spawn<FailingStop>().value();
  Future<Down> down = system.watch(a);
  system.stop(a);
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  EXPECT_EQ(system.snapshot().stop_hook_failures, 1u);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("flush failed"), std::string::npos) << logged[0];
}

}  // namespace
}  // namespace keel
