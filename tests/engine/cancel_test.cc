// Cancelling an ask: Future::cancel, CancelHandle, what happens to the
// message (not started: dead-lettered as kCancelled; running: the handler
// sees Actor::is_cancelled()), late replies, cancels passed through then()
// and through a handler's returned future, and durable actors, which handle
// an accepted message even when its ask was cancelled.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "keel/engine/durable.h"
#include "keel/engine/engine.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::kWait;
using testing::system_config;

// What a Worker's handlers report to the test. Outlives the system.
struct Probe {
  std::atomic<int> runs{0};                // handlers of `work` that started
  std::promise<void> spinning;             // `spin` started
  std::promise<CancelToken> token;         // `spin`'s cancel token, at its start
  std::promise<bool> saw_cancel;           // `spin` saw is_cancelled() (false: gave up waiting)
  std::promise<void> finish;               // the test lets `spin` return
  std::shared_future<void> finish_gate = finish.get_future().share();
};

class Worker : public Actor {
 public:
  explicit Worker(Probe* probe) : probe_(probe) {}

  int work() { return ++probe_->runs; }
  // Runs until its asker cancels (polling as a long computation would
  // between steps), reports it, then waits for the test before returning.
  int spin() {
    probe_->token.set_value(cancel_token());
    probe_->spinning.set_value();
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!is_cancelled() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    probe_->saw_cancel.set_value(is_cancelled());
    probe_->finish_gate.wait_for(kWait);
    return 7;
  }
  // Replies later, through a promise this actor keeps.
  Future<int> later() {
    pending_ = Promise<int>();
    return pending_.future();
  }
  bool later_cancelled() const { return pending_.is_cancelled(); }
  bool flag_in_tell() const { return is_cancelled() || cancel_token().is_cancelled(); }

  static constexpr auto kHandlers =
      handlers(handler<&Worker::work>("work"), handler<&Worker::spin>("spin"),
               handler<&Worker::later>("later"), handler<&Worker::later_cancelled>("later_cancelled"),
               handler<&Worker::flag_in_tell>("flag_in_tell"));

 private:
  Probe* probe_;
  Promise<int> pending_;
};

TEST(Cancel, AskCancelledBeforeItsTurnIsNotRunAndIsADeadLetter) {
  System system(system_config(0));  // nothing runs until stepped
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<int> f = worker.ask<&Worker::work>();
  EXPECT_TRUE(f.cancel());
  ASSERT_TRUE(f.is_ready());  // at once, before any turn
  EXPECT_EQ(f.get().status().code(), StatusCode::kCancelled);

  system.run_until_idle();
  EXPECT_EQ(probe.runs.load(), 0);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 1u);
  std::vector<DeadLetter> letters = system.dead_letters().history();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].reason, DeadLetterReason::kCancelled);
  EXPECT_EQ(letters[0].method, "work");
  EXPECT_EQ(letters[0].target, worker.id());
  EXPECT_EQ(dead_letter_reason_name(letters[0].reason), "cancelled");
  EXPECT_EQ(system.snapshot().late_replies, 0u);
}

TEST(Cancel, RunningHandlerSeesTheCancelAndTheFutureCompletesAtOnce) {
  System system(system_config(2));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  std::future<CancelToken> token = probe.token.get_future();
  std::future<void> spinning = probe.spinning.get_future();
  std::future<bool> saw_cancel = probe.saw_cancel.get_future();
  Future<int> f = worker.ask<&Worker::spin>();
  ASSERT_EQ(spinning.wait_for(kWait), std::future_status::ready);
  ASSERT_EQ(token.wait_for(kWait), std::future_status::ready);
  CancelToken t = token.get();
  EXPECT_FALSE(t.is_cancelled());

  EXPECT_TRUE(f.cancel());
  // The handler has not returned (it waits for finish), yet the future is done.
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(t.is_cancelled());
  ASSERT_EQ(saw_cancel.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(saw_cancel.get());

  probe.finish.set_value();
  // Handled after spin returned (same sender, same receiver: in order).
  EXPECT_EQ(await(worker.ask<&Worker::work>()).value(), 1);
  EXPECT_EQ(system.snapshot().late_replies, 1u);  // spin's reply, after the cancel
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 0u);
}

TEST(Cancel, CancelAfterCompletionChangesNothing) {
  System system(system_config(0));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<int> f = worker.ask<&Worker::work>();
  CancelHandle h = f.cancel_handle();
  system.run_until_idle();
  ASSERT_TRUE(f.is_ready());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(h.cancel());
  EXPECT_FALSE(h.is_cancelled());
  EXPECT_EQ(f.get().value(), 1);
  EXPECT_EQ(system.dead_letters().total(), 0u);
  EXPECT_EQ(system.snapshot().late_replies, 0u);
}

TEST(Cancel, CancelAfterATimeoutChangesNothing) {
  ManualClock clock;
  System system(system_config(0, &clock));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  AskOptions o;
  o.timeout = std::chrono::milliseconds(100);
  Future<int> f = worker.ask_with<&Worker::work>(o);
  clock.advance(std::chrono::milliseconds(100));
  ASSERT_TRUE(f.is_ready());
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(f.get().status().code(), StatusCode::kTimeout);
  system.run_until_idle();
  EXPECT_EQ(probe.runs.load(), 1);  // a timed-out ask is still handled
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 0u);
}

