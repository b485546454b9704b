// Scheduling on worker threads (engine/src/scheduler.cc, Cell::run_turn):
// turns that work off a backlog keep each sender's order, stay bounded so
// that other actors get their turn, and still take control messages first
// at every batch; a message an actor sends itself waits for its next turn.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::kWait;
using testing::system_config;

SystemConfig config(int threads, int throughput) {
  SystemConfig c = system_config(threads);
  c.throughput = throughput;
  return c;
}

// Checks that each sender's sequence numbers arrive in order, and completes
// `done` with the verdict once `expected` messages arrived.
class OrderedSink : public Actor {
 public:
  OrderedSink(int senders, std::int64_t expected, Promise<void>* done)
      : next_(static_cast<std::size_t>(senders), 0), expected_(expected), done_(done) {}
  void put(int sender, std::int64_t seq) {
    std::int64_t& want = next_[static_cast<std::size_t>(sender)];
    if (seq != want && error_.empty()) {
      error_ = "sender " + std::to_string(sender) + ": got " + std::to_string(seq) + ", expected " +
               std::to_string(want);
    }
    want = seq + 1;
    if (++count_ == expected_) {
      if (error_.empty()) {
        done_->set_value();
      } else {
        done_->set_error(Status::internal(error_));
      }
    }
  }
  static constexpr auto kHandlers = handlers(handler<&OrderedSink::put>("put"));

 private:
  std::vector<std::int64_t> next_;
  std::int64_t expected_;
  Promise<void>* done_;
  std::int64_t count_ = 0;
  std::string error_;
};

// Sends `count` numbered messages to the sink, `chunk` per turn, then tells
// itself to go on: the sink's backlog grows much faster than one batch per
// turn would drain it.
class Source : public Actor {
 public:
  Source(ActorRef<OrderedSink> sink, int index, std::int64_t count, int chunk)
      : sink_(std::move(sink)), index_(index), count_(count), chunk_(chunk) {}
  void run() {
    for (int i = 0; i < chunk_ && sent_ < count_; ++i) sink_.tell<&OrderedSink::put>(index_, sent_++);
    if (sent_ < count_) self<Source>().tell<&Source::run>();
  }
  static constexpr auto kHandlers = handlers(handler<&Source::run>("run"));

 private:
  ActorRef<OrderedSink> sink_;
  int index_;
  std::int64_t count_;
  int chunk_;
  std::int64_t sent_ = 0;
};

TEST(Scheduler, AReceiverWorkingOffABacklogHandlesEachSendersMessagesInOrder) {
  constexpr int kSenders = 4;
  constexpr std::int64_t kPerSender = 50000;
  Promise<void> done;
  Future<void> finished = done.future();
  System system(config(2, 64));
  auto sink = system.spawn<OrderedSink>(kSenders, kSenders * kPerSender, &done).value();
  std::vector<ActorRef<Source>> sources;
  for (int i = 0; i < kSenders; ++i) sources.push_back(system.spawn<Source>(sink, i, kPerSender, 1000).value());
  for (auto& s : sources) s.tell<&Source::run>();
  EXPECT_TRUE(await(std::move(finished)).is_ok());
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

// Holds the only worker in its handler until the test lets it go, so that
// the test can queue messages while nothing runs.
class Gate : public Actor {
 public:
  Gate(std::promise<void>* entered, std::shared_future<void> release)
      : entered_(entered), release_(std::move(release)) {}
  Status hold() {
    entered_->set_value();
    if (release_.wait_for(kWait) != std::future_status::ready) return Status::timeout("gate not released");
    return Status::ok();
  }
  static constexpr auto kHandlers = handlers(handler<&Gate::hold>("hold"));

 private:
  std::promise<void>* entered_;
  std::shared_future<void> release_;
};

class Counter : public Actor {
 public:
  explicit Counter(std::atomic<std::int64_t>* handled) : handled_(handled) {}
  void add() { handled_->fetch_add(1, std::memory_order_relaxed); }
  static constexpr auto kHandlers = handlers(handler<&Counter::add>("add"));

 private:
  std::atomic<std::int64_t>* handled_;
};

// Records how many messages the counter had handled when it ran.
class Probe : public Actor {
 public:
  Probe(const std::atomic<std::int64_t>* handled, Promise<std::int64_t>* seen) : handled_(handled), seen_(seen) {}
  void look() { seen_->set_value(handled_->load(std::memory_order_relaxed)); }
  static constexpr auto kHandlers = handlers(handler<&Probe::look>("look"));

 private:
  const std::atomic<std::int64_t>* handled_;
  Promise<std::int64_t>* seen_;
};

TEST(Scheduler, AnActorWithABacklogDoesNotKeepOthersWaitingUntilItIsDrained) {
  constexpr std::int64_t kBacklog = 100000;
  std::atomic<std::int64_t> handled{0};
  Promise<std::int64_t> seen;
  Future<std::int64_t> probe_ran = seen.future();
  std::promise<void> entered;
  std::promise<void> release;
  // One worker, one message per batch: a turn handles at most a bounded
  // number of batches, and long turns bring the worker's poll of the global
  // queue (where this thread's sends go) closer.
  System system(config(1, 1));
  auto gate = system.spawn<Gate>(&entered, release.get_future().share()).value();
  auto counter = system.spawn<Counter>(&handled).value();
  auto probe = system.spawn<Probe>(&handled, &seen).value();
  auto held = gate.ask<&Gate::hold>();
  ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);
  for (std::int64_t i = 0; i < kBacklog; ++i) counter.tell<&Counter::add>();
  probe.tell<&Probe::look>();  // queued behind the counter
  release.set_value();
  auto at = await(std::move(probe_ran));
  ASSERT_TRUE(at.has_value()) << at.status().to_string();
  EXPECT_LT(*at, kBacklog);
  EXPECT_TRUE(await(std::move(held)).is_ok());
}

