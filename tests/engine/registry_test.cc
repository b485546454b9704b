// The name registry: SpawnOptions::name, register_name / unregister_name,
// typed lookup, and names freed when their actor stops. Deterministic.
#include <gtest/gtest.h>

#include <string>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

class Counter : public Actor {
 public:
  void add(int n) { value_ += n; }
  int get() const { return value_; }
  void quit() { stop(); }
  static constexpr auto kHandlers = handlers(handler<&Counter::add>("add"), handler<&Counter::get>("get"),
                                             handler<&Counter::quit>("quit"));

 private:
  int value_ = 0;
};

class Other : public Actor {
 public:
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&Other::ping>("ping"));
};

class Registry : public ::testing::Test {
 protected:
  template <class T>
  ActorRef<T> spawn_named(const std::string& name) {
    SpawnOptions options;
    options.name = name;
    auto r = sys_.spawn_with<T>(options);
    EXPECT_TRUE(r.is_ok()) << r.status();
    return r.value_or(ActorRef<T>());
  }
  void stop_and_settle(const AnyRef& ref) {
    sys_.stop(ref);
    sys_.run_until_idle();
    ASSERT_TRUE(ref.is_stopped());
  }

  System sys_{system_config(0)};
};

TEST_F(Registry, SpawnWithANameMakesTheActorFindable) {
  auto c = spawn_named<Counter>("counter");

  auto found = sys_.lookup<Counter>("counter");

  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_TRUE(*found == c);
  found->tell<&Counter::add>(4);
  auto v = c.ask<&Counter::get>();
  sys_.run_until_idle();
  EXPECT_EQ(await(std::move(v)).value_or(-1), 4);
}

TEST_F(Registry, SnapshotShowsTheRegisteredName) {
  auto c = spawn_named<Counter>("counter");
  auto snap = sys_.snapshot();
  ASSERT_EQ(snap.actors.size(), 1u);
  EXPECT_EQ(snap.actors[0].id, c.id());
  EXPECT_EQ(snap.actors[0].name, "counter");
}