TEST(Cancel, HandleCancelsFromAnotherThreadAfterThenConsumedTheFuture) {
  System system(system_config(0));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<int> ask = worker.ask<&Worker::work>();
  CancelHandle h = ask.cancel_handle();
  Future<int> doubled = ask.then([](Result<int> r) -> Result<int> {
    if (!r) return r.status();
    return *r * 2;
  });
  std::thread other([&] { EXPECT_TRUE(h.cancel()); });
  other.join();
  EXPECT_TRUE(h.is_cancelled());
  // The ask failed with kCancelled, and then() passed it on.
  EXPECT_EQ(doubled.get().status().code(), StatusCode::kCancelled);
  system.run_until_idle();
  EXPECT_EQ(probe.runs.load(), 0);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 1u);
}

TEST(Cancel, CancellingAFutureMadeByThenCancelsTheAsk) {
  System system(system_config(0));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<std::string> text =
      worker.ask<&Worker::work>().then([](Result<int> r) { return std::to_string(r.value_or(-1)); });
  EXPECT_TRUE(text.cancel());
  EXPECT_EQ(text.get().status().code(), StatusCode::kCancelled);
  system.run_until_idle();
  EXPECT_EQ(probe.runs.load(), 0);  // the ask itself was cancelled
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 1u);
}

TEST(Cancel, CancelReachesTheFutureAHandlerReturned) {
  System system(system_config(0));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<int> f = worker.ask<&Worker::later>();
  system.run_until_idle();  // `later` returned its pending future
  ASSERT_FALSE(f.is_ready());
  EXPECT_TRUE(f.cancel());
  Future<bool> cancelled = worker.ask<&Worker::later_cancelled>();
  system.run_until_idle();
  EXPECT_TRUE(cancelled.get().value());
}

TEST(Cancel, TellsAndAsksNotCancelledDoNotSeeTheFlag) {
  System system(system_config(0));
  Probe probe;
  auto worker = system.spawn<Worker>(&probe).value();
  Future<bool> f = worker.ask<&Worker::flag_in_tell>();
  system.run_until_idle();
  EXPECT_FALSE(f.get().value());
}

// ---- Durable actors ------------------------------------------------------------

struct Tally {
  std::int64_t total = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::total>("total"));
};

// Reports to the test whether the asker had cancelled when `add` ran.
struct DurableProbe {
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> release_gate = release.get_future().share();
  std::promise<bool> add_saw_cancel;
};

class Ledger : public DurableActor<Tally> {
 public:
  explicit Ledger(DurableProbe* probe) : probe_(probe) {}
  // Keeps the actor busy until the test releases it.
  void hold() {
    if (probe_ == nullptr) return;
    probe_->holding.set_value();
    probe_->release_gate.wait_for(kWait);
  }
  // The state changes the same way whether or not the ask was cancelled
  // (a replay does not see the flag).
  std::int64_t add(std::int64_t n) {
    state().total += n;
    if (probe_ != nullptr && !reported_) {
      reported_ = true;
      probe_->add_saw_cancel.set_value(is_cancelled());
    }
    return state().total;
  }
  std::int64_t total() const { return state().total; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Ledger::hold>("hold"), keel::handler<&Ledger::add>("add"),
                     keel::handler<&Ledger::total>("total"));

 private:
  DurableProbe* probe_;
  bool reported_ = false;
};

using DurableCancelTest = testing::DurableJournalTest;

TEST_P(DurableCancelTest, CancelledAskIsStillHandledAndItsHandlerSeesTheFlag) {
  System system(config(2));
  DurableProbe probe;
  auto ledger = system.spawn_durable<Ledger>("ledger-1", &probe).value();
  std::future<void> holding = probe.holding.get_future();
  std::future<bool> saw = probe.add_saw_cancel.get_future();
  ledger.tell<&Ledger::hold>();
  ASSERT_EQ(holding.wait_for(kWait), std::future_status::ready);
  Future<std::int64_t> f = ledger.ask<&Ledger::add>(5);
  EXPECT_TRUE(f.cancel());
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kCancelled);
  probe.release.set_value();

  ASSERT_EQ(saw.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(saw.get());
  EXPECT_EQ(await(ledger.ask<&Ledger::total>()).value(), 5);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 0u);
  EXPECT_EQ(system.snapshot().late_replies, 1u);  // add's reply, after the cancel
}

TEST_P(DurableCancelTest, CancelledAskWhoseInboxRecordIsDurableIsHandledAfterARestart) {
  {
    System system(config(0));  // nothing is handled
    auto ledger = system.spawn_durable<Ledger>("ledger-2", nullptr).value();
    // A busy actor: the ask's INBOX record is journaled on its own.
    ASSERT_TRUE(await(ledger.tell_durable<&Ledger::add>(2)).is_ok());
    Future<std::int64_t> f = ledger.ask<&Ledger::add>(40);
    EXPECT_TRUE(f.cancel());
    EXPECT_EQ(f.get().status().code(), StatusCode::kCancelled);
    // Accepted after the ask's INBOX record, so that one is durable too.
    ASSERT_TRUE(await(ledger.tell_durable<&Ledger::add>(0)).is_ok());
  }
  reopen();
  System system(config(2));
  auto ledger = system.spawn_durable<Ledger>("ledger-2", nullptr).value();
  EXPECT_EQ(await(ledger.ask<&Ledger::total>()).value(), 42);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kCancelled), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableCancelTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