class Flag : public Actor {
 public:
  explicit Flag(std::atomic<bool>* set) : set_(set) {}
  void set() { set_->store(true); }
  static constexpr auto kHandlers = handlers(handler<&Flag::set>("set"));

 private:
  std::atomic<bool>* set_;
};

// Wakes the flag actor, then messages itself to look whether it ran.
class Looper : public Actor {
 public:
  Looper(ActorRef<Flag> flag, const std::atomic<bool>* set, Promise<bool>* seen)
      : flag_(std::move(flag)), set_(set), seen_(seen) {}
  void start() {
    flag_.tell<&Flag::set>();
    self<Looper>().tell<&Looper::look>();
  }
  void look() { seen_->set_value(set_->load()); }
  static constexpr auto kHandlers =
      handlers(handler<&Looper::start>("start"), handler<&Looper::look>("look"));

 private:
  ActorRef<Flag> flag_;
  const std::atomic<bool>* set_;
  Promise<bool>* seen_;
};

TEST(Scheduler, AMessageAnActorSendsItselfWaitsForItsNextTurn) {
  std::atomic<bool> set{false};
  Promise<bool> seen;
  Future<bool> looked = seen.future();
  // One worker: the flag actor, made runnable by the looper's turn, runs
  // after that turn and before the looper's next one.
  System system(config(1, 64));
  auto flag = system.spawn<Flag>(&set).value();
  auto looper = system.spawn<Looper>(flag, &set, &seen).value();
  looper.tell<&Looper::start>();
  auto ran_between = await(std::move(looked));
  ASSERT_TRUE(ran_between.has_value()) << ran_between.status().to_string();
  EXPECT_TRUE(*ran_between);
}

// Stops itself from its 10th handler: the stop is a control message.
class SelfStopper : public Actor {
 public:
  SelfStopper(System* system, std::atomic<int>* handled) : system_(system), handled_(handled) {}
  void step() {
    if (handled_->fetch_add(1, std::memory_order_relaxed) + 1 == 10) system_->stop(self<SelfStopper>());
  }
  static constexpr auto kHandlers = handlers(handler<&SelfStopper::step>("step"));

 private:
  System* system_;
  std::atomic<int>* handled_;
};

TEST(Scheduler, AControlMessageOvertakesABacklogWithinOneBatch) {
  constexpr int kBacklog = 5000;
  constexpr int kBatch = 4;
  std::atomic<int> handled{0};
  std::promise<void> entered;
  std::promise<void> release;
  System system(config(1, kBatch));
  auto gate = system.spawn<Gate>(&entered, release.get_future().share()).value();
  auto stopper = system.spawn<SelfStopper>(&system, &handled).value();
  auto held = gate.ask<&Gate::hold>();
  ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);
  for (int i = 0; i < kBacklog; ++i) stopper.tell<&SelfStopper::step>();
  Future<Down> down = system.watch(stopper);
  release.set_value();
  EXPECT_TRUE(await(std::move(down)).has_value());
  EXPECT_TRUE(await(std::move(held)).is_ok());
  // The stop came during the batch of the 10th message (9-12), and ends the
  // turn before the next batch.
  EXPECT_GE(handled.load(), 10);
  EXPECT_LE(handled.load(), 12);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kStopped),
            static_cast<std::uint64_t>(kBacklog - handled.load()));
}

}  // namespace
}  // namespace keel
