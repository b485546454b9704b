// Lifecycle hooks: on_start errors fail the spawn, on_stop errors are
// reported without blocking the stop, stop() from a handler, and the order
// in which a tree of actors stops.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;
using testing::SharedLog;

// Counts its on_stop calls.
class Recorder : public Actor {
 public:
  explicit Recorder(SharedLog* log) : log_(log) {}
  int ping() { return 1; }
  static constexpr auto kHandlers = handlers(handler<&Recorder::ping>("ping"));

 protected:
  Status on_stop() override {
    log_->add("recorder stop");
    return Status::ok();
  }

 private:
  SharedLog* log_;
};

// on_start returns `error` (after spawning a Recorder child when asked).
class FailsToStart : public Actor {
 public:
  FailsToStart(Status error, SharedLog* log, bool spawn_child)
      : error_(std::move(error)), log_(log), spawn_child_(spawn_child) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&FailsToStart::ping>("ping"));

 protected:
  Status on_start() override {
    log_->add("start");
    if (spawn_child_) {
      auto child = spawn<Recorder>(log_);
      if (!child) return child.status();
    }
    return error_;
  }
  Status on_stop() override {
    log_->add("stop");
    return Status::ok();
  }

 private:
  Status error_;
  SharedLog* log_;
  bool spawn_child_;
};

// on_start throws a std::exception (or a keel::Failure when `failure`).
class ThrowsInStart : public Actor {
 public:
  explicit ThrowsInStart(bool failure) : failure_(failure) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&ThrowsInStart::ping>("ping"));

 protected:
  Status on_start() override {
    if (failure_) throw Failure(Status::io_error("disk gone"));
    throw std::runtime_error("on_start exploded");
  }

 private:
  bool failure_;
};

class ThrowsInConstructor : public Actor {
 public:
  ThrowsInConstructor() { throw std::runtime_error("constructor exploded"); }
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&ThrowsInConstructor::ping>("ping"));
};

// on_stop returns an error, or throws when `throws`.
class FailsToStop : public Actor {
 public:
  explicit FailsToStop(bool throws) : throws_(throws) {}
  int ping() { return 1; }
  void crash() { fail(Status::corruption("crashed")); }
  static constexpr auto kHandlers =
      handlers(handler<&FailsToStop::ping>("ping"), handler<&FailsToStop::crash>("crash"));

 protected:
  Status on_stop() override {
    if (throws_) throw std::runtime_error("on_stop exploded");
    return Status::io_error("flush failed");
  }

 private:
  bool throws_;
};

// finish() stops the actor after replying; ping() counts.
class Stopper : public Actor {
 public:
  explicit Stopper(SharedLog* log) : log_(log) {}
  int finish() {
    stop();
    return 7;
  }
  int ping() { return ++pings_; }
  static constexpr auto kHandlers =
      handlers(handler<&Stopper::finish>("finish"), handler<&Stopper::ping>("ping"));

 protected:
  Status on_stop() override {
    log_->add("stop after " + std::to_string(pings_) + " pings");
    return Status::ok();
  }

 private:
  SharedLog* log_;
  int pings_ = 0;
};

// Calls stop() from on_start.
class StopsInStart : public Actor {
 public:
  explicit StopsInStart(SharedLog* log) : log_(log) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&StopsInStart::ping>("ping"));

 protected:
  Status on_start() override {
    stop();
    return Status::ok();
  }
  Status on_stop() override {
    log_->add("stop");
    return Status::ok();
  }

 private:
  SharedLog* log_;
};

// A tree node named by its path ("r", "r.0", "r.0.1"): spawns `fanout`
// children while depth > 0 and logs its name when it stops.
class Node : public Actor {
 public:
  Node(std::string name, int depth, int fanout, SharedLog* log)
      : name_(std::move(name)), depth_(depth), fanout_(fanout), log_(log) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&Node::ping>("ping"));

 protected:
  Status on_start() override {
    for (int i = 0; depth_ > 0 && i < fanout_; ++i) {
      auto child = spawn<Node>(name_ + "." + std::to_string(i), depth_ - 1, fanout_, log_);
      if (!child) return child.status();
    }
    return Status::ok();
  }
  Status on_stop() override {
    log_->add(name_);
    return Status::ok();
  }

 private:
  std::string name_;
  int depth_;
  int fanout_;
  SharedLog* log_;
};

std::vector<std::string> contains(const std::vector<std::string>& lines, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.find(needle) != std::string::npos) out.push_back(l);
  }
  return out;
}

