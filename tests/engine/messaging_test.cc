// tell and ask: delivery, every handler return kind, timeouts, handler
// exceptions, per-sender FIFO order, sender_id() and continue_with().
#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;

class Echo : public Actor {
 public:
  int twice(int x) { return 2 * x; }
  void remember(int x) { last_ = x; }
  int last() const { return last_; }
  Status check(int x) { return x >= 0 ? Status::ok() : Status::invalid_argument("negative"); }
  Result<std::string> name_of(int x) {
    if (x < 0) return Status::not_found("no name for a negative number");
    return "n" + std::to_string(x);
  }
  // Replies when `reply` completes (a handler returning a Future).
  Future<int> relay(Future<int> reply) { return reply; }
  void boom() { throw std::runtime_error("boom"); }
  void throw_failure() { throw Failure(Status::corruption("bad state")); }
  void fail_unavailable() { fail(Status::unavailable("refused")); }
  ActorId who() const { return sender_id(); }

  static constexpr auto kHandlers = handlers(
      handler<&Echo::twice>("twice"), handler<&Echo::remember>("remember"),
      handler<&Echo::last>("last"), handler<&Echo::check>("check"),
      handler<&Echo::name_of>("name_of"), handler<&Echo::relay>("relay"),
      handler<&Echo::boom>("boom"), handler<&Echo::throw_failure>("throw_failure"),
      handler<&Echo::fail_unavailable>("fail_unavailable"), handler<&Echo::who>("who"));

 private:
  int last_ = 0;
};

// Asks an Echo from inside its own handlers.
class Asker : public Actor {
 public:
  Future<ActorId> ask_who(ActorRef<Echo> echo) { return echo.ask<&Echo::who>(); }
  void double_later(ActorRef<Echo> echo, int x) {
    continue_with(echo.ask<&Echo::twice>(x), [this](Result<int> r) { result_ = r.value_or(-1); });
  }
  int result() const { return result_; }
  ActorId my_id() const { return id(); }

  static constexpr auto kHandlers =
      handlers(handler<&Asker::ask_who>("ask_who"), handler<&Asker::double_later>("double_later"),
               handler<&Asker::result>("result"), handler<&Asker::my_id>("my_id"));

 private:
  int result_ = 0;
};

// Checks that the messages of every sender arrive in their sequence order.
struct SequenceReport {
  std::map<std::uint64_t, int> next;  // sender -> next expected sequence number
  int out_of_order = 0;
};

class SequenceChecker : public Actor {
 public:
  void from_thread(int sender, int seq) { check(static_cast<std::uint64_t>(sender), seq); }
  void from_actor(int seq) { check(sender_id(), seq); }
  SequenceReport report() const { return report_; }

  static constexpr auto kHandlers = handlers(handler<&SequenceChecker::from_thread>("from_thread"),
                                             handler<&SequenceChecker::from_actor>("from_actor"),
                                             handler<&SequenceChecker::report>("report"));

 private:
  void check(std::uint64_t sender, int seq) {
    int& next = report_.next[sender];
    if (seq != next) ++report_.out_of_order;
    next = seq + 1;
  }
  SequenceReport report_;
};

class SequenceSender : public Actor {
 public:
  void send_all(ActorRef<SequenceChecker> to, int n) {
    for (int i = 0; i < n; ++i) to.tell<&SequenceChecker::from_actor>(i);
  }
  static constexpr auto kHandlers = handlers(handler<&SequenceSender::send_all>("send_all"));
};

constexpr int kSenders = 4;
constexpr int kPerSender = 10'000;

// ---- tell ----------------------------------------------------------------------

TEST(Tell, DeliversTheMessageBeforeALaterAskFromTheSameSender) {
  System system;
  auto echo = system.spawn<Echo>().value();
  echo.tell<&Echo::remember>(3);
  EXPECT_EQ(await(echo.ask<&Echo::last>()).value(), 3);
}

TEST(Tell, TryTellReturnsOkWhenTheMessageIsQueued) {
  System system;
  auto echo = system.spawn<Echo>().value();
  EXPECT_TRUE(echo.try_tell<&Echo::remember>(SendOptions{}, 4).is_ok());
  EXPECT_EQ(await(echo.ask<&Echo::last>()).value(), 4);
}

TEST(Tell, TryTellThroughAnEmptyRefReturnsNotFound) {
  ActorRef<Echo> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(empty.try_tell<&Echo::remember>(SendOptions{}, 1).code(), StatusCode::kNotFound);
}

// ---- ask: each handler return kind -------------------------------------------------

TEST(Ask, PlainValueReturnIsTheReply) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Result<int> r = await(echo.ask<&Echo::twice>(21));
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, 42);
}

TEST(Ask, VoidHandlerCompletesWithOkAfterRunning) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Future<void> f = echo.ask<&Echo::remember>(8);
  EXPECT_TRUE(await(std::move(f)).is_ok());
  EXPECT_EQ(await(echo.ask<&Echo::last>()).value(), 8);
}

TEST(Ask, OkStatusReturnCompletesAVoidFuture) {
  System system;
  auto echo = system.spawn<Echo>().value();
  EXPECT_TRUE(await(echo.ask<&Echo::check>(1)).is_ok());
}

