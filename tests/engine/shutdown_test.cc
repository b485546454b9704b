// System shutdown: kDrain and kStop, deadlines, what happens to messages and
// spawns afterwards, the destructor, and that no thread or actor outlives
// the System.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
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
using testing::SharedLog;

// Counts what it is sent; on_stop logs "<name> counted <n>".
class Counter : public Actor {
 public:
  Counter(std::string name, SharedLog* log) : name_(std::move(name)), log_(log) {}
  void add(int n) { total_ += n; }
  int get() const { return total_; }
  static constexpr auto kHandlers = handlers(handler<&Counter::add>("add"), handler<&Counter::get>("get"));

 protected:
  Status on_stop() override {
    log_->add(name_ + " counted " + std::to_string(total_));
    return Status::ok();
  }

 private:
  std::string name_;
  SharedLog* log_;
  int total_ = 0;
};

// Passes each message on to a Counter (work caused by queued work).
class Forwarder : public Actor {
 public:
  Forwarder(ActorRef<Counter> next, SharedLog* log) : next_(std::move(next)), log_(log) {}
  void pass(int n) {
    ++passed_;
    next_.tell<&Counter::add>(n);
  }
  static constexpr auto kHandlers = handlers(handler<&Forwarder::pass>("pass"));

 protected:
  Status on_stop() override {
    log_->add("forwarder passed " + std::to_string(passed_));
    return Status::ok();
  }

 private:
  ActorRef<Counter> next_;
  SharedLog* log_;
  int passed_ = 0;
};

// Keeps sending itself messages: a drain never finishes.
class Looper : public Actor {
 public:
  explicit Looper(SharedLog* log) : log_(log) {}
  void spin() { self<Looper>().tell<&Looper::spin>(); }
  static constexpr auto kHandlers = handlers(handler<&Looper::spin>("spin"));

 protected:
  Status on_stop() override {
    log_->add("looper");
    return Status::ok();
  }

 private:
  SharedLog* log_;
};

// A tree node named by its path ("r", "r.0", "r.0.1"): spawns `fanout`
// children while depth > 0 and logs its name when it stops. `token` is only
// held (copies live in the engine's factory for the node), so its use count
// shows whether the engine still holds any node.
class Node : public Actor {
 public:
  Node(std::string name, int depth, int fanout, SharedLog* log, std::shared_ptr<const int> token)
      : name_(std::move(name)), depth_(depth), fanout_(fanout), log_(log), token_(std::move(token)) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&Node::ping>("ping"));

 protected:
  Status on_start() override {
    for (int i = 0; depth_ > 0 && i < fanout_; ++i) {
      auto child = spawn<Node>(name_ + "." + std::to_string(i), depth_ - 1, fanout_, log_, token_);
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
  std::shared_ptr<const int> token_;
};

// Every node in `order` (a stop order of paths: "r.0" is a child of "r")
// comes after its children.
::testing::AssertionResult children_before_parents(const std::vector<std::string>& order) {
  auto pos = [&](const std::string& n) { return std::find(order.begin(), order.end(), n); };
  for (auto it = order.begin(); it != order.end(); ++it) {
    const std::string& child = *it;
    const auto dot = child.rfind('.');
    if (dot == std::string::npos) continue;
    const auto parent = pos(child.substr(0, dot));
    if (parent == order.end()) return ::testing::AssertionFailure() << child << "'s parent never stopped";
    if (parent < it) return ::testing::AssertionFailure() << child << " stopped after its parent";
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> nodes_only(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (!l.empty() && l[0] == 'r') out.push_back(l);
  }
  return out;
}

// ---- kDrain ----------------------------------------------------------------------

TEST(Shutdown, DrainHandlesEveryQueuedMessageAndWhatItCausesBeforeStopping) {
  constexpr int kMessages = 10'000;
  SharedLog log;
  System sys(system_config(0));  // nothing runs before the shutdown
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  auto forwarder = sys.spawn<Forwarder>(*counter, &log);
  ASSERT_TRUE(forwarder.is_ok());
  for (int i = 0; i < kMessages; ++i) forwarder->tell<&Forwarder::pass>(1);
  ASSERT_EQ(sys.snapshot().actors.size(), 2u);

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  auto lines = log.lines();
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"counter counted 10000", "forwarder passed 10000"}));
  EXPECT_EQ(sys.dead_letters().total(), 0u);
  EXPECT_TRUE(counter->is_stopped());
  EXPECT_TRUE(forwarder->is_stopped());
}

