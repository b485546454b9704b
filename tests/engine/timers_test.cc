// Timers: System::send_after / send_every / cancel_timer and the timers an
// actor owns. Time moves only by ManualClock::advance(), which fires due
// timers on the advancing thread; with threads = 0 the test then steps the
// system, so every firing is observed exactly.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;
using testing::system_config;

class Sink : public Actor {
 public:
  void put(int v) { got_.push_back(v); }
  std::vector<int> got() const { return got_; }
  void fulfil(Promise<int>* p, int v) { p->set_value(v); }

  static constexpr auto kHandlers = handlers(handler<&Sink::put>("put"), handler<&Sink::got>("got"),
                                             handler<&Sink::fulfil>("fulfil"));

 private:
  std::vector<int> got_;
};

// Owns timers that send to a Sink.
class Ticker : public Actor {
 public:
  void arm(ActorRef<Sink> to) {
    one_shot_ = send_after<&Sink::put>(50ms, to, 1);
    periodic_ = send_every<&Sink::put>(10ms, to, 2);
  }
  bool cancel_one_shot() { return cancel_timer(one_shot_); }
  void boom() { throw std::runtime_error("boom"); }

  static constexpr auto kHandlers =
      handlers(handler<&Ticker::arm>("arm"), handler<&Ticker::cancel_one_shot>("cancel_one_shot"),
               handler<&Ticker::boom>("boom"));

 private:
  TimerId one_shot_ = 0;
  TimerId periodic_ = 0;
};

// Deterministic fixture: no workers, a manual clock.
class TimersTest : public ::testing::Test {
 protected:
  // Runs what is queued and returns what the sink has handled.
  std::vector<int> handled(const ActorRef<Sink>& sink) {
    system_.run_until_idle();
    Future<std::vector<int>> f = sink.ask<&Sink::got>();
    system_.run_until_idle();
    if (!f.is_ready()) return {-1};
    return f.get().value_or(std::vector<int>{-1});
  }
  std::uint64_t pending_timers() const { return system_.snapshot().pending_timers; }

  ManualClock clock_;
  System system_{system_config(0, &clock_)};
  ActorRef<Sink> sink_ = system_.spawn<Sink>().value();
};

TEST_F(TimersTest, SendAfterFiresWhenTheClockReachesTheDelayAndNotBefore) {
  system_.send_after<&Sink::put>(100ms, sink_, 7);
  clock_.advance(100ms - 1ns);
  EXPECT_EQ(system_.run_until_idle(), 0u);
  EXPECT_EQ(pending_timers(), 1u);
  clock_.advance(1ns);
  EXPECT_EQ(pending_timers(), 0u);
  EXPECT_EQ(system_.run_until_idle(), 1u);
  EXPECT_EQ(handled(sink_), (std::vector<int>{7}));
}

TEST_F(TimersTest, SendAfterFiresOnlyOnce) {
  system_.send_after<&Sink::put>(10ms, sink_, 7);
  clock_.advance(10ms);
  clock_.advance(1s);
  EXPECT_EQ(handled(sink_), (std::vector<int>{7}));
}

TEST_F(TimersTest, SendAfterDelaysAreOrderedByDueTime) {
  system_.send_after<&Sink::put>(30ms, sink_, 3);
  system_.send_after<&Sink::put>(10ms, sink_, 1);
  system_.send_after<&Sink::put>(20ms, sink_, 2);
  clock_.advance(1s);  // all due at once: they fire in due-time order
  EXPECT_EQ(handled(sink_), (std::vector<int>{1, 2, 3}));
}

TEST_F(TimersTest, SendEveryFiresOncePerPeriod) {
  system_.send_every<&Sink::put>(10ms, sink_, 5);
  clock_.advance(9ms);
  EXPECT_EQ(system_.run_until_idle(), 0u);
  for (int i = 1; i <= 3; ++i) {
    clock_.advance(i == 1 ? 1ms : 10ms);
    EXPECT_EQ(system_.run_until_idle(), 1u) << "period " << i;
  }
  EXPECT_EQ(handled(sink_), (std::vector<int>{5, 5, 5}));
  EXPECT_EQ(pending_timers(), 1u);  // still armed
}

TEST_F(TimersTest, SendEveryFiresOnceForEachPeriodThatElapsedInOneAdvance) {
  system_.send_every<&Sink::put>(10ms, sink_, 5);
  clock_.advance(35ms);  // periods due at 10, 20 and 30 ms
  EXPECT_EQ(handled(sink_), (std::vector<int>{5, 5, 5}));
}

TEST_F(TimersTest, CancelTimerStopsAPeriodicTimerAndReportsItWasPending) {
  const TimerId id = system_.send_every<&Sink::put>(10ms, sink_, 5);
  clock_.advance(10ms);
  EXPECT_TRUE(system_.cancel_timer(id));
  clock_.advance(100ms);
  EXPECT_EQ(handled(sink_), (std::vector<int>{5}));
  EXPECT_EQ(pending_timers(), 0u);
}