// ---- on_start --------------------------------------------------------------------

TEST(Lifecycle, SpawnFailsWithTheErrorOnStartReturns) {
  SharedLog log;
  System sys(system_config(0));
  auto r = sys.spawn<FailsToStart>(Status::corruption("bad state"), &log, false);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), "bad state");
}

TEST(Lifecycle, OnStopIsNotRunWhenOnStartFails) {
  SharedLog log;
  System sys(system_config(0));
  auto r = sys.spawn<FailsToStart>(Status::corruption("bad state"), &log, false);
  ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
  sys.run_until_idle();
  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain), Status::ok());
  EXPECT_EQ(log.lines(), std::vector<std::string>{"start"});
  EXPECT_TRUE(sys.snapshot().actors.empty());
}

TEST(Lifecycle, NameIsNotLeftRegisteredWhenOnStartFails) {
  SharedLog log;
  System sys(system_config(0));
  SpawnOptions named;
  named.name = "svc";
  auto r = sys.spawn_with<FailsToStart>(named, Status::unavailable("not now"), &log, false);
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable);

  EXPECT_EQ(sys.lookup<FailsToStart>("svc").status().code(), StatusCode::kNotFound);
  auto again = sys.spawn_with<Recorder>(named, &log);
  ASSERT_TRUE(again.is_ok()) << again.status();
  auto found = sys.lookup<Recorder>("svc");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_EQ(found->id(), again->id());
}

TEST(Lifecycle, OnStartThatThrowsMakesSpawnFailWithInternal) {
  System sys(system_config(0));
  auto r = sys.spawn<ThrowsInStart>(false);
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("on_start exploded"), std::string_view::npos) << r.status();
}

TEST(Lifecycle, OnStartThatThrowsAFailureMakesSpawnFailWithItsStatus) {
  System sys(system_config(0));
  auto r = sys.spawn<ThrowsInStart>(true);
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
}

TEST(Lifecycle, ConstructorThatThrowsMakesSpawnFailWithInternal) {
  System sys(system_config(0));
  auto r = sys.spawn<ThrowsInConstructor>();
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(sys.snapshot().actors.empty());
}

TEST(Lifecycle, ChildrenSpawnedByAFailingOnStartAreStopped) {
  SharedLog log;
  System sys(system_config(0));
  auto r = sys.spawn<FailsToStart>(Status::corruption("bad state"), &log, true);
  ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
  sys.run_until_idle();

  // The child started normally, so its on_stop runs; the parent's does not.
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"start", "recorder stop"}));
  EXPECT_TRUE(sys.snapshot().actors.empty());
}

TEST(Lifecycle, StopCalledInOnStartStopsTheActorOnceItRuns) {
  SharedLog log;
  System sys(system_config(0));
  auto r = sys.spawn<StopsInStart>(&log);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_FALSE(r->is_stopped());  // nothing ran yet: spawn returned a live actor

  sys.run_until_idle();

  EXPECT_TRUE(r->is_stopped());
  EXPECT_EQ(log.lines(), std::vector<std::string>{"stop"});
  EXPECT_TRUE(sys.snapshot().actors.empty());
}

// ---- on_stop ---------------------------------------------------------------------

TEST(Lifecycle, FailingOnStopIsLoggedAndCountedAndTheStopCompletes) {
  SharedLog engine_log;
  SystemConfig config = system_config(1);
  config.log = [&engine_log](std::string_view line) { engine_log.add(std::string(line)); };
  System sys(std::move(config));
  auto a = sys.spawn<FailsToStop>(false);
  ASSERT_TRUE(a.is_ok());
  auto down = sys.watch(*a);

  sys.stop(*a);

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kOk);
  EXPECT_TRUE(a->is_stopped());
  EXPECT_EQ(sys.snapshot().stop_hook_failures, 1u);
  auto lines = contains(engine_log.lines(), "flush failed");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("on_stop"), std::string::npos) << lines[0];
}

TEST(Lifecycle, OnStopThatThrowsIsReportedAndTheStopCompletes) {
  SharedLog engine_log;
  SystemConfig config = system_config(1);
  config.log = [&engine_log](std::string_view line) { engine_log.add(std::string(line)); };
  System sys(std::move(config));
  auto a = sys.spawn<FailsToStop>(true);
  ASSERT_TRUE(a.is_ok());
  auto down = sys.watch(*a);

  sys.stop(*a);

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_TRUE(a->is_stopped());
  EXPECT_EQ(sys.snapshot().stop_hook_failures, 1u);
  EXPECT_EQ(contains(engine_log.lines(), "on_stop exploded").size(), 1u);
}

