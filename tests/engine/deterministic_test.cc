// Deterministic mode (threads = 0): nothing runs until the test steps the
// system; run_one() runs one turn of the oldest runnable actor with at most
// one user message, and an actor with more work goes to the back of the line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::system_config;

using Log = std::vector<std::string>;

// Appends "<name>:<what>" to a log owned by the test. Deterministic mode runs
// every turn on the test thread, so the log needs no lock.
class Recorder : public Actor {
 public:
  Recorder(Log* log, std::string name) : log_(log), name_(std::move(name)) {}

  void note(std::string what) { log_->push_back(name_ + ":" + what); }
  void relay(ActorRef<Recorder> to, std::string what) {
    note("relay");
    to.tell<&Recorder::note>(name_ + ">" + what);
  }
  void ping(ActorRef<Recorder> peer, int left) {
    note(std::to_string(left));
    if (left > 0) peer.tell<&Recorder::ping>(self<Recorder>(), left - 1);
  }

  static constexpr auto kHandlers = handlers(handler<&Recorder::note>("note"),
                                             handler<&Recorder::relay>("relay"),
                                             handler<&Recorder::ping>("ping"));

 private:
  Log* log_;
  std::string name_;
};

class DeterministicTest : public ::testing::Test {
 protected:
  ActorRef<Recorder> spawn(const std::string& name) { return system_.spawn<Recorder>(&log_, name).value(); }

  Log log_;  // outlives the system
  System system_{system_config(0)};
};

TEST_F(DeterministicTest, NothingRunsUntilTheSystemIsStepped) {
  auto a = spawn("a");
  a.tell<&Recorder::note>("1");
  a.tell<&Recorder::note>("2");
  EXPECT_TRUE(log_.empty());
  SystemSnapshot s = system_.snapshot();
  ASSERT_EQ(s.actors.size(), 1u);
  EXPECT_EQ(s.actors[0].mailbox_depth, 2u);
  EXPECT_EQ(s.actors[0].processed, 0u);
  EXPECT_EQ(s.worker_threads, 0);
  EXPECT_EQ(system_.worker_threads(), 0);
}

TEST_F(DeterministicTest, RunOneHandlesExactlyOneMessage) {
  auto a = spawn("a");
  for (int i = 1; i <= 3; ++i) a.tell<&Recorder::note>(std::to_string(i));
  ASSERT_TRUE(system_.run_one());
  EXPECT_EQ(log_, (Log{"a:1"}));
  EXPECT_EQ(system_.snapshot().actors[0].mailbox_depth, 2u);
  ASSERT_TRUE(system_.run_one());
  EXPECT_EQ(log_, (Log{"a:1", "a:2"}));
  EXPECT_EQ(system_.snapshot().actors[0].mailbox_depth, 1u);
}

TEST_F(DeterministicTest, RunOneReturnsFalseWhenNothingIsRunnable) {
  spawn("a");
  EXPECT_FALSE(system_.run_one());
}

TEST_F(DeterministicTest, RunnableActorsTakeTurnsInFifoOrderOneMessageEach) {
  auto a = spawn("a");
  auto b = spawn("b");
  auto c = spawn("c");
  a.tell<&Recorder::note>("1");  // a, b and c become runnable in this order
  a.tell<&Recorder::note>("2");
  b.tell<&Recorder::note>("1");
  c.tell<&Recorder::note>("1");
  a.tell<&Recorder::note>("3");
  b.tell<&Recorder::note>("2");
  system_.run_until_idle();
  EXPECT_EQ(log_, (Log{"a:1", "b:1", "c:1", "a:2", "b:2", "a:3"}));
}

TEST_F(DeterministicTest, ActorMadeRunnableByAHandlerRunsAfterThoseAlreadyRunnable) {
  auto a = spawn("a");
  auto b = spawn("b");
  auto c = spawn("c");
  a.tell<&Recorder::relay>(b, "x");
  c.tell<&Recorder::note>("1");
  system_.run_until_idle();
  EXPECT_EQ(log_, (Log{"a:relay", "c:1", "b:a>x"}));
}

TEST_F(DeterministicTest, EachStepAdvancesAPingPongByOneMessage) {
  auto a = spawn("a");
  auto b = spawn("b");
  a.tell<&Recorder::ping>(b, 3);
  const Log expected{"a:3", "b:2", "a:1", "b:0"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(system_.run_one());
    EXPECT_EQ(log_, Log(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(i) + 1));
  }
  EXPECT_FALSE(system_.run_one());
}

TEST_F(DeterministicTest, RunUntilIdleReturnsTheNumberOfTurns) {
  auto a = spawn("a");
  auto b = spawn("b");
  for (int i = 0; i < 3; ++i) a.tell<&Recorder::note>("a");
  for (int i = 0; i < 2; ++i) b.tell<&Recorder::note>("b");
  EXPECT_EQ(system_.run_until_idle(), 5u);
  EXPECT_EQ(log_.size(), 5u);
  EXPECT_EQ(system_.run_until_idle(), 0u);
}

TEST_F(DeterministicTest, RunUntilIdleStopsAfterMaxSteps) {
  auto a = spawn("a");
  for (int i = 0; i < 5; ++i) a.tell<&Recorder::note>(std::to_string(i));
  EXPECT_EQ(system_.run_until_idle(2), 2u);
  EXPECT_EQ(log_, (Log{"a:0", "a:1"}));
  EXPECT_EQ(system_.snapshot().actors[0].mailbox_depth, 3u);
  EXPECT_EQ(system_.run_until_idle(), 3u);
}

TEST(Deterministic, TheSameProgramGivesTheSameInterleavingEveryRun) {
  auto run = [] {
    Log log;
    System system(system_config(0));
    std::vector<ActorRef<Recorder>> rs;
    for (int i = 0; i < 4; ++i) rs.push_back(system.spawn<Recorder>(&log, std::to_string(i)).value());
    for (int i = 0; i < 4; ++i) {
      rs[static_cast<std::size_t>(i)].tell<&Recorder::ping>(rs[static_cast<std::size_t>((i + 1) % 4)], 5);
      rs[static_cast<std::size_t>(i)].tell<&Recorder::relay>(rs[static_cast<std::size_t>((i + 2) % 4)], "r");
    }
    system.run_until_idle();
    system.shutdown(ShutdownMode::kDrain).ignore();
    return log;
  };
  const Log first = run();
  EXPECT_EQ(first.size(), 4u * (6u + 2u));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(), first);
}

}  // namespace
}  // namespace keel