TEST(Ask, ErrorStatusReturnFailsTheFutureWithIt) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Status s = await(echo.ask<&Echo::check>(-1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "negative");
}

TEST(Ask, ResultValueReturnIsTheReply) {
  System system;
  auto echo = system.spawn<Echo>().value();
  EXPECT_EQ(await(echo.ask<&Echo::name_of>(3)).value(), "n3");
}

TEST(Ask, ResultErrorReturnFailsTheFutureWithIt) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Result<std::string> r = await(echo.ask<&Echo::name_of>(-3));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(Ask, ErrorReturnDoesNotFailTheActor) {
  System system;
  auto echo = system.spawn<Echo>().value();
  EXPECT_EQ(await(echo.ask<&Echo::check>(-1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(await(echo.ask<&Echo::twice>(2)).value(), 4);  // same incarnation
  EXPECT_EQ(echo.current().generation(), 1u);
}

TEST(Ask, ReturnedFutureRepliesWhenItCompletes) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Promise<int> reply;
  Future<int> f = echo.ask<&Echo::relay>(reply.future());
  reply.set_value(11);
  EXPECT_EQ(await(std::move(f)).value(), 11);
}

TEST(Ask, ReturnedFutureErrorFailsTheAsk) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Result<int> r = await(echo.ask<&Echo::relay>(Future<int>::ready(Status::unavailable("later"))));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(Ask, ThroughAnEmptyRefFailsWithNotFound) {
  ActorRef<Echo> empty;
  Future<int> f = empty.ask<&Echo::twice>(1);
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kNotFound);
}

// ---- ask: handler exceptions ----------------------------------------------------------

TEST(Ask, HandlerExceptionFailsTheFutureWithItsMessage) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Status s = await(echo.ask<&Echo::boom>());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "boom");
}

TEST(Ask, ThrownFailureCarriesItsOwnStatus) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Status s = await(echo.ask<&Echo::throw_failure>());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "bad state");
}

TEST(Ask, ActorFailCarriesItsStatusToTheAsker) {
  System system;
  auto echo = system.spawn<Echo>().value();
  Status s = await(echo.ask<&Echo::fail_unavailable>());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "refused");
}

// ---- ask: timeouts (deterministic: threads = 0, manual clock) ------------------------------

TEST(Ask, TimeoutFailsTheFutureWhenTheHandlerDoesNotReply) {
  ManualClock clock;
  System system(testing::system_config(0, &clock));
  auto echo = system.spawn<Echo>().value();
  Promise<int> reply;  // held by the test: the handler's reply stays pending
  AskOptions o;
  o.timeout = 100ms;
  Future<int> f = echo.ask_with<&Echo::relay>(o, reply.future());
  EXPECT_EQ(system.run_until_idle(), 1u);
  clock.advance(99ms);
  EXPECT_FALSE(f.is_ready());
  clock.advance(1ms);
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kTimeout);
}

TEST(Ask, ReplyFromAReturnedFutureAfterTheTimeoutIsCountedAsLate) {
  ManualClock clock;
  System system(testing::system_config(0, &clock));
  auto echo = system.spawn<Echo>().value();
  Promise<int> reply;
  AskOptions o;
  o.timeout = 100ms;
  Future<int> f = echo.ask_with<&Echo::relay>(o, reply.future());
  system.run_until_idle();
  clock.advance(100ms);
  ASSERT_EQ(f.get().status().code(), StatusCode::kTimeout);
  EXPECT_EQ(system.snapshot().late_replies, 0u);
  reply.set_value(5);  // completes on this thread, outside any actor
  EXPECT_EQ(system.snapshot().late_replies, 1u);
}

TEST(Ask, ReplyFromAHandlerAfterTheTimeoutIsCountedAsLate) {
  ManualClock clock;
  System system(testing::system_config(0, &clock));
  auto echo = system.spawn<Echo>().value();
  AskOptions o;
  o.timeout = 100ms;
  Future<int> f = echo.ask_with<&Echo::twice>(o, 1);
  clock.advance(100ms);  // before the actor ran
  ASSERT_EQ(f.get().status().code(), StatusCode::kTimeout);
  EXPECT_EQ(system.run_until_idle(), 1u);
  EXPECT_EQ(system.snapshot().late_replies, 1u);
}

TEST(Ask, ReplyInTimeCancelsTheTimeoutTimer) {
  ManualClock clock;
  System system(testing::system_config(0, &clock));
  auto echo = system.spawn<Echo>().value();
  AskOptions o;
  o.timeout = 100ms;
  Future<int> f = echo.ask_with<&Echo::twice>(o, 2);
  EXPECT_EQ(system.snapshot().pending_timers, 1u);
  system.run_until_idle();
  EXPECT_EQ(f.get().value(), 4);
  EXPECT_EQ(system.snapshot().pending_timers, 0u);
  clock.advance(1s);
  EXPECT_EQ(system.snapshot().late_replies, 0u);
}

// ---- FIFO per sender-receiver pair ---------------------------------------------------------