TEST(Shutdown, DrainWithWorkerThreadsHandlesEveryMessageBeforeStopping) {
  constexpr int kMessages = 10'000;
  SharedLog log;
  System sys(system_config(2));
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  std::vector<ActorRef<Forwarder>> forwarders;
  for (int f = 0; f < 2; ++f) {
    auto r = sys.spawn<Forwarder>(*counter, &log);
    ASSERT_TRUE(r.is_ok());
    forwarders.push_back(*r);
  }
  for (int i = 0; i < kMessages; ++i) forwarders[i % 2].tell<&Forwarder::pass>(1);

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  auto lines = log.lines();
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"counter counted 10000", "forwarder passed 5000",
                                             "forwarder passed 5000"}));
  EXPECT_EQ(sys.dead_letters().total(), 0u);
}

TEST(Shutdown, DrainAnswersQueuedAsks) {
  SharedLog log;
  System sys(system_config(0));
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  counter->tell<&Counter::add>(2);
  auto reply = counter->ask<&Counter::get>();

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  EXPECT_EQ(await(std::move(reply)).value_or(-1), 2);
}

TEST(Shutdown, DrainStopsChildrenBeforeTheirParents) {
  SharedLog log;
  auto token = std::make_shared<const int>(0);
  System sys(system_config(2));
  ASSERT_TRUE(sys.spawn<Node>("r", 2, 2, &log, token).is_ok());

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  const auto order = log.lines();
  EXPECT_EQ(order.size(), 7u);
  EXPECT_TRUE(children_before_parents(order));
}

// ---- kStop -----------------------------------------------------------------------

TEST(Shutdown, StopSendsQueuedMessagesToDeadLettersAsStoppedAndFailsTheirAsks) {
  SharedLog log;
  System sys(system_config(0));  // nothing runs before the shutdown
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  for (int i = 0; i < 10; ++i) counter->tell<&Counter::add>(1);
  auto r1 = counter->ask<&Counter::get>();
  auto r2 = counter->ask<&Counter::get>();

  EXPECT_EQ(sys.shutdown(ShutdownMode::kStop, kWait), Status::ok());

  EXPECT_EQ(sys.dead_letters().count(DeadLetterReason::kStopped), 12u);
  EXPECT_EQ(sys.dead_letters().total(), 12u);
  EXPECT_EQ(await(std::move(r1)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(await(std::move(r2)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(log.lines(), std::vector<std::string>{"counter counted 0"});  // on_stop ran, nothing was handled
}

// ---- After the shutdown ------------------------------------------------------------

TEST(Shutdown, SpawnAfterShutdownIsUnavailable) {
  SharedLog log;
  System sys(system_config(2));
  ASSERT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  EXPECT_EQ(sys.spawn<Counter>("late", &log).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(log.lines().empty());
}

TEST(Shutdown, TellAfterShutdownIsAStoppedDeadLetter) {
  SharedLog log;
  System sys(system_config(2));
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  ASSERT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  counter->tell<&Counter::add>(1);
  EXPECT_EQ(counter->try_tell<&Counter::add>(SendOptions{}, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(await(counter->ask<&Counter::get>()).status().code(), StatusCode::kNotFound);

  EXPECT_EQ(sys.dead_letters().count(DeadLetterReason::kStopped), 3u);
}

TEST(Shutdown, WatchAfterShutdownCompletesWithNotFound) {
  SharedLog log;
  System sys(system_config(2));
  auto counter = sys.spawn<Counter>("counter", &log);
  ASSERT_TRUE(counter.is_ok());
  ASSERT_EQ(sys.shutdown(ShutdownMode::kStop, kWait), Status::ok());

  auto d = await(sys.watch(*counter));

  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kNotFound);
}

TEST(Shutdown, ShutdownIsIdempotent) {
  SharedLog log;
  System sys(system_config(2));
  ASSERT_TRUE(sys.spawn<Counter>("counter", &log).is_ok());

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());
  EXPECT_TRUE(sys.is_shut_down());
  EXPECT_EQ(sys.shutdown(ShutdownMode::kStop, kWait), Status::ok());
  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, kWait), Status::ok());

  EXPECT_TRUE(sys.is_shut_down());
  EXPECT_EQ(log.lines(), std::vector<std::string>{"counter counted 0"});  // stopped once
}

// ---- Destructor --------------------------------------------------------------------

TEST(Shutdown, DestructorRunsOnStopOfEveryLiveActorChildrenFirst) {
  SharedLog log;
  auto token = std::make_shared<const int>(0);
  {
    System sys(system_config(2));
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(sys.spawn<Node>("r" + std::to_string(i), 1, 2, &log, token).is_ok());
    }
  }
  const auto order = log.lines();
  EXPECT_EQ(order.size(), 9u);
  EXPECT_TRUE(children_before_parents(order));
  EXPECT_EQ(token.use_count(), 1) << "the engine still holds actors after the System was destroyed";
}

// ---- Threads -----------------------------------------------------------------------

std::set<std::string> thread_ids() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    out.insert(e.path().filename().string());
  }
  return out;
}

