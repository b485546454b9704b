// Many actors: 100,000 actors each get one message and answer it, then the
// system shuts down cleanly.
#include <gtest/gtest.h>

#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

constexpr int kActors = 100'000;

// Counts distinct answers; completes `done` when all `expected` arrived.
class Collector : public Actor {
 public:
  Collector(int expected, Promise<int>* done)
      : expected_(expected), done_(done), seen_(static_cast<std::size_t>(expected), false) {}

  void answer(int index) {
    const auto i = static_cast<std::size_t>(index);
    if (seen_.at(i)) {
      ++duplicates_;
      return;
    }
    seen_[i] = true;
    if (++count_ == expected_) done_->set_value(count_);
  }
  int duplicates() const { return duplicates_; }

  static constexpr auto kHandlers =
      handlers(handler<&Collector::answer>("answer"), handler<&Collector::duplicates>("duplicates"));

 private:
  const int expected_;
  Promise<int>* done_;
  std::vector<bool> seen_;
  int count_ = 0;
  int duplicates_ = 0;
};

class Member : public Actor {
 public:
  void report(ActorRef<Collector> to, int index) { to.tell<&Collector::answer>(index); }
  int echo(int index) { return index; }

  static constexpr auto kHandlers =
      handlers(handler<&Member::report>("report"), handler<&Member::echo>("echo"));
};

TEST(Scale, HundredThousandActorsEachAnswerACollector) {
  Promise<int> done;  // outlives the system
  Future<int> all = done.future();
  System system;
  auto collector = system.spawn<Collector>(kActors, &done).value();
  std::vector<ActorRef<Member>> members;
  members.reserve(kActors);
  for (int i = 0; i < kActors; ++i) {
    Result<ActorRef<Member>> m = system.spawn<Member>();
    ASSERT_TRUE(m.has_value()) << "spawn " << i << ": " << m.status();
    members.push_back(*m);
  }
  for (int i = 0; i < kActors; ++i) members[static_cast<std::size_t>(i)].tell<&Member::report>(collector, i);

  Result<int> answered = await(std::move(all));
  ASSERT_TRUE(answered.has_value()) << answered.status();
  EXPECT_EQ(*answered, kActors);
  EXPECT_EQ(await(collector.ask<&Collector::duplicates>()).value(), 0);
  EXPECT_EQ(system.snapshot().actors.size(), static_cast<std::size_t>(kActors) + 1);
  EXPECT_TRUE(system.shutdown(ShutdownMode::kDrain, testing::kWait).is_ok());
  EXPECT_TRUE(system.snapshot().actors.empty());
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST(Scale, HundredThousandActorsEachAnswerAnAsk) {
  System system;
  std::vector<ActorRef<Member>> members;
  members.reserve(kActors);
  for (int i = 0; i < kActors; ++i) {
    Result<ActorRef<Member>> m = system.spawn<Member>();
    ASSERT_TRUE(m.has_value()) << "spawn " << i << ": " << m.status();
    members.push_back(*m);
  }
  std::vector<Future<int>> replies;
  replies.reserve(kActors);
  for (int i = 0; i < kActors; ++i) replies.push_back(members[static_cast<std::size_t>(i)].ask<&Member::echo>(i));
  for (int i = 0; i < kActors; ++i) {
    Result<int> r = await(std::move(replies[static_cast<std::size_t>(i)]));
    ASSERT_TRUE(r.has_value()) << "actor " << i << ": " << r.status();
    ASSERT_EQ(*r, i);
  }
  EXPECT_TRUE(system.shutdown(ShutdownMode::kDrain, testing::kWait).is_ok());
  EXPECT_TRUE(system.snapshot().actors.empty());
}

}  // namespace
}  // namespace keel