TEST(Tell, MessagesFromEachThreadArriveInSendOrder) {
  System system(testing::system_config(4));
  auto checker = system.spawn<SequenceChecker>().value();
  std::latch go(kSenders + 1);
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerSender; ++i) checker.tell<&SequenceChecker::from_thread>(s, i);
    });
  }
  go.arrive_and_wait();
  for (auto& t : threads) t.join();
  // Sent after every tell above returned, so handled after all of them.
  Result<SequenceReport> r = await(checker.ask<&SequenceChecker::report>());
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->out_of_order, 0);
  ASSERT_EQ(r->next.size(), static_cast<std::size_t>(kSenders));
  for (const auto& [sender, next] : r->next) EXPECT_EQ(next, kPerSender) << "sender " << sender;
}

TEST(Tell, MessagesFromEachActorArriveInSendOrder) {
  System system(testing::system_config(4));
  auto checker = system.spawn<SequenceChecker>().value();
  std::vector<ActorRef<SequenceSender>> senders;
  for (int s = 0; s < kSenders; ++s) senders.push_back(system.spawn<SequenceSender>().value());
  std::vector<Future<void>> done;
  for (auto& s : senders) done.push_back(s.ask<&SequenceSender::send_all>(checker, kPerSender));
  for (auto& f : done) ASSERT_TRUE(await(std::move(f)).is_ok());
  Result<SequenceReport> r = await(checker.ask<&SequenceChecker::report>());
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->out_of_order, 0);
  ASSERT_EQ(r->next.size(), static_cast<std::size_t>(kSenders));
  for (const auto& s : senders) EXPECT_EQ(r->next[s.id()], kPerSender) << "sender " << s.id();
}

// ---- sender_id ------------------------------------------------------------------------------

TEST(SenderId, IsNoActorForAMessageFromOutsideTheSystem) {
  System system;
  auto echo = system.spawn<Echo>().value();
  EXPECT_EQ(await(echo.ask<&Echo::who>()).value(), kNoActor);
}

TEST(SenderId, NamesTheActorThatSentTheMessage) {
  System system;
  auto echo = system.spawn<Echo>().value();
  auto asker = system.spawn<Asker>().value();
  Result<ActorId> who = await(asker.ask<&Asker::ask_who>(echo));
  ASSERT_TRUE(who.has_value()) << who.status();
  EXPECT_EQ(*who, asker.id());
  EXPECT_NE(*who, echo.id());
}

// ---- continue_with --------------------------------------------------------------------------

TEST(ContinueWith, ContinuationRunsAsAMessageInTheAskingActorsTurn) {
  System system(testing::system_config(0));
  auto echo = system.spawn<Echo>().value();
  auto asker = system.spawn<Asker>().value();
  asker.tell<&Asker::double_later>(echo, 21);

  ASSERT_TRUE(system.run_one());  // the asker asks
  SystemSnapshot s = system.snapshot();
  ASSERT_EQ(s.actors.size(), 2u);
  EXPECT_EQ(s.actors[0].mailbox_depth, 1u);  // the echo holds the request
  EXPECT_EQ(s.actors[1].mailbox_depth, 0u);

  ASSERT_TRUE(system.run_one());  // the echo replies: the continuation is queued
  s = system.snapshot();
  EXPECT_EQ(s.actors[0].mailbox_depth, 0u);
  EXPECT_EQ(s.actors[1].mailbox_depth, 1u);
  EXPECT_EQ(s.actors[1].processed, 1u);

  ASSERT_TRUE(system.run_one());  // the asker runs the continuation
  EXPECT_EQ(system.snapshot().actors[1].processed, 2u);
  EXPECT_FALSE(system.run_one());

  Future<int> result = asker.ask<&Asker::result>();
  system.run_until_idle();
  EXPECT_EQ(result.get().value(), 42);
}

TEST(ContinueWith, ContinuationReceivesTheAskError) {
  System system;
  auto echo = system.spawn<Echo>().value();
  auto asker = system.spawn<Asker>().value();
  Future<Down> down = system.watch(echo);
  system.stop(echo);
  ASSERT_TRUE(await(std::move(down)).has_value());
  // The ask fails at once (echo has stopped), so the continuation is queued
  // during this handler, before the asker replies to this ask.
  ASSERT_TRUE(await(asker.ask<&Asker::double_later>(echo, 21)).is_ok());
  EXPECT_EQ(await(asker.ask<&Asker::result>()).value(), -1);
}

TEST(Watch, SentRightAfterAStopStillCompletes) {
  System system(testing::system_config(0));
  auto echo = system.spawn<Echo>().value();
  system.stop(echo);
  Future<Down> down = system.watch(echo);  // queued behind the stop, in the same turn
  system.run_until_idle();
  ASSERT_TRUE(down.is_ready());
  Result<Down> d = down.get();
  ASSERT_TRUE(d.has_value()) << d.status();
  EXPECT_EQ(d->actor.id(), echo.id());
  EXPECT_EQ(d->reason.code(), StatusCode::kNotFound);  // it had stopped when the watch arrived
}

}  // namespace
}  // namespace keel