TEST_F(Registry, LookupWithTheWrongTypeIsInvalidArgument) {
  spawn_named<Counter>("counter");
  EXPECT_EQ(sys_.lookup<Other>("counter").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(Registry, LookupAnyFindsTheActorWhateverItsType) {
  auto c = spawn_named<Counter>("counter");
  auto found = sys_.lookup_any("counter");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_TRUE(*found == c);
}

TEST_F(Registry, LookupOfAnUnknownNameIsNotFound) {
  EXPECT_EQ(sys_.lookup<Counter>("nobody").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sys_.lookup_any("nobody").status().code(), StatusCode::kNotFound);
}

TEST_F(Registry, SpawnUnderATakenNameIsAlreadyExistsAndLeavesTheOwner) {
  auto first = spawn_named<Counter>("counter");
  SpawnOptions options;
  options.name = "counter";

  auto second = sys_.spawn_with<Counter>(options);
  auto other_type = sys_.spawn_with<Other>(options);

  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(other_type.status().code(), StatusCode::kAlreadyExists);
  auto found = sys_.lookup<Counter>("counter");
  ASSERT_TRUE(found.is_ok());
  EXPECT_TRUE(*found == first);
  EXPECT_EQ(sys_.snapshot().actors.size(), 1u);
}

TEST_F(Registry, NameIsFreedWhenTheActorStops) {
  auto c = spawn_named<Counter>("counter");
  stop_and_settle(c);

  EXPECT_EQ(sys_.lookup<Counter>("counter").status().code(), StatusCode::kNotFound);
  auto again = spawn_named<Counter>("counter");
  auto found = sys_.lookup<Counter>("counter");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_TRUE(*found == again);
  EXPECT_NE(again.id(), c.id());
}

TEST_F(Registry, NameIsFreedWhenTheActorStopsItself) {
  auto c = spawn_named<Counter>("counter");
  c.tell<&Counter::quit>();
  sys_.run_until_idle();
  ASSERT_TRUE(c.is_stopped());

  EXPECT_EQ(sys_.lookup<Counter>("counter").status().code(), StatusCode::kNotFound);
  auto again = sys_.register_name("counter", spawn_named<Other>("other"));
  EXPECT_EQ(again, Status::ok());
}

TEST_F(Registry, NameIsFreeToWhoeverLearnsTheActorStopped) {
  // A watcher hears of the stop before the cell has dropped its registration;
  // what it spawns or registers under the name then must not be refused.
  auto c = spawn_named<Counter>("counter");
  auto o = spawn_named<Other>("other");
  ActorRef<Other> spare = *sys_.spawn<Other>();
  Result<ActorRef<Counter>> respawned = Status::internal("watcher not run");
  Status registered = Status::internal("watcher not run");
  auto counter_down = sys_.watch(c).then([&](Result<Down>) {
    SpawnOptions options;
    options.name = "counter";
    respawned = sys_.spawn_with<Counter>(options);
    return 0;
  });
  auto other_down = sys_.watch(o).then([&](Result<Down>) {
    registered = sys_.register_name("other", spare);
    return 0;
  });

  c.tell<&Counter::quit>();
  sys_.stop(o);
  sys_.run_until_idle();
  ASSERT_TRUE(await(std::move(counter_down)).is_ok());
  ASSERT_TRUE(await(std::move(other_down)).is_ok());

  ASSERT_TRUE(respawned.is_ok()) << respawned.status();
  auto found = sys_.lookup<Counter>("counter");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_TRUE(*found == *respawned);
  EXPECT_EQ(registered, Status::ok());
  auto other = sys_.lookup<Other>("other");
  ASSERT_TRUE(other.is_ok()) << other.status();
  EXPECT_TRUE(*other == spare);
}

TEST_F(Registry, RegisterNameMakesAnExistingActorFindable) {
  auto c = sys_.spawn<Counter>();
  ASSERT_TRUE(c.is_ok());

  EXPECT_EQ(sys_.register_name("late", *c), Status::ok());

  auto found = sys_.lookup<Counter>("late");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_TRUE(*found == *c);
}

TEST_F(Registry, RegisterNameThatIsTakenIsAlreadyExists) {
  auto first = spawn_named<Counter>("counter");
  auto second = sys_.spawn<Counter>();
  ASSERT_TRUE(second.is_ok());

  EXPECT_EQ(sys_.register_name("counter", *second).code(), StatusCode::kAlreadyExists);
  auto found = sys_.lookup<Counter>("counter");
  ASSERT_TRUE(found.is_ok());
  EXPECT_TRUE(*found == first);
}

TEST_F(Registry, RegisterNameOfAStoppedActorIsNotFound) {
  auto c = sys_.spawn<Counter>();
  ASSERT_TRUE(c.is_ok());
  stop_and_settle(*c);

  EXPECT_EQ(sys_.register_name("ghost", *c).code(), StatusCode::kNotFound);
  EXPECT_EQ(sys_.lookup<Counter>("ghost").status().code(), StatusCode::kNotFound);
}

TEST_F(Registry, RegisterNameWithAnEmptyRefIsInvalidArgument) {
  EXPECT_EQ(sys_.register_name("empty", AnyRef()).code(), StatusCode::kInvalidArgument);
}

TEST_F(Registry, ExplicitlyRegisteredNameIsFreedWhenTheActorStops) {
  auto c = sys_.spawn<Counter>();
  ASSERT_TRUE(c.is_ok());
  ASSERT_EQ(sys_.register_name("late", *c), Status::ok());

  stop_and_settle(*c);

  EXPECT_EQ(sys_.lookup<Counter>("late").status().code(), StatusCode::kNotFound);
  auto other = sys_.spawn<Counter>();
  ASSERT_TRUE(other.is_ok());
  EXPECT_EQ(sys_.register_name("late", *other), Status::ok());
}

TEST_F(Registry, UnregisterNameRemovesTheNameButNotTheActor) {
  auto c = spawn_named<Counter>("counter");

  EXPECT_EQ(sys_.unregister_name("counter"), Status::ok());

  EXPECT_EQ(sys_.lookup<Counter>("counter").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(c.is_stopped());
  auto v = c.ask<&Counter::get>();
  sys_.run_until_idle();
  EXPECT_EQ(await(std::move(v)).value_or(-1), 0);
  // The name can be taken again.
  auto other = sys_.spawn<Counter>();
  ASSERT_TRUE(other.is_ok());
  EXPECT_EQ(sys_.register_name("counter", *other), Status::ok());
}

TEST_F(Registry, UnregisterAnUnknownNameIsNotFound) {
  EXPECT_EQ(sys_.unregister_name("nobody").code(), StatusCode::kNotFound);
}

TEST_F(Registry, TellNamedToAnUnknownNameIsNotFoundAndAnUnknownTargetDeadLetter) {
  const Status s = sys_.tell_named<Counter, &Counter::add>("nobody", 1);

  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(sys_.dead_letters().count(DeadLetterReason::kUnknownTarget), 1u);
  auto history = sys_.dead_letters().history();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].method, "add");
}

TEST_F(Registry, TellNamedDeliversToTheRegisteredActor) {
  auto c = spawn_named<Counter>("counter");
  EXPECT_EQ((sys_.tell_named<Counter, &Counter::add>("counter", 3)), Status::ok());
  auto v = c.ask<&Counter::get>();
  sys_.run_until_idle();
  EXPECT_EQ(await(std::move(v)).value_or(-1), 3);
}

}  // namespace
}  // namespace keel