TEST(Lifecycle, FailingOnStopOfTheOldInstanceIsReportedAndTheRestartCompletes) {
  SharedLog engine_log;
  SystemConfig config = system_config(0);
  config.log = [&engine_log](std::string_view line) { engine_log.add(std::string(line)); };
  System sys(std::move(config));
  auto a = sys.spawn<FailsToStop>(false);
  ASSERT_TRUE(a.is_ok());

  a->tell<&FailsToStop::crash>();  // the default root strategy restarts it
  sys.run_until_idle();

  EXPECT_EQ(a->current().generation(), 2u);
  EXPECT_EQ(sys.snapshot().stop_hook_failures, 1u);
  EXPECT_EQ(contains(engine_log.lines(), "flush failed").size(), 1u);
  auto r = ActorRef<FailsToStop>(a->current()).ask<&FailsToStop::ping>();
  sys.run_until_idle();
  EXPECT_EQ(await(std::move(r)).value_or(0), 1);
}

// ---- stop() ---------------------------------------------------------------------

TEST(Lifecycle, StopInsideAHandlerTakesEffectAfterThatMessage) {
  SharedLog log;
  System sys(system_config(0));
  auto a = sys.spawn<Stopper>(&log);
  ASSERT_TRUE(a.is_ok());
  auto p1 = a->ask<&Stopper::ping>();
  auto fin = a->ask<&Stopper::finish>();
  auto p2 = a->ask<&Stopper::ping>();
  auto down = sys.watch(*a);

  sys.run_until_idle();

  EXPECT_EQ(await(std::move(p1)).value_or(0), 1);
  EXPECT_EQ(await(std::move(fin)).value_or(0), 7);  // the message that stopped it is answered
  EXPECT_EQ(await(std::move(p2)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sys.dead_letters().count(DeadLetterReason::kStopped), 1u);
  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kOk);
  EXPECT_EQ(log.lines(), std::vector<std::string>{"stop after 1 pings"});
}

// Spawns one Recorder child and lists its children.
class Parent : public Actor {
 public:
  explicit Parent(SharedLog* log) : log_(log) {}
  std::vector<AnyRef> kids() const { return children(); }
  static constexpr auto kHandlers = handlers(handler<&Parent::kids>("kids"));

 protected:
  Status on_start() override {
    auto child = spawn<Recorder>(log_);
    return child ? Status::ok() : child.status();
  }

 private:
  SharedLog* log_;
};

TEST(Lifecycle, AStoppedChildLeavesItsParentsChildrenAndTheParentRunsOn) {
  SharedLog log;
  System sys(system_config(0));
  auto parent = sys.spawn<Parent>(&log);
  ASSERT_TRUE(parent.is_ok());
  auto kids = parent->ask<&Parent::kids>();
  sys.run_until_idle();
  auto before = await(std::move(kids));
  ASSERT_TRUE(before.is_ok());
  ASSERT_EQ(before->size(), 1u);

  sys.stop((*before)[0]);
  sys.run_until_idle();

  EXPECT_TRUE((*before)[0].is_stopped());
  EXPECT_EQ(log.lines(), std::vector<std::string>{"recorder stop"});
  auto after = parent->ask<&Parent::kids>();
  sys.run_until_idle();
  auto now = await(std::move(after));
  ASSERT_TRUE(now.is_ok()) << now.status();
  EXPECT_TRUE(now->empty());
  EXPECT_FALSE(parent->is_stopped());
}

TEST(Lifecycle, ChildrenStopBeforeTheirParent) {
  SharedLog log;
  System sys(system_config(2));
  auto root = sys.spawn<Node>("r", 2, 2, &log);
  ASSERT_TRUE(root.is_ok()) << root.status();
  auto down = sys.watch(*root);

  sys.stop(*root);
  ASSERT_TRUE(await(std::move(down)).is_ok());

  const auto order = log.lines();
  ASSERT_EQ(order.size(), 7u);
  auto pos = [&](const std::string& name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  for (const std::string parent : {"r", "r.0", "r.1"}) {
    for (int i = 0; i < 2; ++i) {
      const std::string child = parent + "." + std::to_string(i);
      EXPECT_LT(pos(child), pos(parent)) << child << " stopped after " << parent;
    }
  }
  EXPECT_EQ(order.back(), "r");
}

}  // namespace
}  // namespace keel