TEST_F(TimersTest, CancelTimerOfACancelledTimerReturnsFalse) {
  const TimerId id = system_.send_after<&Sink::put>(10ms, sink_, 5);
  EXPECT_TRUE(system_.cancel_timer(id));
  EXPECT_FALSE(system_.cancel_timer(id));
  clock_.advance(1s);
  EXPECT_EQ(handled(sink_), (std::vector<int>{}));
}

TEST_F(TimersTest, CancelTimerOfAFiredOneShotReturnsFalse) {
  const TimerId id = system_.send_after<&Sink::put>(10ms, sink_, 5);
  clock_.advance(10ms);
  EXPECT_FALSE(system_.cancel_timer(id));
  EXPECT_EQ(handled(sink_), (std::vector<int>{5}));  // the message was already sent
}

TEST_F(TimersTest, TimerToAStoppedActorIsAStoppedLetter) {
  system_.send_after<&Sink::put>(10ms, sink_, 5);
  Future<Down> down = system_.watch(sink_);
  system_.stop(sink_);
  system_.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  clock_.advance(10ms);
  EXPECT_EQ(system_.dead_letters().count(DeadLetterReason::kStopped), 1u);
  std::vector<DeadLetter> h = system_.dead_letters().history();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].target, sink_.id());
  EXPECT_EQ(h[0].method, "put");
}

TEST_F(TimersTest, ActorTimersAreCancelledWhenTheActorStops) {
  auto ticker = system_.spawn<Ticker>().value();
  ticker.tell<&Ticker::arm>(sink_);
  system_.run_until_idle();
  EXPECT_EQ(pending_timers(), 2u);
  Future<Down> down = system_.watch(ticker);
  system_.stop(ticker);
  system_.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  EXPECT_EQ(pending_timers(), 0u);
  clock_.advance(1s);
  EXPECT_EQ(handled(sink_), (std::vector<int>{}));
}

TEST_F(TimersTest, ActorTimersAreCancelledWhenTheActorRestarts) {
  auto ticker = system_.spawn<Ticker>().value();
  ticker.tell<&Ticker::arm>(sink_);
  ticker.tell<&Ticker::boom>();  // the root strategy restarts it
  system_.run_until_idle();
  ASSERT_EQ(ticker.current().generation(), 2u);
  EXPECT_EQ(pending_timers(), 0u);
  clock_.advance(1s);
  EXPECT_EQ(handled(sink_), (std::vector<int>{}));
}

TEST_F(TimersTest, ActorTimersFireWhileTheActorLives) {
  auto ticker = system_.spawn<Ticker>().value();
  ticker.tell<&Ticker::arm>(sink_);
  system_.run_until_idle();
  clock_.advance(50ms);  // periodic at 10..50 ms, then the one-shot at 50 ms
  EXPECT_EQ(handled(sink_), (std::vector<int>{2, 2, 2, 2, 1, 2}));
}

TEST_F(TimersTest, ActorCancelTimerReturnsWhetherItWasPending) {
  auto ticker = system_.spawn<Ticker>().value();
  ticker.tell<&Ticker::arm>(sink_);
  Future<bool> first = ticker.ask<&Ticker::cancel_one_shot>();
  Future<bool> second = ticker.ask<&Ticker::cancel_one_shot>();
  system_.run_until_idle();
  EXPECT_EQ(first.get().value(), true);
  EXPECT_EQ(second.get().value(), false);
  EXPECT_EQ(pending_timers(), 1u);  // the periodic one
}

// With a worker thread: the test advances the clock, the timer sends from
// this thread, the worker handles the message.
TEST(TimersWithAWorker, SendAfterIsHandledByTheWorkerOnceTheClockAdvances) {
  ManualClock clock;
  System system(system_config(1, &clock));
  auto sink = system.spawn<Sink>().value();
  Promise<int> fired;
  Future<int> f = fired.future();
  system.send_after<&Sink::fulfil>(1s, sink, &fired, 7);
  clock.advance(999ms);
  EXPECT_EQ(system.snapshot().pending_timers, 1u);  // due timers fire inside advance()
  clock.advance(1ms);
  EXPECT_EQ(system.snapshot().pending_timers, 0u);
  EXPECT_EQ(await(std::move(f)).value(), 7);
}

TEST(TimersWithAWorker, SendEveryDeliversOneMessagePerPeriod) {
  ManualClock clock;
  System system(system_config(1, &clock));
  auto sink = system.spawn<Sink>().value();
  const TimerId id = system.send_every<&Sink::put>(10ms, sink, 3);
  for (int i = 0; i < 4; ++i) clock.advance(10ms);
  EXPECT_TRUE(system.cancel_timer(id));
  // The timer's sends ran on this thread before this ask was sent.
  EXPECT_EQ(await(sink.ask<&Sink::got>()).value(), (std::vector<int>{3, 3, 3, 3}));
}

}  // namespace
}  // namespace keel