// Waits (yielding, up to kWait) until no thread outside `before` is left. A
// joined thread can stay listed in /proc for a moment while the kernel
// reaps it.
::testing::AssertionResult no_threads_beyond(const std::set<std::string>& before) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    std::vector<std::string> extra;
    for (const auto& t : thread_ids()) {
      if (before.count(t) == 0) extra.push_back(t);
    }
    if (extra.empty()) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << extra.size() << " thread(s) outlived the System";
    }
    std::this_thread::yield();
  }
}

TEST(Shutdown, NoThreadOutlivesTheSystem) {
  // Sanitizer runtimes may start a helper thread with the first thread a
  // process creates: let that happen before taking the baseline.
  std::thread([] {}).join();
  for (int round = 0; round < 3; ++round) {
    const auto before = thread_ids();
    {
      SharedLog log;
      System sys(system_config(4));  // 4 workers and the real clock's timer thread
      auto counter = sys.spawn<Counter>("counter", &log);
      ASSERT_TRUE(counter.is_ok());
      counter->tell<&Counter::add>(1);
      ASSERT_EQ(await(counter->ask<&Counter::get>()).value_or(-1), 1);
      EXPECT_GE(thread_ids().size(), before.size() + 5) << "round " << round;
    }
    EXPECT_TRUE(no_threads_beyond(before)) << "round " << round;
    EXPECT_LE(thread_ids().size(), before.size()) << "round " << round;
  }
}

// ---- Deadlines ---------------------------------------------------------------------

TEST(Shutdown, DrainThatCannotMeetItsDeadlineReturnsTimeoutAndStillStops) {
  SharedLog log;
  System sys(system_config(2));
  auto looper = sys.spawn<Looper>(&log);
  ASSERT_TRUE(looper.is_ok());
  auto down = sys.watch(*looper);
  looper->tell<&Looper::spin>();

  EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, 50ms).code(), StatusCode::kTimeout);

  EXPECT_TRUE(sys.is_shut_down());
  EXPECT_TRUE(looper->is_stopped());
  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kOk);
  EXPECT_EQ(log.lines(), std::vector<std::string>{"looper"});
}

TEST(Shutdown, DrainPastItsDeadlineWithWorkerThreadsStillStopsEveryActorChildrenFirst) {
  SharedLog log;
  auto token = std::make_shared<const int>(0);
  {
    System sys(system_config(2));
    auto looper = sys.spawn<Looper>(&log);
    ASSERT_TRUE(looper.is_ok());
    looper->tell<&Looper::spin>();
    ASSERT_TRUE(sys.spawn<Node>("r", 2, 2, &log, token).is_ok());

    EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, 50ms).code(), StatusCode::kTimeout);

    EXPECT_TRUE(looper->is_stopped());
    EXPECT_TRUE(sys.snapshot().actors.empty());
    const auto order = nodes_only(log.lines());
    EXPECT_EQ(order.size(), 7u);
    EXPECT_TRUE(children_before_parents(order));
  }
  EXPECT_EQ(token.use_count(), 1) << "the engine still holds actors after the System was destroyed";
}

TEST(Shutdown, DrainPastItsDeadlineStillStopsEveryActorChildrenFirst) {
  SharedLog log;
  auto token = std::make_shared<const int>(0);
  {
    System sys(system_config(0));
    auto looper = sys.spawn<Looper>(&log);
    ASSERT_TRUE(looper.is_ok());
    looper->tell<&Looper::spin>();
    ASSERT_TRUE(sys.spawn<Node>("r", 2, 2, &log, token).is_ok());

    // The drain uses the whole deadline, so the actors are stopped on this
    // thread after it.
    EXPECT_EQ(sys.shutdown(ShutdownMode::kDrain, 20ms).code(), StatusCode::kTimeout);

    EXPECT_TRUE(looper->is_stopped());
    EXPECT_TRUE(sys.snapshot().actors.empty());
    const auto lines = log.lines();
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "looper"), 1);
    const auto order = nodes_only(lines);
    EXPECT_EQ(order.size(), 7u);
    EXPECT_TRUE(children_before_parents(order));
  }
  EXPECT_EQ(token.use_count(), 1) << "the engine still holds actors after the System was destroyed";
}

}  // namespace
}  // namespace keel
